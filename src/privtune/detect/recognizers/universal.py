"""Language-independent and English recognizers: e-mail, phones, cards, IBAN, SSN, IP, URL,
dates of birth."""

from __future__ import annotations

import re

from privtune.detect import validators as v
from privtune.detect.recognizer import FB, NA, PatternRecognizer

PHONE_CONTEXT = ("phone", "call", "tel", "mobile", "cell", "fax", "contact", "reach",
                 "answering", "office", "whatsapp", "dial", "电话", "手机", "联系", "致电",
                 "拨打", "座机", "号码", "热线")


def _card_brand_ok(d: str) -> bool:
    """Known issuer prefix (IIN) with a length that brand uses."""
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)
    if d[:2] in ("51", "52", "53", "54", "55") or 2221 <= int(d[:4]) <= 2720:
        return n == 16
    if d[:2] in ("34", "37"):
        return n == 15
    if d[:2] in ("62", "65", "35", "81") or d.startswith(("6011", "64")):
        return 16 <= n <= 19
    if d[:2] in ("30", "36", "38", "39"):
        return 14 <= n <= 16
    return False


def _card(value: str) -> float | bool:
    d = v.digits_only(value)
    if not 13 <= len(d) <= 19:
        return False
    if d is not value and len({c for c in value if not c.isdigit()}) > 1:
        return False  # mixed separators
    if v.luhn(d) and _card_brand_ok(d):
        return 0.9
    return False


_EXT = re.compile(r"(?i)\s?(?:x|ext\.?|extension)\s?(?=\d)")
_DATE_LIKE = re.compile(r"\d{4}-\d\d-\d\d|\d{1,2}[-.]\d{1,2}[-.]\d{2,4}|\d{4}[-.]\d{1,2}")
_YEARS = re.compile(r"(?:1\d|20)\d\d-(?:1\d|20)\d\d")
_IP_LIKE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_SSN_LIKE = re.compile(r"\d{3}-\d\d-\d{4}")
_ISO_DATE_START = re.compile(r"\d{4}-\d\d-\d\d")
_DOB_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_DOB_YMD = re.compile(r"(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})|(\d{4})年(\d{1,2})月(\d{1,2})日?")
_YEAR = re.compile(r"(\d{4})")


def _phone(value: str) -> float | bool:
    if value.isdigit() and value.isascii():  # fast path, same answers as below
        n = len(value)
        if n < 6 or n > 15:
            return False
        return 0.35 if n < 7 else 0.45
    main = _EXT.split(value)[0]
    d = v.digits_only(main)
    n = len(d)
    if n < 6 or n > 15:
        return False
    if _DATE_LIKE.fullmatch(main):
        return False  # a date
    if _YEARS.fullmatch(main):
        return False  # a range of years
    if _IP_LIKE.fullmatch(main):
        return False  # an IPv4 address
    if _SSN_LIKE.fullmatch(main):
        return 0.5  # SSN-shaped: the SSN recognizer decides
    if n < 7:
        return 0.35  # only with context
    strong = main.startswith("+") or "(" in main or "-" in main or main != value
    return 0.65 if strong else 0.45


_PHONE_FOLLOWERS = ("office", "mobile", "fax", "home", "work", "cell", "ext", "or", "and",
                    "is", "to", "for", "please", "if", "tel", "phone")
_NEXT_WORD = re.compile(r"[ ]([A-Za-z]+)")


def _phone_post(text: str, s: int, e: int, score: float) -> float | None:
    """Short numbers followed by a word are street numbers ("03 2657 Koontz Lane")."""
    if len(text) - e > 1 and e - s < 10:
        m = _NEXT_WORD.match(text, e)
        if m and m.group(1).lower() not in _PHONE_FOLLOWERS:
            return None
    if _ISO_DATE_START.match(text, s, e):
        return None
    return score


def _dob(value: str) -> float | bool:
    value = value.strip()
    m = _DOB_DMY.fullmatch(value)
    if m:
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        ok = v.plausible_birth_date(y, a, b) or v.plausible_birth_date(y, b, a)
        return 0.5 if ok else False
    m = _DOB_YMD.fullmatch(value)
    if m:
        g = [x for x in m.groups() if x]
        if not v.plausible_birth_date(int(g[0]), int(g[1]), int(g[2])):
            return False
        return 0.4 if "年" in value else 0.5  # Chinese news dates: only with context
    m = _YEAR.search(value)
    if m and 1900 <= int(m.group(1)) <= 2025:
        return 0.5
    return False


_MONTHS = (r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")

#: month names after their first letter (the first letter is matched by a class, so the
#: pattern can start with a character class)
_MONTHS_REST = (r"(?i:(?<=[Jj])an(?:uary)?|(?<=[Ff])eb(?:ruary)?|(?<=[Mm])ar(?:ch)?|"
                r"(?<=[Aa])pr(?:il)?|(?<=[Mm])ay|(?<=[Jj])une?|(?<=[Jj])uly?|(?<=[Aa])ug(?:ust)?|"
                r"(?<=[Ss])ep(?:t(?:ember)?)?|(?<=[Oo])ct(?:ober)?|(?<=[Nn])ov(?:ember)?|"
                r"(?<=[Dd])ec(?:ember)?)")
_DOB_CONTEXT = ("born", "birth", "dob", "d.o.b", "birthday", "出生", "生日", "生于", "age")
_PHONE_BODY = r"(?:\d{1,5}(?:[ .\-]\d{1,8}){0,4}|\d{7,12})"
_PHONE_BODY_REST = r"(?:\d{0,4}(?:[ .\-]\d{1,8}){0,4}|\d{6,11})"
_PHONE_EXT = r"(?:[ ]?(?i:x|ext\.?|extension)[ ]?\d{1,6})?"
_PHONE_END = r"(?![0-9A-Za-z]|[.\-/:]\d)"
_IPV4_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_URL_TAIL = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]"


def recognizers() -> list[PatternRecognizer]:
    return [
        # the local part is possessive ({0,63}+): "@" is not in its class, so giving characters
        # back can never help, and re stops trying at once (the window scan was O(64) per
        # position)
        PatternRecognizer(
            "email", "EMAIL",
            r"(?<![A-Za-z0-9._%+\-/])(?P<v>[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}+@"
            r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}"
            r"[A-Za-z0-9])?)*\.[A-Za-z]{2,24})(?![A-Za-z0-9\-])",
            score=0.95, max_len=254, priority=10, trigger=("@",), window=(64, 254)),
        PatternRecognizer(
            "credit_card", "BANK_CARD", trigger=("\\d",),
            pattern=r"(?P<v>\d" + FB + r"(?:\d{3}(?:[ \-]\d{4}){2}[ \-]\d{4}(?:[ \-]?\d{1,3})?|\d{3}[ \-]\d{6}[ \-]\d{5}"
            r"|\d{12,18}))" + NA,
            validator=_card, context=("card", "visa", "mastercard", "amex", "卡号", "银行卡",
                                      "信用卡", "储蓄卡", "借记卡", "账号", "帐号", "account"),
            context_boost=0.08, max_len=23, priority=20),
        PatternRecognizer(
            "iban", "IBAN", trigger=("\\d",),
            pattern=r"(?P<v>[A-Za-z]" + FB + r"[A-Za-z]\d{2}(?:[ ]?[A-Za-z0-9]{4}){2,7}(?:[ ]?[A-Za-z0-9]{1,3})?)" + NA,
            validator=v.iban, score=0.95, max_len=42, priority=15),
        PatternRecognizer(
            "us_ssn", "US_SSN", trigger=("\\d",),
            pattern=r"(?P<v>\d(?<![0-9A-Za-z\-][\s\S])\d\d([\- ])\d\d\2\d{4})(?![\d\-])" + NA,
            validator=v.us_ssn, score=0.8, context=("ssn", "social security", "社会安全号"),
            max_len=11, priority=25),
        PatternRecognizer(
            "us_ssn_plain", "US_SSN", trigger=("ssn", "social security"), trigger_lower=True, window=(24, 40), pattern=r"(?P<v>\d" + FB + r"\d{8})" + NA,
            validator=v.us_ssn, score=0.6, context=("ssn", "social security"),
            context_required=True, context_window=24, max_len=9, priority=26),
        PatternRecognizer(
            "ipv4", "IP_ADDRESS", trigger=("\\d",),
            pattern=r"(?P<v>\d(?<![0-9A-Za-z.][\s\S])\d{0,2}(?:\.\d{1,3}){3})"
            r"(?![0-9A-Za-z]|\.\d)",
            validator=v.ipv4, score=0.85, context=("ip", "address", "地址", "host", "server"), context_boost=0.1,
            max_len=15, priority=30),
        PatternRecognizer(
            "ipv6", "IP_ADDRESS", trigger=("\\d",),
            pattern=r"(?<![0-9A-Za-z:])(?P<v>[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
            r"(?::" + _IPV4_OCTET + r"(?:\." + _IPV4_OCTET + r"){3})?)(?![0-9A-Za-z:])",
            validator=v.ipv6, score=0.85, max_len=45, priority=30),
        PatternRecognizer(
            "url", "URL", trigger=("://", "www."), trigger_lower=True, window=(12, 1006),
            pattern=r"(?i)(?<![A-Za-z0-9])(?P<v>(?:https?|ftp|wss?)://" + _URL_TAIL + r"{1,1000}"
            r"(?<![.,;:!?)\]'\"])|www\.[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+(?:/" + _URL_TAIL
            + r"{0,990})?(?<![.,;:!?)\]'\"]))",
            score=0.6, max_len=1006, priority=80),
        # phones: three charset-first variants (a leading look-behind would disable re's fast
        # first-character scan): "+CC ...", "(area) ..." and plain digit groups
        PatternRecognizer(
            "phone", "PHONE", trigger=("\\d",),
            pattern=r"(?P<v>\d(?<![0-9A-Za-z+\-/.][0-9])" + _PHONE_BODY_REST + _PHONE_EXT + ")"
            + _PHONE_END,
            validator=_phone, post=_phone_post, context=PHONE_CONTEXT, context_boost=0.25,
            max_len=32, priority=60),
        PatternRecognizer(
            "phone_intl", "PHONE", trigger=("\\d",),
            pattern=r"(?P<v>\+(?<![0-9A-Za-z+\-/.]\+)\d{1,3}[ .\-]?(?:\(0\)[ ]?)?"
            r"(?:\(\d{1,5}\)[ .\-]?)?" + _PHONE_BODY + _PHONE_EXT + ")" + _PHONE_END,
            validator=_phone, post=_phone_post, context=PHONE_CONTEXT, context_boost=0.25,
            max_len=32, priority=60),
        PatternRecognizer(
            "phone_area", "PHONE", trigger=("\\d",),
            pattern=r"(?P<v>\((?<![0-9A-Za-z+\-/.]\()\d{1,5}\)[ .\-]?" + _PHONE_BODY
            + _PHONE_EXT + ")" + _PHONE_END,
            validator=_phone, post=_phone_post, context=PHONE_CONTEXT, context_boost=0.25,
            max_len=32, priority=60),
        PatternRecognizer(
            "date_of_birth", "DATE_OF_BIRTH", trigger=("\\d",),
            pattern=r"(?P<v>\d" + FB + r"(?:\d?[/.\-]\d{1,2}[/.\-]\d{4}|\d{3}[/.\-]\d{1,2}[/.\-]\d{1,2}"
            r"|\d{3}年\d{1,2}月\d{1,2}日?|\d?(?i:st|nd|rd|th)? " + _MONTHS + r"\.?,? \d{4}))" + NA,
            validator=_dob, context=_DOB_CONTEXT, context_boost=0.35, context_window=48,
            max_len=20, priority=70),
        PatternRecognizer(
            "date_of_birth_month", "DATE_OF_BIRTH", trigger=("\\d",),
            pattern=r"(?P<v>[JFMASONDjfmasond]" + FB + _MONTHS_REST + r"\.? \d{1,2}"
            r"(?i:st|nd|rd|th)?,? \d{4})" + NA,
            validator=_dob, context=_DOB_CONTEXT, context_boost=0.35, context_window=48,
            max_len=20, priority=70),
    ]
