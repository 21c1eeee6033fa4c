"""privtune.datasets.readers and formats: every format, bad input, streaming."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from privtune.datasets.formats import (
    detect_format,
    field_pattern,
    get_path,
    iter_text_fields,
)
from privtune.datasets.readers import Record, iter_input_files, iter_records
from privtune.errors import InputError

ALPACA = {"instruction": "Summarize", "input": "call 13800138000", "output": "ok",
          "customer_id": "C-1"}


def ok(records):
    return [(r.line, r.data) for r in records if r.error is None]


def errors(records):
    return [(r.line, r.error) for r in records if r.error is not None]


# --- formats ---------------------------------------------------------------------------------
def test_jsonl(tmp_path: Path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "a"}\n\n{"text": "b"}\r\n', encoding="utf-8")
    recs = list(iter_records(p))
    assert all(isinstance(r, Record) and r.source == p for r in recs)
    assert ok(recs) == [(1, {"text": "a"}), (3, {"text": "b"})]


def test_json_array_and_object(tmp_path: Path):
    arr = tmp_path / "arr.json"
    arr.write_text(json.dumps([ALPACA, {"text": "x, ] } \" \\ y"}, "bare"], indent=2))
    assert ok(iter_records(arr)) == [(1, ALPACA), (2, {"text": "x, ] } \" \\ y"}),
                                     (3, {"text": "bare"})]
    one = tmp_path / "one.json"
    one.write_text(json.dumps(ALPACA))
    assert ok(iter_records(one)) == [(1, ALPACA)]
    empty_arr = tmp_path / "e.json"
    empty_arr.write_text(" [ ] ")
    assert list(iter_records(empty_arr)) == []


def test_json_array_split_across_chunks(tmp_path: Path, monkeypatch):
    import privtune.datasets.readers as readers

    monkeypatch.setattr(readers, "_CHUNK", 7)  # every boundary case: escapes, strings, nesting
    data = [{"t": f'q"\\{i}\u4e2d,]', "n": [i, {"k": "}"}]} for i in range(50)]
    p = tmp_path / "a.json"
    p.write_text(json.dumps(data, ensure_ascii=False))
    assert [d for _, d in ok(iter_records(p))] == data


def test_csv_and_tsv(tmp_path: Path):
    p = tmp_path / "a.csv"
    p.write_text('\ufeffid,text\n1,"multi\nline, quoted"\n2,plain\n', encoding="utf-8")
    assert ok(iter_records(p)) == [(2, {"id": "1", "text": "multi\nline, quoted"}),
                                   (4, {"id": "2", "text": "plain"})]
    t = tmp_path / "a.tsv"
    t.write_text("id\ttext\n1\thello, world\n", encoding="utf-8")
    assert ok(iter_records(t)) == [(2, {"id": "1", "text": "hello, world"})]


def test_txt(tmp_path: Path):
    p = tmp_path / "a.txt"
    p.write_text("first\n\nthird\n", encoding="utf-8")
    assert ok(iter_records(p)) == [(1, {"text": "first"}), (3, {"text": "third"})]
    assert ok(iter_records(p, text_field="body")) == [(1, {"body": "first"}),
                                                      (3, {"body": "third"})]


def test_parquet(tmp_path: Path):
    p = tmp_path / "a.parquet"
    rows = [{"id": i, "text": f"row {i}"} for i in range(2500)]
    pq.write_table(pa.Table.from_pylist(rows), p, row_group_size=1000)
    got = ok(iter_records(p, text_field="text"))
    assert got[0] == (1, {"id": 0, "text": "row 0"}) and got[-1][0] == 2500
    assert [d for _, d in got] == rows


def test_gzip_jsonl(tmp_path: Path):
    p = tmp_path / "a.jsonl.gz"
    with gzip.open(p, "wt", encoding="utf-8") as fh:
        fh.write('{"text": "a"}\n{"text": "b"}\n')
    assert [d["text"] for _, d in ok(iter_records(p))] == ["a", "b"]


def test_explicit_format_and_sniffing(tmp_path: Path):
    p = tmp_path / "data.export"
    p.write_text('{"text": "a"}\n{"text": "b"}\n')
    assert len(ok(iter_records(p))) == 2
    assert len(ok(iter_records(p, fmt="jsonl"))) == 2
    with pytest.raises(InputError, match="unknown format"):
        list(iter_records(p, fmt="xml"))


# --- bad input -------------------------------------------------------------------------------
def test_bad_jsonl_lines_name_line_and_problem(tmp_path: Path):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b'{"text": "a"}\nnot json\n{"text": "\xff\xfe"}\n[1, 2]\n{"other": 1}\n'
                  b'{"text": 5}\n{"text": "z"}\n')
    recs = list(iter_records(p, text_field="text"))
    errs = dict(errors(recs))
    assert "malformed JSON" in errs[2]
    assert "undecodable" in errs[3]
    assert "not a JSON object" in errs[4]
    assert errs[5] == "missing field 'text'"
    assert "field 'text' is not a string" in errs[6]
    assert ok(recs) == [(1, {"text": "a"}), (7, {"text": "z"})]
    assert all(r.source == p for r in recs)
    assert str(recs[1].location) == f"{p}:2"


@pytest.mark.parametrize("name", ["e.jsonl", "e.json", "e.csv", "e.txt"])
def test_empty_file(tmp_path: Path, name: str):
    p = tmp_path / name
    p.write_bytes(b"")
    assert errors(iter_records(p)) == [(1, "file is empty")]


def test_empty_parquet(tmp_path: Path):
    p = tmp_path / "e.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), p)
    assert errors(iter_records(p)) == [(1, "file is empty")]


def test_corrupt_parquet_and_gzip(tmp_path: Path):
    p = tmp_path / "bad.parquet"
    p.write_bytes(b"PAR1 not really")
    assert "not a readable parquet file" in errors(iter_records(p))[0][1]
    g = tmp_path / "bad.jsonl.gz"
    g.write_bytes(b"not gzip at all")
    assert "cannot read" in errors(iter_records(g))[0][1]
    full = gzip.compress(b'{"text": "a"}\n' * 20_000)
    t = tmp_path / "trunc.jsonl.gz"
    t.write_bytes(full[: len(full) // 2])
    recs = list(iter_records(t))
    assert recs[-1].error and "cannot read the rest" in recs[-1].error
    assert recs[-1].line == len(recs) and all(r.error is None for r in recs[:-1])


def test_huge_line_is_an_error_not_a_memory_blowup(tmp_path: Path):
    p = tmp_path / "huge.jsonl"
    with open(p, "wb") as fh:
        fh.write(b'{"text": "a"}\n{"text": "' + b"x" * 8_000_000 + b'"}\n{"text": "c"}\n')
    tracemalloc.start()
    recs = list(iter_records(p, max_record_bytes=100_000))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2_000_000  # constant, whatever the line's length
    assert ok(recs) == [(1, {"text": "a"}), (3, {"text": "c"})]
    assert errors(recs)[0][0] == 2 and "longer than 100,000 bytes" in errors(recs)[0][1]


def test_huge_json_element_and_csv_line(tmp_path: Path):
    p = tmp_path / "huge.json"
    p.write_text('[{"text": "a"}, {"text": "' + "y" * 500_000 + '"}, {"text": "c"}]')
    recs = list(iter_records(p, max_record_bytes=10_000))
    assert ok(recs) == [(1, {"text": "a"}), (3, {"text": "c"})]
    assert errors(recs)[0][0] == 2 and "longer than" in errors(recs)[0][1]
    c = tmp_path / "huge.csv"
    c.write_text("id,text\n1,a\n2," + "z" * 50_000 + "\n3,c\n")
    recs = list(iter_records(c, max_record_bytes=10_000))
    assert [d["id"] for _, d in ok(recs)] == ["1", "3"]
    assert errors(recs)[0][0] == 3


def test_malformed_json_files(tmp_path: Path):
    cases = {
        '[{"a": 1}, {"a": 2': "unexpected end of file",
        '[{"a": 1},]': "trailing comma",
        '[{"a": 1}, {"a" 2}]': "malformed JSON",
        '[{"a": 1}] extra': "unexpected data after",
        "hello": "not a JSON array or object",
    }
    for i, (text, msg) in enumerate(cases.items()):
        p = tmp_path / f"m{i}.json"
        p.write_text(text)
        errs = errors(iter_records(p))
        assert errs and msg in errs[-1][1], (text, errs)


def test_bad_csv_rows(tmp_path: Path):
    p = tmp_path / "bad.csv"
    p.write_bytes(b"id,text\n1,a\n2,b,extra\n3,\xff\n4,d\n")
    recs = list(iter_records(p, text_field="text"))
    errs = dict(errors(recs))
    assert "3 columns" in errs[3] and "undecodable" in errs[4]
    assert [d["id"] for _, d in ok(recs)] == ["1", "4"]
    assert errors(iter_records(p, text_field="body"))[0] == (2, "missing field 'body'")


def test_error_messages_never_contain_content(tmp_path: Path):
    secret = "13912345678"
    p = tmp_path / "bad.jsonl"
    p.write_text(f'{{"text": "{secret}" oops}}\n{{"text": "{secret}\n')
    for _, err in errors(iter_records(p)):
        assert secret not in err


# --- files -----------------------------------------------------------------------------------
def test_iter_input_files(tmp_path: Path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ["b/z.jsonl", "a.csv", "b/a.parquet", "notes.md", ".hidden/x.jsonl",
                 ".tmp.jsonl", "c.json.gz"]:
        (tmp_path / name).write_text("x")
    got = list(iter_input_files([tmp_path, tmp_path / "a.csv", tmp_path / "notes.md"]))
    assert got == [tmp_path / "a.csv", tmp_path / "b/a.parquet", tmp_path / "b/z.jsonl",
                   tmp_path / "c.json.gz", tmp_path / "notes.md"]
    with pytest.raises(InputError, match="no such file"):
        list(iter_input_files([tmp_path / "missing.jsonl"]))


# --- streaming -------------------------------------------------------------------------------
def test_readers_are_lazy(tmp_path: Path):
    p = tmp_path / "big.jsonl"
    line = json.dumps({"text": "x" * 1000}) + "\n"
    with open(p, "w") as fh:
        for _ in range(20_000):  # ~20 MB
            fh.write(line)
    a = tmp_path / "big.json"
    with open(a, "w") as fh:
        fh.write("[")
        fh.write(",".join([line.strip()] * 20_000))
        fh.write("]")
    for path in (p, a):
        tracemalloc.start()
        n = sum(1 for r in iter_records(path) if r.error is None)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert n == 20_000
        assert peak < 6_000_000, (path.name, peak)  # far below the 20 MB file


# --- record formats --------------------------------------------------------------------------
SHAREGPT = {"conversations": [{"from": "human", "value": "hi"},
                              {"from": "gpt", "value": "hello"}], "system": "be nice",
            "agent_email": "a@b.co"}
OPENAI = {"messages": [{"role": "user", "content": "q"},
                       {"role": "assistant", "content": [{"type": "text", "text": "a"}]}]}


def test_detect_format():
    assert detect_format(ALPACA) == "alpaca"
    assert detect_format(SHAREGPT) == "sharegpt"
    assert detect_format(OPENAI) == "openai"
    assert detect_format({"text": "t", "id": 1}) == "text"
    assert detect_format({"body": "t"}) == "generic"
    assert detect_format({"messages": [{"from": "human", "value": "x"}]}) == "sharegpt"


def test_text_fields_and_paths():
    assert list(iter_text_fields(ALPACA, "alpaca")) == [
        ("instruction", "Summarize"), ("input", "call 13800138000"), ("output", "ok")]
    hist = {"instruction": "i", "history": [["q0", "a0"]]}
    assert ("history[0][1]", "a0") in list(iter_text_fields(hist, "alpaca"))
    assert list(iter_text_fields(SHAREGPT, "sharegpt")) == [
        ("system", "be nice"), ("conversations[0].value", "hi"),
        ("conversations[1].value", "hello")]
    assert list(iter_text_fields(OPENAI, "openai")) == [
        ("messages[0].content", "q"), ("messages[1].content[0].text", "a")]
    generic = dict(iter_text_fields(SHAREGPT, "generic"))
    assert generic["agent_email"] == "a@b.co" and generic["conversations[1].from"] == "gpt"
    assert dict(iter_text_fields({"n": 13800138000, "b": True}, "generic", numbers=True)) == {
        "n": "13800138000"}
    assert list(iter_text_fields(ALPACA)) == list(iter_text_fields(ALPACA, "alpaca"))
    for path, text in iter_text_fields(OPENAI, "generic"):
        assert get_path(OPENAI, path) == text
    assert field_pattern("conversations[12].value") == "conversations[*].value"


def test_json_array_matches_json_loads_on_tricky_elements(tmp_path: Path, monkeypatch):
    """The fast path (split at '}' + ',') and the byte-wise fallback agree with json.loads."""
    import random

    import privtune.datasets.readers as readers

    rng = random.Random(7)
    pieces = ["}, {", "}]", "\\", '"', "{", "]", ",", "中文", " ", "\n", "x"]

    def text() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))

    data = [{"a": text(), "b": [text(), {"c": text()}], "d": {"e": [1, 2.5, None, True]}}
            for _ in range(300)]
    p = tmp_path / "t.json"
    p.write_text(json.dumps(data, ensure_ascii=rng.random() < 0.5, indent=1))
    for chunk in (1 << 20, 13):
        monkeypatch.setattr(readers, "_CHUNK", chunk)
        recs = list(iter_records(p))
        assert [r.data for r in recs] == data
        assert [r.line for r in recs] == list(range(1, 301))


# --- report ----------------------------------------------------------------------------------
def test_mask_value():
    from privtune.detect.report import mask_value

    assert mask_value("PHONE", "13800138000") == "138****8000"
    assert mask_value("PERSON", "张三") == "张*"
    assert mask_value("PERSON", "欧阳娜娜") == "欧***"
    assert mask_value("PERSON", "John Smith") == "J*** S****"
    assert mask_value("EMAIL", "zhang.wei@example.com") == "z********@example.com"
    assert mask_value("ID_CARD", "11010519491231002X") == "110***********002X"
    assert mask_value("SECRET", "AKIAIOSFODNN7EXAMPLE").startswith("AKIA")
    assert "IOSFODNN7" not in mask_value("SECRET", "AKIAIOSFODNN7EXAMPLE")
    for v in ["13800138000", "6222021234567890123", "abc", "a", "192.168.1.1"]:
        masked = mask_value("OTHER", v)
        assert len(masked) == len(v) and masked.count("*") >= max(1, len(v) // 3)


def test_report_memory_is_capped():
    from privtune.detect.files import FieldSpans, ScanResult
    from privtune.detect.report import OTHER_FIELDS, ScanReport
    from privtune.detect.span import Span

    rep = ScanReport(max_locations=5, max_errors=2, max_fields=3)
    for i in range(100):
        rep.add(ScanResult(Path("f"), i + 1, None, None,
                           [FieldSpans(f"k{i}", [Span("EMAIL", 0, 3)])], 10))
        rep.add(ScanResult(Path("f"), i + 1, "bad"))
    doc = rep.finish().to_json(fail_on={"EMAIL"})
    assert len(doc["locations"]) == 5 and doc["locations_truncated"]
    assert len(doc["errors"]) == 2 and doc["errors_truncated"]
    assert len(doc["by_field"]) == 4 and doc["by_field"][OTHER_FIELDS]["EMAIL"] == 97
    assert doc["summary"]["findings"] == 100 and doc["failed"]
