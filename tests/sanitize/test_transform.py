import re

import orjson
import pytest
from tests.sanitize.conftest import StubScanner

from privtune.anonymize import Keys
from privtune.config import SanitizeConfig
from privtune.datasets.transform import (
    RecordError,
    RecordTransform,
    TransformSpec,
    dialogue_to_conversations,
)

KEYS = Keys(b"f" * 32, b"p" * 32, b"e" * 32)


def make(fmt="alpaca", scanner=None, **san):
    spec = TransformSpec(KEYS, fmt, sanitize=SanitizeConfig(**san))
    return RecordTransform(spec, scanner or StubScanner())


def rec(out):
    assert out.status == "ok", out.reason
    return orjson.loads(out.line)


def test_alpaca_minimized_and_tagged():
    t = make()
    out = t(
        {
            "instruction": "请联系张三，电话13812345678",
            "input": "x",
            "output": "好",
            "customer_id": 1,
            "meta": {"a": "13812345678"},
        }
    )
    assert rec(out) == {"instruction": "请联系[姓名]，电话[手机号]", "input": "x", "output": "好"}
    assert out.dropped_fields == ["customer_id", "meta"]
    assert [(e[0], e[1], e[2]) for e in out.events] == [
        ("PERSON", "instruction", "tag"),
        ("PHONE", "instruction", "tag"),
    ]
    assert out.residual == []


def test_english_tags_and_field_allow_list():
    spec = TransformSpec(KEYS, "alpaca", fields=("instruction", "output", "ticket"))
    t = RecordTransform(spec, StubScanner())
    out = t(
        {
            "instruction": "Email John Smith",
            "input": "dropped",
            "output": "ok",
            "ticket": "call 13812345678",
        }
    )
    assert rec(out) == {"instruction": "Email <PERSON>", "output": "ok", "ticket": "call <PHONE>"}
    assert out.dropped_fields == ["input"]


def test_sharegpt_and_openai_turns():
    t = make("sharegpt")
    out = t(
        {
            "conversations": [
                {"from": "human", "value": "我是张三", "id": 3},
                {"from": "gpt", "value": "你好[姓名]"},
            ],
            "uid": 9,
        }
    )
    assert rec(out) == {
        "conversations": [
            {"from": "human", "value": "我是[姓名]"},
            {"from": "gpt", "value": "你好[姓名]"},
        ]
    }
    assert out.dropped_fields == ["conversations[*].id", "uid"]
    assert out.events[0][1] == "conversations[*].value"
    t = make("openai")
    out = t(
        {
            "messages": [
                {"role": "system", "content": "be nice"},
                {"role": "user", "content": [{"type": "text", "text": "I am John Smith"}]},
                {"role": "assistant", "content": "hi"},
            ]
        }
    )
    assert rec(out)["messages"][1] == {"role": "user", "content": "I am <PERSON>"}


def test_pseudonyms_are_consistent_within_a_record_and_not_residual():
    t = make(default_action="pseudonym")
    out = t({"instruction": "张三的电话 13812345678", "output": "已记录张三 13812345678"})
    r = rec(out)
    name = r["instruction"][: r["instruction"].index("的")]
    phone = re.search(r"1\d{10}", r["instruction"])[0]
    assert name != "张三" and phone != "13812345678"
    assert r["output"] == f"已记录{name} {phone}"
    assert out.residual == [] and len(out.fakes) == 2


def test_drop_action_drops_the_record():
    t = make(actions={"ID_CARD": "drop"})
    out = t({"instruction": "身份证 11010519491231002X", "output": "ok"})
    assert out.status == "dropped" and out.line is None
    assert out.events[0][2] == "drop"


def test_residual_is_reported():
    # the stub finds any 4+ digit run; masking keeps the last four, which it finds again
    s = StubScanner([("OTHER", re.compile(r"\d{4,}"))])
    t = make(scanner=s, default_action="mask")
    out = t({"instruction": "code 12345678", "output": ""})
    assert out.residual == [("OTHER", "instruction")]


def test_dialogue_text_becomes_sharegpt_after_anonymization():
    t = make("text")
    out = t(
        {
            "text": "客户：你好，我是张三，电话13812345678\n客服：您好[姓名]，已为您登记。\n客户：谢谢",
            "session": "s1",
        }
    )
    r = rec(out)
    assert r == {
        "conversations": [
            {"from": "human", "value": "你好，我是[姓名]，电话[手机号]"},
            {"from": "gpt", "value": "您好[姓名]，已为您登记。"},
        ]
    }
    assert out.dropped_fields == ["session"]
    # speaker labels that are names are anonymized before the turns are split
    out = t({"text": "John Smith: my phone is 13812345678\nAgent: thanks"})
    assert rec(out)["conversations"][0] == {"from": "human", "value": "my phone is <PHONE>"}


def test_dialogue_parser_inline_labels_and_errors():
    conv = dialogue_to_conversations("User: hi Assistant: hello")
    assert conv == [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]
    with pytest.raises(RecordError):
        dialogue_to_conversations("just a sentence with no speakers")


def test_malformed_records_are_errors_without_content():
    t = make()
    out = t({"input": "13812345678"})
    assert out.status == "error" and "13812345678" not in out.reason
    out = make("sharegpt")({"conversations": [{"value": "no speaker"}]})
    assert out.status == "error"


def test_own_tokens_are_not_rescanned():
    # a sanitized record goes through unchanged (idempotence at record level)
    for action in ("tag", "mask", "hash", "encrypt"):
        t = make(default_action=action)
        once = rec(t({"instruction": "张三 13812345678 zhang@x.cn", "output": ""}))
        twice = rec(t(once))
        assert once == twice, action


def test_dialogue_parser_ignores_colons_inside_turns():
    conv = dialogue_to_conversations(
        "客户：我的订单有问题\n客服：请提供订单号\n客户：订单号：A123\n注意：今天发货\n客服：好的"
    )
    assert [c["from"] for c in conv] == ["human", "gpt", "human", "gpt"]
    assert conv[2]["value"] == "订单号：A123\n注意：今天发货"
    conv = dialogue_to_conversations(
        "[姓名]: hi\nAgent: see https://x.io\n[姓名]: thanks\nAgent: bye"
    )
    assert [c["from"] for c in conv] == ["human", "gpt", "human", "gpt"]
    assert conv[1]["value"] == "see https://x.io"


# --- record-level consistency and fixed point (demo-data regressions) ------------------------
def test_value_detected_in_one_field_is_replaced_in_every_field():
    # the detector finds the name after 我叫 only; the reply's "陈勇您好" must not leak it
    s = StubScanner([("PERSON", re.compile(r"(?<=我叫)陈勇"))])
    t = make(scanner=s)
    out = rec(
        t({"instruction": "回复客户", "input": "我叫陈勇，电话13812345678", "output": "陈勇您好"})
    )
    assert out["input"] == "我叫[姓名]，电话[手机号]"
    assert out["output"] == "[姓名]您好"
    p = rec(
        make(scanner=s, default_action="pseudonym")(
            {"instruction": "回复客户", "input": "我叫陈勇", "output": "陈勇您好，陈勇。"}
        )
    )
    fake = p["input"][2:]
    assert "陈勇" not in orjson.dumps(p).decode()
    assert p["output"] == f"{fake}您好，{fake}。"  # the same pseudonym everywhere


def test_parts_of_a_detected_full_name_are_replaced_in_the_record():
    # the detector finds the full name only; the reply greets her by first name
    s = StubScanner([("PERSON", re.compile(r"(?<=this is )Victoria Lopez"))])
    out = rec(make(scanner=s)({"instruction": "Reply to the customer.",
                               "input": "Hi, this is Victoria Lopez. Order late.",
                               "output": "Hi Victoria, sorry Ms Lopez. Victorian style."}))
    assert out["input"] == "Hi, this is <PERSON>. Order late."
    assert out["output"] == "Hi <PERSON>, sorry Ms <PERSON>. Victorian style."  # whole words only


def test_value_detected_in_one_turn_is_replaced_in_other_turns():
    s = StubScanner([("PERSON", re.compile(r"(?<=name is )Maria Lopez"))])
    t = make("sharegpt", scanner=s)
    out = rec(
        t(
            {
                "conversations": [
                    {"from": "human", "value": "Hi, my name is Maria Lopez."},
                    {"from": "gpt", "value": "Thanks Maria Lopez! Maria Lopezz is not you."},
                ]
            }
        )
    )
    assert out["conversations"][0]["value"] == "Hi, my name is <PERSON>."
    # whole words only for Latin values: "Lopezz" stays; the first name alone is hers too
    assert out["conversations"][1]["value"] == "Thanks <PERSON>! <PERSON> Lopezz is not you."


def test_normalized_value_is_replaced_too():
    s = StubScanner([("PHONE", re.compile(r"138-1234-5678"))])
    out = rec(make(scanner=s)({"instruction": "电话138-1234-5678", "output": "已记下13812345678"}))
    assert out == {"instruction": "电话[手机号]", "input": "", "output": "已记下[手机号]"}


def test_address_fragment_seen_only_after_replacement_is_taken_too():
    # first scan: only the city part; next to the tag the detector sees the community name
    # (as on the demo data): the replaced span grows to the whole address, room included
    s = StubScanner([("ADDRESS", re.compile(r"(?<=住在)北京市朝阳区|(?<=[\]>⟧])翠湖小区"))])
    for action in ("tag", "hash", "encrypt"):  # whose tokens the stub sees the fragment after
        t = make(scanner=s, default_action=action)
        out = t({"instruction": "我住在北京市朝阳区翠湖小区19栋2505室，有事打电话", "output": ""})
        text = rec(out)["instruction"]
        assert out.residual == [], action
        assert "翠湖" not in text and "2505" not in text, action
        assert text.endswith("，有事打电话")
    out = make(scanner=s)({"instruction": "我住在北京市朝阳区翠湖小区19栋2505室。", "output": ""})
    assert rec(out)["instruction"] == "我住在[地址]。"
    assert [e[0] for e in out.events] == ["ADDRESS"]  # one address, not two


def test_mask_hides_names_and_addresses_entirely():
    t = make(default_action="mask")
    assert t.policy.replace("PERSON", "Kyle Barr", False) == ("mask", "**** ****")
    assert t.policy.replace("PHONE", "13812345678", True)[1] == "*******5678"


def test_part_of_a_known_fake_is_recognised():
    # a re-run whose detector finds only a piece of a fake address leaves it alone
    full = re.compile(r"(?<=寄到).+?(?=。)")
    t = make(scanner=StubScanner([("ADDRESS", full)]), default_action="pseudonym")
    out = t({"instruction": "寄到北京市朝阳区建国路88号。", "output": ""})
    text = rec(out)["instruction"]
    fake = text[2:-1]
    piece = StubScanner([("ADDRESS", re.compile(re.escape(fake[4:-4])))])
    spec = TransformSpec(
        KEYS,
        "alpaca",
        sanitize=SanitizeConfig(default_action="pseudonym"),
        known_fakes=frozenset(out.fakes),
    )
    again = RecordTransform(spec, piece)({"instruction": text, "output": ""})
    assert rec(again)["instruction"] == text and again.events == []
