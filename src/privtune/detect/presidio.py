"""Presidio interop: spans as Presidio ``RecognizerResult`` JSON (``to_dict()`` shape)."""

from __future__ import annotations

from collections.abc import Iterable

from privtune.detect.span import Span

#: privtune type -> Presidio entity name (types Presidio lacks keep a descriptive name)
PRESIDIO_NAMES: dict[str, str] = {
    "PERSON": "PERSON",
    "PHONE": "PHONE_NUMBER",
    "EMAIL": "EMAIL_ADDRESS",
    "BANK_CARD": "CREDIT_CARD",
    "IBAN": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "URL": "URL",
    "ADDRESS": "LOCATION",
    "DATE_OF_BIRTH": "DATE_TIME",
    "PASSPORT": "PASSPORT",
    "ID_CARD": "CN_ID_CARD",
    "LICENSE_PLATE": "CN_LICENSE_PLATE",
    "ORG_CODE": "CN_UNIFIED_SOCIAL_CREDIT_CODE",
    "IM_ID": "IM_ID",
    "SECRET": "SECRET",
    "OTHER": "OTHER",
    "CUSTOM": "CUSTOM",
}


def presidio_name(pii_type: str) -> str:
    return PRESIDIO_NAMES.get(pii_type, pii_type)


def to_presidio(spans: Iterable[Span]) -> list[dict[str, object]]:
    """One dict per span, the JSON form of ``presidio_analyzer.RecognizerResult``."""
    out: list[dict[str, object]] = []
    for s in spans:
        name = s.recognizer or "privtune"
        out.append({
            "entity_type": presidio_name(s.type),
            "start": s.start,
            "end": s.end,
            "score": s.score,
            "analysis_explanation": {
                "recognizer": name,
                "pattern_name": name,
                "original_score": s.score,
                "score": s.score,
                "textual_explanation": f"privtune {s.type} via {name}",
            },
            "recognition_metadata": {
                "recognizer_name": name,
                "recognizer_identifier": f"privtune.{name}",
            },
        })
    return out
