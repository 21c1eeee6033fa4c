"""``privtune scan`` end to end (subprocess): report, --json, exit codes, --spans-out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from privtune.detect import Scanner

EMAIL = "zhang.wei.planted@example.com"
EMAIL2 = "li.na.secret@example.org"


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "privtune.cli.main", "scan", *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    recs = [
        {"id": "r1", "instruction": "reply", "input": f"mail me at {EMAIL} please",
         "output": "ok"},
        {"id": "r2", "conversations": [{"from": "human", "value": "hi"},
                                        {"from": "gpt", "value": f"write to {EMAIL2}"}]},
        {"id": "r3", "text": "nothing to see here"},
    ]
    (d / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return d


def test_report_counts_and_never_prints_values(data: Path):
    out = run(data)
    assert out.returncode == 0, out.stderr
    both = out.stdout + out.stderr
    assert EMAIL not in both and EMAIL2 not in both
    assert "zhang.wei" not in both
    assert "EMAIL" in out.stdout and "input" in out.stdout
    assert "conversations[*].value" in out.stdout


def test_show_masked_shows_previews_only(data: Path):
    out = run(data, "--show-masked")
    assert out.returncode == 0, out.stderr
    assert EMAIL not in out.stdout + out.stderr
    assert "z****" in out.stdout and "@example.com" in out.stdout


def test_json_schema(data: Path):
    out = run(data, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["version"] == 1
    assert set(doc) >= {"summary", "by_type", "by_field", "files", "locations", "errors",
                        "failed", "fail_on", "locations_truncated", "errors_truncated"}
    s = doc["summary"]
    assert s["records"] == 3 and s["files"] == 1 and s["errors"] == 0
    assert s["records_with_findings"] >= 2 and doc["by_type"]["EMAIL"] >= 2
    assert doc["by_field"]["input"]["EMAIL"] == 1
    assert doc["by_field"]["conversations[*].value"]["EMAIL"] == 1
    loc = next(x for x in doc["locations"] if x["field"] == "input" and x["type"] == "EMAIL")
    assert loc["line"] == 1 and loc["file"].endswith("a.jsonl")
    text = f"mail me at {EMAIL} please"
    assert text[loc["start"]:loc["end"]] == EMAIL
    assert set(loc) >= {"file", "line", "field", "type", "start", "end", "score", "recognizer"}
    assert "masked" not in loc
    assert EMAIL not in out.stdout + out.stderr


def test_fail_on(data: Path):
    assert run(data, "--fail-on", "EMAIL").returncode == 1
    assert run(data, "--fail-on", "any").returncode == 1
    assert run(data, "--fail-on", "ID_CARD").returncode == 0
    out = run(data, "--fail-on", "EMAIL", "--json")
    assert out.returncode == 1 and json.loads(out.stdout)["failed"] is True
    assert run(data, "--fail-on", "NOT_A_TYPE").returncode == 2


def test_types_filter(data: Path):
    doc = json.loads(run(data, "--json", "--types", "PHONE").stdout)
    assert doc["by_type"] == {}


def test_on_error(tmp_path: Path):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b'{"text": "ok"}\n{"text": broken\n{"text": "\xff"}\n')
    out = run(p, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["summary"]["errors"] == 2
    assert [(e["line"], e["file"]) for e in doc["errors"]] == [(2, str(p)), (3, str(p))]
    assert "malformed JSON" in doc["errors"][0]["error"]
    out = run(p, "--on-error", "fail")
    assert out.returncode == 2
    assert f"{p}:2" in out.stderr and "malformed JSON" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_field_named(tmp_path: Path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "a"}\n{"body": "b"}\n')
    out = run(p, "--text-field", "text", "--on-error", "fail")
    assert out.returncode == 2 and f"{p}:2" in out.stderr and "'text'" in out.stderr
    out = run(p, "--text-field", "text", "--id-field", "id", "--spans-out", tmp_path / "o.jsonl",
              "--on-error", "fail")
    assert out.returncode == 2 and "missing field 'id'" in out.stderr
    assert not (tmp_path / "o.jsonl").exists()  # atomic: nothing half-written


def test_usage_errors(tmp_path: Path):
    assert run(tmp_path / "missing.jsonl").returncode == 2
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "a"}\n')
    out = run(p, "--spans-out", tmp_path / "o.jsonl")  # needs --text-field
    assert out.returncode == 2 and "--text-field" in out.stderr


def test_spans_out_offsets_and_pii_score_format(tmp_path: Path):
    texts = {"a": f"contact {EMAIL} now", "b": "no pii", "c": f"{EMAIL2} and {EMAIL}"}
    src = tmp_path / "gold.jsonl"
    src.write_text("".join(json.dumps({"id": k, "text": t, "extra": EMAIL}) + "\n"
                           for k, t in texts.items()))
    pred = tmp_path / "pred.jsonl"
    out = run(src, "--text-field", "text", "--id-field", "id", "--spans-out", pred)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in pred.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b", "c"]
    scanner = Scanner()
    for x in lines:
        text = texts[x["id"]]
        assert x["spans"] == [{"type": s.type, "start": s.start, "end": s.end,
                               "score": round(s.score, 4)} for s in scanner.scan(text)]
        for s in x["spans"]:
            assert set(s) == {"type", "start", "end", "score"}
    emails = [text[s["start"]:s["end"]] for x in lines for s in x["spans"]
              if s["type"] == "EMAIL" for text in [texts[x["id"]]]]
    assert emails == [EMAIL, EMAIL2, EMAIL]
    assert EMAIL not in out.stdout + out.stderr


def test_presidio_format(tmp_path: Path):
    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps({"id": 7, "text": f"to {EMAIL}"}) + "\n")
    pred = tmp_path / "p.jsonl"
    out = run(src, "--text-field", "text", "--id-field", "id", "--spans-out", pred,
              "--format", "presidio")
    assert out.returncode == 0, out.stderr
    line = json.loads(pred.read_text())
    assert line["id"] == 7
    r = line["spans"][0]
    assert r["entity_type"] == "EMAIL_ADDRESS" and (r["start"], r["end"]) == (3, 3 + len(EMAIL))
    assert {"score", "analysis_explanation", "recognition_metadata"} <= set(r)
    out = run(src, "--format", "presidio")  # no --spans-out: JSON lines on stdout
    first = json.loads(out.stdout.splitlines()[0])
    assert first["field"] == "text" and first["results"][0]["entity_type"] == "EMAIL_ADDRESS"


def test_all_formats_and_folder(tmp_path: Path):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "a.json").write_text(json.dumps([{"messages": [
        {"role": "user", "content": f"I am {EMAIL}"}]}]))
    (d / "sub" / "b.csv").write_text(f"id,text\n1,hello {EMAIL}\n")
    (d / "c.txt").write_text(f"line one\nline two {EMAIL}\n")
    pq.write_table(pa.Table.from_pylist([{"text": f"x {EMAIL}", "n": 1}]), d / "e.parquet")
    (d / "notes.md").write_text(EMAIL)  # unsupported extension: not picked up
    doc = json.loads(run(d, "--json").stdout)
    got = sorted((Path(x["file"]).name, x["line"], x["field"]) for x in doc["locations"]
                 if x["type"] == "EMAIL")
    assert got == [("a.json", 1, "messages[0].content"), ("b.csv", 2, "text"),
                   ("c.txt", 2, "text"), ("e.parquet", 1, "text")]
    assert doc["summary"]["files"] == 4


def test_pii_in_keys_is_not_printed(tmp_path: Path):
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps({"users": {EMAIL: "vip customer"}}) + "\n")
    out = run(p, "--json", "--types", "EMAIL")
    assert EMAIL not in out.stdout + out.stderr
    p.write_text(json.dumps({"users": {EMAIL: f"also {EMAIL2}"}}) + "\n")
    out = run(p, "--json")
    doc = json.loads(out.stdout)
    assert EMAIL not in out.stdout and doc["locations"][0]["field"] == "users.<EMAIL>"


def test_workers_give_identical_output(tmp_path: Path):
    p = tmp_path / "a.jsonl"
    p.write_text("".join(json.dumps({"id": i, "text": f"{i} {EMAIL}" * (i % 3)}) + "\n"
                         for i in range(700)))
    outs = []
    for w in ("1", "2"):
        pred = tmp_path / f"p{w}.jsonl"
        r = run(p, "--text-field", "text", "--id-field", "id", "--spans-out", pred,
                "--workers", w, "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        doc["summary"].pop("elapsed_s")
        outs.append((pred.read_bytes(), doc))
    assert outs[0] == outs[1]


PII_DEV = Path("/work/shared/data/pii-dev/cnpii_zh.jsonl")
PII_SCORE = Path("/work/shared/tools/pii_score.py")


@pytest.mark.skipif(not (PII_DEV.exists() and PII_SCORE.exists()),
                    reason="shared pii-dev set not available")
def test_spans_out_scores_with_pii_score(tmp_path: Path):
    """The evaluation interface end to end: scan -> --spans-out -> pii_score.py."""
    pred = tmp_path / "p.jsonl"
    out = run(PII_DEV, "--text-field", "text", "--id-field", "id", "--spans-out", pred)
    assert out.returncode == 0, out.stderr
    score = subprocess.run([sys.executable, str(PII_SCORE), "--gold", str(PII_DEV), "--pred",
                            str(pred), "--json"], capture_output=True, text=True, timeout=120)
    assert score.returncode == 0, score.stderr
    doc = json.loads(score.stdout)
    n_gold = sum(1 for _ in PII_DEV.open())
    assert doc["docs"] == doc["docs_with_predictions"] == n_gold
    assert sum(1 for _ in pred.open()) == n_gold


def test_config_custom_rules_and_bad_config(tmp_path: Path):
    cfg = tmp_path / "privtune.yaml"
    cfg.write_text('detect:\n  custom:\n    - type: CODENAME\n      terms: ["Project Falcon"]\n')
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps({"text": "about Project Falcon"}) + "\n")
    out = run(p, "--config", cfg, "--json", "--fail-on", "CODENAME")
    assert out.returncode == 1 and json.loads(out.stdout)["by_type"] == {"CODENAME": 1}
    bad = tmp_path / "bad.yaml"
    bad.write_text("detect:\n  bogus: 1\n")
    out = run(p, "--config", bad)
    assert out.returncode == 2 and "bad.yaml:2" in out.stderr


def test_folder_without_supported_files(tmp_path: Path):
    (tmp_path / "notes.md").write_text("x")
    out = run(tmp_path)
    assert out.returncode == 2 and "no supported files" in out.stderr
