"""``privtune audit``: attack the fine-tuned model before release; exit 1 when the gate fails."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("audit")(audit)


def audit(
    model: Path = typer.Option(None, "--model", help="Model folder to audit (full model, or a "
                               "PEFT adapter folder together with --base)."),
    base: Path = typer.Option(None, "--base", help="The pre-fine-tune model: reference for "
                              "membership inference and PII subtraction."),
    adapter: Path = typer.Option(None, "--adapter", help="PEFT adapter applied (unmerged) on "
                                 "--model."),
    train: Path = typer.Option(None, "--train", help="Training records (processed/train.json)."),
    heldout: Path = typer.Option(None, "--heldout", help="Held-out records "
                                 "(processed/valid.json)."),
    inventory: Path = typer.Option(None, "--inventory", help="PII inventory "
                                   "(inventory.jsonl.sealed)."),
    canaries: Path = typer.Option(None, "--canaries", help="Canaries (canaries.json.sealed)."),
    train_run: Path = typer.Option(None, "--train-run", help="privtune train's output folder: "
                                   "its DP budget (train.dp) is shown in the report."),
    scan: list[Path] = typer.Option([], "--scan", help="More files or folders for the artifact "
                                    "scan (checkpoints, logs, generated_predictions.jsonl)."),
    config: Path = typer.Option(None, "--config", "-c", help="privtune.yaml (audit and keys "
                                "sections)."),
    out: Path = typer.Option(None, "--out", "-o", help="Report folder (default audit.out_dir)."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:N or auto."),
    backend: str = typer.Option(None, "--backend", help="transformers or vllm."),
    max_records: int = typer.Option(None, "--max-records", help="Records per split."),
) -> None:
    """Attack a fine-tuned model (extraction, PII, canaries, membership, artifacts); write
    report.html and report.json; exit 1 when a threshold fails (the release gate)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from privtune.audit import AuditInputs, run_audit
    from privtune.cli.console import console, err_console
    from privtune.config import load_config
    from privtune.errors import ConfigError, InputError, PrivtuneError

    try:  # our bars only: no "Loading weights" bars from transformers in between
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - the ml extra is missing; run_audit says so
        pass
    cfg = load_config(config)
    acfg = cfg.audit
    updates = {k: v for k, v in {"device": device, "backend": backend,
                                 "max_records": max_records}.items() if v is not None}
    if updates:
        try:
            acfg = acfg.model_validate({**acfg.model_dump(), **updates})
        except Exception as exc:  # pydantic ValidationError: a bad option value
            raise ConfigError(f"bad option: {exc}") from exc
    model = model or (Path(acfg.model) if acfg.model else None)
    base = base or (Path(acfg.base_model) if acfg.base_model else None)
    adapter = adapter or (Path(acfg.adapter) if acfg.adapter else None)
    if model is None:
        raise InputError("--model is required (or audit.model in the config)")
    out_dir = out or Path(acfg.out_dir)
    # The keyring opens sealed inputs and sealed checkpoints (in memory) and keys the
    # inventory's fingerprints. Required only when an input needs it.
    needs_keys = inventory is not None or any(
        p is not None and p.name.endswith(".sealed") for p in (canaries,))
    keyring = None
    try:
        from privtune.seal import Keyring

        keyring = Keyring.from_config(cfg.keys, base_dir=config.parent if config else Path("."))
    except (ImportError, PrivtuneError):
        if needs_keys:
            raise
    inputs = AuditInputs(model=model, base=base, adapter=adapter, train=train, heldout=heldout,
                         inventory=inventory, canaries=canaries, artifacts=list(scan),
                         train_run=train_run)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True) as bars:
        def progress(desc: str, total: int):
            task = bars.add_task(desc, total=total or None)
            return lambda n: bars.advance(task, n)

        report = run_audit(inputs, acfg, out_dir, keyring=keyring, detect=cfg.detect,
                           progress=progress, log=lambda m: err_console.print(f"[dim]{m}[/]"))
    _summary(report, out_dir, console)
    if report["verdict"] != "pass":
        raise typer.Exit(1)


def _summary(report: dict, out_dir: Path, console) -> None:
    from rich.table import Table

    table = Table(title=f"privtune audit: {report['verdict'].upper()}")
    for col in ("check", "measured", "threshold", "status"):
        table.add_column(col)
    for c in report["gate"]:
        style = {"pass": "green", "fail": "bold red"}.get(c["status"], "dim")
        value = "—" if c["value"] is None else str(c["value"])
        table.add_row(c["name"], value, str(c["threshold"]), f"[{style}]{c['status']}[/]")
    console.print(table)
    console.print(f"report: {out_dir / 'report.html'}  {out_dir / 'report.json'}")
