"""In-memory, sealed-aware dataset loading: no datasets cache file is ever written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from privtune.errors import ConfigError, InputError
from privtune.train.data import make_loader, prepare_dataset_dir, read_records


@pytest.fixture
def keyring(tmp_path):
    from privtune.seal import Keyring

    return Keyring.ephemeral(tmp_path / "keys")


def test_dataset_info_points_at_the_sealed_file(tmp_path):
    processed = tmp_path / "processed"
    processed.mkdir()
    (processed / "train.json.sealed").write_bytes(b"x")
    (processed / "valid.json").write_text("[]")
    (processed / "dataset_info.json").write_text(
        json.dumps(
            {
                "privtune_train": {"file_name": "train.json"},
                "privtune_valid": {"file_name": "valid.json"},
            }
        )
    )
    out = prepare_dataset_dir(processed, ["privtune_train", "privtune_valid"], tmp_path / "s")
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["privtune_train"]["file_name"] == str(processed / "train.json.sealed")
    assert info["privtune_valid"]["file_name"] == str(processed / "valid.json")
    with pytest.raises(ConfigError, match="not in dataset_info"):
        prepare_dataset_dir(processed, ["nope"], tmp_path / "s")
    (processed / "dataset_info.json").write_text(json.dumps({"hub": {"hf_hub_url": "a/b"}}))
    with pytest.raises(ConfigError, match="local files only"):
        prepare_dataset_dir(processed, ["hub"], tmp_path / "s")


def test_sealed_file_loads_in_memory_without_cache(tmp_path, keyring, monkeypatch):
    from privtune.seal import read_sealed, seal_bytes

    cache = tmp_path / "cache"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    recs = [{"instruction": f"secret {i}", "output": "ok"} for i in range(10)]
    sealed = seal_bytes(json.dumps(recs).encode(), tmp_path / "train.json.sealed", keyring)
    seen = []
    load = make_loader(lambda p: read_sealed(p, keyring), seen.append)
    ds = load(path="json", data_files=[str(sealed)], split="train")
    assert ds.cache_files == [] and len(ds) == 10 and len(seen) == 10
    mapped = ds.map(lambda b: {"n": [len(x) for x in b["instruction"]]}, batched=True)
    mapped = mapped.train_test_split(test_size=0.2, seed=1)
    assert mapped["train"].cache_files == []
    assert not cache.exists() or not any(cache.rglob("*"))
    with pytest.raises(ConfigError, match="local files only"):
        load(path="some/hub-dataset", data_files=None, split="train")


@pytest.mark.parametrize(
    ("name", "body", "n"),
    [
        ("a.jsonl", b'{"text": "a"}\n\n{"text": "b"}\n', 2),
        ("a.json", b'[{"text": "a"}]', 1),
        ("a.csv", b"text,label\nhello,1\nbye,0\n", 2),
        ("a.txt", b"one\ntwo\nthree\n", 3),
    ],
)
def test_formats(tmp_path, name, body, n):
    path = tmp_path / name
    path.write_bytes(body)
    assert len(read_records(path, Path.read_bytes)) == n


def test_bad_json_names_the_line_not_the_content(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "ok"}\n{"text": "secret-value\n')
    with pytest.raises(InputError) as err:
        read_records(path, Path.read_bytes)
    assert ":2" in str(err.value) and "secret-value" not in str(err.value)
