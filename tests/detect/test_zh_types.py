import pytest

from privtune.config import DetectConfig
from privtune.detect import Scanner


@pytest.fixture(scope="module")
def sc():
    return Scanner(DetectConfig(names=False))


def found(sc, text):
    return [(s.type, text[s.start:s.end]) for s in sc.scan(text)]


def test_legacy_15_digit_id(sc):
    assert ("ID_CARD", "110105491231002") in found(sc, "老身份证号码110105491231002")


def test_landline_and_ipv6(sc):
    assert ("PHONE", "010-62345678") in found(sc, "座机010-62345678转总机")
    assert ("PHONE", "（0755）26781234") in found(sc, "电话（0755）26781234")


def test_plates(sc):
    assert ("LICENSE_PLATE", "京A12345") in found(sc, "车牌京A12345停在门口")
    assert ("LICENSE_PLATE", "粤BD12345") in found(sc, "新能源车粤BD12345")


def test_context_gated_ids(sc):
    assert ("PASSPORT", "E12345678") in found(sc, "护照号码：E12345678")
    assert not any(t == "PASSPORT" for t, _ in found(sc, "型号E12345678的零件"))
    assert ("IM_ID", "12345678") in found(sc, "我的QQ：12345678")
    assert not any(t == "IM_ID" for t, _ in found(sc, "编号12345678"))
    assert ("IM_ID", "zhang_san88") in found(sc, "加微信zhang_san88")


def test_unionpay_without_luhn_needs_context(sc):
    number = "6222021234567890124"
    from privtune.detect.validators import luhn

    assert not luhn(number)
    assert ("BANK_CARD", number) in found(sc, f"银行卡号：{number}")
    assert not any(t == "BANK_CARD" for t, _ in found(sc, f"流水号{number}"))


def test_fullwidth_email_and_card(sc):
    text = "邮箱：ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ，卡号４１１１１１１１１１１１１１１１"
    got = dict((t, v) for t, v in found(sc, text))
    assert got["EMAIL"] == "ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ"
    assert got["BANK_CARD"] == "４１１１１１１１１１１１１１１１"


def test_url_with_credentials_is_secret(sc):
    got = found(sc, "镜像地址 https://admin:hunter2@example.com/repo 请勿外传")
    assert ("SECRET", "https://admin:hunter2@example.com/repo") in got
    assert ("URL", "https://example.com/docs") in found(sc, "文档见https://example.com/docs。")
