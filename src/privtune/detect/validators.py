"""Checksums and plausibility checks. Each takes the folded value and returns a bool."""

from __future__ import annotations

import datetime as _dt
import ipaddress
import math
import re
import time
from collections import Counter
from operator import mul as _mul

_DIGITS = re.compile(r"\d")


def digits_only(value: str) -> str:
    if value.isdecimal():  # the same set as re's \d: nothing to drop
        return value
    return "".join(_DIGITS.findall(value))


#: Luhn: the digit that replaces ``d`` at a doubled position (2d, minus 9 above 9)
_LUHN_TABLE = bytes.maketrans(b"0123456789", b"0246813579")


def luhn(number: str) -> bool:
    """Luhn (ISO/IEC 7812) check over the digits of ``number``."""
    ds = digits_only(number)
    if not ds:
        return False
    if ds.isascii():
        b = ds.encode("ascii")
        return (sum(b[-1::-2]) + sum(b[-2::-2].translate(_LUHN_TABLE)) - 48 * len(b)) % 10 == 0
    total = 0
    for i, ch in enumerate(reversed(ds)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


#: GB/T 2260 province-level codes (first two digits of a resident ID / region code)
CN_PROVINCE_CODES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83", "91",
})
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_WEIGHT_SUM = sum(_ID_WEIGHTS)


_today_cache: list = [None, 0.0]  # [date, time.time() at which it stops being today]


def _today() -> _dt.date:
    """``date.today()``, computed again only when the local date can have changed."""
    now = time.time()
    if now >= _today_cache[1] or _today_cache[0] is None:
        day = _dt.date.today()
        tomorrow = _dt.datetime.combine(day + _dt.timedelta(days=1), _dt.time())
        _today_cache[:] = [day, min(tomorrow.timestamp(), now + 3600.0)]
    return _today_cache[0]


def _valid_date(y: int, m: int, d: int, *, earliest: int = 1880) -> bool:
    if y < earliest:
        return False
    try:
        day = _dt.date(y, m, d)
    except ValueError:
        return False
    return day <= _today()


def _valid_region(code: str) -> bool:
    # province, then prefecture (01-70, 90 for directly administered) and county parts non-zero
    # where the GB/T 2260 scheme requires it: "xx0000" denotes a province, never a person.
    return code[:2] in CN_PROVINCE_CODES and code[2:] != "0000"


def cn_id18(value: str) -> bool:
    """18-digit resident ID: region code, birth date, GB 11643 MOD 11-2 check character."""
    v = (value if value.isalnum() else re.sub(r"[\s-]", "", value)).upper()
    if len(v) != 18 or not v[:17].isdigit() or v[17] not in "0123456789X":
        return False
    if not _valid_region(v[:6]):
        return False
    if not _valid_date(int(v[6:10]), int(v[10:12]), int(v[12:14])):
        return False
    if v[:17].isascii():
        s = sum(map(_mul, v[:17].encode("ascii"), _ID_WEIGHTS)) - 48 * _ID_WEIGHT_SUM
    else:
        s = sum(int(c) * w for c, w in zip(v[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[s % 11] == v[17]


def cn_id15(value: str) -> bool:
    """Legacy 15-digit ID (issued before 1999): region code and 19yy birth date, no check."""
    v = re.sub(r"[\s-]", "", value)
    if len(v) != 15 or not v.isdigit() or not _valid_region(v[:6]):
        return False
    return _valid_date(1900 + int(v[6:8]), int(v[8:10]), int(v[10:12]))


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(value: str) -> bool:
    """Unified social credit code (GB 32100-2015): 18 chars, mod-31 check character."""
    v = value.upper()
    if len(v) != 18 or any(c not in _USCC_CHARS for c in v):
        return False
    if not v[2:8].isdigit() or v[2:4] not in CN_PROVINCE_CODES:
        return False
    s = sum(_USCC_CHARS.index(c) * w for c, w in zip(v[:17], _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - s % 31) % 31] == v[17]


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def iban(value: str) -> bool:
    """IBAN: known country length and ISO 13616 mod-97 == 1."""
    v = re.sub(r"[\s-]", "", value).upper()
    if len(v) < 15 or not v[:2].isalpha() or not v[2:4].isdigit() or not v.isalnum():
        return False
    if _IBAN_LENGTHS.get(v[:2], -1) != len(v):
        return False
    rearranged = v[4:] + v[:4]
    num = "".join(str(int(c, 36)) for c in rearranged)
    return int(num) % 97 == 1


def us_ssn(value: str) -> bool:
    """US SSN: area not 000/666/9xx, group not 00, serial not 0000, not all one digit."""
    d = digits_only(value)
    if len(d) != 9 or len(set(d)) == 1:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def ipv4(value: str) -> bool:
    parts = value.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) <= 255 and (p == "0" or p[0] != "0")
                                   for p in parts)


def ipv6(value: str) -> bool:
    if value.count(":") < 2 or len(value) < 6:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    groups = [g for g in value.split(":") if g]
    # a time like 12:30:45 is not an address; require a hex letter or 4+ groups or "::"
    return len(groups) >= 4 or "::" in value


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def char_classes(value: str) -> int:
    return (any(c.islower() for c in value) + any(c.isupper() for c in value)
            + any(c.isdigit() for c in value))


def plausible_birth_date(y: int, m: int, d: int) -> bool:
    return _valid_date(y, m, d, earliest=1900) and y <= _today().year - 1


# --- check digits, for generators of valid fakes and demo data (the one place they live) ----
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check_digit(first17: str) -> str:
    """GB 11643 MOD 11-2 check character of an 18-digit resident ID number."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body + digit`` pass the Luhn check."""
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return len(number) > 1 and luhn_check_digit(number[:-1]) == number[-1]
