"""``--engine ray``: the same per-record transformation on Ray Data.

* Reading: a :class:`Datasource` with one read task per input file; each task runs privtune's
  own streaming reader (``iter_records``) where it is scheduled, so on a cluster the inputs
  must sit on storage every node can read (NFS, a mounted bucket) at the same path.
* Transforming: ``map_batches`` with an actor class that builds one
  :class:`~privtune.datasets.transform.RecordTransform` (scanner, keys) per actor and maps
  batches of records to outcomes.
* Writing: the driver consumes the outcomes in input order (``preserve_order``) and writes the
  same files as the local engine, so both engines give byte-identical output.

The keys travel to the actors inside the task spec (Ray's object store, in memory); they are
never logged. ``RAY_ADDRESS`` (or ``ray_address``) connects to an existing cluster; otherwise a
local Ray instance is started with ``num_cpus`` CPUs and no dashboard.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import orjson

from privtune.datasets.engine import Item, outcome_from_json, outcome_to_json
from privtune.datasets.transform import RecordTransform, TransformSpec

BLOCK_ROWS = 1024


def ensure_ray(num_cpus: int | None = None, address: str | None = None) -> None:
    """Connect to ``address``/``RAY_ADDRESS``, or start a small local instance once."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address:
        ray.init(address=address, **kwargs)
        return
    system: dict = {}
    if Path("/dev/shm").is_dir():  # records spilled from the object store stay off disk
        spill = {"type": "filesystem", "params": {"directory_path": "/dev/shm/privtune-ray"}}
        system["object_spilling_config"] = json.dumps(spill)
    ray.init(num_cpus=num_cpus or os.cpu_count() or 1, _system_config=system, **kwargs)


def _read_file(path: str, text_field: str | None):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    from privtune.datasets.readers import iter_records

    cols: dict[str, list] = {"source": [], "line": [], "data": [], "error": []}

    def block():  # type: ignore[no-untyped-def]
        return pa.table(
            {
                "source": pa.array(cols["source"], pa.string()),
                "line": pa.array(cols["line"], pa.int64()),
                "data": pa.array(cols["data"], pa.binary()),
                "error": pa.array(cols["error"], pa.string()),
            }
        )

    for rec in iter_records(path, text_field=text_field):
        cols["source"].append(str(rec.source))
        cols["line"].append(rec.line)
        cols["data"].append(orjson.dumps(rec.data) if rec.data is not None else None)
        cols["error"].append(rec.error)
        if len(cols["line"]) >= BLOCK_ROWS:
            yield block()
            for v in cols.values():
                v.clear()
    if cols["line"]:
        yield block()


def _datasource(files: list[Path], text_field: str | None):  # type: ignore[no-untyped-def]
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class FilesDatasource(Datasource):
        def estimate_inmemory_data_size(self) -> int | None:
            return sum(p.stat().st_size for p in files)

        def get_read_tasks(
            self,
            parallelism,
            per_task_row_limit=None,  # type: ignore[no-untyped-def]
            data_context=None,
        ):
            tasks = []
            for p in files:
                meta = BlockMetadata(
                    num_rows=None,
                    size_bytes=p.stat().st_size,
                    exec_stats=None,
                    input_files=(str(p),),
                )
                tasks.append(ReadTask(lambda p=str(p): _read_file(p, text_field), meta))
            return tasks

    return FilesDatasource()


class _SanitizeActor:
    """One per Ray worker: builds the scanner once, then maps batches."""

    def __init__(self, spec: TransformSpec) -> None:
        self.transform = RecordTransform(spec)

    def __call__(self, batch):  # type: ignore[no-untyped-def]
        import pyarrow as pa

        outcomes, raws = [], []
        for data, error in zip(batch["data"].to_pylist(), batch["error"].to_pylist(), strict=True):
            if error is not None:
                outcomes.append(None)
                raws.append(None)
                continue
            out = self.transform(orjson.loads(data))
            outcomes.append(outcome_to_json(out))
            raws.append(data if out.status == "error" else None)
        return pa.table(
            {
                "source": batch["source"],
                "line": batch["line"],
                "error": batch["error"],
                "raw": pa.array(raws, pa.binary()),
                "outcome": pa.array(outcomes, pa.binary()),
            }
        )


def run_ray(
    spec: TransformSpec,
    files: list[Path],
    *,
    num_cpus: int | None = None,
    address: str | None = None,
    batch_size: int = 256,
) -> Iterator[Item]:
    import ray.data

    ensure_ray(num_cpus, address)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    ds = ray.data.read_datasource(_datasource(files, spec.text_field))
    ds = ds.map_batches(
        _SanitizeActor,
        fn_constructor_kwargs={"spec": spec},
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers),
        num_cpus=1,
        zero_copy_batch=True,
    )
    for batch in ds.iter_batches(batch_size=batch_size, batch_format="pyarrow"):
        for source, line, error, raw, outcome in zip(
            *(batch[c].to_pylist() for c in ("source", "line", "error", "raw", "outcome")),
            strict=True,
        ):
            yield Item(
                source,
                line,
                error,
                orjson.loads(raw) if raw is not None else None,
                outcome_from_json(outcome) if outcome is not None else None,
            )
