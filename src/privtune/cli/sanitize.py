"""``privtune sanitize``: anonymize and minimize datasets into LLaMA-Factory-ready data;
``privtune sanitize-restore``: decrypt ``encrypt``-action tokens (key holders only)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

EXIT_CODES = """\
Exit codes: 0 written; 1 residual PII found after anonymization (sanitize.residual: fail);
2 usage, configuration or input error (a malformed record with --on-error fail, PII in the
output path). A failed run leaves the output folder as it was."""


class RecordFormat(StrEnum):
    auto = "auto"
    alpaca = "alpaca"
    sharegpt = "sharegpt"
    openai = "openai"
    text = "text"


class Engine(StrEnum):
    local = "local"
    ray = "ray"


class OnError(StrEnum):
    quarantine = "quarantine"
    fail = "fail"


class Residual(StrEnum):
    fail = "fail"
    report = "report"


def _base_dir(config: Path | None, work_dir: str) -> Path:
    from privtune.config import work_dir_path

    return work_dir_path(config, work_dir)


def _keyring(cfg: Any, config: Path | None, keyring_dir: Path | None) -> Any:
    from privtune.seal import Keyring

    keys = cfg.keys
    if keyring_dir is not None:
        keys = keys.model_copy(update={"keyring_dir": str(keyring_dir.resolve())})
    return Keyring.from_config(keys, _base_dir(config, cfg.work_dir))


def _parse_actions(values: list[str]) -> dict[str, str]:
    from privtune.errors import ConfigError

    out = {}
    for v in values:
        t, sep, a = v.partition("=")
        if not sep or not t.strip() or not a.strip():
            raise ConfigError(f"--action expects TYPE=ACTION (for example PHONE=mask), got {v!r}")
        out[t.strip().upper()] = a.strip().lower()
    return out


def render_summary(summary: Any, out: Path) -> None:
    from rich.table import Table

    from privtune.cli.console import console

    s = summary
    t = Table(title="findings and actions", title_justify="left")
    for col, just in (("type", "left"), ("field", "left"), ("action", "left"), ("count", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for (typ, fld, act), n in sorted(s.findings.items()):
        t.add_row(typ, fld, act, str(n))
    if not s.findings:
        t.add_row("-", "-", "-", "0")
    console.print(t)
    if s.dropped_fields:
        d = Table(title="fields dropped (minimization)", title_justify="left")
        d.add_column("field")
        d.add_column("records", justify="right")
        for f, n in sorted(s.dropped_fields.items()):
            d.add_row(f, str(n))
        console.print(d)
    if s.residual:
        r = Table(title="[red]residual PII after anonymization[/]", title_justify="left")
        r.add_column("type")
        r.add_column("field")
        r.add_column("count", justify="right")
        for (typ, fld), n in sorted(s.residual.items()):
            r.add_row(typ, fld, str(n))
        console.print(r)
    console.print(
        f"{s.records_in} records read ({s.input_format} -> {s.output_format}, engine "
        f"{s.engine}): [green]{s.train} train[/], [green]{s.valid} valid[/], "
        f"{s.quarantined} quarantined, {s.dropped_records} dropped by policy, "
        f"{s.canaries} canaries; {s.distinct_values} distinct values in the sealed inventory.",
        highlight=False,
    )
    if s.removed_originals:
        console.print(
            f"{len(s.removed_originals)} original(s) removed after their sealed copies were "
            "verified.",
            highlight=False,
        )
    for w in s.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    console.print(
        f"written to {out}/processed (dataset_info.json: privtune_train, privtune_valid)",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command(
        help=(
            "Anonymize and minimize customer datasets (json, jsonl, csv, parquet; alpaca, "
            "sharegpt, OpenAI messages, free-form dialogue text) into LLaMA-Factory-ready data: "
            "OUT/processed/{train,valid,dataset_info}.json plus a sealed PII inventory, "
            "canaries, quarantine and (--seal-raw) sealed originals.\n\n" + EXIT_CODES
        )
    )
    def sanitize(
        inputs: list[Path] | None = typer.Argument(
            None, help="Files or folders (searched recursively); default: data.raw."
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Output folder (the seed's data/; default: data.root)."
        ),
        config: Path | None = typer.Option(None, "--config", "-c", help="privtune.yaml"),
        fmt: RecordFormat = typer.Option(
            RecordFormat.auto, "--format", help="Record format (default: detected)."
        ),
        fields: str | None = typer.Option(
            None,
            "--fields",
            help="Field allow-list, comma-separated (default: the format's "
            "training fields); every other field is dropped.",
        ),
        action: list[str] = typer.Option(
            [], "--action", help="TYPE=tag|mask|hash|pseudonym|encrypt|drop (repeatable)."
        ),
        default_action: str | None = typer.Option(
            None, "--default-action", help="Action for types without their own (default: tag)."
        ),
        canaries: int | None = typer.Option(
            None, "--canaries", min=0, help="Insert N canary records (sealed record)."
        ),
        seal_raw: bool = typer.Option(
            False, "--seal-raw", help="Seal the originals into OUT/raw/*.sealed."
        ),
        remove_original: bool = typer.Option(
            False,
            "--remove-original",
            help="With --seal-raw: remove each original after its sealed copy is verified.",
        ),
        workers: int = typer.Option(
            1,
            "--workers",
            "-w",
            min=1,
            help="Processes (local) or CPUs (ray); output is identical.",
        ),
        engine: Engine = typer.Option(
            Engine.local,
            "--engine",
            help="local (processes) or ray (Ray Data; RAY_ADDRESS joins a cluster).",
        ),
        on_error: OnError | None = typer.Option(
            None,
            "--on-error",
            help="Malformed record: quarantine (sealed, with the reason) or fail the run.",
        ),
        residual: Residual | None = typer.Option(
            None,
            "--residual",
            help="PII found again after anonymization: fail the run or report it.",
        ),
        text_field: str | None = typer.Option(
            None, "--text-field", help="With --format text: the field holding the dialogue."
        ),
        keyring_dir: Path | None = typer.Option(
            None, "--keyring", help="Keyring folder (default: keys: section)."
        ),
        known_fakes: list[Path] = typer.Option(
            [],
            "--known-fakes",
            help="pseudonyms.sealed of an earlier run (found "
            "automatically when the input is OUT/processed/).",
        ),
        allow_pii_path: bool = typer.Option(
            False, "--allow-pii-path", help="Only warn when the output path contains PII."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from privtune.cli.console import console, err_console
        from privtune.config import load_config
        from privtune.datasets.sanitize import merged_config
        from privtune.datasets.sanitize import sanitize as run

        cfg = load_config(config)
        cfg = merged_config(
            cfg,
            fmt=None if fmt is RecordFormat.auto else fmt.value,
            fields=[f.strip() for f in fields.split(",") if f.strip()] if fields else None,
            actions=_parse_actions(action),
            canaries=canaries,
            default_action=default_action,
            on_error=on_error.value if on_error else None,
            residual=residual.value if residual else None,
        )
        keyring = _keyring(cfg, config, keyring_dir)
        base = _base_dir(config, cfg.work_dir)
        if not inputs:
            inputs = [base / p for p in cfg.data.raw]
            if not inputs:
                raise typer.BadParameter("no INPUT given and data.raw is empty")
        if out is None:
            out = base / cfg.data.root
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,} records"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=not err_console.is_terminal,
        ) as bar:
            task = bar.add_task("sanitizing", total=None)
            result = run(
                inputs,
                out,
                config=cfg,
                keyring=keyring,
                workers=workers,
                engine=engine.value,
                seal_raw=seal_raw,
                remove_original=remove_original or None,
                known_fakes=known_fakes,
                allow_pii_path=allow_pii_path,
                text_field=text_field,
                progress=lambda n: bar.advance(task, n),
            )
        if json_out:
            import json

            console.print_json(json.dumps(result.summary.to_dict()))
        else:
            render_summary(result.summary, result.out)

    @app.command(
        "sanitize-restore",
        help=(
            "Decrypt the tokens written by the 'encrypt' action in a sanitized file, with the "
            "keyring; the restored file is written sealed (it holds customer data again)."
        ),
    )
    def sanitize_restore(
        src: Path = typer.Argument(..., help="A sanitized file (train.json, valid.json)."),
        out: Path = typer.Option(..., "--out", "-o", help="Restored copy (sealed)."),
        config: Path | None = typer.Option(None, "--config", "-c", help="privtune.yaml"),
        keyring_dir: Path | None = typer.Option(None, "--keyring", help="Keyring folder."),
    ) -> None:
        from privtune.anonymize import restore_file
        from privtune.cli.console import console
        from privtune.config import load_config

        cfg = load_config(config)
        keyring = _keyring(cfg, config, keyring_dir)
        n = restore_file(src, out, keyring)
        console.print(f"{n} values restored; sealed copy written to {out}", highlight=False)
