"""CLI for the keyring: ``keys init | rotate | rewrap | retire | status``.

Registered into the ``keys`` group (which also holds the gateway's API-key commands). Nothing
here prints key material: only key ids, versions, dates and paths.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.markup import escape

from privtune.cli.console import console, err_console
from privtune.cli.seal import ConfigOpt, ask_passphrase, base_dir, load, open_keyring


def _sealed_files(paths: list[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            yield from sorted(q for q in p.rglob("*.sealed") if q.is_file())
        else:
            yield p


def register(app: typer.Typer) -> None:
    """Add the keyring commands to the ``keys`` group."""

    @app.command("init")
    def init_cmd(config: Path | None = ConfigOpt) -> None:
        """Create the keyring: KEK version 1 from the configured provider, a master secret."""
        from privtune.seal import Keyring

        cfg = load(config)
        kr = Keyring.init(cfg.keys, base_dir(config, cfg.work_dir),
                          passphrase=ask_passphrase(cfg.keys, confirm=True))
        console.print(f"created keyring {kr.keyring_id} (provider {kr.provider_name}, "
                      f"key {kr.key_id}) in {kr.directory}", highlight=False, markup=False, soft_wrap=True)
        if kr.provider_name == "file":
            err_console.print("the key file is mode 0600: back it up somewhere safe; without "
                              "it sealed data cannot be opened", highlight=False, markup=False)

    @app.command("rotate")
    def rotate_cmd(config: Path | None = ConfigOpt) -> None:
        """Add a new KEK version and make it current (then run `privtune keys rewrap`)."""
        kr = open_keyring(config)
        old = kr.key_id
        new = kr.rotate()
        console.print(f"rotated {old} -> {new}", highlight=False, markup=False, soft_wrap=True)
        err_console.print("new files use the new key; move existing ones with "
                          "`privtune keys rewrap PATH...`", highlight=False, markup=False)

    @app.command("rewrap")
    def rewrap_cmd(
        paths: list[Path] = typer.Argument(..., help="Sealed files or folders (recursive)."),
        config: Path | None = ConfigOpt,
    ) -> None:
        """Rewrap sealed files' data keys under the current KEK (payloads untouched, atomic)."""
        from privtune.seal import SealError, rewrap_file

        kr = open_keyring(config)
        done = same = failed = 0
        for p in _sealed_files(paths):
            try:
                if rewrap_file(p, kr):
                    done += 1
                    console.print(f"rewrapped {p} -> {kr.key_id}", highlight=False, markup=False,
                                  soft_wrap=True)
                else:
                    same += 1
            except SealError as exc:
                failed += 1
                console.print("[red]FAIL[/] " + escape(f"{p}: {exc.message}"),
                              highlight=False, soft_wrap=True)
        console.print(f"{done} rewrapped, {same} already current, {failed} failed",
                      highlight=False, markup=False)
        if failed:
            raise typer.Exit(1)

    @app.command("retire")
    def retire_cmd(
        version: int = typer.Argument(..., help="KEK version to destroy (not the current one)."),
        config: Path | None = ConfigOpt,
    ) -> None:
        """Destroy an old KEK version: files still wrapped under it become unreadable."""
        kr = open_keyring(config)
        kr.retire(version)
        console.print(f"retired {kr.keyring_id}/v{version}", highlight=False, markup=False)

    @app.command("status")
    def status_cmd(
        paths: list[Path] = typer.Argument(None, help="Sealed files or folders to count by key."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
        config: Path | None = ConfigOpt,
    ) -> None:
        """Keyring id, provider, KEK versions; with PATHs, how many files use each version."""
        from privtune.seal import SealError, inspect_sealed

        kr = open_keyring(config)
        st = kr.status()
        if paths:
            counts: dict[str, int] = {}
            for p in _sealed_files(paths):
                try:
                    kid = inspect_sealed(p).key_id
                except SealError:
                    kid = "unreadable"
                counts[kid] = counts.get(kid, 0) + 1
            st["files"] = counts
            st["stale"] = sum(n for k, n in counts.items() if k != kr.key_id)
        if as_json:
            console.print_json(json.dumps(st))
            return
        console.print(f"keyring  {st['keyring']}  provider {st['provider']}  "
                      f"current {st['current']}", highlight=False, markup=False, soft_wrap=True)
        console.print(f"folder   {st['directory']}", highlight=False, markup=False, soft_wrap=True)
        for v in st["versions"]:
            console.print(f"  {v['key_id']}  created {v['created']}", highlight=False, markup=False)
        if paths:
            for kid, n in sorted(st["files"].items()):
                console.print(f"  {n} file(s) under {kid}", highlight=False, markup=False)
            if st["stale"]:
                console.print(f"{st['stale']} file(s) not on the current key: run "
                              "`privtune keys rewrap`", highlight=False, markup=False)
