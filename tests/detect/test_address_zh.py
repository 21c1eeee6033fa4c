"""Chinese addresses: the grammar's rules on hand-written sentences (no evaluation data), the
byte-level gazetteer pass and the streaming hold-back."""

from __future__ import annotations

import random

import ahocorasick
import pytest

from privtune.detect import Scanner
from privtune.detect.normalize import fold
from privtune.detect.recognizers.address_zh import ChineseAddress, gazetteer


def _found(address: ChineseAddress, text: str) -> list[str]:
    """What the scanner would keep of this recognizer's output (score >= 0.5)."""
    folded = fold(text)
    return [text[c[0]:c[1]] for c in address.find(folded) if c[3] >= 0.5]


# --- full postal addresses are always found whole -------------------------------------------

@pytest.mark.parametrize("text,addr", [
    ("请寄到广东省深圳市南山区科技园路12号", "广东省深圳市南山区科技园路12号"),
    ("收货地址：杭州市西湖区文三路", "杭州市西湖区文三路"),
    ("他住在阳光花园3号楼501室，晚上在家", "阳光花园3号楼501室"),
    ("店在南京东路，离地铁站很近", "南京东路"),
    ("老家在王家庄3组，村口有棵树", "王家庄3组"),
    ("我住在湖北省武汉市洪山区学院路577号金地园23栋302室，谢谢", "湖北省武汉市洪山区学院路577号金地园23栋302室"),
    ("快递放到万科城14栋302室门口", "万科城14栋302室"),
    ("新华社开罗3月2日电", "开罗"),
])
def test_addresses_found_whole(address: ChineseAddress, text: str, addr: str) -> None:
    assert addr in _found(address, text)


@pytest.mark.parametrize("text,addr", [
    ("收件人地址：江苏省南京市鼓楼区中山北路30号2单元", "江苏省南京市鼓楼区中山北路30号2单元"),
    ("我住在陕西省西安市碑林区朝阳北路829号碧桂园28栋1203室，有事打电话",
     "陕西省西安市碑林区朝阳北路829号碧桂园28栋1203室"),
])
def test_scanner_keeps_the_full_address(scanner: Scanner, text: str, addr: str) -> None:
    found = [text[s.start:s.end] for s in scanner.scan(text) if s.type == "ADDRESS"]
    assert found == [addr]


# --- context rules ----------------------------------------------------------------------------

@pytest.mark.parametrize("text,word", [
    ("深圳华星电子有限公司今天发布新品", "深圳"),     # part of a company name
    ("上海市物业管理协会召开年会", "上海市"),         # part of an association's name
    ("《上海市物业管理条例》今天起施行", "上海市"),   # inside a title
    ("几名希腊人在广场上拍照", "希腊人"),             # a demonym names people
    ("比赛按北京时间晚上八点开始", "北京"),           # a time zone, not a location
])
def test_places_that_are_no_address(address: ChineseAddress, text: str, word: str) -> None:
    assert not any(word in v for v in _found(address, text))


def test_possessive_place_is_a_location(address: ChineseAddress) -> None:
    assert "京都" in _found(address, "京都的寺庙很多")


def test_area_word_extends_the_place(address: ChineseAddress) -> None:
    assert "德国北部" in _found(address, "德国北部下了大雪")


def test_landmark_needs_a_location_cue(address: ChineseAddress) -> None:
    assert not _found(address, "卢克博物馆宣布闭馆")
    assert "卢克博物馆" in _found(address, "我在卢克博物馆门口等你")


def test_ordinary_word_street_needs_a_cue(address: ChineseAddress) -> None:
    assert "文汇路" in _found(address, "他赶到文汇路排队")
    assert not _found(address, "文汇路线图")  # 路线: the suffix starts another word


def test_counts_and_bare_digits_are_no_house_numbers(address: ChineseAddress) -> None:
    assert not any("2573" in v for v in _found(address, "全省已建成平安小区2573个"))
    assert not any("110" in v for v in _found(address, "漳州110报警电话"))
    assert not _found(address, "开发商今年建了15栋住宅")  # a count of buildings
    assert not _found(address, "他的发言语惊四座")


# --- the division table (cpca) and world cities ----------------------------------------------

@pytest.mark.parametrize("text,addr", [
    ("他去年搬到了乌审旗。", "乌审旗"),  # an official name the older lexicons lack
    ("开车很方便就可以到崇礼，", "崇礼"),  # a short form after a location cue
    ("我们崇礼县今年游客很多", "崇礼县"),  # a short form + a division suffix (the old name)
    ("论坛将在内蒙古乌审旗召开", "内蒙古乌审旗"),
    ("他们去了首尔、平壤。", "首尔"),  # a world capital heading a list of places
    ("他们去了首尔、平壤。", "平壤"),
    ("伦敦、巴黎两地的房价都涨了", "伦敦"),  # a list of places: each one is a location
    ("重要提供更新北京对于", "北京"),  # a short form dropped (更[新北]京) hides no place
])
def test_division_table_and_world_cities(address: ChineseAddress, text: str, addr: str) -> None:
    assert addr in _found(address, text)


@pytest.mark.parametrize("text,word", [
    ("目前全省已建成安全文明小区", "成安"),  # 成安 (成安县) cuts 建成 and 安全
    ("客户林金凤的手机号是多少", "金凤"),  # 金凤 (金凤区) after a surname is a given name
    ("欢迎管理合作市场。", "合作市"),  # 合作市 cuts 市场
    ("到郊区买房的人多了", "郊区"),  # a generic division name (阳泉市 has a 郊区)
])
def test_division_names_inside_words_are_none(address: ChineseAddress, text: str,
                                              word: str) -> None:
    assert not any(word in f for f in _found(address, text))


def test_chain_with_an_official_division_outscores_a_plain_chain(
        address: ChineseAddress) -> None:
    """A chain that names an official county (内蒙古乌审旗) is surer than two jieba place
    words (a name recognizer may read 乌审旗 as a person: the address must win)."""
    folded = fold("在内蒙古乌审旗")
    assert max(c[3] for c in address.find(folded)) >= 0.75


def test_division_lexicon_holds_no_ordinary_words() -> None:
    from privtune.detect.lexicons import load

    rows = dict(line.split("\t") for line in load("zh_divisions.txt"))
    assert rows["崇礼区"] == "full" and rows["崇礼"] == "short" and rows["乌审"] == "short"
    shorts = {n for n, kind in rows.items() if kind == "short"}
    assert not shorts & set(load("zh_words2.txt"))  # no frequent word is a short form
    assert not {"新建", "上街", "古城", "郊区", "城区"} & rows.keys()


@pytest.mark.parametrize("text", ["宫殿很大", "他闯荡江湖多年", "农村的路不好走", "走上这条路"])
def test_generic_words_are_no_sites(address: ChineseAddress, text: str) -> None:
    assert not _found(address, text)


# --- the byte-level gazetteer pass ------------------------------------------------------------

def test_byte_pass_matches_a_character_pass(address: ChineseAddress) -> None:
    """The UTF-8/Latin-1 automaton gives the same spans as one over characters, also around
    ASCII, full-width text and characters of 2 and 4 UTF-8 bytes."""
    ac = ahocorasick.Automaton()
    for p in gazetteer():
        if p not in ac:
            ac.add_word(p, len(p))
    ac.make_automaton()
    texts = [
        "寄到北京市东城区王府井大街218号",
        "abc北京é上海😀广州市天河区 ok 纽约",
        "Ünïcödé 成都😀😀重庆市渝中区解放碑",
        fold("ＡＢＣ杭州１２３西湖区"),
        "坏字符\ud800广州市\udfff天河区",
        "没有地名的句子",
    ]
    for text in texts:
        want = [(end - n + 1, end + 1) for end, n in ac.iter_long(text)]
        assert address._places(text) == want


# --- streaming hold-back ----------------------------------------------------------------------

_STREAM_TEXTS = [
    "客户王先生住在上海市浦东新区世纪大道100号，电话已登记。他说下周去纽约、东京出差",
    "新华社开罗3月2日电。我们在阳光花园3号楼501室见面；地址是杭州市西湖区文三路",
    "深圳华星电子有限公司位于南山区，京都的寺庙很多！德国北部下了大雪，他赶到文汇路",
    "寄到朝阳北路829号碧桂园28栋1203室；在南京东路站16:05见，老家王家庄3组，住万科城14栋302室",
]


def _spans(address: ChineseAddress, folded: str, upto: int) -> set[tuple]:
    return {c for c in address.find(folded) if c[1] <= upto}


def test_hold_is_safe_at_every_cut(address: ChineseAddress) -> None:
    """Spans (and their scores) of a prefix that end before its release point are exactly
    the spans of the full text that end there."""
    rng = random.Random(7)
    texts = [*_STREAM_TEXTS, "".join(rng.sample(_STREAM_TEXTS[0] + _STREAM_TEXTS[1], 60))]
    for text in texts:
        folded = fold(text)
        for cut in range(1, len(folded) + 1):
            prefix = folded[:cut]
            held = address.hold(prefix)
            assert 0 <= held <= len(prefix)
            release = len(prefix) - held
            assert _spans(address, prefix, release) == _spans(address, folded, release)


def test_hold_releases_finished_clauses(address: ChineseAddress) -> None:
    assert address.hold("他住在上海市浦东新区，") == 0
    assert address.hold("他住在上海市浦东新区，世纪大") == 3
