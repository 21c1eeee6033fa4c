"""How much of a stream's unreleased tail must still be held back.

The detector's contract gives ``Scanner.max_span_length``: holding that many characters is
always enough, but with the full engine it is ~4,000 (a PEM private key), i.e. whole answers.
When the scanner's recognizers are visible (the built-in engine's pattern and function
recognizers, see ``privtune.detect.recognizer``), :class:`HoldBack` holds only what could
still become part of a finding:

- *pattern recognizers* (regexes): the tail is searched with the ``regex`` module's partial
  matching; a match or partial match starting at ``i`` within the recognizer's reach of the
  end (``max_len`` + half its context window + a right margin) means text from ``i`` on may
  still change the outcome, so it is held. Plain words that cannot start a pattern are
  released at once; a run of digits or an ``foo@`` is held until it is decided.
- *function recognizers* (names, addresses, deny-lists; opaque code): a fixed tail of their
  ``max_len`` plus the margin is always held, unless the recognizer answers
  ``hold(folded) -> int`` itself: how many trailing characters could still become part of
  (or change) one of its spans once more text arrives (capped at ``max_len`` + margin).
- *blocked terms*: the longest term.

Anything the introspection does not understand (a pattern the ``regex`` module rejects, a
scanner without recognizer lists) falls back to the fixed ``max_len``/``max_span_length``
rule, so the answer is never less safe than the contract's bound.

Assumption (the same one the detector's streaming contract makes): a recognizer's decision
about a span depends on no more than half its context window plus :data:`RIGHT_MARGIN`
characters after the span.
"""

from __future__ import annotations

import re
from typing import Any

#: extra characters after a possible span (look-aheads such as "not followed by a digit",
#: post-checks that read the next word)
RIGHT_MARGIN = 24
#: when the scanner says nothing about its spans (an e-mail address is <= 254)
DEFAULT_MAX_SPAN = 256

_FLAG_NAMES = ("IGNORECASE", "MULTILINE", "DOTALL", "VERBOSE", "ASCII")


def _to_regex(compiled: re.Pattern[str]) -> Any:
    import regex

    flags = 0
    for name in _FLAG_NAMES:
        if compiled.flags & getattr(re, name):
            flags |= getattr(regex, name)
    return regex.compile(compiled.pattern, flags)


class HoldBack:
    def __init__(self, scanner: Any, max_term: int = 0) -> None:
        self._patterns: list[tuple[Any, int]] = []  # (regex, reach)
        self._holders: list[Any] = []  # code recognizers that answer ``hold(folded)``
        fixed = max_term
        self.precise = False
        self._fold = None
        patterns = getattr(scanner, "_patterns", None)
        functions = getattr(scanner, "_functions", None)
        if isinstance(patterns, list) and isinstance(functions, list):
            try:
                from privtune.detect.normalize import fold

                self._fold = fold
                for r in patterns:
                    reach = int(r.max_len) + RIGHT_MARGIN
                    if getattr(r, "context", ()):
                        reach += int(getattr(r, "context_window", 0)) // 2
                    win = getattr(r, "window", None)
                    if getattr(r, "trigger", ()) and win:
                        # a trigger word up to window[0] characters after the value's start
                        # still lets the recognizer see the value
                        reach = max(reach, int(r.max_len) + int(win[0]) + RIGHT_MARGIN)
                    try:
                        self._patterns.append((_to_regex(r.regex), reach))
                    except Exception:
                        fixed = max(fixed, reach)
                for f in functions:
                    if callable(getattr(f, "hold", None)):
                        self._holders.append(f)
                    else:
                        fixed = max(fixed, int(f.max_len) + RIGHT_MARGIN)
                self.precise = True
            except Exception:
                self._patterns = []
                self._holders = []
                self.precise = False
        if not self.precise:
            span = getattr(scanner, "max_span_length", None) or DEFAULT_MAX_SPAN
            fixed = max(fixed, int(span) + RIGHT_MARGIN)
        #: characters always held (the release point is at most ``n - fixed + 1``)
        self.fixed = max(fixed, 1)
        #: the worst case: every pattern undecided at once
        self.max_hold = max([self.fixed, *(reach for _, reach in self._patterns),
                             *(int(f.max_len) + RIGHT_MARGIN for f in self._holders)])
        # a pattern whose reach is within the fixed hold can never move the release point
        # (it only looks at text that is held anyway): searching it is wasted work
        self._patterns = [(p, reach) for p, reach in self._patterns if reach > self.fixed]

    def safe_end(self, text: str, base: int, resume: dict[int, int] | None = None,
                 offset: int = 0) -> int:
        """The largest ``r`` such that ``text[base:r]`` can be released (``r`` may be <= base).

        ``text`` is the left context plus the unreleased tail; ``base`` where the tail starts.
        ``resume`` (one dict per stream, kept by the caller) and ``offset`` (the stream
        position of ``text[0]``) make repeated calls on a growing stream incremental: each
        pattern's search restarts where its last leftmost (partial) match began. Why that is
        exact: a start position before it failed on characters that were all present, and
        appending text cannot change a failure (an attempt that reaches the end of the text
        is reported as a partial match, so it is never skipped). The partial-match searches
        are most of a stream's filtering cost; this avoids re-trying the same positions at
        every release attempt.
        """
        n = len(text)
        r = n - self.fixed + 1
        if r <= base or not (self._patterns or self._holders):
            return r
        folded = self._fold(text) if self._fold is not None else text
        for f in self._holders:
            # the recognizer's own answer: how many trailing characters may still change
            held = min(max(int(f.hold(folded)), 0), int(f.max_len) + RIGHT_MARGIN)
            r = min(r, n - held)
            if r <= base:
                return r
        for k, (pat, reach) in enumerate(self._patterns):
            lo = max(base, n - reach + 1)
            if lo >= r:
                continue
            if resume is not None:
                lo = max(lo, resume.get(k, 0) - offset)
                if lo >= r:
                    continue
            m = pat.search(folded, lo, partial=True)
            if resume is not None:
                resume[k] = offset + (m.start() if m is not None else n)
            if m is not None and m.start() < r:
                r = m.start()
                if r <= base:
                    return r
        return r
