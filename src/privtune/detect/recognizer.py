"""Recognizer plug-ins and their registry.

A recognizer is a small declarative object: a regex (the span is the named group ``v`` when
present, else the whole match), an optional validator (checksum or plausibility check on the
folded value), context words that raise the score (or gate the match when
``context_required``), a base score, a priority for ties and ``max_len``, the longest span it
can report (the scanner's ``max_span_length`` is the maximum over the enabled recognizers).
Recognizers that are not a regex (names, addresses, custom deny-lists) implement
:class:`FunctionRecognizer` and return candidates directly.

Patterns never use ``\\b``/``\\w`` around ASCII values: those treat CJK characters as word
characters, so "电话13800138000谢谢" would not match. Use :data:`NB`/:data:`NA` instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

#: ASCII-only "not preceded / not followed by a letter or digit" (CJK neighbours are fine)
NB = r"(?<![0-9A-Za-z])"
NA = r"(?![0-9A-Za-z])"

#: after the first character of a pattern: "the character before it is no ASCII letter or
#: digit". A pattern that starts with a character class lets ``re`` skip ahead with its fast
#: charset scan; a leading look-behind would disable that (measured ~3x slower).
FB = r"(?<![0-9A-Za-z][\s\S])"

#: a candidate: (start, end, type, score, recognizer name, priority)
Candidate = tuple[int, int, str, float, str, int]

Validator = Callable[[str], "bool | float | None"]


@dataclass(eq=False)
class PatternRecognizer:
    name: str
    type: str
    pattern: str
    score: float = 0.85
    validator: Validator | None = None
    context: tuple[str, ...] = ()
    context_window: int = 40
    context_boost: float = 0.15
    context_required: bool = False
    max_len: int = 64
    priority: int = 50
    flags: int = 0
    #: optional check with the surrounding text: (folded, start, end, score) -> score or None
    post: Callable[[str, int, int, float], float | None] | None = None
    #: prefilter: skip the regex pass unless one of these substrings occurs in the text
    #: (checked in the lower-cased text when ``trigger_lower``); "\\d" means "any digit"
    trigger: tuple[str, ...] = ()
    trigger_lower: bool = False
    #: with a trigger: only scan (before, after) characters around each trigger occurrence
    window: tuple[int, int] | None = None
    #: optional pattern for the Hyperscan pass, matching at least wherever ``pattern`` does
    #: (an equivalent form that suits Hyperscan better than the one tuned for ``re``)
    hs_pattern: str | None = None
    regex: re.Pattern[str] = field(init=False, repr=False)
    group: int | str = field(init=False, repr=False)
    #: the pattern opens with a character or class (not an assertion or a group of
    #: alternatives), so ``re`` can skip ahead to candidate positions on its own
    charset_first: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.regex = re.compile(self.pattern, self.flags)
        self.group = "v" if "v" in self.regex.groupindex else 0
        head = self.pattern.removeprefix("(?P<v>")
        self.charset_first = head[:1] == "[" or (head[:1] == "\\" and head[1:2] in "dw+(")
        self.context = tuple(w.lower() for w in self.context)
        self._context_re = context_regex(self.context) if self.context else None

    def find(self, folded: str, pos: int = 0, endpos: int | None = None) -> list[Candidate]:
        """Matches in ``folded[pos:endpos]``; look-behind and context see the whole text."""
        out: list[Candidate] = []
        grp = self.group
        it = self.regex.finditer(folded, pos, len(folded) if endpos is None else endpos)
        for m in it:
            s, e = m.span(grp)
            c = self.accept(folded, s, e)
            if c is not None:
                out.append(c)
                if e - s > self.max_len:  # longer than the bound: adjacent chunks cover it
                    step = self.max_len
                    out.extend((cs, min(e, cs + step), *c[2:]) for cs in range(s + step, e, step))
        return out

    def accept(self, folded: str, s: int, e: int) -> Candidate | None:
        """Validator, context and post-check for one match; None when rejected."""
        score = self.score
        if self.validator is not None:
            r = self.validator(folded[s:e])
            if not r:
                return None
            if r is not True:
                score = float(r)
        if self._context_re is not None:
            w = self.context_window
            rx = self._context_re
            if (rx.search(folded[max(0, s - w):s].lower()) is not None
                    or rx.search(folded[e:e + w // 2].lower()) is not None):
                score = min(1.0, score + self.context_boost)
            elif self.context_required:
                return None
        if self.post is not None:
            new = self.post(folded, s, e, score)
            if new is None:
                return None
            score = new
        if e - s > self.max_len:  # the bound holds even for custom regexes (find() chunks)
            e = s + self.max_len
        return (s, e, self.type, score, self.name, self.priority)


class CombinedPass:
    """Several regex recognizers as ONE alternation (named groups ``_0``, ``_1`` ...), tried in
    priority order at each position. A match that its recognizer rejects, or accepts with a
    score below ``confident``, is re-examined by every other member over the matched region,
    so an alternative hidden by the alternation (a 15-digit number that is a legacy ID and
    also a card) still competes in overlap resolution."""

    def __init__(self, recs: list[PatternRecognizer], confident: float = 0.85) -> None:
        self.recs = sorted(recs, key=lambda r: r.priority)
        self.confident = confident
        parts = []
        for k, r in enumerate(self.recs):
            if r.flags & ~re.UNICODE:
                raise ValueError(f"{r.name}: flags are not supported in a combined pass")
            pat = r.pattern
            if "(?i)" in pat:
                raise ValueError(f"{r.name}: inline flags are not supported in a combined pass")
            n_groups = r.regex.groups
            # renumber numeric back-references, rename the value group
            for g in range(n_groups, 0, -1):
                pat = pat.replace(f"\\{g}", f"(?P=_g{k}_{g})")
            pat = _name_numbered_groups(pat, k)
            pat = pat.replace("(?P<v>", f"(?P<v_{k}>")
            parts.append(f"(?P<_{k}>{pat})")
        self.regex = re.compile("|".join(parts))
        self.max_len = max(r.max_len for r in self.recs)

    def find(self, folded: str, pos: int = 0, endpos: int | None = None) -> list[Candidate]:
        out: list[Candidate] = []
        n = len(folded)
        end = n if endpos is None else endpos
        recs = self.recs
        gi = self.regex.groupindex
        for m in self.regex.finditer(folded, pos, end):
            k = int(m.lastgroup[1:])  # type: ignore[index]
            r = recs[k]
            vname = f"v_{k}"
            s, e = m.span(vname) if vname in gi else m.span()
            c = r.accept(folded, s, e)
            if c is not None:
                out.append(c)
                if c[3] >= self.confident:
                    continue
            ms, me = m.span()
            for j, other in enumerate(recs):
                if j != k:
                    out.extend(other.find(folded, ms, min(end, me + other.max_len)))
        return out


def _name_numbered_groups(pat: str, k: int) -> str:
    """Give plain capturing groups names (``_g<k>_<i>``) so a combined pattern can refer to
    them; escaped parentheses and character classes are respected."""
    out = []
    i = 0
    idx = 0
    in_class = False
    while i < len(pat):
        ch = pat[i]
        if ch == "\\":
            out.append(pat[i:i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            out.append(ch)
        elif ch == "[":
            in_class = True
            out.append(ch)
            if pat[i + 1:i + 2] == "]":
                out.append("]")
                i += 1
        elif ch == "(":
            if pat[i + 1:i + 2] == "?":
                if pat[i + 2:i + 4] == "P<":
                    idx += 1
                out.append(ch)
            else:
                idx += 1
                out.append(f"(?P<_g{k}_{idx}>")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def context_regex(words: tuple[str, ...]) -> re.Pattern[str]:
    """One regex that finds any of ``words`` (literal substrings) in one C-level pass."""
    return re.compile("|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)))


def has_context(text: str, start: int, end: int, words: tuple[str, ...], window: int) -> bool:
    """Any of ``words`` (lower-case) in the ``window`` characters before or half that after."""
    before = text[max(0, start - window):start].lower()
    after = text[end:end + window // 2].lower()
    return any(w in before or w in after for w in words)


class FunctionRecognizer(Protocol):
    name: str
    types: tuple[str, ...]
    max_len: int

    def find(self, folded: str) -> list[Candidate]: ...


@dataclass
class Registry:
    """Named recognizers; the scanner asks for those whose type is enabled."""

    patterns: list[PatternRecognizer] = field(default_factory=list)
    functions: list[FunctionRecognizer] = field(default_factory=list)

    def add(self, rec: PatternRecognizer | FunctionRecognizer) -> None:
        if isinstance(rec, PatternRecognizer):
            self.patterns.append(rec)
        else:
            self.functions.append(rec)

    def types(self) -> set[str]:
        return {r.type for r in self.patterns} | {t for f in self.functions for t in f.types}
