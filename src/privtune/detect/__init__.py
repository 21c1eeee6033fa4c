"""Detection of PII and secrets in Chinese and English text."""

from privtune.detect.scanner import Scanner
from privtune.detect.span import CANONICAL_TYPES, Span

__all__ = ["CANONICAL_TYPES", "Scanner", "Span"]
