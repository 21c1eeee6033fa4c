"""The one result type every part consumes (anonymize, audit, serve)."""

from __future__ import annotations

from dataclasses import dataclass

#: Canonical type names (shared/data/pii-dev/README.md), plus privtune's own.
CANONICAL_TYPES: tuple[str, ...] = (
    "PERSON", "PHONE", "EMAIL", "ID_CARD", "BANK_CARD", "ADDRESS", "IP_ADDRESS", "PASSPORT",
    "LICENSE_PLATE", "ORG_CODE", "US_SSN", "IBAN", "URL", "DATE_OF_BIRTH", "OTHER",
    "SECRET", "IM_ID", "CUSTOM",
)


@dataclass(frozen=True, slots=True)
class Span:
    """A finding: ``text[start:end]`` (code points, end exclusive) is PII of ``type``.

    Spans never carry the matched value, so they are safe to log and report.
    """

    type: str
    start: int
    end: int
    score: float = 1.0
    recognizer: str = ""

    def __len__(self) -> int:
        return self.end - self.start

    def to_dict(self) -> dict[str, object]:
        return {"type": self.type, "start": self.start, "end": self.end, "score": self.score,
                "recognizer": self.recognizer}


_new = object.__new__
_SET = (Span.type.__set__, Span.start.__set__, Span.end.__set__,  # type: ignore[attr-defined]
        Span.score.__set__, Span.recognizer.__set__)  # type: ignore[attr-defined]


def new_span(type: str, start: int, end: int, score: float, recognizer: str) -> Span:
    """``Span(type, start, end, score, recognizer)`` without the frozen dataclass's
    ``__init__`` (five ``object.__setattr__`` calls by name): the slots are set through their
    descriptors, the same object in ~2/3 of the time (the scanner builds one per finding)."""
    o = _new(Span)
    st, ss, se, sc, sr = _SET
    st(o, type)
    ss(o, start)
    se(o, end)
    sc(o, score)
    sr(o, recognizer)
    return o
