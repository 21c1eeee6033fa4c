"""Configuration checks: unsafe combinations are refused with the key, the line and the fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from privtune.config import load_config
from privtune.errors import ConfigError
from privtune.train.settings import build_plan

BASE = {"model_name_or_path": "m", "output_dir": "out", "dataset": "privtune_train"}


def write(tmp_path: Path, train: dict, lf: dict | None = None) -> Path:
    doc = {"train": {**train, "llamafactory": {**BASE, **(lf or {})}}}
    path = tmp_path / "privtune.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def plan(tmp_path: Path, train: dict | None = None, **lf):
    path = write(tmp_path, train or {}, lf)
    return build_plan(load_config(path), path)


@pytest.mark.parametrize(
    ("lf", "key", "words"),
    [
        ({"report_to": "wandb"}, "report_to", "allow_trackers"),
        ({"report_to": ["tensorboard"]}, "report_to", "allow_trackers"),
        ({"use_swanlab": True}, "use_swanlab", "allow_trackers"),
        ({"push_to_hub": True}, "push_to_hub", "hub"),
        ({"hub_model_id": "me/model"}, "hub_model_id", "hub"),
        ({"export_hub_model_id": "me/model"}, "export_hub_model_id", "hub"),
        ({"save_total_limit": 3}, "save_total_limit", "keep_checkpoints"),
        ({"save_safetensors": False}, "save_safetensors", "safetensors"),
        ({"debug": "underflow_overflow"}, "debug", "debug"),
        ({"log_level": "debug"}, "log_level", "debug"),
        ({"tokenized_path": "tok"}, "tokenized_path", "plaintext"),
        ({"use_ray": True}, "use_ray", "torchrun"),
        ({"load_best_model_at_end": True}, "load_best_model_at_end", "sealed"),
        ({"resume_from_checkpoint": "out/checkpoint-2"}, "resume_from_checkpoint", "--resume"),
    ],
)
def test_unsafe_combinations_are_refused(tmp_path, lf, key, words):
    with pytest.raises(ConfigError) as err:
        plan(tmp_path, **lf)
    assert f"train.llamafactory.{key}" in str(err.value)
    assert words in str(err.value)
    assert err.value.location.line is not None  # points at the line in privtune.yaml


def test_missing_required_keys(tmp_path):
    path = tmp_path / "privtune.yaml"
    path.write_text("train:\n  llamafactory:\n    model_name_or_path: m\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="output_dir is required"):
        build_plan(load_config(path), path)


def test_protection_off_allows_what_it_refused(tmp_path):
    p = plan(
        tmp_path,
        {
            "safe_checkpoint": False,
            "no_log_samples": False,
            "encrypt_checkpoint": False,
            "allow_trackers": True,
        },
        report_to="tensorboard",
        save_total_limit=2,
        push_to_hub=True,
    )
    assert p.lf_args["report_to"] == "tensorboard"
    assert p.lf_args["save_total_limit"] == 2
    assert not p.staged


def test_defaults_are_forced_and_the_rest_passes_through(tmp_path):
    p = plan(tmp_path, lora_rank=8, learning_rate=1e-4, template="qwen")
    assert p.lf_args["report_to"] == "none"
    assert p.lf_args["save_total_limit"] is None
    assert p.lf_args["push_to_hub"] is False
    assert (p.lf_args["lora_rank"], p.lf_args["learning_rate"], p.lf_args["template"]) == (
        8,
        1e-4,
        "qwen",
    )
    assert p.out_dir == (tmp_path / "out").resolve()
    assert p.dataset_dir == (tmp_path / "data/processed").resolve()
    assert p.staged and p.datasets == ["privtune_train"]


def test_seed_keys_and_typos(tmp_path):
    path = tmp_path / "privtune.yaml"
    path.write_text("train:\n  no_log_sample: true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no_log_sample"):
        load_config(path)
    path.write_text("train:\n  keep_checkpoints: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="keep_checkpoints"):
        load_config(path)


def test_cli_refuses_with_one_clear_line(tmp_path):
    path = write(tmp_path, {}, {"report_to": "wandb"})
    out = subprocess.run(
        [sys.executable, "-m", "privtune.cli.main", "train", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "train.llamafactory.report_to" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_check_only(tmp_path):
    path = write(tmp_path, {})
    out = subprocess.run(
        [sys.executable, "-m", "privtune.cli.main", "train", str(path), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "configuration OK" in out.stdout


def test_unknown_llamafactory_argument_is_named(tmp_path):
    pytest.importorskip("llamafactory")
    path = write(tmp_path, {}, {"learning_rte": 1e-4})
    with pytest.raises(ConfigError, match="learning_rate") as err:
        build_plan(load_config(path), path)
    assert err.value.location.line == 6
