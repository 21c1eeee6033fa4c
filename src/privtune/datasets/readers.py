"""Streaming readers for customer exports: txt, json, jsonl, csv/tsv, parquet (optionally .gz).

Every reader yields :class:`Record` objects one at a time, so memory stays bounded however
large the file is:

* jsonl/txt/csv are read line by line in binary mode with a hard cap on a line's length
  (``max_record_bytes``); an over-long line becomes an error record and is skipped without
  ever being held in memory;
* a json file holding one big array is split into its elements by a small incremental
  scanner (strings, escapes and nesting are tracked, nothing else is buffered), and each
  element is parsed on its own; the same cap applies per element;
* parquet is read batch by batch with pyarrow.

One bad record never raises: undecodable bytes, malformed JSON, an empty file, a missing or
non-string ``text_field``, a csv row with the wrong number of columns - each becomes a
``Record`` with ``data=None`` and an ``error`` that names the problem (and the field, where
there is one); ``source`` and ``line`` say where. Error messages never contain the record's
content, only its position (they are printed and logged).

Blank lines in txt/jsonl files are skipped (they hold no record); line numbers stay exact.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from privtune.errors import InputError, Location

__all__ = [
    "DEFAULT_MAX_RECORD_BYTES",
    "FORMATS",
    "SUPPORTED_SUFFIXES",
    "Record",
    "file_format",
    "iter_input_files",
    "iter_records",
]

#: Longest line (jsonl/txt/csv) or json element accepted; longer ones become error records.
DEFAULT_MAX_RECORD_BYTES = 32 << 20
#: File formats iter_records understands.
FORMATS = ("txt", "json", "jsonl", "csv", "tsv", "parquet")
_SUFFIX_FORMAT = {
    ".txt": "txt", ".text": "txt",
    ".json": "json",
    ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".csv": "csv", ".tsv": "tsv",
    ".parquet": "parquet", ".pq": "parquet",
}
#: Extensions picked up when a folder is scanned (each also with ``.gz``, except parquet).
SUPPORTED_SUFFIXES = tuple(sorted(_SUFFIX_FORMAT))
_CHUNK = 1 << 20
_DRAIN = 1 << 18
_PARQUET_BATCH = 1024


@dataclass
class Record:
    """One record of an input file, or the reason it could not be read."""

    source: Path
    line: int  # 1-based line for jsonl/csv/txt; 1-based record index for json arrays, parquet
    data: dict | None  # None when the record could not be read
    error: str | None  # why not (names the field or problem); None when fine

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def location(self) -> Location:
        return Location(self.source, self.line)


# --- files -----------------------------------------------------------------------------------
def _split_gz(path: Path) -> tuple[str, bool]:
    name = path.name.lower()
    if name.endswith(".gz"):
        return Path(name[:-3]).suffix, True
    return Path(name).suffix, False


def file_format(path: str | Path) -> str | None:
    """The format implied by a file's extension (``.gz`` looked through), or None."""
    suffix, gz = _split_gz(Path(path))
    fmt = _SUFFIX_FORMAT.get(suffix)
    if fmt == "parquet" and gz:
        return None
    return fmt


def _sniff(path: Path) -> str:
    """Guess a format from content for files with an unknown extension."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return "txt"
    if head.startswith(b"PAR1"):
        return "parquet"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        first = stripped.split(b"\n", 1)[0].strip()
        return "jsonl" if first.endswith(b"}") else "json"
    return "txt"


def iter_input_files(paths: Iterable[str | Path] | str | Path) -> Iterator[Path]:
    """Files named in ``paths``, and the supported files under any folder (recursive, sorted).

    Hidden files and folders (a leading dot) inside folders are skipped; a file named
    explicitly is always yielded. Each file is yielded once. A path that does not exist
    raises :class:`InputError`.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in files:
                    if f.startswith(".") or file_format(f) is None:
                        continue
                    found.append(Path(root) / f)
            for f in sorted(found):
                if f not in seen:
                    seen.add(f)
                    yield f
        elif p.is_file():
            if p not in seen:
                seen.add(p)
                yield p
        elif p.exists():
            raise InputError("not a regular file or folder", Location(p))
        else:
            raise InputError("no such file or folder", Location(p))


# --- records ---------------------------------------------------------------------------------
def iter_records(
    path: str | Path,
    *,
    fmt: str = "auto",
    text_field: str | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[Record]:
    """Yield the records of one file, lazily. See the module docstring for the rules.

    ``fmt``: ``auto`` (by extension, content sniffed when unknown) or one of :data:`FORMATS`.
    ``text_field``: for txt, the key each line is stored under (default ``text``); for the
    other formats, a field every record must have as a string (else an error record).
    A file that cannot be opened at all raises :class:`InputError`.
    """
    source = Path(path)
    if fmt == "auto":
        fmt = file_format(source) or _sniff(source)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})",
                         Location(source))
    _, gz = _split_gz(source)
    try:
        if fmt == "parquet":
            yield from _checked(_parquet_records(source), text_field)
            return
        raw = open(source, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError as exc:
        raise InputError("no such file", Location(source)) from exc
    except OSError as exc:
        raise InputError(f"cannot open file ({exc.strerror or exc})", Location(source)) from exc
    try:
        last = 0
        fh: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        try:
            if fmt == "txt":
                gen = _txt_records(source, fh, text_field or "text", max_record_bytes)
            elif fmt == "jsonl":
                gen = _jsonl_records(source, fh, text_field, max_record_bytes)
            elif fmt == "json":
                gen = _json_records(source, fh, text_field, max_record_bytes)
            else:
                gen = _csv_records(source, fh, "\t" if fmt == "tsv" else ",", max_record_bytes)
            for rec in _checked(gen, text_field if fmt != "txt" else None):
                last = rec.line
                yield rec
        except (OSError, EOFError) as exc:  # truncated/corrupt gzip, I/O error mid-file
            yield Record(source, last + 1, None,
                         f"cannot read the rest of the file: {_reason(exc)}")
    finally:
        raw.close()


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__ + (f" ({exc})" if str(exc) else "")


def _checked(records: Iterator[Record], text_field: str | None) -> Iterator[Record]:
    """Turn records that lack ``text_field`` (or hold a non-string there) into error records."""
    if text_field is None:
        yield from records
        return
    for rec in records:
        if rec.data is not None:
            if text_field not in rec.data:
                rec = Record(rec.source, rec.line, None, f"missing field {text_field!r}")
            elif not isinstance(rec.data[text_field], str):
                value = rec.data[text_field]
                got = "null" if value is None else type(value).__name__
                rec = Record(rec.source, rec.line, None,
                             f"field {text_field!r} is not a string (got {got})")
        yield rec


def _iter_lines(fh: IO[bytes], cap: int) -> Iterator[tuple[int, bytes | None]]:
    """(1-based line number, line without its end-of-line) - or None for a line over ``cap``
    bytes, which is skipped in bounded chunks. A UTF-8 BOM at the start is dropped."""
    lineno = 0
    first = True
    while True:
        line = fh.readline(cap + 1)
        if not line:
            return
        lineno += 1
        if first:
            first = False
            if line.startswith(codecs.BOM_UTF8):
                line = line[3:]
        if len(line) > cap and not line.endswith(b"\n"):
            while True:  # drain the rest of the over-long line
                rest = fh.readline(_DRAIN)
                if not rest or rest.endswith(b"\n"):
                    break
            yield lineno, None
            continue
        yield lineno, line.rstrip(b"\r\n")


def _too_long(cap: int) -> str:
    return f"line longer than {cap:,} bytes (skipped; raise the limit with --max-record-bytes)"


def _decode_error(b: bytes) -> str | None:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"undecodable bytes (not UTF-8) at byte {exc.start + 1}"
    return None


def _parse_json(b: bytes) -> tuple[Any, str | None]:
    """Parse one JSON value; (value, None) or (None, why)."""
    try:
        return orjson.loads(b), None
    except orjson.JSONDecodeError:
        pass
    bad = _decode_error(b)
    if bad:
        return None, bad
    try:  # stdlib: lone surrogate escapes, huge integers; better messages
        return json.loads(b.decode("utf-8")), None
    except (ValueError, RecursionError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        col = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        if isinstance(exc, json.JSONDecodeError) and exc.lineno > 1:
            col = f" at line {exc.lineno} column {exc.colno} of the record"
        return None, f"malformed JSON: {msg}{col}"


def _as_record(source: Path, line: int, value: Any, text_field: str | None) -> Record:
    if isinstance(value, dict):
        return Record(source, line, value, None)
    if isinstance(value, str):  # a bare string is a text record
        return Record(source, line, {text_field or "text": value}, None)
    kind = "null" if value is None else type(value).__name__
    return Record(source, line, None, f"record is not a JSON object (got {kind})")


def _empty(source: Path) -> Record:
    return Record(source, 1, None, "file is empty")


def _txt_records(source: Path, fh: IO[bytes], key: str, cap: int) -> Iterator[Record]:
    any_line = False
    for lineno, line in _iter_lines(fh, cap):
        any_line = True
        if line is None:
            yield Record(source, lineno, None, _too_long(cap))
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Record(source, lineno, None,
                         f"undecodable bytes (not UTF-8) at byte {exc.start + 1}")
            continue
        if text.strip():
            yield Record(source, lineno, {key: text}, None)
    if not any_line:
        yield _empty(source)


def _jsonl_records(source: Path, fh: IO[bytes], text_field: str | None, cap: int
                   ) -> Iterator[Record]:
    any_line = False
    for lineno, line in _iter_lines(fh, cap):
        any_line = True
        if line is None:
            yield Record(source, lineno, None, _too_long(cap))
            continue
        if not line.strip():
            continue
        value, err = _parse_json(line)
        if err:
            yield Record(source, lineno, None, err)
        else:
            yield _as_record(source, lineno, value, text_field)
    if not any_line:
        yield _empty(source)


# --- json: incremental splitting of a top-level array (or a stream of objects) -------------
# a whole string (skipped in one match), else one structural byte; a lone '"' starts a string
# that continues in the next chunk
_OUT = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}",]', re.DOTALL)
_IN = re.compile(rb'["\\]')
_END = re.compile(rb"\}[ \t\r\n]*([,\]])")
_SKIP_WS = re.compile(rb"[ \t\r\n]*")
_MISS = object()
_WS = b" \t\r\n"


def _json_records(source: Path, fh: IO[bytes], text_field: str | None, cap: int
                  ) -> Iterator[Record]:
    """Elements of a top-level array, or each top-level object of the file, one by one.

    Only the current element is buffered (up to ``cap`` bytes; beyond that it is skipped
    while its structure is still tracked, and reported). ``line`` is the 1-based index.
    """
    index = 0
    mode = None  # "array" | "objects"
    depth = 0
    in_str = False
    escape = False
    parts: list[bytes] = []
    size = 0
    overlong = False
    after_comma = False
    done = False  # array closed
    first_chunk = True

    def emit() -> Iterator[Record]:
        nonlocal parts, size, overlong, index
        seg = b"".join(parts).strip(_WS)
        was_long = overlong
        parts, size, overlong = [], 0, False
        if not seg and not was_long:
            return
        index += 1
        if was_long:
            yield Record(source, index, None,
                         f"record longer than {cap:,} bytes (skipped; raise the limit "
                         "with --max-record-bytes)")
            return
        value, err = _parse_json(seg)
        if err:
            yield Record(source, index, None, err)
        else:
            yield _as_record(source, index, value, text_field)

    def keep(piece: bytes) -> None:
        nonlocal size, overlong
        if overlong or not piece:
            return
        size += len(piece)
        if size > cap:
            overlong = True
            parts.clear()
        else:
            parts.append(piece)

    while True:
        buf = fh.read(_CHUNK)
        if not buf:
            break
        if first_chunk:
            first_chunk = False
            if buf.startswith(codecs.BOM_UTF8):
                buf = buf[3:]
        pos = 0
        n = len(buf)
        if mode is None:
            stripped = buf.lstrip(_WS)
            if not stripped:
                continue
            pos = n - len(stripped)
            if stripped[:1] == b"[":
                mode, depth, pos = "array", 1, pos + 1
            elif stripped[:1] == b"{":
                mode = "objects"
            else:
                yield Record(source, 1, None,
                             "not a JSON array or object (a .json file must start with "
                             "'[' or '{')")
                return
        seg_start = pos
        while pos < n:
            if done:
                if buf[pos:].strip(_WS):
                    yield Record(source, index + 1, None,
                                 "unexpected data after the end of the JSON array")
                    return
                break
            if (depth == 1 and mode == "array" and not in_str and seg_start == pos
                    and not parts and not overlong):
                # Fast path at an element boundary: the first '}' followed by ',' or ']' is
                # the element's end iff the bytes up to it parse (a JSON object ends where
                # its brace closes); otherwise the byte-wise scan below takes over.
                j = _SKIP_WS.match(buf, pos).end()
                if j < n and buf[j] == 0x7B:
                    m = _END.search(buf, j)
                    if m is not None and m.start() + 1 - j <= cap:
                        try:
                            value = orjson.loads(buf[j:m.start() + 1])
                        except orjson.JSONDecodeError:
                            value = _MISS
                        if value is not _MISS:
                            index += 1
                            yield _as_record(source, index, value, text_field)
                            pos = seg_start = m.end()
                            if m.group(1) == b",":
                                after_comma = True
                            else:
                                depth, done = 0, True
                            continue
            if in_str:
                if escape:
                    escape = False
                    pos += 1
                    continue
                m = _IN.search(buf, pos)
                if m is None:
                    pos = n
                    break
                pos = m.end()
                if m.group() == b"\\":
                    if pos >= n:
                        escape = True
                    else:
                        pos += 1
                else:
                    in_str = False
                continue
            m = _OUT.search(buf, pos)
            if m is None:
                pos = n
                break
            c = m.group()
            pos = m.end()
            if len(c) > 1:
                continue
            if c == b'"':
                in_str = True
            elif c in b"[{":
                depth += 1
            elif c in b"]}":
                depth -= 1
                if mode == "array" and depth == 0:
                    keep(buf[seg_start:pos - 1])
                    if after_comma and not b"".join(parts).strip(_WS) and not overlong:
                        yield Record(source, index + 1, None,
                                     "malformed JSON: trailing comma before ']'")
                    yield from emit()
                    done = True
                    seg_start = pos
                elif mode == "objects" and depth == 0:
                    keep(buf[seg_start:pos])
                    yield from emit()
                    seg_start = pos
                elif depth < 0:
                    yield Record(source, index + 1, None,
                                 f"malformed JSON: unbalanced {c.decode()!r}")
                    return
            elif c == b",":
                if mode == "array" and depth == 1:
                    keep(buf[seg_start:pos - 1])
                    if not b"".join(parts).strip(_WS) and not overlong:
                        yield Record(source, index + 1, None,
                                     "malformed JSON: missing value before ','")
                        index += 1
                    else:
                        yield from emit()
                    after_comma = True
                    seg_start = pos
                elif mode == "objects" and depth == 0:
                    yield Record(source, index + 1, None,
                                 "malformed JSON: ',' between top-level objects "
                                 "(did you mean a [...] array?)")
                    return
        if not done:
            keep(buf[seg_start:n])
    if mode is None:
        yield _empty(source)
    elif mode == "array" and not done:
        yield Record(source, index + 1, None,
                     "malformed JSON: unexpected end of file inside the array")
    elif mode == "objects" and (depth != 0 or in_str or b"".join(parts).strip(_WS)):
        yield Record(source, index + 1, None,
                     "malformed JSON: unexpected end of file inside an object")


# --- csv -------------------------------------------------------------------------------------
def _csv_records(source: Path, fh: IO[bytes], delimiter: str, cap: int) -> Iterator[Record]:
    """Rows as dicts keyed by the header row; ``line`` is the row's first physical line."""
    if csv.field_size_limit() < cap:
        csv.field_size_limit(cap)
    bad_lines: dict[int, str] = {}
    state = {"line": 0}

    def lines() -> Iterator[str]:
        for lineno, line in _iter_lines(fh, cap):
            state["line"] = lineno
            if line is None:
                bad_lines[lineno] = _too_long(cap)
                yield "\n"
                continue
            try:
                yield line.decode("utf-8") + "\n"
            except UnicodeDecodeError as exc:
                bad_lines[lineno] = f"undecodable bytes (not UTF-8) at byte {exc.start + 1}"
                yield line.decode("utf-8", "replace") + "\n"

    reader = csv.reader(lines(), delimiter=delimiter, strict=False)
    header: list[str] | None = None
    while True:
        start = state["line"] + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield Record(source, start, None, f"malformed CSV: {exc}")
            continue
        end = state["line"]
        bad = next((bad_lines.pop(i) for i in range(start, end + 1) if i in bad_lines), None)
        for i in range(start, end + 1):
            bad_lines.pop(i, None)
        if header is None:
            if bad:
                yield Record(source, start, None, f"header row: {bad}")
                return
            if not row:
                continue
            header = [h.strip() for h in row]
            continue
        if bad:
            yield Record(source, start, None, bad)
            continue
        if not row or row == [""]:
            continue
        if len(row) != len(header):
            yield Record(source, start, None,
                         f"row has {len(row)} columns, the header has {len(header)}")
            continue
        yield Record(source, start, dict(zip(header, row, strict=True)), None)
    if header is None:
        yield _empty(source)


# --- parquet ---------------------------------------------------------------------------------
def _parquet_records(source: Path) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(source)
    except FileNotFoundError as exc:
        raise InputError("no such file", Location(source)) from exc
    except (pa.ArrowException, OSError) as exc:
        yield Record(source, 1, None, f"not a readable parquet file ({type(exc).__name__})")
        return
    index = 0
    try:
        if pf.metadata.num_rows == 0:
            yield _empty(source)
            return
        for batch in pf.iter_batches(batch_size=_PARQUET_BATCH):
            for row in batch.to_pylist():
                index += 1
                yield Record(source, index, row, None)
    except (pa.ArrowException, OSError) as exc:
        yield Record(source, index + 1, None,
                     f"cannot read the rest of the parquet file ({type(exc).__name__})")
    finally:
        close = getattr(pf, "close", None)
        if close is not None:
            close()
