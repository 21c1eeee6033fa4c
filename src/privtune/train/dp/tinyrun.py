"""A tiny DP-versus-non-DP experiment on CPU (the proof test and ``bench/dp.py``).

A tiny random-init Llama is first pre-trained (plain torch loop) on the *sanitized* records,
so that its embeddings can express confident predictions (a LoRA on a random-init model with
tied, tiny embeddings cannot move the logits); LLaMA-Factory then fine-tunes a LoRA on the
*raw* records, which hold repeated canaries. The audit's canary probe measures each adapter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from privtune.testing.leaky_data import make_leaky_data


@dataclass
class TinySetup:
    root: Path
    model: Path
    canaries: Path
    n_records: int

    def config(
        self,
        name: str,
        *,
        dp: dict[str, Any] | None = None,
        steps: int = 300,
        lr: float = 5e-3,
        rank: int = 16,
        batch: int = 16,
        logging_steps: int = 50,
        seed: int = 7,
    ) -> Path:
        """privtune.yaml for one run (LoRA on all linear layers, eval on the held-out split)."""
        lf = {
            "model_name_or_path": str(self.model),
            "stage": "sft",
            "do_train": True,
            "finetuning_type": "lora",
            "lora_target": "all",
            "lora_rank": rank,
            "dataset": "privtune_train",
            "eval_dataset": "privtune_valid",
            "template": "default",
            "cutoff_len": 64,
            "output_dir": f"out-{name}",
            "per_device_train_batch_size": batch,
            "per_device_eval_batch_size": 32,
            "max_steps": steps,
            "save_strategy": "no",
            "logging_steps": logging_steps,
            "learning_rate": lr,
            "lr_scheduler_type": "constant",
            "seed": seed,
            "do_eval": True,
            "eval_strategy": "no",
            "overwrite_output_dir": True,
            "dataloader_num_workers": 0,
        }
        train: dict[str, Any] = {
            "encrypt_checkpoint": False,
            "release_final": True,
            "llamafactory": lf,
        }
        if dp is not None:
            train["dp"] = dp
        doc = {"data": {"processed_dir": "processed"}, "train": train}
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path

    def out(self, name: str) -> Path:
        return self.root / f"out-{name}"


def make_setup(
    root: Path,
    *,
    n_train: int = 120,
    n_valid: int = 60,
    n_canaries: int = 2,
    canary_repeats: int = 16,
    pretrain_steps: int = 300,
    seed: int = 0,
) -> TinySetup:
    from privtune.testing.tiny_model import build_tiny_llama
    from privtune.testing.train_tiny import train_causal_lm

    root.mkdir(parents=True, exist_ok=True)
    data = make_leaky_data(
        n_train=n_train,
        n_valid=n_valid,
        n_canaries=n_canaries,
        canary_repeats=canary_repeats,
        seed=seed,
    )
    model = root / "model"
    if not (model / "config.json").is_file():
        base = build_tiny_llama(root / "model-init", [r["output"] for r in data.clean_train[:50]])
        texts = [f"Human: {r['instruction']}\nAssistant:{r['output']}" for r in data.clean_train]
        train_causal_lm(
            base,
            texts,
            model,
            steps=pretrain_steps,
            batch_size=16,
            lr=3e-3,
            max_length=64,
            seed=seed,
        )
    proc = root / "processed"
    proc.mkdir(exist_ok=True)
    (proc / "train.json").write_text(
        json.dumps(data.raw_train, ensure_ascii=False), encoding="utf-8"
    )
    (proc / "valid.json").write_text(
        json.dumps(data.raw_valid, ensure_ascii=False), encoding="utf-8"
    )
    (proc / "dataset_info.json").write_text(
        json.dumps(
            {
                "privtune_train": {"file_name": "train.json"},
                "privtune_valid": {"file_name": "valid.json"},
            }
        ),
        encoding="utf-8",
    )
    canaries = root / "canaries.json"
    canaries.write_text(json.dumps(data.canaries), encoding="utf-8")
    return TinySetup(root, model, canaries, len(data.raw_train))


def canary_exposure(setup: TinySetup, adapter: Path, *, candidates: int = 500) -> dict[str, Any]:
    """The audit's canary probe on ``adapter`` over the tiny base model (CPU)."""
    from privtune.audit.inventory import load_canaries
    from privtune.audit.run import AuditInputs, run_audit
    from privtune.config import AuditConfig

    report = run_audit(
        AuditInputs(model=setup.model, adapter=adapter),
        AuditConfig(probes=["canaries"], device="cpu", canary_candidates=candidates),
        canaries=load_canaries(setup.canaries),
    )
    return report["probes"]["canaries"]


def eval_loss(out_dir: Path) -> float | None:
    f = out_dir / "all_results.json"
    try:
        return float(json.loads(f.read_text(encoding="utf-8"))["eval_loss"])
    except (OSError, ValueError, KeyError):
        return None
