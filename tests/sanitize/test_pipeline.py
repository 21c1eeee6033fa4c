"""sanitize() end to end with the stub scanner: layout, guarantees, inventory, canaries."""

import json
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.sanitize.conftest import ALPACA, StubScanner, write_jsonl

from privtune.anonymize import fingerprint
from privtune.config import PrivtuneConfig
from privtune.datasets.sanitize import (
    PathPIIError,
    ResidualPIIError,
    merged_config,
    sanitize,
)
from privtune.errors import InputError
from privtune.seal import SealError, read_sealed

PII = [
    "张三",
    "李四",
    "13812345678",
    "13912345678",
    "zhangsan@example.cn",
    "John Smith",
    "john.smith@corp.io",
    "11010519491231002X",
    "6222021234567890128",
    "C-001",
]


def cfg(**kw) -> PrivtuneConfig:
    return merged_config(PrivtuneConfig(), **kw)


def run(inputs, out, keyring, stub=None, **kw):
    config = kw.pop("config", None) or cfg()
    return sanitize(
        [str(p) for p in inputs],
        out,
        config=config,
        keyring=keyring,
        scanner=stub or StubScanner(),
        **kw,
    )


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def sealed_jsonl(path, keyring):
    return [json.loads(x) for x in read_sealed(path, keyring).decode().splitlines() if x]


def test_layout_minimization_and_no_pii_left(tmp_path, keyring):
    src = write_jsonl(tmp_path / "in.jsonl", ALPACA)
    res = run([src], tmp_path / "out", keyring)
    out = tmp_path / "out"
    processed = out / "processed"
    assert sorted(p.name for p in processed.iterdir()) == [
        "dataset_info.json",
        "train.json",
        "valid.json",
    ]
    for name in ("inventory.jsonl.sealed", "pseudonyms.sealed", "sanitize_summary.json"):
        assert (out / name).is_file()
    assert not list(out.glob(".sanitize-*"))
    train = json.loads((processed / "train.json").read_text())
    valid = json.loads((processed / "valid.json").read_text())
    assert len(train) + len(valid) == len(ALPACA) and valid
    text = (processed / "train.json").read_text() + (processed / "valid.json").read_text()
    for value in PII:
        assert value not in text
    assert "customer_id" not in text and '"ts"' not in text
    s = res.summary
    assert s.dropped_fields == {"customer_id": 2, "ts": 1}
    assert s.findings[("PHONE", "instruction", "tag")] == 2
    info = json.loads((processed / "dataset_info.json").read_text())
    assert info["privtune_train"] == {
        "file_name": "train.json",
        "formatting": "alpaca",
        "columns": {
            "prompt": "instruction",
            "query": "input",
            "response": "output",
            "system": "system",
        },
    }
    summary = json.loads((out / "sanitize_summary.json").read_text())
    assert summary["records_out"] == len(ALPACA)
    for value in PII:
        assert value not in json.dumps(summary, ensure_ascii=False)


def test_inventory_holds_keyed_fingerprints_with_counts(tmp_path, keyring):
    src = write_jsonl(tmp_path / "in.jsonl", ALPACA)
    run([src], tmp_path / "out", keyring)
    inv = sealed_jsonl(tmp_path / "out/inventory.jsonl.sealed", keyring)
    key = keyring.derive_key("fingerprint")
    phone = [e for e in inv if e["fp"] == fingerprint(key, "PHONE", "13912345678")]
    assert sorted((e["field"], e["count"]) for e in phone) == [("instruction", 1), ("output", 1)]
    assert all(set(e) == {"type", "fp", "field", "count"} for e in inv)
    raw = read_sealed(tmp_path / "out/inventory.jsonl.sealed", keyring).decode()
    assert "13912345678" not in raw


def test_deterministic_and_idempotent(tmp_path, keyring):
    src = write_jsonl(tmp_path / "in.jsonl", ALPACA)
    config = cfg(
        actions={
            "PERSON": "pseudonym",
            "PHONE": "pseudonym",
            "EMAIL": "hash",
            "ID_CARD": "encrypt",
            "BANK_CARD": "mask",
        }
    )
    run([src], tmp_path / "a", keyring, config=config)
    run([src], tmp_path / "b", keyring, config=config)
    a, b = tree(tmp_path / "a/processed"), tree(tmp_path / "b/processed")
    assert a == b
    assert read_sealed(tmp_path / "a/inventory.jsonl.sealed", keyring) == read_sealed(
        tmp_path / "b/inventory.jsonl.sealed", keyring
    )
    # sanitizing sanitized data changes nothing (pseudonyms recognised via pseudonyms.sealed)
    p = tmp_path / "a/processed"
    res = run([p / "train.json", p / "valid.json"], tmp_path / "c", keyring, config=config)
    assert tree(tmp_path / "c/processed") == a
    assert not res.summary.findings  # own tokens and known pseudonyms are not PII again


def test_pseudonyms_consistent_across_dataset_and_runs(tmp_path, keyring, other_keyring):
    src = write_jsonl(tmp_path / "in.jsonl", ALPACA[:5])
    config = cfg(actions={"PERSON": "pseudonym", "PHONE": "pseudonym"})
    run([src], tmp_path / "a", keyring, config=config)
    recs = json.loads((tmp_path / "a/processed/train.json").read_text()) + json.loads(
        (tmp_path / "a/processed/valid.json").read_text()
    )
    li = next(r for r in recs if "system" in r)
    assert li["instruction"].split("的")[0] in li["output"]  # same fake name twice
    run([src], tmp_path / "b", other_keyring, config=config)
    assert tree(tmp_path / "a/processed") != tree(tmp_path / "b/processed")


def test_quarantine_and_on_error_fail(tmp_path, keyring):
    src = write_jsonl(tmp_path / "in.jsonl", [*ALPACA[:4], "{not json", {"foo": 13812345678}])
    res = run([src], tmp_path / "out", keyring)
    assert res.summary.quarantined == 2
    q = sealed_jsonl(tmp_path / "out/quarantine.jsonl.sealed", keyring)
    assert [e["line"] for e in q] == [5, 6]
    assert q[0]["reason"].startswith("malformed JSON") and q[1]["record"] == {"foo": 13812345678}
    with pytest.raises(InputError) as err:
        run([src], tmp_path / "out2", keyring, config=cfg(on_error="fail"))
    assert "in.jsonl:5" in str(err.value)
    assert not (tmp_path / "out2/processed").exists()
    assert not list((tmp_path / "out2").glob(".sanitize-*"))


def test_residual_fails_the_run_or_is_reported(tmp_path, keyring):
    import re

    stub = StubScanner([("OTHER", re.compile(r"\d{4,}"))])
    src = write_jsonl(tmp_path / "in.jsonl", [{"instruction": "code 98765432", "output": ""}])
    # a previous good run stays untouched by a failing one
    run([write_jsonl(tmp_path / "ok.jsonl", ALPACA[:4])], tmp_path / "out", keyring)
    before = tree(tmp_path / "out")
    with pytest.raises(ResidualPIIError) as err:
        run([src], tmp_path / "out", keyring, stub=stub, config=cfg(actions={"OTHER": "mask"}))
    assert err.value.exit_code == 1 and "98765432" not in str(err.value)
    assert tree(tmp_path / "out") == before
    res = run(
        [src],
        tmp_path / "out",
        keyring,
        stub=stub,
        config=cfg(actions={"OTHER": "mask"}, residual="report"),
    )
    assert res.summary.residual == {("OTHER", "instruction"): 1}


def test_failure_mid_run_leaves_previous_output(tmp_path, keyring, monkeypatch):
    src = write_jsonl(tmp_path / "in.jsonl", ALPACA)
    run([src], tmp_path / "out", keyring)
    before = tree(tmp_path / "out")
    import privtune.datasets.writers as w

    def boom(self, line):
        raise OSError("disk full")

    monkeypatch.setattr(w.JsonArrayWriter, "write_line", boom)
    with pytest.raises(OSError):
        run([src], tmp_path / "out", keyring, config=cfg(actions={"PHONE": "mask"}))
    assert tree(tmp_path / "out") == before


def test_output_path_with_pii_is_refused(tmp_path, keyring):
    src = write_jsonl(tmp_path / "in.jsonl", ALPACA[:3])
    with pytest.raises(PathPIIError) as err:
        run([src], tmp_path / "data-13812345678", keyring)
    assert "PHONE" in str(err.value) and "13812345678" not in err.value.message
    assert not (tmp_path / "data-13812345678").exists()
    res = run([src], tmp_path / "data-13812345678", keyring, allow_pii_path=True)
    assert res.summary.warnings
    # names are what ordinary folder names trigger: they only warn
    res = run([src], tmp_path / "张三-data", keyring)
    assert res.summary.warnings == ["the output path may contain PII (PERSON)"]


def test_seal_raw_and_remove_original(tmp_path, keyring):
    src = write_jsonl(tmp_path / "张三-export.jsonl", ALPACA[:4])
    plain = src.read_bytes()
    res = run([src], tmp_path / "out", keyring, seal_raw=True, remove_original=True)
    assert not src.exists()
    (sealed,) = (tmp_path / "out/raw").iterdir()
    assert "张三" not in sealed.name and res.summary.warnings
    assert read_sealed(sealed, keyring) == plain
    with pytest.raises(InputError):
        run([sealed], tmp_path / "x", keyring, remove_original=True)
    # a later run seals its own input next to the earlier sealed original (never removes it)
    other = write_jsonl(tmp_path / "second.jsonl", ALPACA[4:8])
    run([other], tmp_path / "out", keyring, seal_raw=True)
    assert sorted(p.name for p in (tmp_path / "out/raw").iterdir()) == sorted(
        [sealed.name, "second.jsonl.sealed"]
    )
    assert read_sealed(sealed, keyring) == plain


def test_canaries_inserted_and_recorded(tmp_path, keyring):
    src = write_jsonl(tmp_path / "in.jsonl", ALPACA)
    run([src], tmp_path / "out", keyring, config=cfg(canaries=3))
    can = json.loads(read_sealed(tmp_path / "out/canaries.json.sealed", keyring))
    assert len(can["inserted"]) == 3 and can["slot_length"] == 9
    assert "{slot}" in can["template"] and can["alphabet"] == "0123456789"
    train = (tmp_path / "out/processed/train.json").read_text()
    for c in can["inserted"]:
        assert train.count(c["text"]) == c["repeats"] and len(c["slot"]) == 9
    # a later run without canaries removes the stale canary record
    run([src], tmp_path / "out", keyring)
    assert not (tmp_path / "out/canaries.json.sealed").exists()


def test_wrong_keyring_cannot_read_sealed_outputs(tmp_path, keyring, other_keyring):
    src = write_jsonl(tmp_path / "in.jsonl", ALPACA[:4])
    run([src], tmp_path / "out", keyring)
    with pytest.raises(SealError):
        read_sealed(tmp_path / "out/inventory.jsonl.sealed", other_keyring)


def test_csv_parquet_sharegpt_openai_and_text_inputs(tmp_path, keyring):
    csv = tmp_path / "in.csv"
    csv.write_text("instruction,input,output,agent\n请联系张三,,好的,王五\n", encoding="utf-8")
    res = run([csv], tmp_path / "o1", keyring)
    assert res.summary.input_format == "alpaca" and res.summary.dropped_fields == {"agent": 1}
    table = pa.table(
        {
            "conversations": [
                [{"from": "human", "value": "I am John Smith"}, {"from": "gpt", "value": "hi"}]
            ],
            "uid": [1],
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    res = run([tmp_path / "in.parquet"], tmp_path / "o2", keyring, config=cfg(fmt="sharegpt"))
    rows = json.loads((tmp_path / "o2/processed/train.json").read_text()) + json.loads(
        (tmp_path / "o2/processed/valid.json").read_text()
    )
    assert rows == [
        {
            "conversations": [
                {"from": "human", "value": "I am <PERSON>"},
                {"from": "gpt", "value": "hi"},
            ]
        }
    ]
    oa = write_jsonl(
        tmp_path / "oa.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": "call 13812345678"},
                    {"role": "assistant", "content": "ok"},
                ]
            }
        ],
    )
    run([oa], tmp_path / "o3", keyring)
    info = json.loads((tmp_path / "o3/processed/dataset_info.json").read_text())
    assert info["privtune_train"]["formatting"] == "sharegpt"
    assert info["privtune_train"]["tags"]["role_tag"] == "role"
    tx = write_jsonl(tmp_path / "tx.jsonl", [{"text": "客户：我叫张三\n客服：您好"}])
    res = run([tx], tmp_path / "o4", keyring)
    assert res.summary.output_format == "sharegpt"


def test_generic_records_need_a_format(tmp_path, keyring):
    src = write_jsonl(tmp_path / "in.jsonl", [{"a": "b"}])
    with pytest.raises(InputError):
        run([src], tmp_path / "out", keyring)


def test_process_pool_gives_identical_output(tmp_path, keyring):
    """--workers 2 uses the real scanner in each worker: compare it with one process."""
    from privtune.detect import Scanner

    records = [
        {"instruction": f"mail user{i}@corp.io", "output": f"ok {i}", "id": i} for i in range(600)
    ] + ["{bad"]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    config = cfg(actions={"EMAIL": "pseudonym"})
    sanitize([src], tmp_path / "one", config=config, keyring=keyring, scanner=Scanner())
    res = sanitize([src], tmp_path / "two", config=config, keyring=keyring, workers=2)
    assert tree(tmp_path / "one/processed") == tree(tmp_path / "two/processed")
    assert res.summary.quarantined == 1 and res.summary.records_out == 600
    assert "user1@corp.io" not in (tmp_path / "two/processed/train.json").read_text()
    assert (
        orjson.loads((tmp_path / "two/sanitize_summary.json").read_bytes())["engine"] == "local x2"
    )


REAL = [
    *ALPACA[:5],
    {"instruction": "客户王小明住在北京市朝阳区建国路88号", "output": "已登记，电话13812345678"},
    {"instruction": "Contact Alice Brown at alice@example.org, SSN 123-45-6789", "output": "ok"},
    *[
        {"instruction": f"请回电 1391234{i:04d}，邮箱 u{i}@corp.cn", "output": "好的"}
        for i in range(20)
    ],
]


@pytest.mark.parametrize("action", ["tag", "pseudonym", "mask", "hash", "encrypt"])
def test_real_scanner_no_residual_and_idempotent(tmp_path, keyring, action):
    """With privtune's own detector: every action leaves no residual finding, and a second
    pass over the output changes nothing (pseudonyms included)."""
    from privtune.detect import Scanner

    scanner = Scanner()
    src = write_jsonl(tmp_path / "in.jsonl", REAL)
    config = cfg(
        actions={
            t: action
            for t in ("PERSON", "PHONE", "EMAIL", "ID_CARD", "BANK_CARD", "ADDRESS", "US_SSN")
        }
    )
    res = sanitize([src], tmp_path / "a", config=config, keyring=keyring, scanner=scanner)
    assert not res.summary.residual
    assert res.summary.findings[("PHONE", "instruction", action)] >= 20
    p = tmp_path / "a/processed"
    text = (p / "train.json").read_text() + (p / "valid.json").read_text()
    for value in ("13812345678", "alice@example.org", "123-45-6789", "u7@corp.cn"):
        assert value not in text
    again = sanitize(
        [p / "train.json", p / "valid.json"],
        tmp_path / "b",
        config=config,
        keyring=keyring,
        scanner=scanner,
    )
    assert not again.summary.findings
    assert tree(tmp_path / "b/processed") == tree(p)


def test_text_field_for_dialogue_logs(tmp_path, keyring):
    src = write_jsonl(
        tmp_path / "logs.jsonl",
        [{"session": "s1", "body": "用户：我是张三\n客服：您好，请问有什么可以帮您"}],
    )
    res = run([src], tmp_path / "out", keyring, config=cfg(fmt="text"), text_field="body")
    rows = json.loads((tmp_path / "out/processed/train.json").read_text()) + json.loads(
        (tmp_path / "out/processed/valid.json").read_text()
    )
    assert rows[0]["conversations"][0] == {"from": "human", "value": "我是[姓名]"}
    assert res.summary.dropped_fields == {"session": 1}


def test_stale_staging_of_a_killed_run_is_removed(tmp_path, keyring):
    out = tmp_path / "out"
    stale = out / ".sanitize-999999999-dead"
    stale.mkdir(parents=True)
    (stale / "train.json").write_text("[")
    run([write_jsonl(tmp_path / "in.jsonl", ALPACA[:4])], out, keyring)
    assert not stale.exists()


def test_config_rejects_unknown_actions():
    from privtune.config import parse_config
    from privtune.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        parse_config("sanitize:\n  actions:\n    PHONE: shred\n")
    assert "sanitize.actions.PHONE" in str(err.value)
    with pytest.raises(InputError):
        cfg(actions={"PHONE": "shred"})


def test_dataset_info_maps_only_columns_each_split_has():
    from privtune.datasets.dataset_info import dataset_info

    info = dataset_info(
        "alpaca",
        ["instruction", "input", "output", "system"],
        valid_columns=["instruction", "input", "output"],
    )
    assert "system" in info["privtune_train"]["columns"]
    assert "system" not in info["privtune_valid"]["columns"]


def test_output_inside_the_input_folder_is_not_read_back(tmp_path, keyring):
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "export.jsonl", ALPACA[:6])
    first = run([data], data, keyring)
    second = run([data], data, keyring)
    assert second.summary.records_in == first.summary.records_in == 6


def test_mixed_alpaca_and_sharegpt_input_is_written_as_sharegpt(tmp_path, keyring):
    src = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"instruction": "回复客户", "input": "我是张三", "output": "张三您好", "id": 1},
            {
                "conversations": [
                    {"from": "human", "value": "电话13812345678"},
                    {"from": "gpt", "value": "好的"},
                ]
            },
            {
                "instruction": "q",
                "output": "a",
                "history": [["h1", "g1"]],
                "system": "sys",
            },
        ],
    )
    config = cfg()
    config.sanitize.valid_ratio = 0.0
    res = run([src], tmp_path / "out", keyring, config=config)
    assert res.summary.quarantined == 0 and res.summary.records_out == 3
    assert res.summary.output_format == "sharegpt"
    assert any("mixes alpaca and sharegpt" in w for w in res.summary.warnings)
    rows = json.loads((tmp_path / "out/processed/train.json").read_text())
    convs = sorted(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows)
    assert convs == sorted(
        json.dumps(r, ensure_ascii=False, sort_keys=True)
        for r in [
            {
                "conversations": [
                    {"from": "human", "value": "回复客户\n我是[姓名]"},
                    {"from": "gpt", "value": "[姓名]您好"},
                ]
            },
            {
                "conversations": [
                    {"from": "human", "value": "电话[手机号]"},
                    {"from": "gpt", "value": "好的"},
                ]
            },
            {
                "conversations": [
                    {"from": "human", "value": "h1"},
                    {"from": "gpt", "value": "g1"},
                    {"from": "human", "value": "q"},
                    {"from": "gpt", "value": "a"},
                ],
                "system": "sys",
            },
        ]
    )
    info = json.loads((tmp_path / "out/processed/dataset_info.json").read_text())
    assert info["privtune_train"]["formatting"] == "sharegpt"
