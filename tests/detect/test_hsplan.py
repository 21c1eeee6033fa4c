"""The Hyperscan engine (optional) must give exactly the spans of the pure-Python engine."""

import random
import re

import pytest

from privtune.config import CustomRule, DetectConfig
from privtune.detect import Scanner, hsplan

needs_hs = pytest.mark.skipif(not hsplan.AVAILABLE, reason="hyperscan not installed")

PIECES = [
    "客户王建华，手机138-0013-8000，身份证11010519491231002X，卡号6222 0212 3456 7890 128。",
    "Mail jane.roe@example.org, SSN 219-09-9999, card 4111 1111 1111 1111, ip 192.168.10.7.",
    "token ghp_" + "Ab12" * 9 + " and AKIAIOSFODNN7EXAMPLE; password: s3cr3t-Pa55",
    "统一社会信用代码91350100M000100Y43，车牌粤B·D12345，QQ号码：12345678，微信号：wx_abc123",
    "Born on March 3, 1990. Call +44 20 7946 0958 or (020) 7946-0959 ext 12.",
    "护照号E12345678，港澳通行证C12345678，银行卡号6222021234567890123，SSN 123456789",
    "IBAN GB82 WEST 1234 5698 7654 32, fe80::1ff:fe23:4567:890a, 2001:db8::1, 12:30:45",
    "postgres://admin:hunter2@db.internal:5432/app https://www.example.com/a?b=c www.foo.org",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "api_key = 'Zk9xQ2h3TmVwR2tYcFlQd1ZsWkF4' secret: 9f8e7d6c5b4a3f2e1d0c bearer q8W3e9R2t7Y1u6I0",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----",
    "电话：０１０－６２３４５６７８，手机１３８００１３８０００，邮箱ｗａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ",
    "sk-proj-abcdefghijklmnopqrstuvwxyz012345 xoxb-1234567890-abcdefghij 0086 138 0013 8000",
    "3/23/1940 1990-03-07 1990年3月7日 出生日期1985年12月1日 DOB: 3rd March 1990",
    "base64 QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0",
]
FILLER = ["这是一段没有任何敏感信息的普通文字，用来测试长文本。", "Plain filler text without data. ",
          "项目进展顺利，大家继续努力。", "\u3000\u3000段首缩进的中文\xa0文本。", "😀 emoji 🎉 ",
          "Version 2.3.1 released in 2024; see section 4.5 and items 12, 13 and 14. "]
# characters for which Python's re and Hyperscan disagree: the guard hands the text to Python
ODD = ["٣٤٥٦٧٨٩٠١٢٣", "\u212aey: abcdefgh", "ſecret = xyz12345", "İP 1.2.3.4", "\ud800"]


def _text(rng: random.Random, odd: bool) -> str:
    parts = []
    for _ in range(rng.randint(1, 12)):
        parts.append(rng.choice(FILLER) * rng.randint(0, 3))
        parts.append(rng.choice(PIECES))
        if odd and rng.random() < 0.3:
            parts.append(rng.choice(ODD))
    return "".join(parts)


def _both(cfg: DetectConfig) -> tuple[Scanner, Scanner]:
    return Scanner(cfg, engine="hyperscan"), Scanner(cfg, engine="passes")


@needs_hs
@pytest.mark.parametrize("names", [False, True])
def test_hyperscan_engine_equals_python_engine(names):
    hs, py = _both(DetectConfig(names=names, min_score=0.0))
    assert hs.engine == "hyperscan" and py.engine == "passes"
    rng = random.Random(11)
    for i in range(300 if not names else 60):
        text = _text(rng, odd=i % 3 == 0)
        assert hs.scan(text) == py.scan(text), text
    for piece in PIECES + ODD + FILLER:
        assert hs.scan(piece) == py.scan(piece)


@needs_hs
def test_hyperscan_engine_with_custom_rules_types_and_allow_lists():
    cfg = DetectConfig(names=False, types=["PHONE", "EMAIL", "SECRET", "PASSPORT", "TICKET",
                                           "CUSTOM"],
                       custom=[CustomRule(type="TICKET", pattern=r"TKT-\d{6}"),
                               CustomRule(type="CUSTOM", terms=["机密", "Project Falcon"])],
                       allow=["138-0013-8000"], allow_patterns=[r".*@example\.org"])
    hs, py = _both(cfg)
    rng = random.Random(5)
    for _ in range(100):
        text = _text(rng, odd=False) + " TKT-123456 机密 Project Falcon"
        assert hs.scan(text) == py.scan(text)


@needs_hs
def test_guard_sends_unicode_digits_and_case_folds_to_python():
    sc = Scanner(DetectConfig(names=False), engine="hyperscan")
    assert sc._hs.events("phone 13800138000") not in (None, [])
    for odd in ODD[:4]:
        assert sc._hs.events("phone 13800138000 " + odd) is None
    assert sc._hs.events("\ud800 13800138000") is None  # not valid UTF-8


def test_guard_ranges_cover_every_character_python_treats_differently():
    chars = "".join(chr(c) for c in range(0x80, 0x110000) if not 0xD800 <= c <= 0xDFFF)
    special = set(re.findall(r"\d", chars)) | set(re.findall(r"(?i)[a-z]", chars))
    special |= {c for c in chars if len(c.lower()) == 1 and c.lower().isascii()
                and c.lower().isalpha()}
    guarded = {chr(c) for a, b in hsplan.GUARD_RANGES for c in range(a, b + 1)}
    assert special <= guarded


def test_width_helpers():
    assert hsplan.pattern_width(r"(?<![0-9])\d{3}-\d{4}(?![0-9])") == 8
    assert hsplan.pattern_width(r"a+") is None
    assert hsplan.lookahead_reach(r"\d+(?![0-9A-Za-z]|\.\d)") == 2
    assert hsplan.lookahead_reach(r"\d+") == 0
    assert hsplan.prefilter_expr(r"[a-z]{0,63}+@x{1,1000}y{2,5}") == b"[a-z]{0,}@x{1,}y{2,5}"


def test_python_fallback_without_hyperscan(monkeypatch):
    monkeypatch.setattr(hsplan, "AVAILABLE", False)
    sc = Scanner(DetectConfig(names=False))
    assert sc.engine == "passes" and sc._hs is None
    assert [s.type for s in sc.scan(PIECES[0])] == ["PHONE", "ID_CARD", "BANK_CARD"]


def test_unknown_engine_is_rejected():
    with pytest.raises(ValueError):
        Scanner(DetectConfig(names=False), engine="nope")


@needs_hs
def test_database_is_compiled_once_per_process():
    a = Scanner(DetectConfig(names=False), engine="hyperscan")
    b = Scanner(DetectConfig(names=False), engine="hyperscan")
    assert a._hs.db is b._hs.db


@needs_hs
def test_scanner_threads_share_the_database():
    from concurrent.futures import ThreadPoolExecutor

    sc = Scanner(DetectConfig(names=False), engine="hyperscan")
    texts = [_text(random.Random(i), odd=False) for i in range(40)]
    expected = [sc.scan(t) for t in texts]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(sc.scan, texts)) == expected


def test_keyword_secret_class_first_pattern_equals_the_plain_one():
    """``keyword_secret`` opens with a character class for re's fast scan; its ``hs_pattern``
    is the plain case-insensitive form. Both must match exactly the same."""
    from privtune.detect.recognizers import secrets

    rec = next(r for r in secrets.recognizers() if r.name == "keyword_secret")
    plain = re.compile(rec.hs_pattern)
    frags = ["password", "PassWord", "passwd", "pwd", "pass", "secret", "\u017fecret",
             "client_secret", "Client-Secret", "token", "access_token", "auth-token", "api_key",
             "apikey", "access_key_id", "secret_key", "private_key", "credentials", "密码", "口令",
             "密钥", "秘钥", "令牌", "=", ": ", " is ", " IS ", "是", "为", "=>", "'", " ",
             "abc123xyz", "s3cr3t!", "\n", "，", "key", "c", "p", "a"]
    rng = random.Random(3)
    for _ in range(20000):
        t = "".join(rng.choice(frags) for _ in range(rng.randint(1, 8)))
        assert [m.span("v") for m in rec.regex.finditer(t)] == \
            [m.span("v") for m in plain.finditer(t)], t
