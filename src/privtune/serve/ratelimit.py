"""Per-key rate limits shared by every worker process of one gateway.

Why: with ``serve.workers: N`` each uvicorn worker builds its own gateway, so an in-process
token bucket would give a key N times its limit. The parent process creates a small
fixed-size table file (:func:`create_table`) before the workers start and names it in the
environment; each worker maps it (:class:`SharedRateLimiter`) and updates its key's slot under
an exclusive ``flock``, so no update is lost and all workers draw from one bucket per key.

Layout: a 16-byte header (magic, slot count, probe window) and fixed 40-byte slots
``(key: 16 bytes, tokens, last, rate: doubles)``. A key's slot is found by ``crc32`` and
linear probing over at most ``window`` slots; the stored key detects collisions. A slot whose
bucket has refilled to its cap is indistinguishable from an absent one, so when a key's
window is full such a slot is reused; if none is, the table is full for that key and the
request fails closed (refused with a short wait, and a warning in the log). Times come from
``time.monotonic()`` (CLOCK_MONOTONIC, one clock for every process on Linux), read after the
lock is held so that elapsed time between updates is never negative.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import mmap
import os
import struct
import threading
import time
import weakref
import zlib
from pathlib import Path
from typing import Protocol

from privtune.errors import PrivtuneError
from privtune.fsutil import atomic_write_bytes

log = logging.getLogger(__name__)

ENV_TABLE = "PRIVTUNE_SERVE_RATE_TABLE"
MAGIC = b"PTRL0001"
DEFAULT_SLOTS = 4096
DEFAULT_WINDOW = 32
FULL_WAIT_S = 1.0  # the wait a request is told when the table has no slot for its key
_HEADER = struct.Struct("<8sII")
_SLOT = struct.Struct("<16sddd")
_KEY = struct.Struct("<16s")
_STATE = struct.Struct("<ddd")  # tokens, last, rate: a slot after its key
_EMPTY = bytes(16)


class RateTableError(PrivtuneError):
    """The shared rate-limit table is missing or not one this code wrote."""


class Limiter(Protocol):
    def take(self, key_id: str, rpm: int, now: float | None = None) -> float: ...


def table_path(work_dir: str | Path) -> Path:
    """Where ``serve`` keeps the table of a gateway in ``work_dir``."""
    return Path(work_dir) / ".privtune" / "serve-ratelimit.bin"


def create_table(path: str | Path, slots: int = DEFAULT_SLOTS,
                 window: int = DEFAULT_WINDOW) -> Path:
    """Write an empty table (atomically: a worker never maps a half-written file; a gateway
    still running on an older table keeps its own inode)."""
    if slots < 1 or not 1 <= window <= slots:
        raise ValueError("need slots >= 1 and 1 <= window <= slots")
    data = _HEADER.pack(MAGIC, slots, window) + bytes(_SLOT.size * slots)
    atomic_write_bytes(path, data, perms=0o600)
    return Path(path)


def _key_bytes(key_id: str) -> bytes:
    """16 bytes that are never all zero (all zero marks an empty slot)."""
    raw = key_id.encode()
    if len(raw) <= 15:
        return (b"\x01" + raw).ljust(16, b"\0")
    return b"\x02" + hashlib.blake2b(raw, digest_size=15).digest()


class SharedRateLimiter:
    """:class:`privtune.serve.apikeys.RateLimiter`'s token bucket (``rpm`` per minute, bursts
    up to ten seconds' worth), kept in a table file that several processes map. Each process
    opens its own (a forked child reopens it), since ``flock`` excludes open files, not
    processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._open(str(self.path))
        self._thread_lock = threading.Lock()  # flock does not exclude threads sharing one fd
        self._where: dict[str, tuple[bytes, int]] = {}  # key id -> (key bytes, offset)
        self._warned = 0.0
        ref = weakref.WeakMethod(self._after_fork)
        os.register_at_fork(after_in_child=lambda: (m := ref()) is not None and m())

    def _after_fork(self) -> None:
        """A forked child gets its own open file (of the same inode, even if the path was
        replaced since) and a fresh thread lock (the parent's may have been held)."""
        old = self._fd
        self._thread_lock = threading.Lock()
        self._open(f"/proc/self/fd/{old}" if os.path.exists("/proc/self/fd") else str(self.path))
        os.close(old)

    def _open(self, path: str) -> None:
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            raise RateTableError(f"cannot open the rate-limit table {self.path}: {e}") from e
        try:
            size = os.fstat(self._fd).st_size
            if size < _HEADER.size:
                raise RateTableError(f"{self.path} is not a rate-limit table")
            self._map = mmap.mmap(self._fd, size)
            magic, self.slots, self.window = _HEADER.unpack_from(self._map, 0)
            if magic != MAGIC or size != _HEADER.size + _SLOT.size * self.slots:
                self._map.close()
                raise RateTableError(f"{self.path} is not a rate-limit table")
        except BaseException:
            os.close(self._fd)
            raise

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)

    def _find(self, key_id: str, now: float) -> int | None:
        """The slot offset of ``key_id`` (claimed if new), or None when its window is full.
        Called with the lock held."""
        m = self._map
        hit = self._where.get(key_id)
        if hit is not None and _KEY.unpack_from(m, hit[1])[0] == hit[0]:
            return hit[1]  # still ours (another worker may have reclaimed it meanwhile)
        kb = hit[0] if hit is not None else _key_bytes(key_id)
        start = zlib.crc32(kb) % self.slots
        reusable = None
        for i in range(self.window):
            off = _HEADER.size + _SLOT.size * ((start + i) % self.slots)
            k, tokens, last, rate = _SLOT.unpack_from(m, off)
            if k == kb:
                break
            if k == _EMPTY:  # the key is not further along: claim it
                _SLOT.pack_into(m, off, kb, -1.0, 0.0, 0.0)
                break
            if reusable is None and tokens + (now - last) * rate >= max(1.0, rate * 10):
                reusable = off  # refilled to its cap: the same as absent
        else:
            if reusable is None:
                return None
            off = reusable
            _SLOT.pack_into(m, off, kb, -1.0, 0.0, 0.0)
        self._where[key_id] = (kb, off)
        return off

    def take(self, key_id: str, rpm: int, now: float | None = None) -> float:
        """0 when allowed, else the seconds to wait."""
        rate = rpm / 60.0
        cap = max(1.0, rate * 10)
        with self._thread_lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                t = time.monotonic() if now is None else now
                off = self._find(key_id, t)
                if off is None:
                    return self._full(t)
                _, tokens, last, _ = _SLOT.unpack_from(self._map, off)
                if tokens < 0:  # a fresh slot: a full bucket
                    tokens, last = cap, t
                tokens = min(cap, tokens + max(0.0, t - last) * rate)
                allowed = tokens >= 1.0
                if allowed:
                    tokens -= 1.0
                _STATE.pack_into(self._map, off + _KEY.size, tokens, t, rate)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        return 0.0 if allowed else (1.0 - tokens) / rate

    def _full(self, now: float) -> float:
        """Fail closed when the table has no slot for a key, and say so (once a minute)."""
        if not self._warned or now - self._warned > 60:
            self._warned = now
            log.warning("rate-limit table %s has no free slot for a key; refusing its "
                        "requests (more than %d keys active in one probe window)", self.path,
                        self.window)
        return FULL_WAIT_S
