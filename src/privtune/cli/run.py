"""``privtune run``: the whole safe fine-tuning chain from one privtune.yaml."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer


class StageName(StrEnum):
    scan = "scan"
    sanitize = "sanitize"
    seal = "seal"
    train = "train"
    audit = "audit"
    register = "register"


EXIT_CODES = (
    "Exit codes: 0 every stage finished (or was unchanged); 1 a safety gate did not hold (the "
    "--sample checks, the audit gate); 2 a stage failed or the configuration is invalid "
    "(earlier results are kept: run the same command again, or --from STAGE)."
)


def register(app: typer.Typer) -> None:
    """Add the ``run`` command to ``app``."""

    @app.command(
        "run",
        help=(
            "Run scan -> sanitize -> seal -> train -> audit -> register from one privtune.yaml "
            "(and serve with --serve). Resumable: WORK/.privtune/run-state.json records what "
            "finished; a rerun skips stages whose configuration and inputs are unchanged.\n\n"
            + EXIT_CODES
        ),
    )
    def run(
        config: Path = typer.Argument(..., help="privtune.yaml (see examples/privtune.yaml)."),
        from_stage: StageName | None = typer.Option(
            None,
            "--from",
            help="Run this stage and every later one again (earlier ones must have finished).",
        ),
        until: StageName | None = typer.Option(None, "--until", help="Stop after this stage."),
        sample: int | None = typer.Option(
            None,
            "--sample",
            min=1,
            help="Run every stage on the first N records first and "
            "start the full run only if every safety check held.",
        ),
        sample_only: bool = typer.Option(
            False, "--sample-only", help="With --sample: stop after the sample pass."
        ),
        force: bool = typer.Option(
            False, "--force", help="Run even though the last --sample pass failed."
        ),
        serve: bool = typer.Option(
            False, "--serve", help="After the run, start the gateway (serve: section)."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        from privtune.cli.console import console, err_console
        from privtune.errors import PrivtuneError
        from privtune.pipeline.api import SampleGateError, run_pipeline
        from privtune.pipeline.runner import PipelineError
        from privtune.pipeline.stages import STAGE_NAMES
        from privtune.pipeline.view import StageView

        if sample_only and sample is None:
            raise typer.BadParameter("--sample-only needs --sample N")
        view = StageView(err_console, STAGE_NAMES)
        report = None
        try:
            with view.live():
                report = run_pipeline(
                    config,
                    from_stage=from_stage.value if from_stage else None,
                    until=until.value if until else None,
                    sample=sample,
                    sample_only=sample_only,
                    force=force,
                    listener=view.listener,
                    progress=view.progress,
                    log=lambda m: None,
                )
        except SampleGateError as exc:
            rep = getattr(exc, "report", None)
            if rep is not None and rep.sample is not None:
                _render_sample(rep.sample, console)
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except PipelineError as exc:
            if exc.result is not None:
                from privtune.pipeline.view import render_outcomes

                render_outcomes(console, exc.result.outcomes, "privtune run (stopped)")
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except PrivtuneError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        if json_out:
            console.print_json(data=_to_json(report))
        else:
            _render(report, console)
        if serve and report.full is not None:
            _serve(config, report, err_console)


def _to_json(report) -> dict:  # type: ignore[no-untyped-def]
    out = {
        "work_dir": str(report.work_dir),
        "config": str(report.config_path),
        "sample": report.sample.to_json() if report.sample else None,
        "stages": [],
        "checks": [c.to_json() for c in report.checks],
    }
    if report.full is not None:
        out["state"] = str(report.full.state_path)
        out["stages"] = [
            {
                "name": o.name,
                "status": o.status,
                "reason": o.reason,
                "seconds": o.seconds,
                "outputs": o.outputs,
            }
            for o in report.full.outcomes
        ]
    return out


def _render_sample(sample, console) -> None:  # type: ignore[no-untyped-def]
    from privtune.pipeline.view import render_checks

    verdict = "[green]held[/]" if sample.ok else "[bold red]did not hold[/]"
    render_checks(
        console, sample.checks, f"--sample {sample.records} records: safety checks {verdict}"
    )
    console.print(f"sample outputs: {sample.work_dir}", highlight=False)


def _render(report, console) -> None:  # type: ignore[no-untyped-def]
    from privtune.pipeline.view import render_checks, render_outcomes

    if report.sample is not None:
        _render_sample(report.sample, console)
    if report.full is None:
        console.print(
            "sample pass only (--sample-only): the full run was not started", highlight=False
        )
        return
    render_outcomes(console, report.full.outcomes, "privtune run")
    if report.checks:
        render_checks(console, report.checks, "safety checks (full run)")
    info = {o.name: o.info for o in report.full.outcomes}
    lines = [f"work dir:      {report.work_dir}", f"run state:     {report.full.state_path}"]
    if info.get("sanitize", {}).get("out"):
        lines.append(
            f"training data: {info['sanitize']['out']}/processed "
            "(sanitized; inventory and canaries sealed next to it)"
        )
    if info.get("seal", {}).get("sealed"):
        lines.append(f"sealed raw:    {', '.join(info['seal']['sealed'])}")
    if info.get("train", {}).get("out_dir"):
        lines.append(
            f"model:         {info['train']['out_dir']}/final "
            f"({'sealed' if (info['train'].get('final') or {}).get('sealed') else 'plaintext'})"
        )
    if info.get("audit", {}).get("report_html"):
        lines.append(f"audit report:  {info['audit']['report_html']}")
    if info.get("register", {}).get("ref"):
        lines.append(
            f"registry:      {info['register']['ref']} in dev ({info['register']['registry']})"
        )
    for line in lines:
        console.print(line, highlight=False, markup=False)


def _serve(config: Path, report, err_console) -> None:  # type: ignore[no-untyped-def]
    from privtune.config import load_config
    from privtune.serve.server import serve

    cfg = load_config(config)
    cfg.work_dir = str(report.work_dir)  # the gateway resolves its paths against work_dir
    err_console.print(
        f"privtune gateway on http://{cfg.serve.host}:{cfg.serve.port}/v1", highlight=False
    )
    serve(cfg, config, cfg.serve.host, cfg.serve.port)  # honours serve.workers, settles the heap
