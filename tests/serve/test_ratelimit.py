"""The shared rate-limit table: the in-process bucket's semantics, no lost updates between
processes, collisions, a full table, and a damaged file."""

from __future__ import annotations

import multiprocessing as mp
import random
import time
import zlib

import pytest

from privtune.serve.apikeys import RateLimiter
from privtune.serve.ratelimit import (
    FULL_WAIT_S,
    RateTableError,
    SharedRateLimiter,
    _key_bytes,
    create_table,
)


def test_same_bucket_semantics_as_the_in_process_limiter(tmp_path):
    shared = SharedRateLimiter(create_table(tmp_path / "t.bin", slots=64, window=64))
    local = RateLimiter()
    rnd = random.Random(7)
    t = 1000.0
    for _ in range(3000):
        t += rnd.random() * 0.4
        n = rnd.randrange(30)
        key, rpm = f"{n:012x}", (6, 60, 600)[n % 3]
        assert shared.take(key, rpm, t) == pytest.approx(local.take(key, rpm, t), abs=1e-9)


def test_burst_then_retry_after(tmp_path):
    lim = SharedRateLimiter(create_table(tmp_path / "t.bin"))
    # rpm 60: one token a second, bursts of ten
    assert [lim.take("k", 60, 5.0) for _ in range(10)] == [0.0] * 10
    assert lim.take("k", 60, 5.0) == pytest.approx(1.0)
    assert lim.take("k", 60, 5.5) == pytest.approx(0.5)
    assert lim.take("k", 60, 6.0) == 0.0


CAP = 100_000  # tokens: rpm / 6 (ten seconds' worth)


def _hammer(lim: str | SharedRateLimiter, go, out) -> None:  # in a child process
    if isinstance(lim, str):
        lim = SharedRateLimiter(lim)
    go.wait()  # both children are up: they hammer the key at the same time
    end = time.monotonic() + 0.4
    allowed = 0
    while time.monotonic() < end:
        for _ in range(100):
            allowed += lim.take("shared-key", CAP * 6, 50.0) == 0.0
    out.put(allowed)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_two_processes_hammering_one_key_lose_no_update(tmp_path, method):
    """A fixed clock, so the bucket never refills: whatever the two processes took plus what
    is left must be exactly its cap. A lost update (read-modify-write without the lock, or
    two processes sharing one open file's lock) hands out more."""
    path = str(create_table(tmp_path / "t.bin"))
    # fork: both children use the parent's limiter, which must not share its lock with them
    target = SharedRateLimiter(path) if method == "fork" else path
    ctx = mp.get_context(method)
    go, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(target, go, out)) for _ in range(2)]
    for p in procs:
        p.start()
    taken = sum(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    lim = SharedRateLimiter(path)
    left = 0
    while lim.take("shared-key", CAP * 6, 50.0) == 0.0:
        left += 1
    assert taken + left == CAP
    assert taken > 0


def _same_home(slots: int, count: int) -> list[str]:
    """``count`` key ids whose probe sequences start at the same slot."""
    by_home: dict[int, list[str]] = {}
    for i in range(100000):
        key = f"{i:012x}"
        home = by_home.setdefault(zlib.crc32(_key_bytes(key)) % slots, [])
        home.append(key)
        if len(home) == count:
            return home
    raise AssertionError("no collision found")


def test_colliding_keys_keep_separate_buckets(tmp_path):
    a, b = _same_home(8, 2)
    lim = SharedRateLimiter(create_table(tmp_path / "t.bin", slots=8, window=8))
    assert lim.take(a, 6, 0.0) == 0.0  # rpm 6: a burst of one
    assert lim.take(a, 6, 0.0) > 0
    assert lim.take(b, 6, 0.0) == 0.0, "b does not share a's bucket"
    assert lim.take(b, 6, 0.0) > 0
    # another process's view (its own open file) sees both buckets spent
    other = SharedRateLimiter(tmp_path / "t.bin")
    assert other.take(a, 6, 1.0) > 0 and other.take(b, 6, 1.0) > 0


def test_full_window_fails_closed_then_reuses_a_refilled_slot(tmp_path):
    a, b, c = _same_home(2, 3)
    lim = SharedRateLimiter(create_table(tmp_path / "t.bin", slots=2, window=2))
    other = SharedRateLimiter(tmp_path / "t.bin")
    assert lim.take(a, 6, 0.0) == 0.0
    assert lim.take(b, 6, 0.0) == 0.0
    assert lim.take(c, 6, 1.0) == FULL_WAIT_S, "no slot: refused, not unlimited"
    # rpm 6 refills a bucket of one in 10 s; a refilled bucket's slot is free to reuse
    assert other.take(c, 6, 10.0) == 0.0
    assert other.take(c, 6, 10.0) > 0
    # lim cached a's slot; whichever slot c took, a is still tracked correctly
    assert lim.take(a, 6, 10.0) == 0.0
    assert lim.take(a, 6, 10.0) > 0
    assert lim.take(c, 6, 10.0) > 0, "c's spent bucket was not lost"


def test_not_a_table(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"x" * 100)
    with pytest.raises(RateTableError):
        SharedRateLimiter(bad)
    with pytest.raises(RateTableError):
        SharedRateLimiter(tmp_path / "missing.bin")
