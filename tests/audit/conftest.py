"""Shared fixtures: one tiny base model, a model fine-tuned on RAW leaky data and one on its
SANITIZED twin, and one audit of each (session scope: built once, ~1 minute on 2 cores)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny matrices: a second thread only adds sync cost

STEPS = 300
#: small but meaningful probe sizes, so the whole suite stays within CI's budget
AUDIT = {"canary_candidates": 500, "pii_samples": 16, "pii_contexts": 64, "max_records": 64,
         "batch_size": 32}
KEY = b"audit-test-fingerprint-key-32byt"


@pytest.fixture(scope="session")
def leaky(tmp_path_factory):
    from privtune.testing.leaky_data import make_leaky_data

    data = make_leaky_data()
    root = tmp_path_factory.mktemp("leaky")
    paths = data.write(root)
    inv = root / "inventory.jsonl"
    from privtune.anonymize import fingerprint

    seen = {}
    for t, v in data.pii:
        fp = fingerprint(KEY, t, v)
        seen.setdefault(fp, {"type": t, "fp": fp, "field": "output", "count": 0})["count"] += 1
    inv.write_text("".join(json.dumps(e) + "\n" for e in seen.values()), encoding="utf-8")
    paths["inventory"] = inv
    return data, paths


def _render(rec):
    from privtune.audit.records import Record

    return Record(rec["instruction"], rec["output"]).render()


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory, leaky):
    from privtune.testing.tiny_model import build_tiny_llama

    data, _ = leaky
    # the tokenizer learns from sanitized text only: no customer value becomes a token
    return build_tiny_llama(tmp_path_factory.mktemp("base") / "base",
                            [_render(r) for r in data.clean_train] * 3, seed=0)


@pytest.fixture(scope="session")
def raw_model(tmp_path_factory, leaky, tiny_base):
    from privtune.testing.train_tiny import train_causal_lm

    data, _ = leaky
    return train_causal_lm(tiny_base, [_render(r) for r in data.raw_train],
                           tmp_path_factory.mktemp("raw") / "model", steps=STEPS, seed=0)


@pytest.fixture(scope="session")
def clean_model(tmp_path_factory, leaky, tiny_base):
    from privtune.testing.train_tiny import train_causal_lm

    data, _ = leaky
    return train_causal_lm(tiny_base, [_render(r) for r in data.clean_train],
                           tmp_path_factory.mktemp("clean") / "model", steps=STEPS, seed=0)


def _audit(model, base, paths, train, valid, out):
    from privtune.audit import AuditInputs, run_audit
    from privtune.config import AuditConfig

    inputs = AuditInputs(model=model, base=base, train=paths[train], heldout=paths[valid],
                         inventory=paths["inventory"], canaries=paths["canaries"])
    return run_audit(inputs, AuditConfig(**AUDIT), out, fingerprint_key=KEY)


@pytest.fixture(scope="session")
def raw_audit(tmp_path_factory, leaky, tiny_base, raw_model):
    out = tmp_path_factory.mktemp("audit-raw")
    return _audit(raw_model, tiny_base, leaky[1], "raw_train", "raw_valid", out), out


@pytest.fixture(scope="session")
def clean_audit(tmp_path_factory, leaky, tiny_base, clean_model):
    out = tmp_path_factory.mktemp("audit-clean")
    return _audit(clean_model, tiny_base, leaky[1], "clean_train", "clean_valid", out), out


@pytest.fixture
def no_unpickling(monkeypatch):
    """Any attempt to unpickle (pickle, torch.load) fails the test."""
    import pickle

    def boom(*_a, **_k):
        raise AssertionError("something tried to unpickle")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)
    monkeypatch.setattr(torch, "load", boom)
