"""Scanner: every recognizer in one pass, overlaps resolved. (Placeholder; see issue 2.)"""

from __future__ import annotations

import re
from collections.abc import Iterable

from privtune.config import DetectConfig
from privtune.detect.span import Span

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class Scanner:
    """Finds PII and secrets in text. Thread-safe after construction."""

    def __init__(self, config: DetectConfig | None = None) -> None:
        self.config = config or DetectConfig()

    @classmethod
    def from_config(cls, config: DetectConfig | None = None) -> Scanner:
        return cls(config)

    def scan(self, text: str) -> list[Span]:
        return [Span("EMAIL", m.start(), m.end(), 1.0, "email") for m in _EMAIL.finditer(text)]

    def scan_many(self, texts: Iterable[str]) -> list[list[Span]]:
        return [self.scan(t) for t in texts]
