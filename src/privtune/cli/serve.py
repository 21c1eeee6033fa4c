"""``privtune serve``: the OpenAI-compatible gateway (docs/serve.md)."""

from __future__ import annotations

from pathlib import Path

import typer

CONFIG_OPT = typer.Option(None, "--config", "-c", help="privtune.yaml (serve, keys sections).")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command(help=(
        "Run the OpenAI-compatible gateway in front of vLLM (or any OpenAI-compatible server, "
        "or an embedded small model): per-environment API keys, output filtering (streaming "
        "too), a tamper-evident request log. Binds 127.0.0.1 unless serve.host says otherwise."
    ))
    def serve(
        config: Path | None = CONFIG_OPT,
        host: str | None = typer.Option(None, "--host", help="Override serve.host."),
        port: int | None = typer.Option(None, "--port", help="Override serve.port."),
        upstream: str | None = typer.Option(None, "--upstream",
                                            help="Override serve.upstream (base URL)."),
        workers: int | None = typer.Option(None, "--workers", help="Override serve.workers."),
        log_level: str = typer.Option("warning", "--log-level"),
    ) -> None:
        from privtune.cli.console import err_console
        from privtune.config import load_config
        from privtune.serve.server import resolve_work_dir
        from privtune.serve.server import serve as serve_gateway

        cfg = resolve_work_dir(load_config(config), config)
        if upstream:
            cfg.serve.upstream = upstream
        if workers:
            cfg.serve.workers = workers
        h, p = host or cfg.serve.host, port or cfg.serve.port
        err_console.print(f"privtune gateway on http://{h}:{p}/v1 "
                          f"(upstream: {cfg.serve.upstream or cfg.serve.embedded_model}, "
                          f"{cfg.serve.workers} worker(s))", highlight=False, soft_wrap=True)
        serve_gateway(cfg, config, h, p, log_level=log_level)
