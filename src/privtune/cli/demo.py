"""``privtune demo``: the pipeline on bundled synthetic data (for now: the scan step)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command(help=(
        "Run privtune on the bundled synthetic customer-service data (2,000 invented "
        "Chinese and English chats full of PII). For now this scans it and prints the "
        "findings report; later versions run the whole pipeline (sanitize, seal, train, "
        "audit, serve)."
    ))
    def demo(
        show_masked: bool = typer.Option(
            False, "--show-masked", help="Show masked previews of the (invented) values."),
        json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        limit: int = typer.Option(10, "--limit", min=0, help="Locations shown in the table."),
    ) -> None:
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
            sys.stdout.buffer.write(orjson.dumps(report.to_json(),
                                                 option=orjson.OPT_INDENT_2) + b"\n")
            return
        console.print(f"[bold]privtune demo[/]: scanning the bundled synthetic data "
                      f"({DEMO_DATA.name})", highlight=False)
        report.render(console, limit=limit, show_masked=show_masked)
        console.print(
            "\nNext: [bold]privtune sanitize[/] removes these before training "
            "(metadata such as customer_id and agent_email is dropped by minimization).",
            highlight=False)
