"""CLI for train: LLaMA-Factory fine-tuning with the seed's safe settings enforced."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("train")
    def train(
        config: Path = typer.Argument(
            ..., help="privtune.yaml (train.llamafactory: holds the LLaMA-Factory arguments)."
        ),
        resume: bool = typer.Option(
            False, "--resume", help="Continue from the latest (sealed) checkpoint."
        ),
        check: bool = typer.Option(False, "--check", help="Validate the configuration and exit."),
    ) -> None:
        """Fine-tune with LLaMA-Factory: sealed checkpoints, clean logs, no plaintext cache.

        Stops cleanly on SIGTERM (a checkpoint is saved first); continue with --resume.
        """
        from privtune.cli.console import console, err_console
        from privtune.config import load_config
        from privtune.train.settings import build_plan

        cfg = load_config(config)
        plan = build_plan(cfg, config)
        if check:
            console.print(f"configuration OK: output in {plan.out_dir}", highlight=False)
            return
        from privtune.train.runner import run_training

        # train.dp (DP-SGD, docs/dp.md) is applied inside run_training.
        summary = run_training(cfg, source=config, resume=resume)
        final = summary.get("final") or {}
        where = plan.out_dir / (final.get("path") or "")
        err_console.print(
            f"[bold]{summary['status']}[/] at step {summary.get('global_step')}: "
            f"{'sealed' if final.get('sealed') else 'plaintext'} model in {where}; "
            f"checkpoints: {', '.join(summary['checkpoints']) or 'none'}",
            highlight=False,
        )
        for note in summary.get("notes", []):
            err_console.print(f"note: {note}", highlight=False)
