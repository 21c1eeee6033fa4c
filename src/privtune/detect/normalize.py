"""Length-preserving text folding and canonical values for fingerprints.

Folding maps full-width ASCII (U+FF01..U+FF5E) and the ideographic space (U+3000) to their
ASCII counterparts one code point for one code point, so the folded text has exactly the same
length as the original and every offset found in it points into the original text: the offset
map is the identity by construction. Characters whose folding would change the length (NFKC
ligatures and the like) are left alone on purpose.
"""

from __future__ import annotations

import re

#: full-width ASCII -> ASCII, ideographic space -> space, a few CJK punctuation look-alikes
FOLD_TABLE: dict[int, int] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
FOLD_TABLE[0x3000] = 0x20
FOLD_TABLE[0x2014] = ord("-")  # em dash used as a separator in numbers
FOLD_TABLE[0x2013] = ord("-")
FOLD_TABLE[0x2212] = ord("-")
FOLD_TABLE[0x3002] = 0x3002  # keep the ideographic full stop (not an ASCII dot)

#: folding is only needed when a full-width digit, letter, ``@``, ``+`` or ``.`` occurs; full-width
#: punctuation alone (，：（）, everywhere in Chinese text) is matched by the patterns as is
_NEEDS_FOLD = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff20\uff0b\uff0e]")


def fold(text: str) -> str:
    """Full-width -> ASCII, same length (identity offset map). Cheap when nothing to fold."""
    if text.isascii() or _NEEDS_FOLD.search(text) is None:
        return text
    return text.translate(FOLD_TABLE)


def offset_map(original: str, folded: str) -> list[int]:
    """Offsets in ``folded`` -> offsets in ``original``. The identity, kept for callers that
    compose further transforms; asserts the length invariant."""
    if len(original) != len(folded):  # pragma: no cover - guarded by construction
        raise ValueError("fold() must preserve length")
    return list(range(len(original) + 1))


_NUMERIC_TYPES = {"PHONE", "ID_CARD", "BANK_CARD", "US_SSN", "IM_ID", "ORG_CODE", "IBAN",
                  "PASSPORT", "LICENSE_PLATE"}
_SEPARATORS = re.compile(r"[\s\-.()/·•]+")


def normalize_value(pii_type: str, value: str) -> str:
    """Canonical form of a detected value, for keyed fingerprints and de-duplication.

    * every type: full-width -> ASCII, surrounding blanks trimmed;
    * numbers and codes (PHONE, ID_CARD, BANK_CARD, US_SSN, IM_ID, ORG_CODE, IBAN, PASSPORT,
      LICENSE_PLATE): separators and blanks dropped, letters upper-cased (ID check digit ``x``
      becomes ``X``); PHONE: ``+86``/``0086``/``86`` prefix dropped for CN mobiles, other
      international prefixes kept as ``+CC``; an extension is kept after ``x``;
    * EMAIL and URL host: lower-case;
    * anything else: inner runs of blanks collapsed to one space.
    """
    v = fold(value).strip()
    t = pii_type.upper()
    if t == "EMAIL":
        return v.lower()
    if t == "PHONE":
        ext = ""
        m = re.search(r"(?i)\s*(?:x|ext\.?|extension|转|分机)\s*(\d+)$", v)
        if m:
            ext = "x" + m.group(1)
            v = v[: m.start()]
        plus = v.startswith("+")
        digits = re.sub(r"\D", "", v)
        if plus or digits.startswith("00"):
            if digits.startswith("00"):
                digits = digits[2:]
            if digits.startswith("86") and len(digits) == 13 and digits[2] == "1":
                return digits[2:] + ext
            return "+" + digits + ext
        if digits.startswith("86") and len(digits) == 13 and digits[2] == "1":
            return digits[2:] + ext
        return digits + ext
    if t in _NUMERIC_TYPES:
        return _SEPARATORS.sub("", v).upper()
    if t == "URL":
        m = re.match(r"(?i)([a-z][a-z0-9+.-]*://)([^/?#]*)(.*)$", v)
        if m:
            return m.group(1).lower() + m.group(2).lower() + m.group(3)
        return v
    return re.sub(r"\s+", " ", v)
