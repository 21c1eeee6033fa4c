"""Writers for sanitize outputs.

* :class:`JsonArrayWriter` streams records into a JSON array (``train.json``), one record per
  line, so memory stays bounded; LLaMA-Factory (``datasets``' json builder) loads it as is.
* :class:`SealedBuffer` collects small derived files (inventory, quarantine, canaries) in
  memory and seals them straight to disk: their plaintext never rests on disk.
* :class:`StagingDir` puts every output of one run in a hidden folder next to its final place
  and moves them into place only when the whole run has succeeded; a failed run removes it.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import orjson

from privtune.fsutil import fsync_dir
from privtune.fsutil import pid_alive as _alive

STAGING_PREFIX = ".sanitize-"


class JsonArrayWriter:
    """A JSON array written record by record (each record on its own line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.bytes = 0
        self._fh: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        os.fchmod(self._fh.fileno(), 0o644)
        self._fh.write(b"[")

    def write_line(self, line: bytes) -> None:
        self._fh.write(b"\n" if self.count == 0 else b",\n")
        self._fh.write(line)
        self.count += 1
        self.bytes += len(line)

    def write(self, record: dict) -> None:
        self.write_line(orjson.dumps(record))

    def close(self) -> None:
        if self._fh.closed:
            return
        self._fh.write(b"\n]\n" if self.count else b"]\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._fh.close()


class SealedBuffer:
    """JSON lines in memory, sealed with the keyring on :meth:`seal_to`."""

    def __init__(self) -> None:
        self._buf = io.BytesIO()
        self.count = 0

    def write(self, obj: object) -> None:
        self._buf.write(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS) + b"\n")
        self.count += 1

    def getvalue(self) -> bytes:
        return self._buf.getvalue()

    def seal_to(self, dst: Path, keyring) -> Path:  # type: ignore[no-untyped-def]
        from privtune.seal import seal_bytes

        return Path(seal_bytes(self.getvalue(), dst, keyring))


class StagingDir:
    """All outputs of one run, moved into ``final`` together by :meth:`commit`."""

    def __init__(self, final: Path) -> None:
        self.final = final
        final.mkdir(parents=True, exist_ok=True)
        self.clean_stale(final)
        self.path = final / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        self.path.mkdir(mode=0o700)

    @staticmethod
    def clean_stale(final: Path) -> None:
        """Remove staging folders left by killed runs (their process is gone)."""
        for p in final.glob(f"{STAGING_PREFIX}*"):
            try:
                pid = int(p.name[len(STAGING_PREFIX) :].split("-", 1)[0])
            except ValueError:
                continue
            if pid == os.getpid() or not _alive(pid):
                shutil.rmtree(p, ignore_errors=True)

    def commit(self, names: list[str], replace: list[str], merge: Sequence[str] = ()) -> None:
        """Move ``names`` from staging into place; ``replace`` lists managed outputs that
        a previous run may have left and that this run did not produce (they are removed,
        so the folder never mixes two runs); ``merge`` lists folders whose entries are moved
        in one by one, keeping the other entries already there (``raw/``: sealed originals
        of earlier runs may be the only copy left)."""
        old = self.path / ".old"
        old.mkdir()
        names = list(names)
        for folder in merge:
            (self.final / folder).mkdir(exist_ok=True)
            (old / folder).mkdir()
            names += [f"{folder}/{e.name}" for e in sorted((self.path / folder).iterdir())]
        moved: list[tuple[Path, Path | None]] = []
        try:
            for name in sorted(set(names) | set(replace)):
                target = self.final / name
                aside = None
                if target.exists() or target.is_symlink():
                    aside = old / name
                    os.replace(target, aside)
                moved.append((target, aside))
                if name in names:
                    os.replace(self.path / name, target)
        except BaseException:
            for target, aside in reversed(moved):  # roll back what was moved
                with contextlib.suppress(OSError):
                    if target.is_dir() and not target.is_symlink():
                        shutil.rmtree(target)
                    elif target.exists():
                        target.unlink()
                    if aside is not None:
                        os.replace(aside, target)
            raise
        fsync_dir(self.final)
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


