"""Scanner.scan_many (stage-major batches) must return exactly what scan() returns per text."""

import random

import pytest
from faker import Faker

from privtune.config import CustomRule, DetectConfig
from privtune.detect import Scanner, hsplan


def _mixed_batch() -> list[str]:
    """zh/en records with PII, filler, empty strings, texts with no CJK or no Latin letter,
    full-width text (folding), and a few very long texts (longer than a chunk)."""
    rng = random.Random(11)
    zh, en = Faker("zh_CN"), Faker("en_US")
    zh.seed_instance(11)
    en.seed_instance(12)
    texts: list[str] = []
    for i in range(120):
        k = i % 8
        if k == 0:
            texts.append(f"客户{zh.name()}的手机号是{zh.phone_number()}，住址：{zh.address()}。"
                         + zh.text(120))
        elif k == 1:
            texts.append(f"Hi, I'm {en.name()}. Call {en.phone_number()} or {en.email()}; I live"
                         f" at {en.address().replace(chr(10), ', ')}. " + en.text(150))
        elif k == 2:
            texts.append("")
        elif k == 3:  # no Latin letter, no ASCII digit
            texts.append(zh.text(200).replace("。", "，"))
        elif k == 4:  # no CJK at all
            texts.append(f"ssn {en.ssn()} ip {en.ipv4()} url {en.url()} key AKIA"
                         + "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", k=16)))
        elif k == 5:  # full-width digits and letters
            texts.append(f"请联系{zh.name()}，电话１３８００１３８０００，邮箱ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ")
        elif k == 6:  # custom rules and allow-list hits
            texts.append("这是机密文件，project falcon 的 TKT-123456，电话13800138000，手机13900139000"
                         f"，联系人{zh.name()}，Jane Doe at 1600 Amphitheatre Parkway")
        else:
            texts.append(en.text(300).lower() + " my name is jane doe")
    # very long texts: several chunks' worth each, mixing every kind above
    body = [t for t in texts if t]
    texts.insert(7, " ".join(body))
    texts.append("\n".join(reversed(body)) * 2)
    texts.append("x")
    texts.append("王")
    return texts


_CONFIGS = {
    "default": DetectConfig(),
    "structured": DetectConfig(names=False),
    "custom+allow": DetectConfig(
        custom=[CustomRule(type="CUSTOM", terms=["机密", "Project Falcon"]),
                CustomRule(type="TICKET", pattern=r"TKT-\d{6}")],
        allow=["13800138000", "Jane Doe"], allow_patterns=[r"[0-9.]+\.[0-9]+"]),
    "types": DetectConfig(types=["PERSON", "PHONE"], min_score=0.7),
}
_ENGINES = ["auto", "passes"] + (["hyperscan"] if hsplan.AVAILABLE else [])


@pytest.fixture(scope="module")
def batch() -> list[str]:
    return _mixed_batch()


@pytest.mark.parametrize("engine", _ENGINES)
@pytest.mark.parametrize("cfg", list(_CONFIGS))
def test_scan_many_equals_scan(batch, cfg, engine):
    sc = Scanner(_CONFIGS[cfg], engine=engine)
    want = [sc.scan(t) for t in batch]
    assert sum(map(len, want)) > 50  # the batch exercises the recognizers
    for chunk in (1, 4000, 1 << 18, 1 << 30):  # one text per chunk .. one chunk in all
        got = sc.scan_many(batch, chunk_chars=chunk)
        assert got == want, (cfg, engine, chunk)
    assert sc.scan_many(iter(batch)) == want  # any iterable, default chunking


def test_scan_many_finds_every_kind(batch):
    """The equality above is only meaningful if names, addresses, custom and structured
    types are all found in the batch."""
    sc = Scanner(_CONFIGS["custom+allow"])
    types = {s.type for spans in sc.scan_many(batch) for s in spans}
    assert {"PERSON", "ADDRESS", "PHONE", "EMAIL", "CUSTOM", "TICKET"} <= types
    got = sc.scan_many(batch)
    assert all(batch[i][s.start:s.end] != "13800138000" for i, sp in enumerate(got) for s in sp)


def test_scan_many_edge_inputs():
    sc = Scanner()
    assert sc.scan_many([]) == []
    assert sc.scan_many(["", ""]) == [[], []]
    assert sc.scan_many(["", "电话13800138000", ""])[1][0].type == "PHONE"


class _Recorder:
    """A function recognizer that logs which text it saw, to observe the stage order."""

    types = ("PERSON",)
    max_len = 4

    def __init__(self, name: str, log: list[tuple[str, str]]) -> None:
        self.name = name
        self.log = log

    def find(self, folded: str) -> list[tuple[int, int, str, float, str, int]]:
        self.log.append((self.name, folded))
        # one candidate longer than max_len: the scanner must cut it into max_len chunks
        return [(0, len(folded), "PERSON", 0.9, self.name, 50)]


def test_scan_many_is_stage_major_and_chunked():
    log: list[tuple[str, str]] = []
    sc = Scanner(DetectConfig(names=False))
    sc._functions = [_Recorder("a", log), _Recorder("b", log)]
    texts = ["aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"]
    want = [sc.scan(t) for t in texts]
    assert [(s.start, s.end) for s in want[0]] == [(0, 4), (4, 8), (8, 10)]
    log.clear()
    assert sc.scan_many(texts, chunk_chars=20) == want
    # chunk 1: texts 0 and 1 (20 characters), recognizer a over both, then b; chunk 2: text 2
    assert log == [("a", texts[0]), ("a", texts[1]), ("b", texts[0]), ("b", texts[1]),
                   ("a", texts[2]), ("b", texts[2])]


def test_text_chunks_close_on_characters_or_count():
    from privtune.detect.scanner import text_chunks

    texts = ["aaaa", "bb", "cccccc", "d", "e", "f"]
    assert list(text_chunks(texts, 5)) == [["aaaa", "bb"], ["cccccc"], ["d", "e", "f"]]
    assert list(text_chunks(texts, 100, max_texts=4)) == [["aaaa", "bb", "cccccc", "d"],
                                                          ["e", "f"]]
    assert list(text_chunks(iter(texts), 1)) == [[t] for t in texts]  # any iterable
    assert list(text_chunks([], 5)) == []
