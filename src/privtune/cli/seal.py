"""CLI for sealing: ``seal``, ``unseal``, ``verify``, ``shred``.

Thin: parse, call :mod:`privtune.seal`, render. Results go to stdout, progress and messages to
stderr. Exit codes: 0 ok, 1 a sealed file failed verification, 2 bad usage or configuration.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from privtune.cli.console import console, err_console

SUFFIX = ".sealed"
PROGRESS_MIN = 16 << 20  # show a progress bar for files of 16 MiB and more

ConfigOpt = typer.Option(None, "--config", "-c", help="privtune.yaml (keys: and seal: sections).")


def base_dir(config: Path | None, work_dir: str) -> Path:
    """``work_dir`` resolved against the config file's folder (or the current directory)."""
    from privtune.config import work_dir_path

    return work_dir_path(config, work_dir)


def load(config: Path | None) -> Any:
    from privtune.config import load_config

    return load_config(config)


def open_keyring(config: Path | None, *, passphrase_prompt: bool = True) -> Any:
    from privtune.seal import Keyring

    cfg = load(config)
    return Keyring.from_config(cfg.keys, base_dir(config, cfg.work_dir),
                               passphrase=ask_passphrase(cfg.keys) if passphrase_prompt else None)


def ask_passphrase(keys: Any, *, confirm: bool = False) -> str | None:
    """For the passphrase provider with no passphrase in the environment: prompt (hidden)."""
    import os
    import sys

    if keys.provider != "passphrase" or os.environ.get(keys.passphrase_env):
        return None
    if not sys.stdin.isatty():
        return None  # the keyring explains which variable to set
    return typer.prompt("Keyring passphrase", hide_input=True, confirmation_prompt=confirm,
                        err=True)


@contextlib.contextmanager
def progress_bar(label: str, total: int) -> Iterator[Any]:
    """A rich progress bar on stderr for large files; a no-op callback otherwise."""
    if total < PROGRESS_MIN or not err_console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=err_console,
                  transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("seal")
    def seal_cmd(
        paths: list[Path] = typer.Argument(..., help="Files to seal."),
        remove_original: bool | None = typer.Option(
            None, "--remove-original/--keep-original",
            help="Shred each original after its sealed copy was read back and matched its "
                 "sha256 (default: data.remove_original)."),
        out: Path | None = typer.Option(None, "--out", "-o",
                                        help="Folder for the sealed files (default: beside "
                                             "each original)."),
        chunk_size: int | None = typer.Option(None, "--chunk-size",
                                              help="Plaintext bytes per chunk "
                                                   "(default: seal.chunk_size)."),
        config: Path | None = ConfigOpt,
    ) -> None:
        """Encrypt files at rest (AES-256-GCM, chunked, authenticated): PATH -> PATH.sealed."""
        from privtune.errors import InputError
        from privtune.seal import seal_file

        cfg = load(config)
        keyring = open_keyring(config)
        remove = cfg.data.remove_original if remove_original is None else remove_original
        cs = chunk_size or cfg.seal.chunk_size
        for src in paths:
            if not src.is_file():
                raise InputError("not a regular file", _loc(src))
            if src.name.endswith(SUFFIX):
                raise InputError("already sealed (ends in .sealed)", _loc(src))
        for src in paths:
            dst = (out if out else src.parent) / (src.name + SUFFIX)
            size = src.stat().st_size
            with progress_bar(f"sealing {src.name}", size) as advance:
                seal_file(src, dst, keyring, chunk_size=cs, remove_original=remove,
                          progress=advance)
            note = " (original verified and shredded)" if remove else ""
            console.print(f"sealed {src} -> {dst} ({_size(size)}, key {keyring.key_id}){note}",
                          highlight=False, markup=False, soft_wrap=True)

    @app.command("unseal")
    def unseal_cmd(
        path: Path = typer.Argument(..., help="A sealed file."),
        to: str = typer.Option(..., "--to", help="Output file, or - for stdout."),
        config: Path | None = ConfigOpt,
    ) -> None:
        """Decrypt a sealed file. Output appears only once every chunk has authenticated."""
        import sys

        from privtune.errors import InputError
        from privtune.seal import open_sealed, unseal_file, verify_sealed

        if not path.is_file():
            raise InputError("no such sealed file", _loc(path))
        keyring = open_keyring(config)
        size = path.stat().st_size
        if to == "-":
            # authenticate everything first: a tampered file writes nothing to stdout
            verify_sealed(path, keyring)
            with open_sealed(path, keyring) as r:
                for i in range(r.chunks):
                    sys.stdout.buffer.write(r.read_chunk(i))
            sys.stdout.buffer.flush()
            return
        with progress_bar(f"unsealing {path.name}", size) as advance:
            dst = unseal_file(path, Path(to), keyring, progress=advance)
        err_console.print(f"unsealed {path} -> {dst} (plaintext on disk: put it on tmpfs and "
                          "remove it with `privtune shred`)", highlight=False, markup=False, soft_wrap=True)

    @app.command("verify")
    def verify_cmd(
        paths: list[Path] = typer.Argument(..., help="Sealed files."),
        config: Path | None = ConfigOpt,
    ) -> None:
        """Authenticate sealed files end to end (exit 1 if any fails)."""
        from privtune.seal import SealError, verify_sealed

        keyring = open_keyring(config)
        failed = 0
        for p in paths:
            try:
                with progress_bar(f"verifying {p.name}", p.stat().st_size) as advance:
                    info = verify_sealed(p, keyring, progress=advance)
            except FileNotFoundError:
                failed += 1
                console.print("[red]FAIL[/] " + escape(f"{p}: no such file (not_found)"), highlight=False)
            except SealError as exc:
                failed += 1
                console.print("[red]FAIL[/] " + escape(f"{p}: {exc.message}"),
                              highlight=False, soft_wrap=True)
            else:
                console.print("[green]ok[/] " + escape(f"{p} ({_size(info.length)}, {info.chunks} chunks, "
                              f"key {info.key_id}, sha256 {info.sha256})"), highlight=False,
                              soft_wrap=True)
        if failed:
            raise typer.Exit(1)

    @app.command("shred")
    def shred_cmd(
        paths: list[Path] = typer.Argument(..., help="Files to remove."),
        crypto: bool = typer.Option(False, "--crypto",
                                    help="Destroy the sealed file's wrapped data key (fsync'd) "
                                         "before removing it: dependable on SSDs and "
                                         "copy-on-write filesystems."),
    ) -> None:
        """Remove files for good: overwrite, fsync, unlink (see docs/keys.md for the limits)."""
        from privtune.errors import InputError
        from privtune.seal import crypto_shred, inspect_sealed, shred

        for p in paths:
            if not p.is_file() or p.is_symlink():
                raise InputError("not a regular file", _loc(p))
        for p in paths:
            if crypto:
                inspect_sealed(p)  # only sealed files have a data key to destroy
                crypto_shred(p, unlink=False)
            shred(p)
            console.print(f"shredded {p}" + (" (data key destroyed)" if crypto else ""),
                          highlight=False, markup=False, soft_wrap=True)


def _loc(p: Path) -> Any:
    from privtune.errors import Location

    return Location(p)
