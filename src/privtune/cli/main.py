"""The ``privtune`` command. Each stage's commands live in their own module (``register``).

Command modules import only typer/rich at import time and load the library inside the
command, so ``privtune --help`` stays fast whatever the stage pulls in (torch, ray, ...).

Exit codes: 0 success; 1 the command ran and found a problem it was asked to fail on
(``scan --fail-on``, a failing audit gate, a verify that finds tampering); 2 bad usage,
configuration or input; 130 interrupted.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from privtune import __version__
from privtune.cli import (
    apikeys,
    audit,
    demo,
    keys,
    log,
    model,
    monitor,
    run,
    sanitize,
    scan,
    seal,
    serve,
    train,
)
from privtune.cli.console import err_console
from privtune.errors import PrivtuneError

app = typer.Typer(
    name="privtune",
    help=(
        "Fine-tune LLMs on customer data without leaking it.\n\n"
        "Flow: scan -> sanitize -> seal -> train -> audit -> model -> serve -> monitor."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)
keys_app = typer.Typer(
    help="Keyring (init, rotate, rewrap) and gateway API keys (create, list, revoke).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"privtune {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Fine-tune LLMs on customer data without leaking it."""


for module in (demo, run, scan, seal, sanitize, train, audit, model, serve, log, monitor):
    module.register(app)
keys.register(keys_app)
apikeys.register(keys_app)


def main() -> None:
    """Entry point: user errors become one clear line and exit code 2, never a traceback."""
    try:
        app()
    except PrivtuneError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    main()
