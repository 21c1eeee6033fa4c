"""Pseudonyms: consistent, realistic, format-valid fakes.

``fake_value(seed, type, value)`` is a pure function of a 32-byte seed (the keyed HMAC of the
real value, computed by the caller) and the real value's shape, so the same real value maps to
the same fake across a dataset and across runs with the same key, in any process:

* PERSON: Faker ``zh_CN`` names for Chinese names, ``en_US`` otherwise;
* PHONE: Chinese mobiles get a valid MIIT prefix (``13x``, ``15x``, ``18x``...); other numbers
  keep their length; the original layout (``+86``, spaces, dashes) is kept;
* ID_CARD: 18 digits with a real region code, a valid birth date and the GB 11643 check digit;
* BANK_CARD: UnionPay ``62`` prefix, the original length, Luhn-valid;
* ORG_CODE: unified social credit code with the GB 32100 check character;
* US_SSN: valid area (not 000/666/9xx), group and serial; IBAN: valid mod-97 check digits;
* EMAIL/URL: reserved ``example.*`` domains, so a fake never reaches a real mailbox or site;
* IP_ADDRESS: a public-looking IPv4 (or an IPv6 in ``2001:db8::/32``);
* anything else: a same-shape substitute (digit for digit, letter for letter, CJK for CJK).
"""

from __future__ import annotations

import datetime as _dt
import random
import re
import string
from functools import lru_cache

from privtune.detect.validators import id_check_digit, luhn_check_digit

_CJK = re.compile(r"[\u3400-\u9fff]")

MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "145",
    "147",
    "149",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "162",
    "165",
    "166",
    "167",
    "170",
    "171",
    "172",
    "173",
    "175",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "184",
    "185",
    "186",
    "187",
    "188",
    "189",
    "190",
    "191",
    "192",
    "193",
    "195",
    "196",
    "197",
    "198",
    "199",
)
# Real county-level division codes (GB/T 2260), one or two per province.
REGION_CODES = (
    "110101",
    "110105",
    "120101",
    "130102",
    "140105",
    "150102",
    "210102",
    "220102",
    "230102",
    "310101",
    "310115",
    "320102",
    "320505",
    "330102",
    "330106",
    "340102",
    "350102",
    "360102",
    "370102",
    "370202",
    "410102",
    "420102",
    "430102",
    "440103",
    "440305",
    "450102",
    "460105",
    "500103",
    "510104",
    "520102",
    "530102",
    "540102",
    "610113",
    "620102",
    "630102",
    "640104",
    "650102",
)
_ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_COMMON_HANZI = "安白宝北朝成东方丰广海和华吉佳建江金京康兰乐丽林龙明南平庆荣瑞山盛顺泰天万文祥新兴阳永玉长正志中"


# --- checksums (also used by tests) ----------------------------------------------------------


def org_check_char(first17: str) -> str:
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(first17, _ORG_WEIGHTS, strict=True))
    return _ORG_ALPHABET[(31 - total % 31) % 31]


def iban_check_digits(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{98 - int(digits) % 97:02d}"


# --- helpers ---------------------------------------------------------------------------------
@lru_cache(maxsize=2)
def _faker(locale: str):  # type: ignore[no-untyped-def]
    from faker import Faker

    return Faker(locale)


def _seeded_faker(locale: str, rng: random.Random):  # type: ignore[no-untyped-def]
    fk = _faker(locale)
    fk.seed_instance(rng.getrandbits(64))
    return fk


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _into_layout(value: str, new_digits: str) -> str:
    """Put ``new_digits`` into the digit positions of ``value`` (keeping separators)."""
    it = iter(new_digits)
    out = []
    last = len(value) - 1
    for i, c in enumerate(value):
        if (c.isdigit() and c.isascii()) or (c in "xX" and i == last):
            out.append(next(it, c))
        else:
            out.append(c)
    return "".join(out)


def _shape(rng: random.Random, value: str) -> str:
    out = []
    for c in value:
        if c.isdigit():
            out.append(rng.choice(string.digits))
        elif c.isascii() and c.isupper():
            out.append(rng.choice(string.ascii_uppercase))
        elif c.isascii() and c.islower():
            out.append(rng.choice(string.ascii_lowercase))
        elif _CJK.match(c):
            out.append(rng.choice(_COMMON_HANZI))
        else:
            out.append(c)
    return "".join(out)


# --- generators ------------------------------------------------------------------------------
def fake_person(rng: random.Random, value: str) -> str:
    if _CJK.search(value):
        fk = _seeded_faker("zh_CN", rng)
        return fk.last_name() + fk.first_name()
    fk = _seeded_faker("en_US", rng)
    if " " not in value.strip():
        return fk.first_name()
    return f"{fk.first_name()} {fk.last_name()}"


def fake_phone(rng: random.Random, value: str) -> str:
    digits = "".join(c for c in value if c.isascii() and c.isdigit())
    cc = ""
    if len(digits) == 13 and digits.startswith("86"):
        cc, digits = "86", digits[2:]
    elif len(digits) == 15 and digits.startswith("0086"):
        cc, digits = "0086", digits[4:]
    if len(digits) == 11 and digits.startswith("1"):
        new = rng.choice(MOBILE_PREFIXES) + _digits(rng, 8)
    elif len(digits) == 10 and not cc:  # North American: NXX-NXX-XXXX
        new = str(rng.randint(2, 9)) + _digits(rng, 2) + str(rng.randint(2, 9)) + _digits(rng, 6)
    elif digits:
        new = digits[0] + _digits(rng, len(digits) - 1)
    else:
        return _shape(rng, value)
    return _into_layout(value, cc + new)


def fake_id_card(rng: random.Random, value: str) -> str:
    start = _dt.date(1950, 1, 1).toordinal()
    end = _dt.date(2005, 12, 31).toordinal()
    born = _dt.date.fromordinal(rng.randint(start, end))
    first17 = rng.choice(REGION_CODES) + born.strftime("%Y%m%d") + _digits(rng, 3)
    new = first17 + id_check_digit(first17)
    compact = "".join(c for c in value if c.isalnum())
    return _into_layout(value, new) if len(compact) == 18 else new


def fake_bank_card(rng: random.Random, value: str) -> str:
    digits = "".join(c for c in value if c.isascii() and c.isdigit())
    n = len(digits) if 13 <= len(digits) <= 19 else 16
    body = "62" + _digits(rng, n - 3)
    new = body + luhn_check_digit(body)
    return _into_layout(value, new) if len(digits) == n else new


def fake_org_code(rng: random.Random, value: str) -> str:
    first17 = "91" + rng.choice(REGION_CODES) + "".join(rng.choice(_ORG_ALPHABET) for _ in range(9))
    return first17 + org_check_char(first17)


def fake_ssn(rng: random.Random, value: str) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    new = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
    digits = [c for c in value if c.isdigit()]
    return _into_layout(value, new) if len(digits) == 9 else f"{new[:3]}-{new[3:5]}-{new[5:]}"


def fake_iban(rng: random.Random, value: str) -> str:
    compact = "".join(c for c in value if c.isalnum()).upper()
    country = compact[:2] if compact[:2].isalpha() else "DE"
    n = max(len(compact) - 4, 10)
    bban = _digits(rng, n)
    new = country + iban_check_digits(country, bban) + bban
    if " " in value:
        return " ".join(new[i : i + 4] for i in range(0, len(new), 4))
    return new


def fake_email(rng: random.Random, value: str) -> str:
    fk = _seeded_faker("en_US", rng)
    user = re.sub(r"[^a-z0-9._]", "", fk.user_name().lower()) or "user"
    return (
        f"{user}{rng.randint(1, 999)}@{rng.choice(('example.com', 'example.net', 'example.org'))}"
    )


def fake_url(rng: random.Random, value: str) -> str:
    path = "".join(rng.choice(string.ascii_lowercase) for _ in range(8))
    return f"https://www.example.com/{path}"


def fake_ip(rng: random.Random, value: str) -> str:
    if ":" in value:
        return "2001:db8:" + ":".join(f"{rng.getrandbits(16):x}" for _ in range(6))
    while True:
        a = rng.randint(1, 223)
        b = rng.randint(0, 255)
        if (
            a in (10, 127, 0)
            or (a == 169 and b == 254)
            or (a == 172 and 16 <= b <= 31)
            or (a == 192 and b == 168)
            or (a == 100 and 64 <= b <= 127)
        ):
            continue
        return f"{a}.{b}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def fake_address(rng: random.Random, value: str) -> str:
    if _CJK.search(value):
        fk = _seeded_faker("zh_CN", rng)
        return f"{fk.province()}{fk.city()}{fk.district()}区{fk.street_address()}"
    fk = _seeded_faker("en_US", rng)
    return f"{fk.street_address()}, {fk.city()}"


def fake_passport(rng: random.Random, value: str) -> str:
    compact = "".join(c for c in value if c.isalnum())
    if compact[:1].isalpha():
        return rng.choice("EG") + _digits(rng, max(len(compact) - 1, 8))
    return _shape(rng, value)


def fake_plate(rng: random.Random, value: str) -> str:
    if _CJK.match(value[:1] or " "):
        tail = "".join(rng.choice(_PLATE_LETTERS + string.digits) for _ in range(5))
        return rng.choice(_PLATE_PROVINCES) + rng.choice(_PLATE_LETTERS) + tail
    return _shape(rng, value)


def fake_date(rng: random.Random, value: str) -> str:
    start = _dt.date(1950, 1, 1).toordinal()
    d = _dt.date.fromordinal(rng.randint(start, _dt.date(2005, 12, 31).toordinal()))
    m = re.fullmatch(r"(\d{4})([-/.年])(\d{1,2})([-/.月])(\d{1,2})(日?)", value.strip())
    if m:
        return f"{d.year}{m[2]}{d.month:02d}{m[4]}{d.day:02d}{m[6]}"
    m = re.fullmatch(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})", value.strip())
    if m:
        return f"{d.month:02d}{m[2]}{d.day:02d}{m[2]}{d.year}"
    return d.isoformat()


GENERATORS = {
    "PERSON": fake_person,
    "PHONE": fake_phone,
    "ID_CARD": fake_id_card,
    "BANK_CARD": fake_bank_card,
    "ORG_CODE": fake_org_code,
    "US_SSN": fake_ssn,
    "IBAN": fake_iban,
    "EMAIL": fake_email,
    "URL": fake_url,
    "IP_ADDRESS": fake_ip,
    "ADDRESS": fake_address,
    "PASSPORT": fake_passport,
    "LICENSE_PLATE": fake_plate,
    "DATE_OF_BIRTH": fake_date,
}


def fake_value(seed: bytes, pii_type: str, value: str) -> str:
    """A fake for ``value`` determined by ``seed`` (never equal to ``value`` itself)."""
    rng = random.Random(int.from_bytes(seed, "big"))
    gen = GENERATORS.get(pii_type, lambda r, v: _shape(r, v))
    for _ in range(8):
        fake = gen(rng, value)
        if fake != value:
            return fake
    return fake
