"""The audit on a real pretrained model (SmolLM2-135M-Instruct, offline): fine-tuned on raw
records with repeated canaries it fails; untouched, on the same probes, it passes. A pretrained
instruction model repeats the customer name it is asked about, which must not count as
regurgitation (it did before: 31 false leaks on this very model)."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow

N = 20  # records per split: with 2 canaries x 10 repeats, 40 training sequences


@pytest.fixture(scope="module")
def two_threads():
    """SmolLM2's matrices are big enough for both cores (the tiny models' fixtures use 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from privtune.testing.leaky_data import make_leaky_data

    d = make_leaky_data(n_train=N, n_valid=N)
    return d, d.write(tmp_path_factory.mktemp("smol-data"))


def _audit(model, base, paths, out, probes):
    from privtune.audit import AuditInputs, run_audit
    from privtune.config import AuditConfig

    cfg = AuditConfig(canary_candidates=100, max_records=N, pii_samples=0, pii_contexts=16,
                      pii_max_new_tokens=24, batch_size=32, probes=probes)
    return run_audit(AuditInputs(model=model, base=base, train=paths["raw_train"],
                                 heldout=paths["raw_valid"], canaries=paths["canaries"]),
                     cfg, out)


def test_fine_tuned_on_raw_data_fails(smollm2, two_threads, data, tmp_path):
    from privtune.audit.records import Record
    from privtune.testing.train_tiny import train_causal_lm

    d, paths = data
    texts = [Record(r["instruction"], r["output"]).render() for r in d.raw_train]
    model = train_causal_lm(smollm2, texts, tmp_path / "raw", steps=20, batch_size=8, lr=3e-4,
                            max_length=64, seed=0)
    report = _audit(model, smollm2, paths, tmp_path / "audit",
                    ["canaries", "pii", "membership"])
    p = report["probes"]
    print("smollm2 raw:", p["canaries"]["max_exposure_bits"], p["membership"]["max_auc"],
          p["pii"]["regurgitated"], p["pii"]["echoed_from_prompt"])
    assert report["verdict"] == "fail"
    can = p["canaries"]
    assert all(c["rank"] == 1 for c in can["canaries"])
    assert can["max_exposure_bits"] >= 0.9 * can["space_bits"]
    assert p["membership"]["max_auc"] >= 0.7
    assert {"canaries", "membership"} <= {c["probe"] for c in report["gate"]
                                         if c["status"] == "fail"}


def test_untouched_pretrained_model_passes(smollm2, two_threads, data, tmp_path):
    _, paths = data
    report = _audit(smollm2, None, paths, tmp_path / "audit", ["canaries", "pii"])
    p = report["probes"]
    print("smollm2 base:", p["canaries"]["max_exposure_bits"], p["pii"]["regurgitated"],
          p["pii"]["echoed_from_prompt"])
    assert report["verdict"] == "pass", report["gate"]
    assert p["canaries"]["max_exposure_bits"] < 10
    assert p["pii"]["regurgitated"] == 0
    assert p["pii"]["echoed_from_prompt"] > 0  # it did repeat names it was given


def test_pretrained_vocabulary_is_not_a_leak(smollm2, tmp_path):
    """SmolLM2's tokenizer holds common given names as tokens; customers named Laura or
    Robert in the records must not fail the untouched model's artifact scan (they did)."""
    from privtune.audit import AuditInputs, run_audit
    from privtune.config import AuditConfig
    from privtune.testing.leaky_data import make_leaky_data

    paths = make_leaky_data(n_train=60, n_valid=1).write(tmp_path / "data")
    report = run_audit(AuditInputs(model=smollm2, train=paths["raw_train"]),
                       AuditConfig(max_records=60, probes=["artifacts"]), tmp_path / "audit")
    art = report["probes"]["artifacts"]
    names = [f for f in art["findings"] if f["kind"] == "inventory-name-token"]
    assert names and all(f["severity"] == "medium" for f in names)  # reported, not gated
    assert art["gated_findings"] == 0
    assert report["verdict"] == "pass"
