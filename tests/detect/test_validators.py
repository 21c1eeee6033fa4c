from privtune.detect import validators as v


def test_luhn():
    assert v.luhn("4111111111111111")
    assert v.luhn("4111 1111 1111 1111")
    assert not v.luhn("4111111111111112")


def test_cn_id18():
    assert v.cn_id18("11010519491231002X")
    assert v.cn_id18("11010519491231002x")
    assert not v.cn_id18("110105194912310021")  # wrong check character
    assert not v.cn_id18("990105194912310025")  # no such province
    assert not v.cn_id18("110105194913310020")  # month 13


def test_cn_id15():
    assert v.cn_id15("110105491231002")
    assert not v.cn_id15("110105491331002")


def test_uscc():
    assert v.uscc("91350100M000100Y43")
    assert not v.uscc("91350100M000100Y44")


def test_iban():
    assert v.iban("GB82WEST12345698765432")
    assert v.iban("gb82 west 1234 5698 7654 32")
    assert not v.iban("GB82WEST12345698765433")


def test_ssn_and_ip():
    assert v.us_ssn("123-45-6789")
    assert not v.us_ssn("666-45-6789")
    assert not v.us_ssn("900-45-6789")
    assert v.ipv4("192.168.0.1")
    assert not v.ipv4("256.1.1.1")
    assert v.ipv6("2001:db8::1")
    assert not v.ipv6("12:30:45")
