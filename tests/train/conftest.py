"""Fixtures for the train tests: a tiny local Llama, a keyring, a sealed canary dataset."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

GENERIC_CORPUS = [
    "Summarize the ticket for the customer and write a short answer.",
    "The ticket was closed after the refund was approved by support.",
    "Please write to the customer today about the delivery status.",
]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-init Llama whose tokenizer never saw the canaries."""
    try:
        import llamafactory  # noqa: F401
    except ImportError:
        if os.environ.get("PRIVTUNE_REQUIRE_SERVICES") == "1":  # CI: install.sh installs it
            pytest.fail("llamafactory is not installed (scripts/install-llamafactory.sh)")
        pytest.skip("llamafactory is not installed (scripts/install-llamafactory.sh)")
    from privtune.testing.tiny_model import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), GENERIC_CORPUS)


@dataclass
class Project:
    root: Path
    canaries: list[str]
    emails: list[str]
    model: Path

    @property
    def secrets(self) -> list[str]:
        return self.canaries + self.emails

    def config(self, **train: Any) -> Path:
        """Write privtune.yaml; ``train`` keys override, ``lf`` updates the LLaMA-Factory args."""
        lf = {
            "model_name_or_path": str(self.model),
            "stage": "sft",
            "do_train": True,
            "finetuning_type": "lora",
            "lora_target": "all",
            "lora_rank": 4,
            "dataset": "privtune_train",
            "template": "default",
            "cutoff_len": 96,
            "output_dir": "out",
            "per_device_train_batch_size": 4,
            "max_steps": 4,
            "save_steps": 2,
            "logging_steps": 1,
            "learning_rate": 1.0e-3,
            "seed": 7,
            "lr_scheduler_type": "linear",
            "warmup_steps": 0,
        }
        lf.update(train.pop("lf", {}))
        lf = {k: v for k, v in lf.items() if v is not None}
        name = train.pop("name", "privtune.yaml")
        doc = {
            "keys": {"provider": "file", "keyring_dir": "keys"},
            "data": {"processed_dir": "processed"},
            "train": {**train, "llamafactory": lf},
        }
        path = self.root / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path

    def keyring(self) -> Any:
        return keyring_of(self)

    @staticmethod
    def env(tmp: Path) -> dict[str, str]:
        return child_env(tmp)


def make_records(tag: str, n: int = 24) -> tuple[list[dict[str, str]], list[str], list[str]]:
    canaries = [f"CNRY{tag}{i:03d}QZ" for i in range(n)]
    emails = [f"zq.{tag}.{i}@example.org" for i in range(n)]
    records = [
        {
            "instruction": f"Summarize ticket {c} for the customer, please.",
            "input": "",
            "output": f"Ticket {c} is closed; write to {e} about the refund today.",
        }
        for c, e in zip(canaries, emails, strict=True)
    ]
    return records, canaries, emails


@pytest.fixture
def project(tmp_path: Path, tiny_model: Path) -> Project:
    """A work dir with a keyring and a *sealed* processed dataset (no plaintext copy)."""
    from privtune.config import KeysConfig
    from privtune.seal import Keyring, seal_bytes

    root = tmp_path / "work"
    root.mkdir()
    keyring = Keyring.init(KeysConfig(provider="file", keyring_dir="keys"), root)
    tag = secrets.token_hex(3)
    records, canaries, emails = make_records(tag)
    processed = root / "processed"
    processed.mkdir()
    seal_bytes(
        json.dumps(records, ensure_ascii=False).encode(), processed / "train.json.sealed", keyring
    )
    (processed / "dataset_info.json").write_text(
        json.dumps({"privtune_train": {"file_name": "train.json"}}), encoding="utf-8"
    )
    return Project(root=root, canaries=canaries, emails=emails, model=tiny_model)


def keyring_of(project: Project) -> Any:
    from privtune.config import KeysConfig
    from privtune.seal import Keyring

    return Keyring.from_config(KeysConfig(provider="file", keyring_dir="keys"), project.root)


def child_env(tmp: Path) -> dict[str, str]:
    """Environment of a `privtune train` child: HF caches and the temp dir under ``tmp``."""
    env = dict(os.environ)
    for k in ("HF_HOME", "HF_DATASETS_CACHE", "TMPDIR"):
        (tmp / k.lower()).mkdir(parents=True, exist_ok=True)
        env[k] = str(tmp / k.lower())
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS="1",
        PYTHONHASHSEED="0",
    )
    return env
