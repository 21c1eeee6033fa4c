"""``privtune scan``: find PII and secrets in dataset files; report where, never what."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

EXIT_CODES = (
    "Exit codes: [bold]0[/] scanned (with or without findings; unreadable records are skipped "
    "and reported); [bold]1[/] findings of a --fail-on type exist; [bold]2[/] usage or input "
    "error (a missing file, a bad config, an unreadable record with --on-error fail)."
)


class OnError(StrEnum):
    skip = "skip"
    fail = "fail"


class SpanFormat(StrEnum):
    privtune = "privtune"
    presidio = "presidio"


class InputFormat(StrEnum):
    auto = "auto"
    txt = "txt"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"
    parquet = "parquet"


def _split(value: str | None) -> list[str]:
    return [v.strip().upper() for v in (value or "").split(",") if v.strip()]


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command(help=(
        "Scan files and folders (txt, json, jsonl, csv, tsv, parquet; .gz too) field by "
        "field for PII and secrets. Prints counts per type and field and the locations "
        "(file, line or record, field, offset) - never the values.\n\n" + EXIT_CODES
    ))
    def scan(
        paths: list[Path] = typer.Argument(..., help="Files or folders (searched recursively)."),
        config: Path | None = typer.Option(None, "--config", "-c", help="privtune.yaml"),
        types: str | None = typer.Option(
            None, "--types", help="Only these types, comma-separated (PHONE,EMAIL,...)."),
        json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        show_masked: bool = typer.Option(
            False, "--show-masked", help="Show masked previews (138****8000) of the values."),
        fail_on: str | None = typer.Option(
            None, "--fail-on", help="Exit 1 if findings of these types exist (or 'any')."),
        on_error: OnError = typer.Option(
            OnError.skip, "--on-error",
            help="Unreadable record: skip it (and report it) or fail with exit code 2."),
        spans_out: Path | None = typer.Option(
            None, "--spans-out",
            help="Write one JSON line per record: {id, spans:[{type,start,end,score}]}. "
                 "Needs --text-field."),
        text_field: str | None = typer.Option(
            None, "--text-field", help="Scan only this field (every record must have it)."),
        id_field: str | None = typer.Option(
            None, "--id-field", help="Record id for --spans-out (default: the line/record "
                                     "number)."),
        span_format: SpanFormat = typer.Option(
            SpanFormat.privtune, "--format",
            help="Span format of --spans-out; 'presidio' writes Presidio RecognizerResult "
                 "JSON (printed as JSON lines per field when there is no --spans-out)."),
        input_format: InputFormat = typer.Option(
            InputFormat.auto, "--input-format", help="File format (default: by extension)."),
        workers: int = typer.Option(1, "--workers", "-w", min=1,
                                    help="Processes to scan with (output is identical)."),
        limit: int = typer.Option(20, "--limit", min=0, help="Locations shown in the table."),
        max_locations: int = typer.Option(
            10_000, "--max-locations", min=0, help="Locations kept in the --json report."),
        max_record_bytes: int = typer.Option(
            32 << 20, "--max-record-bytes", min=1,
            help="Longer lines/records are reported as unreadable, not loaded."),
    ) -> None:
        _run(paths, config=config, types=types, json_out=json_out, show_masked=show_masked,
             fail_on=fail_on, on_error=on_error.value, spans_out=spans_out,
             text_field=text_field, id_field=id_field, span_format=span_format.value,
             input_format=input_format.value, workers=workers, limit=limit,
             max_locations=max_locations, max_record_bytes=max_record_bytes)


def _run(paths: list[Path], *, config: Path | None, types: str | None, json_out: bool,
         show_masked: bool, fail_on: str | None, on_error: str, spans_out: Path | None,
         text_field: str | None, id_field: str | None, span_format: str, input_format: str,
         workers: int, limit: int, max_locations: int, max_record_bytes: int) -> None:
    import contextlib
    import sys

    import orjson

    from privtune.cli.console import console, err_console
    from privtune.config import load_config
    from privtune.detect.files import scan_files
    from privtune.detect.report import ScanReport
    from privtune.detect.span import CANONICAL_TYPES
    from privtune.fsutil import atomic_write

    cfg = load_config(config).detect
    known = set(CANONICAL_TYPES) | {r.type.upper() for r in cfg.custom}
    type_list = _split(types)
    fail_set = set(_split(fail_on))
    for opt, values in (("--types", type_list), ("--fail-on", fail_set - {"ANY"})):
        unknown = sorted(set(values) - known)
        if unknown:
            raise typer.BadParameter(
                f"unknown type(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
                param_hint=opt)
    if spans_out is not None and text_field is None:
        raise typer.BadParameter("--spans-out needs --text-field (offsets are into that field)",
                                 param_hint="--spans-out")
    if json_out and span_format == "presidio" and spans_out is None:
        raise typer.BadParameter("--format presidio without --spans-out prints JSON lines; "
                                 "it cannot be combined with --json", param_hint="--format")
    if type_list:
        cfg = cfg.model_copy(update={"types": type_list})

    presidio_stdout = span_format == "presidio" and spans_out is None
    to_presidio = None
    if span_format == "presidio":
        from privtune.detect.presidio import to_presidio

    report = ScanReport(max_locations=max_locations)
    progress = None
    if err_console.is_terminal and not presidio_stdout:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.fields[records]:,} records"), TimeElapsedColumn(),
                            console=err_console, transient=True)
    task = None

    def on_file(path: Path) -> None:
        nonlocal task
        if progress is None:
            return
        size = path.stat().st_size or 1
        if task is not None:
            progress.update(task, completed=progress.tasks[task].total)
        task = progress.add_task(f"scanning {path.name}", total=size, records=0)

    results = scan_files(paths, cfg, fmt=input_format, text_field=text_field,
                         id_field=id_field, types=type_list or None, show_masked=show_masked,
                         on_error=on_error, max_record_bytes=max_record_bytes,
                         workers=workers, on_file=on_file)
    with contextlib.ExitStack() as stack:
        if progress is not None:
            stack.enter_context(progress)
        out = stack.enter_context(atomic_write(spans_out, "wb")) if spans_out else None
        for result in results:
            report.add(result)
            if progress is not None and task is not None:
                t = progress.tasks[task]
                progress.update(task, advance=min(result.nbytes, (t.total or 0) - t.completed),
                                records=t.fields["records"] + 1)
            if result.error is not None:
                continue
            spans = result.spans
            if out is not None:
                rid = result.id if id_field is not None else result.line
                if to_presidio is not None:
                    items = to_presidio(spans)
                else:
                    items = [{"type": s.type, "start": s.start, "end": s.end,
                              "score": round(s.score, 4)} for s in spans]
                out.write(orjson.dumps({"id": rid, "spans": items}) + b"\n")
            elif presidio_stdout and to_presidio is not None:
                for fs in result.fields or ():
                    if fs.spans:
                        line = {"file": str(result.source), "line": result.line,
                                "field": fs.field, "results": to_presidio(fs.spans)}
                        if id_field is not None:
                            line["id"] = result.id
                        sys.stdout.buffer.write(orjson.dumps(line) + b"\n")
    report.finish()

    if json_out:
        sys.stdout.buffer.write(orjson.dumps(report.to_json(fail_on=fail_set),
                                             option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    elif presidio_stdout:
        sys.stdout.flush()
        err_console.print(f"{report.records:,} records, {report.findings:,} findings, "
                          f"{report.error_count:,} unreadable", highlight=False)
    else:
        report.render(console, limit=limit, show_masked=show_masked)
        if spans_out is not None:
            console.print(f"spans written to {spans_out}", highlight=False, markup=False)
    if report.matches(fail_set):
        matched = sorted(fail_set) if "ANY" not in fail_set else ["any"]
        err_console.print(f"findings of {', '.join(matched)} found (--fail-on): exit 1",
                          highlight=False, markup=False)
        raise typer.Exit(1)
