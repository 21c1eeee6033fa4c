"""Engines that map records to :class:`~privtune.datasets.transform.Outcome` in input order:
in-process, a process pool (``--workers N``), or Ray Data (:mod:`.ray_engine`).

Each engine yields :class:`Item` objects, one per input record, in input order, with memory
bounded by a few batches in flight whatever the input size.
"""

from __future__ import annotations

import collections
import multiprocessing
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson

from privtune.datasets.transform import Outcome, RecordTransform, TransformSpec

BATCH_SIZE = 256


@dataclass(slots=True)
class Item:
    source: str
    line: int
    read_error: str | None  # the reader could not produce a record
    raw: dict | None  # the input record (kept only for quarantine)
    outcome: Outcome | None  # None when read_error


def iter_raw_records(
    files: Iterable[Path], text_field: str | None = None
) -> Iterator[tuple[str, int, dict | None, str | None]]:
    from privtune.datasets.readers import iter_records

    for path in files:
        for rec in iter_records(path, text_field=text_field):
            yield str(rec.source), rec.line, rec.data, rec.error


def _batches(it: Iterator, n: int) -> Iterator[list]:
    batch = []
    for x in it:
        batch.append(x)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _items(batch: list, outcomes: list[Outcome | None]) -> Iterator[Item]:
    for (source, line, data, error), out in zip(batch, outcomes, strict=True):
        keep = data if out is not None and out.status == "error" else None
        yield Item(source, line, error, keep, out)


def run_local(spec: TransformSpec, files: list[Path], *, scanner=None) -> Iterator[Item]:  # type: ignore[no-untyped-def]
    transform = RecordTransform(spec, scanner)
    for source, line, data, error in iter_raw_records(files, spec.text_field):
        out = transform(data) if error is None else None
        yield Item(
            source, line, error, data if out is not None and out.status == "error" else None, out
        )


# --- process pool ----------------------------------------------------------------------------
_WORKER: RecordTransform | None = None


def _init_worker(spec: TransformSpec) -> None:
    global _WORKER
    _WORKER = RecordTransform(spec)


def _work(datas: list[dict | None]) -> list[Outcome | None]:
    assert _WORKER is not None
    return [None if d is None else _WORKER(d) for d in datas]


def run_pool(
    spec: TransformSpec, files: list[Path], workers: int, batch_size: int = BATCH_SIZE
) -> Iterator[Item]:
    """``workers`` processes; at most ``2 * workers`` batches in flight (bounded memory)."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    pending: collections.deque[tuple[list, Future]] = collections.deque()
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(spec,)
    ) as pool:
        try:
            for batch in _batches(iter_raw_records(files, spec.text_field), batch_size):
                datas = [d if e is None else None for _, _, d, e in batch]
                pending.append((batch, pool.submit(_work, datas)))
                while len(pending) >= 2 * workers:
                    b, fut = pending.popleft()
                    yield from _items(b, fut.result())
            while pending:
                b, fut = pending.popleft()
                yield from _items(b, fut.result())
        finally:
            for _, fut in pending:
                fut.cancel()


# --- outcome (de)serialization for engines whose rows must be Arrow values ------------------
def outcome_to_json(out: Outcome) -> bytes:
    return orjson.dumps(
        [
            out.status,
            out.line.decode() if out.line is not None else None,
            out.valid,
            out.reason,
            out.events,
            out.dropped_fields,
            out.residual,
            out.fakes,
            list(out.columns),
        ]
    )


def outcome_from_json(data: bytes) -> Outcome:
    s, line, valid, reason, events, dropped, residual, fakes, columns = orjson.loads(data)
    return Outcome(
        s,
        line.encode() if line is not None else None,
        valid,
        reason,
        [tuple(e) for e in events],
        dropped,
        [tuple(r) for r in residual],
        fakes,
        tuple(columns),
    )
