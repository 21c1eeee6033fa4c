"""``privtune monitor``: one run (for cron) or ``--every 1h``.

Exit code of a single run: 0 nothing critical; 1 a critical alert was raised (a leak in the
request log, a failing re-audit, a tampered artifact or log); 2 bad configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from privtune.cli.console import console, err_console


def _open_keyring(cfg: Any, base: Path) -> tuple[Any, str | None]:
    """The keyring, or None and why (the monitor still re-scans and alerts without it)."""
    from privtune.cli import model as model_cli
    from privtune.errors import PrivtuneError

    try:
        return model_cli.open_keyring(cfg, base), None
    except (PrivtuneError, ImportError) as exc:
        return None, str(exc)


def _print_report(report: Any) -> None:
    r = report.rescan
    if r:
        console.print(f"request log: {r['records']} record(s) scanned from #{r['from_seq']}"
                      f"{' (full re-scan: rules changed)' if r.get('rules_changed') else ''}"
                      f", {r['with_text']} with text"
                      + ("" if r.get("chain_ok", True) else ", [red]hash chain broken[/]"))
    if report.verified:
        console.print(f"verified: {', '.join(report.verified)}")
    for a in report.audited:
        console.print(f"re-audit {a['ref']}: {a['verdict']}")
    for msg in report.skipped:
        console.print(f"[yellow]{msg}[/]", highlight=False)
    for a in report.alerts:
        color = {"critical": "red", "warning": "yellow"}.get(a["severity"], "white")
        action = f" → [bold]{a['action']}[/]" if a.get("action") else ""
        console.print(f"[{color}]{a['severity'].upper()} {a['kind']}[/]: {a['summary']}{action}",
                      highlight=False)
    if not report.alerts:
        console.print("[green]no alerts[/]")


def register(app: typer.Typer) -> None:
    """Add the ``monitor`` command to ``app``."""

    @app.command("monitor")
    def monitor_cmd(
        every: str | None = typer.Option(None, "--every",
                                         help="Loop: run every INTERVAL (30m, 1h, 1d). "
                                              "Default: monitor.every, else run once."),
        full: bool = typer.Option(False, "--full",
                                  help="Re-scan the whole request log, not only new records."),
        webhook: str | None = typer.Option(None, "--webhook", help="Alert webhook URL "
                                                                   "(overrides monitor.webhook)."),
        auto_revoke: bool | None = typer.Option(None, "--auto-revoke/--no-auto-revoke",
                                                help="Override monitor.auto_revoke."),
        config: Path | None = typer.Option(None, "--config", "-c", help="privtune.yaml."),
        registry_url: str | None = typer.Option(None, "--registry",
                                                envvar="PRIVTUNE_REGISTRY_URL",
                                                help="Registry URL (overrides registry.url)."),
        log_url: str | None = typer.Option(None, "--log-url",
                                           help="Request log URL (overrides serve.log_url)."),
        as_json: bool = typer.Option(False, "--json", help="One JSON report per run."),
        max_runs: int | None = typer.Option(None, "--max-runs", hidden=True),
    ) -> None:
        """Watch serving versions: verify, re-scan the request log, re-audit, alert, revoke.

        The request log is re-scanned with today's detection rules; alerts go to the log,
        monitor.alert_log and monitor.webhook; monitor.auto_revoke revokes by policy."""
        import json

        from privtune.cli.model import _base_dir
        from privtune.config import load_config
        from privtune.errors import PrivtuneError
        from privtune.monitor import Alerter, LogSink, Monitor, WebhookSink, parse_interval
        from privtune.monitor.runner import library_audit
        from privtune.registry import Registry, Store

        try:
            cfg = load_config(config)
            base = _base_dir(config, cfg.work_dir)
            mcfg = cfg.monitor
            if auto_revoke is not None:
                mcfg = mcfg.model_copy(update={"auto_revoke": auto_revoke})
            interval = every or mcfg.every
            every_s = parse_interval(interval) if interval else None
            sinks: list[Any] = [LogSink(base / mcfg.alert_log)]
            hook = webhook or mcfg.webhook
            if hook:
                sinks.append(WebhookSink(hook, timeout=mcfg.webhook_timeout_s))
            keyring, why = _open_keyring(cfg, base)
            store = Store(registry_url or cfg.registry.url, schema=cfg.registry.db_schema,
                          base_dir=base)
        except (PrivtuneError, ValueError) as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
        if keyring is None:
            err_console.print(f"[yellow]keyring unavailable ({why}): integrity checks and the "
                              "log's hash chain are skipped[/]", highlight=False)
        import logging

        # alerts are printed below and appended to monitor.alert_log; without a configured
        # logging handler Python would print each one a second time on stderr
        mlog = logging.getLogger("privtune.monitor")
        if not logging.getLogger().handlers and not mlog.handlers:
            mlog.addHandler(logging.NullHandler())
        audit_fn = library_audit(cfg, base, keyring) if mcfg.reaudit else None
        mon = Monitor(
            Registry(store, keyring), mcfg, alerter=Alerter(sinks), detect_config=cfg.detect,
            log_url=log_url or cfg.serve.log_url,
            log_key=keyring.derive_key("request-log") if keyring is not None else None,
            base_dir=base, state_path=base / ".privtune" / "monitor-state.json",
            audit_fn=audit_fn)

        def show(report: Any) -> None:
            if as_json:
                typer.echo(json.dumps(report.to_dict(), sort_keys=True))
            else:
                _print_report(report)

        try:
            if every_s is None:
                report = mon.run_once(full=full)
                show(report)
                if report.critical:
                    raise typer.Exit(1)
                return
            if not as_json:
                console.print(f"monitoring every {interval} (Ctrl-C to stop)")
            mon.run_forever(every_s, max_runs=max_runs, full_first=full, on_report=show)
        except PrivtuneError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        finally:
            store.close()
