"""End to end on CPU with a tiny Llama: the canary proof, resume, retention, remove_original.

These train (seconds each) and run in CI (marked slow).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROTECTED = {"safe_checkpoint": True, "no_log_samples": True, "encrypt_checkpoint": True}
UNPROTECTED = {"safe_checkpoint": False, "no_log_samples": False, "encrypt_checkpoint": False}


def privtune_train(project, config: Path, env: dict[str, str], *extra: str):
    out = subprocess.run(
        [sys.executable, "-m", "privtune.cli.main", "train", str(config), *extra],
        cwd=project.root,
        env=env,
        capture_output=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")[-3000:]
    return out


def shm_runs() -> set[Path]:
    """Staging directories in /dev/shm whose owner process is gone (a concurrent privtune
    run on the same machine owns a live one)."""
    import os

    dead = set()
    for d in Path("/dev/shm").glob("privtune-train-*"):
        try:
            os.kill(int((d / "owner.pid").read_text()), 0)
        except (OSError, ValueError):
            dead.add(d)
    return dead


def scan_for(secrets: list[str], blobs: dict[str, bytes]) -> dict[str, list[str]]:
    """Where each secret occurs in plaintext (UTF-8 bytes)."""
    hits: dict[str, list[str]] = {}
    for where, blob in blobs.items():
        for s in secrets:
            if s.encode() in blob:
                hits.setdefault(s, []).append(where)
    return hits


def files_under(*roots: Path) -> dict[str, bytes]:
    out = {}
    for root in roots:
        if root.exists():
            for p in root.rglob("*"):
                if p.is_file() and not p.is_symlink():
                    out[str(p)] = p.read_bytes()
    return out


def train_resume_predict(project, settings: dict, tmp: Path) -> dict[str, bytes]:
    """Train 4 steps (stop at 2), resume to the end, then predict with the final adapter."""
    env = project.env(tmp)
    before = shm_runs()
    logs: dict[str, bytes] = {}
    first = project.config(**settings, lf={"max_steps": 2}, name="first.yaml")
    r = privtune_train(project, first, env)
    logs["train.stdout"], logs["train.stderr"] = r.stdout, r.stderr
    full = project.config(**settings, lf={"max_steps": 4})
    r = privtune_train(project, full, env, "--resume")
    logs["resume.stdout"], logs["resume.stderr"] = r.stdout, r.stderr
    final = project.root / "out" / ("final" if settings["safe_checkpoint"] else "")
    predict = project.config(
        **settings,
        name="predict.yaml",
        lf={
            "do_train": False,
            "do_predict": True,
            "predict_with_generate": True,
            "eval_dataset": "privtune_train",
            "max_new_tokens": 4,
            "max_samples": 8,
            "adapter_name_or_path": str(final),
            "output_dir": "pred",
            "per_device_eval_batch_size": 8,
        },
    )
    r = privtune_train(project, predict, env)
    logs["predict.stdout"], logs["predict.stderr"] = r.stdout, r.stderr
    leftovers = shm_runs() - before
    assert not leftovers, f"staging not wiped: {leftovers}"
    return {**logs, **files_under(project.root, tmp)}


def test_canary_proof_zero_plaintext_hits(project, tmp_path: Path):
    blobs = train_resume_predict(project, PROTECTED, tmp_path / "env")
    out = project.root / "out"
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == 4
    assert summary["resumed_from"] == "checkpoint-2.sealed"
    assert summary["final"]["sealed"] is True
    assert (project.root / "pred" / "generated_predictions.jsonl.sealed").exists()
    assert not (project.root / "pred" / "generated_predictions.jsonl").exists()
    assert not list(project.root.rglob("training_args.bin"))
    assert b"training example:" in blobs["train.stdout"]  # the print ran, without the text
    hits = scan_for(project.secrets, blobs)
    assert hits == {}, f"plaintext canaries/PII found: {hits}"


def test_canary_proof_finds_leaks_with_protection_off(project, tmp_path: Path):
    blobs = train_resume_predict(project, UNPROTECTED, tmp_path / "env")
    hits = scan_for(project.secrets, blobs)
    assert hits, "protection off must leak: otherwise the proof test cannot fail"
    places = {w for ws in hits.values() for w in ws}
    assert "train.stdout" in places  # the decoded "training example" print
    assert any(p.endswith("generated_predictions.jsonl") for p in places)


def adapter_tensors(project, out: Path, dest: Path) -> dict:
    from safetensors.torch import load_file

    from privtune.train import open_final

    folder = open_final(out, project.keyring(), dest)
    return load_file(folder / "adapter_model.safetensors")


def test_resume_from_sealed_checkpoint_gives_the_same_weights(project, tmp_path):
    """Interrupted at step 2 (as by a crash right after a save), resumed with the CLI."""
    import torch
    from transformers import TrainerCallback

    from privtune.train import run_training

    class StopAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                control.should_training_stop = True
            return control

    env = project.env(tmp_path / "env")
    lf = {"max_steps": 6}
    # uninterrupted, in a child process like the resumed run
    straight = project.config(**PROTECTED, lf={**lf, "output_dir": "straight"}, name="s.yaml")
    privtune_train(project, straight, env)
    # interrupted in-process with the library API, then resumed with the CLI
    cfg = project.config(**PROTECTED, lf=lf)
    first = run_training(cfg, callbacks=[StopAt()], redact_streams=False)
    assert first["status"] == "stopped" and first["global_step"] == 2
    assert first["checkpoints"] == ["checkpoint-2.sealed"]
    privtune_train(project, cfg, env, "--resume")
    summary = json.loads((project.root / "out" / "train_summary.json").read_text())
    assert summary["resumed_from"] == "checkpoint-2.sealed" and summary["global_step"] == 6
    assert summary["checkpoints"] == ["checkpoint-4.sealed", "checkpoint-6.sealed"]
    a = adapter_tensors(project, project.root / "straight", tmp_path / "a")
    b = adapter_tensors(project, project.root / "out", tmp_path / "b")
    assert a.keys() == b.keys() and a
    for k in a:
        assert torch.equal(a[k], b[k]), k
    untrained = summary["final"]["sha256"]["adapter_model.safetensors"]
    assert (
        untrained
        == json.loads((project.root / "straight" / "train_summary.json").read_text())["final"][
            "sha256"
        ]["adapter_model.safetensors"]
    )


def test_remove_original_only_after_a_verified_sealed_copy(project, tmp_path):
    from privtune.config import load_config
    from privtune.seal import seal_bytes
    from privtune.train.runner import enforce_remove_original
    from privtune.train.settings import build_plan

    raw = project.root / "raw_in"
    raw.mkdir()
    (raw / "a.jsonl").write_text('{"text": "original a"}\n')
    (raw / "b.jsonl").write_text('{"text": "original b"}\n')
    keyring = project.keyring()
    sealed_dir = project.root / "data" / "raw"
    sealed_dir.mkdir(parents=True)
    seal_bytes(b"something else\n", sealed_dir / "b.jsonl.sealed", keyring)  # a wrong copy
    cfg_path = project.config(**PROTECTED)
    cfg = load_config(cfg_path)
    cfg.data.raw = ["raw_in/*.jsonl"]
    cfg.data.remove_original = True
    plan = build_plan(cfg, cfg_path)
    from privtune.seal import SealError

    with pytest.raises(SealError):
        enforce_remove_original(plan, keyring)
    assert not (raw / "a.jsonl").exists()  # sealed, read back, verified, shredded
    assert (raw / "b.jsonl").exists()  # kept: its sealed copy holds other data
    (sealed_dir / "b.jsonl.sealed").unlink()
    removed = enforce_remove_original(plan, keyring)
    assert [Path(p).name for p in removed] == ["b.jsonl"]
    assert not list(raw.iterdir())
    from privtune.seal import read_sealed

    assert read_sealed(sealed_dir / "a.jsonl.sealed", keyring) == b'{"text": "original a"}\n'


def test_torchrun_ranks_run_the_same_hooks(project, tmp_path: Path):
    """train.nproc_per_node: 2 -> privtune's own torchrun entry (gloo on CPU): every rank
    loads sealed data in memory and hides samples; rank 0 seals checkpoints of both ranks."""
    env = project.env(tmp_path / "env")
    cfg = project.config(
        **PROTECTED, nproc_per_node=2, lf={"max_steps": 2, "ddp_backend": "gloo", "use_cpu": True}
    )
    r = privtune_train(project, cfg, env)
    out = project.root / "out"
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["status"] == "completed" and summary["checkpoints"] == ["checkpoint-2.sealed"]
    assert r.stdout.count(b"world size: 2") == 2
    from privtune.train import artifacts

    manifest = artifacts.read_manifest(
        out / "checkpoints" / "checkpoint-2.sealed", project.keyring()
    )
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= set(manifest["files"])
    blobs = {"stdout": r.stdout, "stderr": r.stderr, **files_under(project.root, tmp_path)}
    assert scan_for(project.secrets, blobs) == {}


def test_a_failing_run_reports_one_redacted_line(project, tmp_path):
    """An error inside LLaMA-Factory: redacted traceback, one error line, staging wiped."""
    env = project.env(tmp_path / "env")
    before = shm_runs()
    cfg = project.config(**PROTECTED, lf={"template": "no-such-template"})
    out = subprocess.run(
        [sys.executable, "-m", "privtune.cli.main", "train", str(cfg)],
        cwd=project.root,
        env=env,
        capture_output=True,
        timeout=600,
    )
    assert out.returncode == 1
    assert b"error: training failed" in out.stderr and b"no-such-template" in out.stderr
    assert shm_runs() - before == set()
    assert scan_for(project.secrets, {"stdout": out.stdout, "stderr": out.stderr}) == {}
