"""Invariant 4: kill -9 in the middle of sealing leaves no sealed file that verifies, the
original intact, and a rerun completes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from privtune.config import KeysConfig
from privtune.seal import Keyring, SealError, read_sealed, seal_bytes, seal_file, verify_sealed

SCRIPT = """
import sys, time
from privtune.config import KeysConfig
from privtune.seal import Keyring, seal_file
kr = Keyring.from_config(KeysConfig(keyring_dir=sys.argv[1]))
pause_at = int(sys.argv[4])
seen = 0
def progress(n):
    global seen
    seen += 1
    if seen == pause_at:
        print("mid", flush=True)
        time.sleep(120)
seal_file(sys.argv[2], sys.argv[3], kr, chunk_size=1 << 20, progress=progress)
print("done", flush=True)
"""


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _start(keyring: Keyring, src: Path, dst: Path, pause_at: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(keyring.directory), str(src),
                             str(dst), str(pause_at)], stdout=subprocess.PIPE, text=True)


@pytest.fixture
def big(tmp_path: Path) -> Path:
    src = tmp_path / "raw" / "export.jsonl"
    src.parent.mkdir()
    with open(src, "wb") as fh:
        for _ in range(16):
            fh.write(os.urandom(1 << 20))
    return src


@pytest.mark.parametrize("preexisting", [False, True])
def test_sigkill_mid_seal(tmp_path, keyring, big, preexisting):
    dst = tmp_path / "sealed" / "export.jsonl.sealed"
    if preexisting:  # an older sealed copy must survive a killed re-seal untouched
        seal_bytes(b"previous version", dst, keyring)
    digest = _sha(big)
    proc = _start(keyring, big, dst, pause_at=10)
    assert proc.stdout.readline().strip() == "mid"
    temps = list(dst.parent.glob(".*.tmp"))
    assert len(temps) == 1 and temps[0].stat().st_size > 5 << 20  # really mid-write
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    assert _sha(big) == digest  # original intact
    if preexisting:
        assert read_sealed(dst, keyring) == b"previous version"
    else:
        assert not dst.exists()
    for leftover in dst.parent.iterdir():  # no file there that verifies as the new seal
        if leftover.name != dst.name:
            with pytest.raises(SealError):
                verify_sealed(leftover, keyring)

    seal_file(big, dst, keyring)  # the rerun completes and cleans the dead run's temp file
    assert verify_sealed(dst, keyring).sha256 == digest
    assert [p.name for p in dst.parent.iterdir()] == [dst.name]


@pytest.mark.parametrize("delay", [0.0, 0.3, 0.8])
def test_sigkill_at_any_moment(tmp_path, keyring, big, delay):
    """Without a pause hook: whenever the kill lands, dst is either absent or complete."""
    dst = tmp_path / "sealed" / "export.jsonl.sealed"
    digest = _sha(big)
    proc = _start(keyring, big, dst, pause_at=0)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert _sha(big) == digest
    if dst.exists():
        assert verify_sealed(dst, keyring).sha256 == digest
    seal_file(big, dst, keyring)
    assert verify_sealed(dst, keyring).sha256 == digest
    assert [p.name for p in dst.parent.iterdir()] == [dst.name]


def test_killed_remove_original_keeps_original(tmp_path, keyring):
    """Kill during the verification that precedes removal: the original stays."""
    src = tmp_path / "a.bin"
    src.write_bytes(os.urandom(3 << 20))
    digest = _sha(src)
    script = SCRIPT.replace("seal_file(sys.argv[2], sys.argv[3], kr, chunk_size=1 << 20, "
                            "progress=progress)",
                            "import privtune.seal.stream as s\n"
                            "real = s.verify_sealed\n"
                            "def slow(*a, **k):\n"
                            "    print('mid', flush=True); time.sleep(120)\n"
                            "s.verify_sealed = slow\n"
                            "seal_file(sys.argv[2], sys.argv[3], kr, remove_original=True)")
    proc = subprocess.Popen([sys.executable, "-c", script, str(keyring.directory), str(src),
                             str(tmp_path / "a.bin.sealed"), "0"], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "mid"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert _sha(src) == digest
    kr = Keyring.from_config(KeysConfig(keyring_dir=str(keyring.directory)))
    assert verify_sealed(tmp_path / "a.bin.sealed", kr).sha256 == digest
