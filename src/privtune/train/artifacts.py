"""Sealed directories (checkpoints, the final adapter or model) and secure removal.

A sealed directory ``NAME.sealed/`` holds one ``REL.sealed`` file per plaintext file ``REL``
plus ``MANIFEST.json.sealed`` (sizes and SHA-256 of every plaintext file), so a missing,
swapped or truncated member is detected on restore. It is written under a temporary name and
renamed into place: a killed run never leaves a sealed directory that looks complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from privtune.errors import PrivtuneError
from privtune.fsutil import fsync_dir
from privtune.fsutil import sha256_file as _sha256

MANIFEST = "MANIFEST.json"
SEALED = ".sealed"
#: Files that are pickles (arbitrary code on load) and that privtune never needs.
PICKLE_ONLY = frozenset({"training_args.bin"})
#: Weight files that are pickles; safe_checkpoint refuses them.
PICKLE_WEIGHTS_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
#: Files transformers needs to resume (optimizer, scheduler, scaler, per-rank RNG state; it
#: loads them with torch.load(weights_only=True)) and DeepSpeed's engine state in
#: ``global_stepN/``: allowed, and sealed like the rest of the checkpoint.
RESUME_STATE = re.compile(r"^(optimizer|scheduler|scaler)\.pt$|^rng_state(_\d+)?\.pth$")
DEEPSPEED_STATE = re.compile(r"^global_step\d+$")


class ArtifactError(PrivtuneError):
    """A checkpoint or sealed directory is unsafe, incomplete or tampered with."""


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())




def remove_tree(path: Path, *, secure: bool) -> None:
    """Remove a directory; ``secure``: shred every file first (plaintext on a real disk)."""
    if not path.exists():
        return
    if secure:
        from privtune.seal import shred

        for f in _files(path):
            shred(f)
    shutil.rmtree(path, ignore_errors=False)


def remove_file(path: Path, *, secure: bool) -> None:
    """Remove one file; ``secure``: shred it (plaintext on a real disk)."""
    if not path.exists():
        return
    if secure:
        from privtune.seal import shred

        shred(path)
    else:
        path.unlink()


def strip_unsafe(directory: Path, *, safe: bool) -> list[str]:
    """Remove pickled training args; with ``safe`` refuse pickled weights. Returns removed."""
    files = _files(directory)
    if safe:
        for f in files:
            if (
                f.name.endswith(PICKLE_WEIGHTS_SUFFIXES)
                and not RESUME_STATE.match(f.name)
                and f.name not in PICKLE_ONLY
                and not DEEPSPEED_STATE.match(f.relative_to(directory).parts[0])
            ):
                raise ArtifactError(
                    f"{f.name} is a pickled weight file; safe_checkpoint allows safetensors "
                    "only (leave `save_safetensors` on)"
                )
    removed = []
    for f in files:
        if f.name in PICKLE_ONLY:
            f.unlink()
            removed.append(f.name)
    return removed


def seal_dir(src: Path, dst: Path, keyring: Any) -> dict[str, Any]:
    """Seal every file of ``src`` into ``dst`` (atomically); return the manifest."""
    from privtune.seal import seal_bytes, seal_file

    if dst.exists():
        raise ArtifactError(f"{dst} already exists")
    tmp = dst.with_name(f".{dst.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    manifest: dict[str, Any] = {"files": {}}
    try:
        for f in _files(src):
            rel = f.relative_to(src).as_posix()
            manifest["files"][rel] = {"size": f.stat().st_size, "sha256": _sha256(f)}
            out = tmp / (rel + SEALED)
            out.parent.mkdir(parents=True, exist_ok=True)
            seal_file(f, out, keyring)
        seal_bytes(
            json.dumps(manifest, sort_keys=True).encode(), tmp / (MANIFEST + SEALED), keyring
        )
        fsync_dir(tmp)
        os.replace(tmp, dst)
        fsync_dir(dst.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def read_manifest(sealed: Path, keyring: Any) -> dict[str, Any]:
    from privtune.seal import read_sealed

    path = sealed / (MANIFEST + SEALED)
    if not path.is_file():
        raise ArtifactError(f"{sealed} has no {MANIFEST}{SEALED}: incomplete or not sealed")
    return json.loads(read_sealed(path, keyring))


def open_dir(sealed: Path, dest: Path, keyring: Any) -> Path:
    """Decrypt a sealed directory into ``dest`` (put it on tmpfs); check it against the manifest."""
    from privtune.seal import open_sealed

    manifest = read_manifest(sealed, keyring)
    present = {
        p.relative_to(sealed).as_posix()[: -len(SEALED)]
        for p in sealed.rglob("*" + SEALED)
        if p.is_file()
    }
    present.discard(MANIFEST)
    expected = set(manifest["files"])
    if present != expected:
        missing, extra = sorted(expected - present), sorted(present - expected)
        raise ArtifactError(
            f"{sealed} does not match its manifest (missing {missing}, unexpected {extra})"
        )
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o700)
    for rel, meta in sorted(manifest["files"].items()):
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        with open_sealed(sealed / (rel + SEALED), keyring) as src, out.open("wb") as fh:
            for block in iter(lambda src=src: src.read(1 << 20), b""):
                h.update(block)
                fh.write(block)
        if h.hexdigest() != meta["sha256"]:
            with contextlib.suppress(FileNotFoundError):
                out.unlink()
            raise ArtifactError(f"{sealed / (rel + SEALED)} does not match its manifest")
    return dest


def step_of(path: Path) -> int:
    """The step of ``checkpoint-N`` or ``checkpoint-N.sealed``; -1 if not a checkpoint."""
    name = path.name.removesuffix(SEALED)
    head, _, num = name.rpartition("-")
    return int(num) if head == "checkpoint" and num.isdigit() else -1


def list_checkpoints(directory: Path) -> list[Path]:
    """Complete checkpoints (sealed or plain) in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = [
        p
        for p in directory.iterdir()
        if p.is_dir() and not p.name.startswith(".") and step_of(p) >= 0
    ]
    return sorted(found, key=step_of)
