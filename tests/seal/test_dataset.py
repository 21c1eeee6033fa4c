"""load_sealed_dataset: sealed JSON/JSONL to an in-memory Dataset, nothing on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from privtune.errors import InputError
from privtune.seal import seal_bytes
from privtune.seal.dataset import parse_records

RECORDS = [{"instruction": f"q{i}", "input": "", "output": f"secret-answer-{i} 13800138000"}
           for i in range(50)]


def test_parse_json_and_jsonl():
    assert parse_records(json.dumps(RECORDS).encode()) == RECORDS
    jsonl = "\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS).encode()
    assert parse_records(jsonl) == RECORDS
    assert parse_records(b'\xef\xbb\xbf[{"a": 1}]') == [{"a": 1}]
    assert parse_records(b'{"data": [{"a": 1}]}') == [{"a": 1}]
    assert parse_records(b'{\n  "data": [\n {"a": 1}\n ]\n}\n') == [{"a": 1}]
    assert parse_records(bytearray(b' {"a": 1}\n{"a": 2}\n\n')) == [{"a": 1}, {"a": 2}]
    assert parse_records(b"") == []
    with pytest.raises(InputError) as e:
        parse_records(b'{"a": 1}\n{"a": \n', "x.jsonl")
    assert "x.jsonl:2" in str(e.value)
    with pytest.raises(InputError):
        parse_records(b"[1, 2]")


def test_load_sealed_dataset_writes_no_cache_files(tmp_path: Path, keyring):
    for name, payload in (
        ("train.json.sealed", json.dumps(RECORDS, ensure_ascii=False).encode()),
        ("train.jsonl.sealed",
         "\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS).encode()),
    ):
        seal_bytes(payload, tmp_path / name, keyring, chunk_size=256)
    cache, home, tmp = tmp_path / "hf-cache", tmp_path / "hf-home", tmp_path / "tmp"
    for d in (cache, home, tmp):
        d.mkdir()
    script = textwrap.dedent(f"""
        from pathlib import Path
        from privtune.config import KeysConfig
        from privtune.seal import Keyring, load_sealed_dataset
        kr = Keyring.from_config(KeysConfig(keyring_dir={str(keyring.directory)!r}))
        for name in ("train.json.sealed", "train.jsonl.sealed"):
            ds = load_sealed_dataset(Path({str(tmp_path)!r}) / name, kr)
            assert len(ds) == 50 and ds[3]["output"].startswith("secret-answer-3"), ds[3]
            assert ds.cache_files == [], ds.cache_files
            mapped = ds.map(lambda r: {{"n": len(r["output"])}})
            assert mapped.cache_files == [] and len(mapped) == 50
            split = ds.train_test_split(test_size=0.2, seed=0)
            assert split["train"].cache_files == []
        print("ok")
    """)
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache), "HF_HOME": str(home),
           "TMPDIR": str(tmp), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ok" in out.stdout
    written = [p for d in (cache, home, tmp) for p in d.rglob("*") if p.is_file()]
    assert not [p for p in written if p.suffix == ".arrow"], written
    for p in written:  # nothing else that holds the plaintext either
        assert b"secret-answer" not in p.read_bytes(), p
    assert "secret-answer" not in out.stdout + out.stderr
