"""The tiny model is a real LLaMA-Factory citizen: LoRA SFT on it runs, and the audit reads
the result (adapter unmerged on its base), including a genuine ``training_args.bin``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_llamafactory_trains_tiny_model_and_audit_reads_it(tmp_path, tiny_base, leaky):
    pytest.importorskip("llamafactory")
    _, paths = leaky
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.json").write_text(paths["clean_train"].read_text(encoding="utf-8"),
                                     encoding="utf-8")
    (data / "dataset_info.json").write_text(json.dumps({"t": {"file_name": "train.json"}}))
    out = tmp_path / "out"
    cfg = tmp_path / "train.yaml"
    cfg.write_text("\n".join([
        f"model_name_or_path: {tiny_base}", "stage: sft", "do_train: true",
        "finetuning_type: lora", "lora_target: all", "dataset: t", f"dataset_dir: {data}",
        "template: default", "cutoff_len: 128", f"output_dir: {out}",
        "per_device_train_batch_size: 4", "max_steps: 2", "report_to: none",
        "save_strategy: 'no'", "use_cpu: true", "dataloader_num_workers: 0",
        "preprocessing_num_workers: 1", ""]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "DISABLE_VERSION_CHECK": "1"}
    res = subprocess.run([sys.executable, "-m", "llamafactory.cli", "train", str(cfg)],
                         capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (out / "adapter_config.json").is_file() and (out / "training_args.bin").is_file()

    from privtune.audit import AuditInputs, run_audit
    from privtune.config import AuditConfig

    report = run_audit(AuditInputs(model=out, base=tiny_base, train=paths["clean_train"],
                                   heldout=paths["clean_valid"]),
                       AuditConfig(probes=["artifacts", "membership"], max_records=24))
    art = report["probes"]["artifacts"]
    kinds = {f["path"]: f["kind"] for f in art["files"]}
    assert kinds["out/training_args.bin"] == "torch-zip"
    assert art["gated_findings"] == 0, art["findings"]  # a genuine training_args.bin is clean
    assert report["probes"]["membership"]["reference"] is True
    assert report["verdict"] == "pass"
