"""The output filter: detector redaction plus blocked terms, for whole texts and for streams.

Policy per environment: ``redact`` replaces each finding with ``[TYPE]`` (blocked terms with
``[BLOCKED]``); ``block`` refuses the output (non-streaming: the choice is emptied with
``finish_reason="content_filter"``; streaming: the choice ends there, before the finding);
``pass`` forwards text untouched.

Streaming (:class:`StreamFilter`): text is released only once it is proven safe. At each
upstream delta the unreleased tail (plus :data:`LEFT_CONTEXT` characters already released,
for look-behinds and context words) is examined: :class:`privtune.serve.holdback.HoldBack`
says from which position text could still become part of a finding (a pattern that matches
or partially matches near the end, a name/address recognizer's fixed reach, a blocked term's
length; the contract's ``Scanner.max_span_length`` when nothing finer is known), the scanner
runs on the examined text, and the release point moves back to the start of any finding that
crosses it. Everything before the release point is released, with findings redacted. Any
span that includes a released character was therefore entirely visible (with its right
context) when it was released, whatever the chunking. Cost: time to first token grows by the
held characters (docs/serve.md has the measured figures).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from privtune.serve.holdback import HoldBack

#: Characters of already released text given to the scanner as left context (look-behinds,
#: context words up to 48 characters before a span).
LEFT_CONTEXT = 64
#: A release is attempted once this many characters arrived since the last attempt: one
#: detector pass per ~16 characters instead of per token (the scan is the streaming cost).
RELEASE_STEP = 16
BLOCKED = "BLOCKED"


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    start: int
    end: int


@dataclass
class FilterResult:
    text: str
    actions: Counter[str] = field(default_factory=Counter)
    blocked: bool = False


class TextFilter:
    """One environment's output (or input) filter. Thread-safe; shared by all requests."""

    def __init__(self, scanner: Any, policy: str = "redact",
                 blocked_terms: list[str] | tuple[str, ...] = ()) -> None:
        if policy not in ("redact", "block", "pass"):
            raise ValueError(f"unknown filter policy {policy!r}")
        self.scanner = scanner
        self.policy = policy
        terms = sorted({t.lower() for t in blocked_terms if t})
        self._automaton = None
        self.max_term = max((len(t) for t in terms), default=0)
        if terms:
            import ahocorasick

            automaton = ahocorasick.Automaton()
            for t in terms:
                automaton.add_word(t, len(t))
            automaton.make_automaton()
            self._automaton = automaton
        self.hold = HoldBack(scanner, self.max_term)
        #: characters every stream always holds back (the minimum TTFT cost)
        self.window = self.hold.fixed

    @property
    def active(self) -> bool:
        return self.policy != "pass"

    def find(self, text: str) -> list[Finding]:
        """Non-overlapping findings sorted by start (detector spans and blocked terms merged)."""
        found = [Finding(s.type, s.start, s.end) for s in self.scanner.scan(text)]
        if self._automaton is not None and text:
            low = text.lower()
            if len(low) != len(text):  # a few code points change length when lower-cased
                low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
            for end, n in self._automaton.iter(low):
                found.append(Finding(BLOCKED, end + 1 - n, end + 1))
        if len(found) < 2:
            return found
        found.sort(key=lambda f: (f.start, -f.end))
        merged = [found[0]]
        for f in found[1:]:
            last = merged[-1]
            if f.start < last.end:
                if f.end > last.end:
                    merged[-1] = Finding(last.type, last.start, f.end)
                continue
            merged.append(f)
        return merged

    def apply(self, text: str) -> FilterResult:
        """Filter a complete text."""
        if not self.active or not text:
            return FilterResult(text)
        findings = self.find(text)
        if not findings:
            return FilterResult(text)
        actions = Counter(f.type for f in findings)
        if self.policy == "block":
            return FilterResult("", actions, blocked=True)
        return FilterResult(redact(text, findings, 0, len(text)), actions)

    def stream(self) -> StreamFilter:
        return StreamFilter(self)


def redact(text: str, findings: list[Finding], lo: int, hi: int) -> str:
    """``text[lo:hi]`` with every finding inside it replaced by ``[TYPE]``."""
    out: list[str] = []
    pos = lo
    for f in findings:
        if f.end <= lo or f.start >= hi:
            continue
        s = max(f.start, lo)
        out.append(text[pos:s])
        out.append(f"[{f.type}]")
        pos = min(f.end, hi)
    out.append(text[pos:hi])
    return "".join(out)


class StreamFilter:
    """Filters one stream of text deltas (one field of one choice). Not thread-safe."""

    __slots__ = ("_ctx", "_new", "_offset", "_pending", "_resume", "actions", "blocked",
                 "step", "tf")

    def __init__(self, tf: TextFilter, step: int = RELEASE_STEP) -> None:
        self.tf = tf
        self.step = step
        self._new = 0  # characters received since the last release attempt
        self._ctx = ""  # tail of already released raw text (left context for the scanner)
        self._pending = ""  # raw text not yet released
        self._offset = 0  # stream position of _ctx[0]
        self._resume: dict[int, int] = {}  # HoldBack's per-pattern restart positions
        self.actions: Counter[str] = Counter()
        self.blocked = False

    @property
    def held(self) -> int:
        return len(self._pending)

    def feed(self, delta: str) -> str:
        """Add upstream text; return the text now proven safe (possibly empty)."""
        if self.blocked:
            return ""
        if not self.tf.active:
            return delta
        self._pending += delta
        self._new += len(delta)
        if len(self._pending) < self.tf.window or self._new < self.step:
            return ""  # nothing can be proven safe yet, or too little new text: skip the scan
        self._new = 0
        return self._release(final=False)

    def flush(self) -> str:
        """The stream ended: release (filtered) everything still held."""
        if self.blocked or not self.tf.active or not self._pending:
            self._pending = ""
            return ""
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        tf = self.tf
        text = self._ctx + self._pending
        base = len(self._ctx)
        limit = len(text) if final else tf.hold.safe_end(text, base, self._resume,
                                                         self._offset)
        if limit <= base:
            return ""
        findings = [f for f in tf.find(text) if f.end > base]
        for f in findings:
            if f.start < limit < f.end:
                limit = f.start
        if tf.policy == "block" and findings:
            # release only what is proven safe: before the finding and before the hold point
            first = max(min(findings[0].start, limit), base)
            self.actions.update(f.type for f in findings)
            self.blocked = True
            out = text[base:first]
            self._pending = ""
            return out
        if limit <= base:
            return ""
        released = [f for f in findings if f.start < limit]
        self.actions.update(f.type for f in released)
        out = redact(text, released, base, limit) if released else text[base:limit]
        cut = max(0, limit - LEFT_CONTEXT)
        self._offset += cut
        self._ctx = text[cut:limit]
        self._pending = text[limit:]
        return out
