"""Best-effort overwrite-and-unlink. Where overwriting cannot reach (SSDs, journals,
copy-on-write filesystems, snapshots, backups) only crypto-shredding is dependable:
see docs/seal-format.md and :func:`privtune.seal.crypto_shred`."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from privtune.errors import InputError, Location
from privtune.fsutil import fsync_dir

_BLOCK = 1 << 20


def shred(path: str | Path, *, passes: int = 1) -> None:
    """Overwrite ``path`` with random bytes, fsync, rename it to a random name, unlink it and
    fsync the directory. Refuses symlinks and non-regular files."""
    path = Path(path)
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise InputError("shred only removes regular files (not links or directories)",
                         Location(path))
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        size = os.fstat(fd).st_size
        block = secrets.token_bytes(min(_BLOCK, max(size, 1)))
        for _ in range(passes):
            off = 0
            while off < size:
                n = os.pwrite(fd, block[: min(len(block), size - off)], off)
                off += n
            os.fsync(fd)
        os.ftruncate(fd, 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    hidden = path.with_name(f".shred-{secrets.token_hex(8)}")
    os.rename(path, hidden)
    os.unlink(hidden)
    fsync_dir(path.parent)
