"""``privtune log verify|export-head``: the gateway's tamper-evident request log."""

from __future__ import annotations

from pathlib import Path

import typer

CONFIG_OPT = typer.Option(None, "--config", "-c", help="privtune.yaml (serve, keys sections).")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    log_app = typer.Typer(help="The gateway's request log: verify the chain, export its head.",
                          no_args_is_help=True)
    app.add_typer(log_app, name="log")

    @log_app.command("verify", help=(
        "Recompute the request log's hash chain; with the exported signed head (default: "
        "serve.log_head_export) also detect a truncated tail. Exit 1 on any tampering."))
    def verify(
        head: Path | None = typer.Option(None, "--head", help="Signed head file to check "
                                         "against (default serve.log_head_export)."),
        no_head: bool = typer.Option(False, "--no-head", help="Skip the signed-head check."),
        json_out: bool = typer.Option(False, "--json", help="Print JSON."),
        config: Path | None = CONFIG_OPT,
    ) -> None:
        import json

        from privtune.cli.console import console
        from privtune.config import load_config
        from privtune.errors import InputError, Location
        from privtune.serve.reqlog import verify_log
        from privtune.serve.server import load_keyring, resolve_work_dir
        from privtune.serve.store import open_store

        cfg = resolve_work_dir(load_config(config), config)
        keyring = load_keyring(cfg)
        head_obj = None
        head_path = head
        if head_path is None and not no_head and cfg.serve.log_head_export and \
                not cfg.serve.log_head_export.startswith(("http://", "https://")):
            p = Path(cfg.serve.log_head_export)
            head_path = p if p.is_absolute() else Path(cfg.work_dir) / p
            if not head_path.exists():
                head_path = None
        if head_path is not None and not no_head:
            try:
                head_obj = json.loads(head_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read the signed head ({exc})", Location(head_path)) \
                    from exc
        store = open_store(cfg.serve.log_url, cfg.work_dir)
        rep = verify_log(store, keyring.derive_key("request-log"), head=head_obj,
                         public_key=keyring.signing_key().public_key())
        if json_out:
            typer.echo(json.dumps({"ok": rep.ok, "records": rep.records,
                                   "first_seq": rep.first_seq, "last_seq": rep.last_seq,
                                   "head_checked": head_obj is not None,
                                   "problems": rep.problems}))
        elif rep.ok:
            console.print(f"[green]ok[/]: {rep.records} records ({rep.first_seq}.."
                          f"{rep.last_seq}) verify"
                          + (", signed head matches" if head_obj else ", no signed head checked"),
                          highlight=False)
        else:
            console.print("[bold red]TAMPERED[/]:", highlight=False)
            for p in rep.problems:
                console.print(f"  - {p}", highlight=False)
        if not rep.ok:
            raise typer.Exit(1)

    @log_app.command("export-head", help=(
        "Sign the log's current head (Ed25519, the keyring's signing key) and write it to a "
        "file or POST it to a webhook (default serve.log_head_export)."))
    def export_head_cmd(
        out: str | None = typer.Option(None, "--out", help="File path or http(s) URL."),
        config: Path | None = CONFIG_OPT,
    ) -> None:
        from privtune.cli.console import err_console
        from privtune.config import load_config
        from privtune.errors import ConfigError
        from privtune.serve.reqlog import _state, export_head, sign_head
        from privtune.serve.server import load_keyring, resolve_work_dir
        from privtune.serve.store import ensure_schema, open_store

        cfg = resolve_work_dir(load_config(config), config)
        target = out or cfg.serve.log_head_export
        if not target:
            raise ConfigError("no target: pass --out or set serve.log_head_export")
        if not target.startswith(("http://", "https://")) and not Path(target).is_absolute():
            target = str(Path(cfg.work_dir) / target)
        keyring = load_keyring(cfg)
        store = open_store(cfg.serve.log_url, cfg.work_dir)
        ensure_schema(store)
        with store.transaction(lock=True):
            seq, mac, *_ = _state(store, keyring.derive_key("request-log"))
        export_head(target, sign_head(keyring.signing_key(), seq, mac))
        err_console.print(f"exported signed head at record {seq} to {target}", highlight=False)
