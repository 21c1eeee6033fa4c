import itertools

import pytest

from privtune.config import CustomRule, DetectConfig
from privtune.detect import Scanner, Span
from privtune.detect.normalize import normalize_value
from privtune.detect.presidio import to_presidio


@pytest.fixture(scope="module")
def structured():
    return Scanner(DetectConfig(names=False))


def found(scanner, text):
    return [(s.type, text[s.start:s.end]) for s in scanner.scan(text)]


def test_cjk_adjacency(structured):
    assert ("PHONE", "13800138000") in found(structured, "电话13800138000谢谢")
    assert ("EMAIL", "zhang.san@example.com") in found(structured, "邮箱zhang.san@example.com谢谢")


def test_mobile_forms(structured):
    for form in ("138-0013-8000", "138 0013 8000", "+86 13800138000", "008613800138000"):
        assert ("PHONE", form) in found(structured, f"手机：{form}。"), form


def test_fullwidth_offsets_point_into_original(structured):
    text = "联系电话：１３８００１３８０００，身份证１１０１０５１９４９１２３１００２Ｘ。"
    spans = structured.scan(text)
    types = {s.type: text[s.start:s.end] for s in spans}
    assert types["PHONE"] == "１３８００１３８０００"
    assert types["ID_CARD"] == "１１０１０５１９４９１２３１００２Ｘ"
    assert normalize_value("ID_CARD", types["ID_CARD"]) == "11010519491231002X"


def test_checksums_gate(structured):
    assert ("ID_CARD", "11010519491231002X") in found(structured, "身份证号11010519491231002X")
    assert not any(t == "ID_CARD" for t, _ in found(structured, "订单号110105194912310021"))
    assert ("BANK_CARD", "4111 1111 1111 1111") in found(structured, "card 4111 1111 1111 1111")
    assert not any(t == "BANK_CARD" for t, _ in found(structured, "订单 4111111111111112 已发货"))
    assert ("ORG_CODE", "91350100M000100Y43") in found(structured, "统一社会信用代码91350100M000100Y43")
    assert ("IBAN", "GB82WEST12345698765432") in found(structured, "IBAN GB82WEST12345698765432")


def test_plain_numbers_are_not_pii(structured):
    assert structured.scan("Order 20231105123456 shipped; invoice 987654321012 paid.") == []


def test_english_structured(structured):
    got = found(structured, "SSN 123-45-6789, ip 10.1.2.3 and 2001:db8::8a2e:370:7334, "
                            "call 001-748-088-2851x818 or +1 (415) 555-0132.")
    assert ("US_SSN", "123-45-6789") in got
    assert ("IP_ADDRESS", "10.1.2.3") in got
    assert ("IP_ADDRESS", "2001:db8::8a2e:370:7334") in got
    assert ("PHONE", "001-748-088-2851x818") in got
    assert ("PHONE", "+1 (415) 555-0132") in got


def test_secrets(structured):
    text = ("aws AKIAIOSFODNN7EXAMPLE token ghp_" + "a1B2" * 9 + " jwt eyJhbGciOiJIUzI1NiJ9."
            "eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U "
            "db postgres://app:s3cr3tPw@db.internal:5432/prod password=hunter22")
    got = found(structured, text)
    vals = [v for t, v in got if t == "SECRET"]
    assert "AKIAIOSFODNN7EXAMPLE" in vals
    assert "ghp_" + "a1B2" * 9 in vals
    assert any(v.startswith("eyJhbGciOiJIUzI1NiJ9.") for v in vals)
    assert any(v.startswith("postgres://app:s3cr3tPw@") for v in vals)
    assert "hunter22" in vals


def test_private_key_is_bounded(structured):
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
    text = f"-----BEGIN PRIVATE KEY-----\n{body}\n{body}\n-----END PRIVATE KEY-----\n"
    spans = structured.scan(text)
    assert spans and all(s.type == "SECRET" for s in spans)
    covered = "".join(text[s.start:s.end] for s in spans)
    assert body in covered and "BEGIN PRIVATE KEY" in covered
    assert all(len(s) <= structured.max_span_length for s in spans)
    assert structured.max_span_length < 5000


def test_custom_rules_and_allow():
    cfg = DetectConfig(names=False, custom=[
        CustomRule(type="CUSTOM", terms=["机密", "Project Falcon"]),
        CustomRule(type="TICKET", pattern=r"TKT-\d{6}"),
    ], allow=["13800138000"])
    sc = Scanner(cfg)
    text = "这是机密文件，project falcon 的 TKT-123456，电话13800138000，手机13900139000"
    got = found(sc, text)
    assert ("CUSTOM", "机密") in got
    assert ("CUSTOM", "project falcon") in got
    assert ("TICKET", "TKT-123456") in got
    assert ("PHONE", "13900139000") in got
    assert ("PHONE", "13800138000") not in got
    assert not any(v == "falcon" for _, v in found(sc, "falconry"))


def test_overlap_rule_and_sorting(structured):
    text = "ID 11010519491231002X mail a@b.co tel 13800138000"
    spans = structured.scan(text)
    assert spans == sorted(spans, key=lambda s: s.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    from privtune.detect.resolve import resolve
    out = resolve([(0, 10, "A", 0.6, "a", 50), (5, 8, "B", 0.9, "b", 50),
                   (0, 4, "C", 0.6, "c", 50), (8, 12, "D", 0.6, "d", 50)])
    assert [(s.type, s.start) for s in out] == [("C", 0), ("B", 5), ("D", 8)]
    out = resolve([(0, 4, "A", 0.7, "a", 50), (0, 6, "B", 0.7, "b", 50)])
    assert [s.type for s in out] == ["B"]


def test_types_and_disable():
    sc = Scanner(DetectConfig(names=False, types=["EMAIL"]))
    assert [s.type for s in sc.scan("a@b.co 13800138000")] == ["EMAIL"]
    sc = Scanner(DetectConfig(names=False, disable=["EMAIL"]))
    assert [s.type for s in sc.scan("a@b.co 13800138000")] == ["PHONE"]


def test_names_zh_and_en(scanner):
    got = found(scanner, "我叫刘晓燕，来自杭州。")
    assert ("PERSON", "刘晓燕") in got
    assert ("PERSON", "陈志强") in found(scanner, "请把合同交给陈志强先生。")
    got = found(scanner, "Please forward the contract to Mr. John Smith tomorrow.")
    assert any(t == "PERSON" and "John Smith" in v for t, v in got)
    got = found(scanner, "收件地址：北京市朝阳区建国路88号3单元501室")
    assert any(t == "ADDRESS" and "建国路88号" in v for t, v in got)


def test_normalize_value():
    assert normalize_value("PHONE", "+86 138-0013-8000") == "13800138000"
    assert normalize_value("PHONE", "0086 13800138000") == "13800138000"
    assert normalize_value("EMAIL", "Zhang.San@Example.COM") == "zhang.san@example.com"
    assert normalize_value("BANK_CARD", "６２２２ ０２１２ ３４５６ ７８９０") == "6222021234567890"
    assert normalize_value("ID_CARD", "11010519491231002x") == "11010519491231002X"


def test_presidio_export(structured):
    spans = structured.scan("mail a@b.co card 4111111111111111")
    out = to_presidio(spans)
    assert {o["entity_type"] for o in out} == {"EMAIL_ADDRESS", "CREDIT_CARD"}
    assert all(o["recognition_metadata"]["recognizer_name"] for o in out)


def test_scan_many_and_span_api(structured):
    res = structured.scan_many(["a@b.co", "", "无"])
    assert len(res) == 3 and isinstance(res[0][0], Span) and res[1] == []
