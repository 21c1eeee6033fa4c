"""``privtune sanitize`` as a library: inputs -> anonymized, minimized LLaMA-Factory data.

    result = sanitize(["export.jsonl"], "data", config=cfg, keyring=keyring)

Layout written under ``out`` (docs/contracts.md): ``processed/train.json``,
``processed/valid.json``, ``processed/dataset_info.json``, ``inventory.jsonl.sealed``,
``canaries.json.sealed`` (with canaries), ``quarantine.jsonl.sealed`` (with malformed
records), ``pseudonyms.sealed`` (keyed fingerprints of the fakes written, so a later run and
the residual check recognise them), ``raw/*.sealed`` (``seal_raw``) and
``sanitize_summary.json`` (counts only, never values).

Everything is staged in a hidden folder inside ``out`` and moved into place only when the run
has succeeded: a failed run (bad record with ``on_error=fail``, residual PII with
``residual=fail``, an exception, Ctrl-C) leaves ``out`` as it was.
"""

from __future__ import annotations

import collections
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from privtune.anonymize.canaries import canary_record, make_canaries
from privtune.anonymize.operators import ACTIONS, Keys, is_chinese
from privtune.config import PrivtuneConfig
from privtune.datasets.dataset_info import dataset_info
from privtune.datasets.engine import Item, iter_raw_records, run_local, run_pool
from privtune.datasets.transform import DEFAULT_FIELDS, OUTPUT_FORMAT, TransformSpec
from privtune.datasets.writers import JsonArrayWriter, SealedBuffer, StagingDir
from privtune.errors import InputError, Location, PrivtuneError
from privtune.fsutil import atomic_write_bytes

log = logging.getLogger(__name__)

INVENTORY = "inventory.jsonl.sealed"
CANARIES = "canaries.json.sealed"
QUARANTINE = "quarantine.jsonl.sealed"
PSEUDONYMS = "pseudonyms.sealed"
SUMMARY = "sanitize_summary.json"
PROCESSED = "processed"
RAW = "raw"
MANAGED = [PROCESSED, INVENTORY, CANARIES, QUARANTINE, PSEUDONYMS, SUMMARY]


#: Statistical types that ordinary folder names trigger ("ray", "data center"): in an output
#: path they warn; the structured ones (phones, IDs, e-mails, cards...) refuse the run.
PATH_WARN_ONLY = frozenset({"PERSON", "ADDRESS", "OTHER", "DATE_OF_BIRTH", "URL"})


class ResidualPIIError(PrivtuneError):
    """PII of an enabled type was found again in the anonymized output (exit code 1)."""

    exit_code = 1


class PathPIIError(PrivtuneError):
    """An output path itself contains PII."""


@dataclass
class SanitizeSummary:
    """Counts for the summary table and ``sanitize_summary.json`` (no values, ever)."""

    input_format: str = ""
    output_format: str = ""
    engine: str = "local"
    files: int = 0
    records_in: int = 0
    records_out: int = 0
    train: int = 0
    valid: int = 0
    quarantined: int = 0
    dropped_records: int = 0
    canaries: int = 0
    fields_kept: list[str] = field(default_factory=list)
    dropped_fields: collections.Counter = field(default_factory=collections.Counter)
    findings: collections.Counter = field(
        default_factory=collections.Counter
    )  # (type, field, action)
    residual: collections.Counter = field(default_factory=collections.Counter)  # (type, field)
    distinct_values: int = 0
    pseudonyms: int = 0
    warnings: list[str] = field(default_factory=list)
    sealed_raw: list[str] = field(default_factory=list)
    removed_originals: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_format": self.input_format,
            "output_format": self.output_format,
            "engine": self.engine,
            "files": self.files,
            "records_in": self.records_in,
            "records_out": self.records_out,
            "train": self.train,
            "valid": self.valid,
            "quarantined": self.quarantined,
            "dropped_records": self.dropped_records,
            "canaries": self.canaries,
            "fields_kept": self.fields_kept,
            "dropped_fields": dict(sorted(self.dropped_fields.items())),
            "findings": [
                {"type": t, "field": f, "action": a, "count": n}
                for (t, f, a), n in sorted(self.findings.items())
            ],
            "residual": [
                {"type": t, "field": f, "count": n} for (t, f), n in sorted(self.residual.items())
            ],
            "distinct_values": self.distinct_values,
            "pseudonyms": self.pseudonyms,
            "warnings": self.warnings,
            "sealed_raw": self.sealed_raw,
            "removed_originals": self.removed_originals,
        }


@dataclass
class SanitizeResult:
    out: Path
    summary: SanitizeSummary
    files: dict[str, Path]


# --- helpers ---------------------------------------------------------------------------------
def path_pii(path: str | Path, scanner) -> list[str]:  # type: ignore[no-untyped-def]
    """Types of PII found in a path string (never the values)."""
    text = str(path)
    return sorted(
        {s.type for s in scanner.scan(text)}
        | {s.type for s in scanner.scan(re.sub(r"[/\\_.-]+", " ", text))}
    )


def detect_input_format(files: Sequence[Path], text_field: str | None = None) -> str:
    """The record format of the first readable record."""
    return detect_input_formats(files, text_field)[0]


def detect_input_formats(files: Sequence[Path], text_field: str | None = None) -> tuple[str, bool]:
    """``(format, mixed)``: the record format of the first readable record, or ``sharegpt``
    with ``mixed`` True when the input holds both alpaca and sharegpt records (the alpaca
    ones are then converted to sharegpt instead of going to the quarantine). Reads every
    record's format when the first one is alpaca or sharegpt."""
    from privtune.datasets.formats import detect_format

    first = None
    seen: set[str] = set()
    for _, _, data, error in iter_raw_records(files, text_field):
        if error is not None or data is None:
            continue
        fmt = detect_format(data)
        if first is None:
            if fmt == "generic":
                raise InputError(
                    "cannot tell the record format (alpaca, sharegpt, openai or "
                    "text); pass --format"
                )
            first = fmt
            if fmt not in _MIXABLE:
                return fmt, False
        seen.add(fmt)
        if seen >= _MIXABLE:
            return "sharegpt", True
    if first is None:
        raise InputError("no readable record in the input")
    return first, False


_MIXABLE = frozenset({"alpaca", "sharegpt"})


def load_known_fakes(paths: Iterable[Path], keyring) -> frozenset[str]:  # type: ignore[no-untyped-def]
    from privtune.seal import read_sealed

    fps: set[str] = set()
    for p in paths:
        data = read_sealed(p, keyring)
        fps.update(x for x in data.decode().split("\n") if x)
    return frozenset(fps)


def discover_known_fakes(files: Sequence[Path]) -> list[Path]:
    """``pseudonyms.sealed`` of an earlier run whose processed files are the input."""
    found = []
    for f in files:
        if f.parent.name == PROCESSED:
            cand = f.parent.parent / PSEUDONYMS
            if cand.is_file() and cand not in found:
                found.append(cand)
    return found


def _raw_name(path: Path, index: int, taken: set[str], scanner, summary) -> str:  # type: ignore[no-untyped-def]
    name = f"{path.name}.sealed"
    if path_pii(path.name, scanner):
        name = f"input-{index:03d}.sealed"
        summary.warnings.append(f"input file #{index} has PII in its name; sealed as {name}")
    if name in taken:
        name = f"{index:03d}-{name}"
    taken.add(name)
    return name


def merged_config(
    config: PrivtuneConfig,
    *,
    fmt: str | None = None,
    fields: Sequence[str] | None = None,
    actions: dict[str, str] | None = None,
    canaries: int | None = None,
    on_error: str | None = None,
    residual: str | None = None,
    default_action: str | None = None,
) -> PrivtuneConfig:
    """``config`` with command-line overrides applied (validated like the YAML)."""
    data = config.model_dump()
    if default_action:
        data["sanitize"]["default_action"] = default_action
    if fmt:
        data["data"]["format"] = fmt
    if fields:
        data["data"]["fields"] = list(fields)
    if actions:
        for t, a in actions.items():
            if a not in ACTIONS:
                raise InputError(
                    f"unknown action {a!r} for {t} (expected one of {', '.join(ACTIONS)})"
                )
        data["sanitize"]["actions"] = {
            **data["sanitize"]["actions"],
            **{t.upper(): a for t, a in actions.items()},
        }
    if canaries is not None:
        data["sanitize"]["canaries"] = canaries
    if on_error:
        data["sanitize"]["on_error"] = on_error
    if residual:
        data["sanitize"]["residual"] = residual
    return PrivtuneConfig.model_validate(data)


# --- the run ---------------------------------------------------------------------------------
def sanitize(
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    config: PrivtuneConfig | None = None,
    keyring: Any,
    workers: int = 1,
    engine: str = "local",
    seal_raw: bool = False,
    remove_original: bool | None = None,
    known_fakes: Sequence[str | Path] = (),
    allow_pii_path: bool = False,
    text_field: str | None = None,
    scanner: Any = None,
    progress: Callable[[int], None] | None = None,
) -> SanitizeResult:
    """Sanitize ``inputs`` into ``out``. See the module docstring for the layout."""
    from privtune.datasets.readers import iter_input_files

    cfg = config or PrivtuneConfig()
    if scanner is None:
        from privtune.detect import Scanner

        scanner = Scanner(cfg.detect)
    out = Path(out)
    summary = SanitizeSummary(
        engine=engine if workers <= 1 or engine == "ray" else f"local x{workers}"
    )
    found = path_pii(out.resolve(), scanner)
    bad = [t for t in found if t not in PATH_WARN_ONLY]
    if bad and not allow_pii_path:
        raise PathPIIError(
            f"the output path contains PII ({', '.join(bad)}); choose another path "
            "(or --allow-pii-path)"
        )
    if found:
        summary.warnings.append(f"the output path may contain PII ({', '.join(found)})")

    # an input folder that holds the output (sanitize data/ --out data) must not re-read the
    # previous run's processed/ files, unless they are named explicitly
    named = {Path(p).resolve() for p in inputs}
    own = [(out / n).resolve() for n in (*MANAGED, RAW)]
    files = [
        f
        for f in iter_input_files(inputs)
        if f.resolve() in named or not any(f.resolve().is_relative_to(o) for o in own)
    ]
    if not files:
        raise InputError("no input files")
    summary.files = len(files)
    fmt = cfg.data.format
    mixed = False
    if fmt == "auto":
        fmt, mixed = detect_input_formats(files)
        if mixed:
            summary.warnings.append(
                "the input mixes alpaca and sharegpt records: alpaca records are converted "
                "to sharegpt (instruction + input as the human turn, output as the gpt turn)"
            )
    text_field = text_field if fmt == "text" else None  # the field holding a dialogue log
    summary.input_format = fmt
    output_format = OUTPUT_FORMAT[fmt]
    summary.output_format = output_format
    fields = tuple(cfg.data.fields) if cfg.data.fields else None
    summary.fields_kept = list(fields or DEFAULT_FIELDS[fmt])
    if remove_original is None:  # the seed's data.remove_original applies to sealed originals
        remove_original = cfg.data.remove_original and seal_raw
    if remove_original and not seal_raw:
        raise InputError(
            "--remove-original needs --seal-raw (an original is removed only "
            "after its sealed copy is verified)"
        )

    keys = Keys.from_keyring(keyring)
    fakes_known = load_known_fakes([Path(p) for p in known_fakes], keyring)
    for found in discover_known_fakes(files):
        try:
            fakes_known |= load_known_fakes([found], keyring)
        except PrivtuneError:  # sealed under another keyring: its fakes are not ours
            summary.warnings.append(
                f"{found.name} next to the input was not sealed with "
                "this keyring; its pseudonyms are not recognised"
            )
    spec = TransformSpec(
        keys=keys,
        fmt=fmt,
        detect=cfg.detect,
        sanitize=cfg.sanitize,
        fields=fields,
        known_fakes=fakes_known,
        text_field=text_field,
        convert_alpaca=mixed,
    )
    scfg = cfg.sanitize

    staging = StagingDir(out)
    processed = staging.path / PROCESSED
    processed.mkdir()
    train = JsonArrayWriter(processed / "train.json")
    valid = JsonArrayWriter(processed / "valid.json")
    inventory: collections.Counter = collections.Counter()
    fakes: set[str] = set()
    quarantine = SealedBuffer()
    columns: dict[str, None] = {}  # top-level keys seen, per split (dataset_info columns)
    split_columns: dict[bool, dict[str, None]] = {False: {}, True: {}}
    first_text: str | None = None
    try:
        if engine == "ray":
            from privtune.datasets.ray_engine import run_ray

            items: Iterator[Item] = run_ray(spec, files, num_cpus=workers if workers > 1 else None)
        elif workers > 1:
            items = run_pool(spec, files, workers)
        else:
            items = run_local(spec, files, scanner=scanner)
        for item in items:
            summary.records_in += 1
            if progress is not None:
                progress(1)
            o = item.outcome
            if o is None or o.status == "error":
                reason = item.read_error if o is None else o.reason
                if scfg.on_error == "fail":
                    raise InputError(
                        f"malformed record: {reason}", Location(item.source, item.line)
                    )
                summary.quarantined += 1
                quarantine.write(
                    {"source": item.source, "line": item.line, "reason": reason, "record": item.raw}
                )
                continue
            summary.dropped_fields.update(o.dropped_fields)
            for t, f, a, fp in o.events:
                summary.findings[(t, f, a)] += 1
                inventory[(t, fp, f)] += 1
            summary.residual.update(o.residual)
            fakes.update(o.fakes)
            if o.status == "dropped":
                summary.dropped_records += 1
                continue
            for c in o.columns:
                columns.setdefault(c)
                split_columns[o.valid].setdefault(c)
            if first_text is None and o.line is not None:
                first_text = o.line.decode()
            (valid if o.valid else train).write_line(o.line)
            summary.records_out += 1

        if summary.residual and scfg.residual == "fail":
            where = ", ".join(f"{t} in {f} ({n})" for (t, f), n in sorted(summary.residual.items()))
            raise ResidualPIIError(
                f"PII found again after anonymization: {where}; nothing was "
                "written (set sanitize.residual: report to keep the output)"
            )
        if summary.records_out == 0:
            raise InputError("no record survived sanitization (see the quarantine counts)")

        written = [PROCESSED, INVENTORY, PSEUDONYMS, SUMMARY]
        merged: list[str] = []
        if scfg.canaries > 0:
            lang = "zh" if first_text and is_chinese(first_text) else "en"
            can = make_canaries(keys.pseudonym, scfg.canaries, scfg.seed, lang, scfg.canary_repeats)
            for entry in can["inserted"]:
                rec = canary_record(entry["text"], can["prompt"], output_format, tuple(columns))
                for _ in range(entry["repeats"]):
                    train.write(rec)
            summary.canaries = scfg.canaries
            _seal_bytes(
                orjson.dumps(can, option=orjson.OPT_SORT_KEYS), staging.path / CANARIES, keyring
            )
            written.append(CANARIES)
        train.close()
        valid.close()
        summary.train, summary.valid = train.count, valid.count
        info = dataset_info(
            output_format,
            split_columns[False] or columns,
            valid_columns=split_columns[True] or columns,
        )
        (processed / "dataset_info.json").write_bytes(
            orjson.dumps(info, option=orjson.OPT_INDENT_2) + b"\n"
        )

        inv = SealedBuffer()
        for (t, fp, f), n in sorted(inventory.items()):
            inv.write({"type": t, "fp": fp, "field": f, "count": n})
        inv.seal_to(staging.path / INVENTORY, keyring)
        summary.distinct_values = len({(t, fp) for t, fp, _ in inventory})
        all_fakes = sorted(fakes | set(spec.known_fakes))
        summary.pseudonyms = len(fakes)
        _seal_bytes(
            "".join(f"{x}\n" for x in all_fakes).encode(), staging.path / PSEUDONYMS, keyring
        )
        if quarantine.count:
            quarantine.seal_to(staging.path / QUARANTINE, keyring)
            written.append(QUARANTINE)

        raw_pairs: list[tuple[Path, str]] = []
        if seal_raw:
            from privtune.seal import seal_file

            (staging.path / RAW).mkdir()
            taken: set[str] = set()
            for i, f in enumerate(files):
                name = _raw_name(f, i, taken, scanner, summary)
                seal_file(f, staging.path / RAW / name, keyring, remove_original=False)
                raw_pairs.append((f, name))
                summary.sealed_raw.append(f"{RAW}/{name}")
            merged.append(RAW)
        (staging.path / SUMMARY).write_bytes(
            orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"
        )
        staging.commit(written, [n for n in MANAGED if n not in written], merge=merged)
    except BaseException:
        train.abort()
        valid.abort()
        staging.remove()
        raise

    if remove_original:  # only after the run is committed and each copy verified
        for original, name in raw_pairs:
            from privtune.seal import remove_verified_original

            remove_verified_original(original, out / RAW / name, keyring)
            summary.removed_originals.append(original.name)
        atomic_write_bytes(
            out / SUMMARY, orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"
        )
    files_out = {n: out / n for n in written}
    files_out.update({s: out / s for s in summary.sealed_raw})
    files_out.update(
        {
            f"{PROCESSED}/{n}": out / PROCESSED / n
            for n in ("train.json", "valid.json", "dataset_info.json")
        }
    )
    return SanitizeResult(out, summary, files_out)


def _seal_bytes(data: bytes, dst: Path, keyring) -> None:  # type: ignore[no-untyped-def]
    from privtune.seal import seal_bytes

    seal_bytes(data, dst, keyring)
