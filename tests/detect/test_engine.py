"""The engine plan (digit windows, trigger windows, combined pass) must not change results."""

import itertools
import random

import pytest

from privtune.config import DetectConfig
from privtune.detect import Scanner
from privtune.detect.scanner import digit_windows

SAMPLES = [
    "客户王建华，手机138-0013-8000，身份证11010519491231002X，卡号6222 0212 3456 7890 128。",
    "Mail jane.roe@example.org, SSN 219-09-9999, card 4111 1111 1111 1111, ip 192.168.10.7.",
    "token ghp_" + "Ab12" * 9 + " and AKIAIOSFODNN7EXAMPLE; password: s3cr3t-Pa55",
    "统一社会信用代码91350100M000100Y43，车牌粤B·D12345，QQ号码：12345678，微信号：wx_abc123",
    "Born on March 3, 1990. Call +44 20 7946 0958 or (020) 7946-0959 ext 12.",
]


def _long_text(seed: int) -> str:
    rng = random.Random(seed)
    filler = ["这是一段没有任何敏感信息的普通文字，用来测试长文本。", "Plain filler text without data. ",
              "项目进展顺利，大家继续努力。"]
    parts = []
    for _ in range(40):
        parts.append(rng.choice(filler) * rng.randint(1, 4))
        parts.append(rng.choice(SAMPLES))
    return "".join(parts)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_windows_find_the_same_as_whole_text(seed, monkeypatch):
    text = _long_text(seed)
    assert len(text) > 2000
    sc = Scanner(DetectConfig(names=False), engine="passes")  # the pure-Python windows
    windowed = sc.scan(text)
    import privtune.detect.scanner as mod

    monkeypatch.setattr(mod, "_WHOLE_TEXT", 10**9)  # one window: the whole text
    whole = sc.scan(text)
    assert windowed == whole
    assert len(windowed) >= 40


def test_combined_engine_agrees():
    text = _long_text(7)
    a = Scanner(DetectConfig(names=False)).scan(text)
    b = Scanner(DetectConfig(names=False), engine="combined").scan(text)
    assert {(s.type, s.start, s.end) for s in a} == {(s.type, s.start, s.end) for s in b}


def test_digit_windows_cover_whole_tokens():
    text = "x" * 300 + " abcdefghijklmnopqrstuvwxyzABCDEFGH1234 " + "y" * 300
    ((ws, we),) = digit_windows(text)
    token = "abcdefghijklmnopqrstuvwxyzABCDEFGH1234"
    assert ws <= text.index(token) and we >= text.index(token) + len(token)
    assert ws == text.index(token)  # never starts inside the token


def test_max_span_length_bounds_every_span():
    sc = Scanner()
    text = _long_text(5)
    assert all(len(s) <= sc.max_span_length for s in sc.scan(text))
    assert Scanner(DetectConfig(names=False, types=["PHONE"])).max_span_length <= 32


def test_custom_regex_spans_are_capped_to_the_bound():
    from privtune.config import CustomRule

    sc = Scanner(DetectConfig(names=False, custom=[CustomRule(type="BLOB", pattern=r"Q+")]))
    text = "Q" * 1000
    spans = sc.scan(text)
    assert spans and all(len(s) <= sc.max_span_length for s in spans)
    assert spans[0].start == 0 and spans[-1].end == 1000  # adjacent chunks cover the match
    assert all(a.end == b.start for a, b in itertools.pairwise(spans))


def test_foreign_name_length_is_bounded():
    sc = Scanner()
    text = "·".join(["阿尔伯特"] * 8) + "先生说"
    assert all(len(s) <= sc.max_span_length for s in sc.scan(text))
