"""Keyed fingerprints of PII values (the inventory, the audit, the request log).

``fingerprint(key, type, value)`` is the hex HMAC-SHA256 of ``f"{type}\\0{normalize_value(type,
value)}"``: the same value in any spelling (full-width digits, separators, e-mail case) gives
the same fingerprint, and without the key nobody can test a guess against it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-_.()/]+")
_COMPACT_TYPES = {
    "PHONE",
    "ID_CARD",
    "BANK_CARD",
    "PASSPORT",
    "US_SSN",
    "IBAN",
    "ORG_CODE",
    "LICENSE_PLATE",
}


def _fallback_normalize(pii_type: str, value: str) -> str:
    """Used only while ``privtune.detect.normalize`` is not importable."""
    text = unicodedata.normalize("NFKC", value).strip()
    if pii_type == "EMAIL":
        return text.lower()
    if pii_type in _COMPACT_TYPES:
        text = _SEPARATORS.sub("", text).upper()
        if pii_type == "PHONE" and text.startswith("+86"):
            text = text[3:]
    return text


def normalize(pii_type: str, value: str) -> str:
    """The canonical form of a value (``privtune.detect.normalize.normalize_value``)."""
    try:
        from privtune.detect.normalize import normalize_value
    except ImportError:  # the detector's module has not landed in this tree
        return _fallback_normalize(pii_type, value)
    return normalize_value(pii_type, value)


def fingerprint(key: bytes, pii_type: str, value: str) -> str:
    """Hex HMAC-SHA256 of ``f"{pii_type}\\0{normalize_value(pii_type, value)}"`` under ``key``."""
    if not isinstance(key, bytes | bytearray) or len(key) < 16:
        raise ValueError("fingerprint key must be at least 16 bytes")
    msg = f"{pii_type}\0{normalize(pii_type, value)}".encode()
    return hmac.new(bytes(key), msg, hashlib.sha256).hexdigest()
