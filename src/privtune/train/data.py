"""Training data for LLaMA-Factory without a plaintext datasets cache.

LLaMA-Factory loads local files with ``datasets.load_dataset``, which writes the raw records
and every tokenized copy as arrow files in the datasets cache (``disable_caching``, streaming
and ``keep_in_memory`` do not prevent that for local files). privtune instead reads each file
into memory (decrypting ``*.sealed`` files with the keyring) and hands LLaMA-Factory an
in-memory ``datasets.Dataset``; ``Dataset.map`` on an in-memory dataset writes no cache file.

The processed directory's ``dataset_info.json`` is rewritten for the run (in the staging
directory) so that each ``file_name`` names the file that exists: ``train.json`` or its sealed
form ``train.json.sealed``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from privtune.errors import ConfigError, InputError, Location

SEALED_SUFFIX = ".sealed"
_TYPES = {
    "json": "json",
    "jsonl": "json",
    "csv": "csv",
    "parquet": "parquet",
    "txt": "text",
    "arrow": "arrow",
}


def _resolve_file(dataset_dir: Path, file_name: str, where: Location) -> Path:
    path = Path(file_name)
    if not path.is_absolute():
        path = dataset_dir / path
    if path.exists():
        return path
    sealed = path.with_name(path.name + SEALED_SUFFIX)
    if sealed.exists():
        return sealed
    raise ConfigError(f"dataset file {path} not found (nor {sealed.name})", where)


def prepare_dataset_dir(dataset_dir: Path, names: list[str], out_dir: Path) -> Path:
    """Write ``out_dir/dataset_info.json`` with absolute, existing file names; return out_dir.

    ``names`` are the datasets the run uses (``dataset`` and ``eval_dataset``): each must be in
    the processed ``dataset_info.json`` and be a local file, since privtune loads nothing from
    a hub.
    """
    info_path = dataset_dir / "dataset_info.json"
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            "dataset_info.json not found (run `privtune sanitize` first)", Location(info_path)
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", Location(info_path, exc.lineno)) from exc
    if not isinstance(info, dict):
        raise ConfigError("expected a mapping of dataset names", Location(info_path, 1))
    out: dict[str, Any] = {}
    for name in names:
        if name not in info:
            raise ConfigError(
                f"dataset {name!r} is not in dataset_info.json (has: {', '.join(sorted(info))})",
                Location(info_path, field=name),
            )
        attr = dict(info[name])
        if "file_name" not in attr:
            raise ConfigError(
                "privtune trains on local files only: expected `file_name` (hub, script and "
                "cloud datasets would bypass the sealed, in-memory loading)",
                Location(info_path, field=f"{name}"),
            )
        attr["file_name"] = str(
            _resolve_file(
                dataset_dir, attr["file_name"], Location(info_path, field=f"{name}.file_name")
            )
        )
        out[name] = attr
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "dataset_info.json").write_text(
        json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return out_dir


def _inner_type(path: Path) -> str:
    name = path.name[: -len(SEALED_SUFFIX)] if path.name.endswith(SEALED_SUFFIX) else path.name
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in _TYPES:
        raise InputError(
            f"unsupported dataset file type {ext!r} (json, jsonl, csv, parquet, txt, arrow)",
            Location(path),
        )
    return _TYPES[ext]


def _parse_json(data: bytes, path: Path) -> list[dict[str, Any]]:
    text = data.decode("utf-8-sig")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        obj = None
    if isinstance(obj, list):
        records = obj
    elif isinstance(obj, dict):
        records = [obj]
    else:  # JSON lines
        records = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                # Position only: the line is customer data and never goes into a message.
                raise InputError(
                    f"not valid JSON or JSON lines ({exc.msg})", Location(path, lineno)
                ) from None
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise InputError("each record must be a JSON object", Location(path, i + 1))
    return records


def read_records(path: Path, read_bytes: Callable[[Path], bytes]) -> Any:
    """One file as an in-memory ``datasets.Dataset``."""
    import pyarrow as pa
    from datasets import Dataset
    from datasets.table import InMemoryTable

    kind = _inner_type(path)
    data = read_bytes(path)
    if kind == "json":
        return Dataset.from_list(_parse_json(data, path))
    if kind == "csv":
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        return Dataset.from_list(rows)
    if kind == "text":
        return Dataset.from_dict({"text": data.decode("utf-8").splitlines()})
    if kind == "parquet":
        import pyarrow.parquet as pq

        return Dataset(InMemoryTable(pq.read_table(io.BytesIO(data))))
    reader = pa.ipc.open_stream(io.BytesIO(data))  # arrow (datasets' stream format)
    return Dataset(InMemoryTable(reader.read_all()))


def make_loader(
    read_bytes: Callable[[Path], bytes], on_record: Callable[[dict[str, Any]], None] | None = None
) -> Callable[..., Any]:
    """A stand-in for ``datasets.load_dataset`` as LLaMA-Factory calls it for local files."""
    from datasets import concatenate_datasets

    def load_dataset(
        path: str | None = None,
        name: str | None = None,
        data_dir: str | None = None,
        data_files: Any = None,
        split: str | None = None,
        **_: Any,
    ) -> Any:
        if not data_files:
            raise ConfigError(
                f"privtune trains on local files only; refusing to load {path!r} from a hub "
                "or a loading script (it would cache plaintext on disk)"
            )
        if split not in (None, "train"):
            raise ConfigError(f"local dataset files have one split, 'train' (got {split!r})")
        files = [data_files] if isinstance(data_files, str | Path) else list(data_files)
        parts = [read_records(Path(f), read_bytes) for f in files]
        dataset = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
        if on_record is not None:
            for rec in dataset:
                on_record(rec)
        return dataset

    return load_dataset
