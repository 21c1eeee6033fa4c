"""``privtune keys create|list|revoke``: gateway API keys (the keyring commands live in
``privtune.cli.keys``; both register into the same ``keys`` group)."""

from __future__ import annotations

from pathlib import Path

import typer

CONFIG_OPT = typer.Option(None, "--config", "-c", help="privtune.yaml (serve, keys sections).")


def _store(config: Path | None):  # -> KeyStore
    from privtune.config import load_config
    from privtune.serve.apikeys import KeyStore
    from privtune.serve.server import load_keyring, resolve_work_dir
    from privtune.serve.store import open_store

    cfg = resolve_work_dir(load_config(config), config)
    keyring = load_keyring(cfg)
    return cfg, KeyStore(open_store(cfg.serve.log_url, cfg.work_dir),
                         keyring.derive_key("api-keys"))


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("create", help=(
        "Create a gateway API key bound to one environment and a set of model aliases. The "
        "key is printed once and stored only as an HMAC."))
    def create(
        env: str = typer.Option(..., "--env", "-e", help="Environment (dev, test, prod...)."),
        alias: list[str] = typer.Option(..., "--alias", "-a",
                                        help="Model alias the key may use ('*': all of its "
                                             "environment). Repeatable."),
        name: str = typer.Option("", "--name", help="A label for humans."),
        rpm: int | None = typer.Option(None, "--rpm", help="Requests per minute "
                                       "(default serve.default_rpm)."),
        json_out: bool = typer.Option(False, "--json", help="Print JSON."),
        config: Path | None = CONFIG_OPT,
    ) -> None:
        import json

        from privtune.cli.console import console, err_console

        cfg, store = _store(config)
        token, rec = store.create(env, alias, name=name, rpm=rpm or cfg.serve.default_rpm)
        if json_out:
            typer.echo(json.dumps({**rec.public(), "api_key": token}))
            return
        err_console.print(f"created key [bold]{rec.key_id}[/] for environment "
                          f"[bold]{rec.environment}[/] ({', '.join(sorted(rec.aliases))}); "
                          "it is shown once, store it now:", highlight=False)
        console.print(token, highlight=False, soft_wrap=True)

    @app.command("list", help="List gateway API keys (ids and bindings, never the keys).")
    def list_(
        json_out: bool = typer.Option(False, "--json", help="Print JSON."),
        config: Path | None = CONFIG_OPT,
    ) -> None:
        import json
        import time

        from rich.table import Table

        from privtune.cli.console import console

        _, store = _store(config)
        keys = store.list()
        if json_out:
            typer.echo(json.dumps([k.public() for k in keys]))
            return
        table = Table("key id", "name", "env", "aliases", "rpm", "created", "status")
        for k in keys:
            table.add_row(k.key_id, k.name, k.environment, ",".join(sorted(k.aliases)),
                          str(k.rpm), time.strftime("%Y-%m-%d %H:%M", time.gmtime(k.created_at)),
                          "active" if k.active else "revoked")
        console.print(table)

    @app.command("revoke", help="Revoke a gateway API key; refused from the next request on.")
    def revoke(
        key_id: str = typer.Argument(..., help="The key id (see `privtune keys list`)."),
        config: Path | None = CONFIG_OPT,
    ) -> None:
        from privtune.cli.console import err_console

        _, store = _store(config)
        rec = store.revoke(key_id)
        err_console.print(f"revoked key {rec.key_id} ({rec.environment})", highlight=False)
