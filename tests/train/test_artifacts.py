"""Sealed directories, pickle stripping, retention with secure removal."""

from __future__ import annotations

import os
import types
from pathlib import Path

import pytest

from privtune.train import artifacts
from privtune.train.artifacts import ArtifactError


@pytest.fixture
def keyring(tmp_path):
    from privtune.seal import Keyring

    return Keyring.ephemeral(tmp_path / "keys")


def make_ckpt(path: Path, step: int) -> Path:
    d = path / f"checkpoint-{step}"
    (d / "sub").mkdir(parents=True)
    (d / "adapter_model.safetensors").write_bytes(b"W" * 1000 + bytes([step]))
    (d / "optimizer.pt").write_bytes(b"O" * 10)
    (d / "training_args.bin").write_bytes(b"\x80\x04pickle")
    (d / "sub" / "x.json").write_text("{}")
    return d


def test_seal_and_open_round_trip(tmp_path, keyring):
    src = make_ckpt(tmp_path / "staging", 2)
    artifacts.strip_unsafe(src, safe=True)
    assert not (src / "training_args.bin").exists()
    sealed = tmp_path / "out" / "checkpoint-2.sealed"
    manifest = artifacts.seal_dir(src, sealed, keyring)
    assert set(manifest["files"]) == {"adapter_model.safetensors", "optimizer.pt", "sub/x.json"}
    assert all(p.name.endswith(".sealed") for p in sealed.rglob("*") if p.is_file())
    assert b"WWWW" not in b"".join(p.read_bytes() for p in sealed.rglob("*") if p.is_file())
    back = artifacts.open_dir(sealed, tmp_path / "back", keyring)
    assert (back / "adapter_model.safetensors").read_bytes() == (
        src / "adapter_model.safetensors"
    ).read_bytes()
    assert not list(sealed.parent.glob(".*.tmp"))


def test_tampering_is_detected(tmp_path, keyring):
    src = make_ckpt(tmp_path / "staging", 2)
    sealed = tmp_path / "checkpoint-2.sealed"
    artifacts.seal_dir(src, sealed, keyring)
    (sealed / "optimizer.pt.sealed").unlink()
    with pytest.raises(ArtifactError, match="manifest"):
        artifacts.open_dir(sealed, tmp_path / "back", keyring)
    other = make_ckpt(tmp_path / "other", 4)
    sealed4 = tmp_path / "checkpoint-4.sealed"
    artifacts.seal_dir(other, sealed4, keyring)
    # swap in a member of another checkpoint: each file authenticates, the manifest does not
    (sealed / "optimizer.pt.sealed").write_bytes((sealed4 / "optimizer.pt.sealed").read_bytes())
    (sealed / "adapter_model.safetensors.sealed").write_bytes(
        (sealed4 / "adapter_model.safetensors.sealed").read_bytes()
    )
    with pytest.raises(ArtifactError, match="does not match"):
        artifacts.open_dir(sealed, tmp_path / "back2", keyring)


def test_pickled_weights_are_refused(tmp_path):
    d = make_ckpt(tmp_path, 2)
    (d / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ArtifactError, match="safetensors only"):
        artifacts.strip_unsafe(d, safe=True)
    assert (d / "training_args.bin").exists()  # a refused checkpoint is left untouched
    assert artifacts.strip_unsafe(d, safe=False) == ["training_args.bin"]


def test_guard_seals_rotates_and_shreds(tmp_path, keyring, monkeypatch):
    from privtune.train.hooks import CheckpointGuard

    shredded = []
    import privtune.seal

    real_shred = privtune.seal.shred
    monkeypatch.setattr(
        privtune.seal, "shred", lambda p: (shredded.append(Path(p).name), real_shred(p))
    )
    staging, out = tmp_path / "staging", tmp_path / "out"
    guard = CheckpointGuard(
        out_dir=out, keyring=keyring, encrypt=True, safe=True, keep=2, staging_is_tmpfs=True
    )
    args = types.SimpleNamespace(output_dir=str(staging))
    for step in (2, 4, 6):
        make_ckpt(staging, step)
        state = types.SimpleNamespace(global_step=step, is_world_process_zero=True)
        guard.on_save(args, state, None)
        assert not (staging / f"checkpoint-{step}").exists()  # plaintext gone at once
    names = [p.name for p in artifacts.list_checkpoints(out / "checkpoints")]
    assert names == ["checkpoint-4.sealed", "checkpoint-6.sealed"]
    assert "adapter_model.safetensors.sealed" in shredded  # checkpoint-2 removed securely


def test_plain_checkpoints_when_encryption_is_off(tmp_path, keyring):
    from privtune.train.hooks import CheckpointGuard

    staging, out = tmp_path / "staging", tmp_path / "out"
    guard = CheckpointGuard(
        out_dir=out, keyring=None, encrypt=False, safe=True, keep=1, staging_is_tmpfs=False
    )
    args = types.SimpleNamespace(output_dir=str(staging))
    for step in (2, 4):
        make_ckpt(staging, step)
        guard.on_save(
            args, types.SimpleNamespace(global_step=step, is_world_process_zero=True), None
        )
    kept = out / "checkpoints" / "checkpoint-4"
    assert [p.name for p in artifacts.list_checkpoints(out / "checkpoints")] == [kept.name]
    assert (kept / "adapter_model.safetensors").exists()
    assert not (kept / "training_args.bin").exists()


def test_graceful_stop_requests_a_save():
    import signal

    from privtune.train.hooks import GracefulStop

    stop = GracefulStop()
    undo = stop.install()
    try:
        signal.raise_signal(signal.SIGTERM)
    finally:
        undo()
    control = types.SimpleNamespace(should_save=False, should_training_stop=False)
    stop.on_step_end(None, None, control)
    assert control.should_save and control.should_training_stop


def test_a_second_sigterm_stops_at_once():
    import signal

    from privtune.train.hooks import GracefulStop

    stop = GracefulStop()
    undo = stop.install()
    try:
        signal.raise_signal(signal.SIGTERM)  # first: graceful
        with pytest.raises(SystemExit) as exc:
            signal.raise_signal(signal.SIGTERM)  # second: now, through finally blocks
    finally:
        undo()
    assert exc.value.code == 128 + signal.SIGTERM


def test_staging_of_a_killed_run_is_wiped(tmp_path):
    import subprocess
    import sys

    from privtune.train.runner import OWNER, clean_stale_staging

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    stale, live, foreign = (tmp_path / f"privtune-train-{n}" for n in ("a", "b", "c"))
    for d in (stale, live, foreign):
        (d / "out").mkdir(parents=True)
        (d / "out" / "adapter_model.safetensors").write_bytes(b"plaintext")
    (stale / OWNER).write_text(dead)
    (live / OWNER).write_text(str(os.getpid()))
    assert clean_stale_staging(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and foreign.exists()


def test_final_sealed_or_released(tmp_path, keyring):
    from privtune.train import open_final
    from privtune.train.runner import _publish_final

    for release in (False, True):
        src = make_ckpt(tmp_path / f"staging-{release}", 9)
        out = tmp_path / f"out-{release}"
        out.mkdir()
        info = _publish_final(src, out, keyring, release, encrypt=True, safe=True)
        assert info["sealed"] is (not release)
        assert "training_args.bin" not in info["sha256"]
        files = [p.name for p in (out / "final").rglob("*") if p.is_file()]
        assert all(n.endswith(".sealed") for n in files) is (not release)
        folder = open_final(out, keyring, tmp_path / f"open-{release}")
        assert (folder / "adapter_model.safetensors").read_bytes().startswith(b"WWW")
