"""A real ``privtune run`` with every stage, on a small sample of the bundled data (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("llamafactory")
    from privtune.config import KeysConfig
    from privtune.pipeline.demo import demo_records
    from privtune.seal import Keyring
    from privtune.testing.tiny_model import build_tiny_llama

    root = tmp_path_factory.mktemp("run")
    export, _ = demo_records(40)
    model = build_tiny_llama(root / "model", sorted({r["instruction"] for r in export}))
    (root / "exports").mkdir()
    (root / "exports" / "chats.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in export), encoding="utf-8"
    )
    Keyring.init(KeysConfig(provider="file", keyring_dir="keys"), root)
    cfg = {
        "project": "support-bot",
        "data": {"raw": ["exports/*.jsonl"], "remove_original": True},
        "keys": {"provider": "file", "keyring_dir": "keys"},
        # the residual check is the sanitize part's; this test is about the chain
        "sanitize": {"canaries": 1, "residual": "report"},
        "train": {
            "llamafactory": {
                "model_name_or_path": str(model),
                "stage": "sft",
                "do_train": True,
                "finetuning_type": "lora",
                "lora_target": "all",
                "lora_rank": 4,
                "template": "default",
                "cutoff_len": 64,
                "per_device_train_batch_size": 4,
                "max_steps": 4,
                "save_steps": 2,
                "logging_steps": 1,
                "learning_rate": 1.0e-3,
                "output_dir": "train-out",
                "seed": 0,
            }
        },
        "audit": {
            "device": "cpu",
            "max_records": 8,
            "batch_size": 8,
            "max_length": 64,
            "prefix_tokens": 8,
            "suffix_tokens": 8,
            "pii_max_new_tokens": 8,
            "pii_samples": 2,
            "pii_contexts": 4,
            "canary_candidates": 20,
            # a 4-step LoRA on 36 records: the point here is the chain, not the gate
            "thresholds": {
                "max_mia_auc": 1.0,
                "max_canary_exposure_bits": 100.0,
                "max_extraction_rate": 1.0,
                "max_pii_regurgitated": 1000,
                "max_artifact_findings": 1000,
            },
        },
    }
    path = root / "privtune.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def test_sample_then_full_run_then_rerun_skips(project: Path) -> None:
    from privtune.pipeline.api import run_pipeline

    root = project.parent
    rep = run_pipeline(project, sample=20)
    assert rep.sample is not None and rep.sample.records == 20
    by = {c.name: c for c in rep.sample.checks}
    assert by["checkpoints sealed"].ok is True
    assert by["audit gate"].ok is True
    assert by["no plaintext residue under the work dir"].ok is not None
    assert rep.full is not None
    status = {o.name: o.status for o in rep.full.outcomes}
    assert status == dict.fromkeys(
        ["scan", "sanitize", "seal", "train", "audit", "register"], "ran"
    )
    assert not (root / "exports" / "chats.jsonl").exists()  # sealed, then removed
    assert (root / "data" / "raw" / "chats.jsonl.sealed").exists()
    assert (root / "audit" / "report.html").exists()
    assert list((root / "train-out" / "checkpoints").glob("checkpoint-*.sealed"))
    ref = rep.full.outcome("register").info["ref"]
    assert ref.startswith("support-bot:")
    state = json.loads((root / ".privtune" / "run-state.json").read_text())
    assert set(state["stages"]) == set(status)
    # nothing changed: every stage is skipped (the consumed export counts as unchanged)
    again = run_pipeline(project)
    assert {o.status for o in again.full.outcomes} == {"skipped"}
    # the raw values are read back from the sealed copy for the residue search
    names = [c.name for c in again.checks]
    assert "no plaintext residue under the work dir" in names
