"""Sealed JSON / JSON Lines straight into a Hugging Face ``datasets.Dataset`` in memory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from privtune.errors import InputError, Location
from privtune.seal.keyring import Keyring
from privtune.seal.stream import read_sealed_buffer

if TYPE_CHECKING:
    import datasets


def parse_records(data: bytes | bytearray,
                  path: str | Path | None = None) -> list[dict[str, Any]]:
    """JSON (a list of objects, or ``{"data": [...]}``) or JSON Lines, detected by content.

    Works on the decrypted buffer in place (no extra copy of the whole plaintext)."""
    view = memoryview(data)
    start = 3 if bytes(view[:3]) == b"\xef\xbb\xbf" else 0
    while start < len(view) and view[start] in b" \t\r\n":
        start += 1
    end = len(view)
    while end > start and view[end - 1] in b" \t\r\n":
        end -= 1
    first = bytes(view[start:start + 1])
    view = view[start:end]
    records: Any = None
    if first == b"[":
        try:
            records = orjson.loads(view)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"sealed content is not valid JSON ({exc})", Location(path)) from None
    elif first == b"{":
        try:  # one (possibly pretty-printed) object; JSON Lines fails fast at its 2nd record
            obj = orjson.loads(view)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            records = obj["data"] if isinstance(obj.get("data"), list) else [obj]
    if records is None:
        records = []
        for n, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise InputError(f"not valid JSON Lines ({exc})", Location(path, n)) from None
    if not all(isinstance(r, dict) for r in records):
        raise InputError("sealed dataset records must be JSON objects", Location(path))
    return records


def load_sealed_dataset(path: str | Path, keyring: Keyring) -> datasets.Dataset:
    """Decrypt ``path`` in memory and build an in-memory ``datasets.Dataset``.

    No file is written: the Arrow table lives in memory (``Dataset.from_list``), so the
    datasets cache stays empty; ``map``/``filter`` on such a dataset stay in memory too
    (tested with datasets 4.0).
    """
    import datasets

    records = parse_records(read_sealed_buffer(path, keyring), path)
    return datasets.Dataset.from_list(records)
