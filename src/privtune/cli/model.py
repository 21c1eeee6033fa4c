"""``privtune model``: register, promote, revoke, rollback, verify, list, show, shred.

Exit codes: 0 done; 1 the gate refused (promote, rollback) or verify found tampering;
2 bad usage, configuration or an unknown version.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from privtune.cli.console import console, err_console

ConfigOpt = typer.Option(None, "--config", "-c", help="privtune.yaml (registry.url, keys).")
RegistryOpt = typer.Option(None, "--registry", envvar="PRIVTUNE_REGISTRY_URL",
                           help="Registry URL (overrides registry.url): sqlite:///path or "
                                "postgresql://...")
ActorOpt = typer.Option(None, "--actor", help="Who does this (default: the OS user).")
JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")


def _base_dir(config: Path | None, work_dir: str) -> Path:
    from privtune.config import work_dir_path

    return work_dir_path(config, work_dir)


def _load(config: Path | None) -> tuple[Any, Path]:
    from privtune.config import load_config

    cfg = load_config(config)
    return cfg, _base_dir(config, cfg.work_dir)


def open_keyring(cfg: Any, base: Path) -> Any:
    """The keyring of ``cfg`` (its Ed25519 key signs and verifies manifests); the passphrase
    provider prompts on a terminal when its environment variable is not set."""
    from privtune.cli.seal import ask_passphrase
    from privtune.seal import Keyring

    return Keyring.from_config(cfg.keys, base, passphrase=ask_passphrase(cfg.keys))


class _LazyKeyring:
    """Opens the keyring only when a command needs the signing key (revoke does not: a
    revocation must work even when the key provider is unreachable)."""

    def __init__(self, cfg: Any, base: Path) -> None:
        self._cfg, self._base, self._kr = cfg, base, None

    def signing_key(self) -> Any:
        if self._kr is None:
            self._kr = open_keyring(self._cfg, self._base)
        return self._kr.signing_key()


@contextlib.contextmanager
def _registry(config: Path | None, url: str | None) -> Iterator[Any]:
    from privtune.registry import Registry, Store

    cfg, base = _load(config)
    store = Store(url or cfg.registry.url, schema=cfg.registry.db_schema, base_dir=base)
    try:
        yield Registry(store, _LazyKeyring(cfg, base))
    finally:
        store.close()


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """User errors: one clear message on stderr and the error's exit code, never a traceback."""
    from privtune.errors import PrivtuneError

    try:
        yield
    except PrivtuneError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(exc.exit_code) from None


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _envs(info: Any) -> str:
    return ", ".join(info.environments) or "-"


def _status(status: str) -> str:
    color = {"active": "green", "revoked": "red", "shredded": "magenta"}.get(status, "white")
    return f"[{color}]{status}[/]"


def _verdict(v: str | None) -> str:
    return {"pass": "[green]pass[/]", "fail": "[red]fail[/]"}.get(v or "", v or "[dim]none[/]")


def register(app: typer.Typer) -> None:
    """Add the ``model`` group to ``app``."""
    model = typer.Typer(help="Model registry: signed versions, gated promotion dev→test→prod, "
                             "revoke, rollback, verify, shred.",
                        no_args_is_help=True)
    app.add_typer(model, name="model")

    @model.command("register")
    def register_cmd(
        path: Path = typer.Argument(..., help="Artifact directory (or one file) to register."),
        name: str = typer.Option(..., "--name", "-n", help="Model name."),
        version: str = typer.Option(..., "--version", "-v", help="Version (immutable)."),
        audit_report: Path | None = typer.Option(None, "--audit-report",
                                                 help="report.json of `privtune audit`."),
        dataset_fingerprint: str | None = typer.Option(
            None, "--dataset-fingerprint", help="Fingerprint of the training data."),
        dataset: Path | None = typer.Option(
            None, "--dataset", help="Compute the fingerprint from this processed/ directory."),
        base_model: str | None = typer.Option(None, "--base-model", help="Lineage: base model."),
        parent: str | None = typer.Option(None, "--parent", help="Lineage: NAME:VERSION."),
        served_as: str | None = typer.Option(None, "--served-as",
                                             help="Upstream model name the gateway uses."),
        notes: str | None = typer.Option(None, "--notes"),
        actor: str | None = ActorOpt,
        config: Path | None = ConfigOpt,
        registry_url: str | None = RegistryOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Sign a new version (artifact hashes, audit report, lineage); it starts in dev."""
        with _errors():
            from privtune.registry.manifest import tree_fingerprint

            cfg, _ = _load(config)
            fp = dataset_fingerprint
            if dataset is not None:
                computed = tree_fingerprint(dataset)
                if fp and fp != computed:
                    err_console.print(f"[yellow]warning:[/] --dataset-fingerprint {fp} differs "
                                      f"from the fingerprint of {dataset} ({computed})")
                fp = fp or computed
            with _registry(config, registry_url) as reg:
                info = reg.register(
                    path, name, version, audit_report=audit_report, dataset_fingerprint=fp,
                    config=cfg.model_dump(mode="json") if config else None,
                    base_model=base_model, parent=parent, served_as=served_as, actor=actor,
                    notes=notes)
        if as_json:
            _echo_json(info.to_dict(with_manifest=True))
            return
        audit = info.manifest.get("audit")
        console.print(f"registered [bold]{info.ref}[/] ({len(info.manifest['artifacts']['files'])}"
                      f" files, key {info.key_id}) in dev")
        if audit is None:
            console.print("[yellow]no audit report bound: promotion will be refused[/]")
        elif not audit["bound"] or audit["verdict"] != "pass":
            console.print(f"[yellow]audit verdict {audit['verdict']!r}, bound to these "
                          f"artifacts: {audit['bound']}: promotion will be refused[/]")

    @model.command("promote")
    def promote_cmd(
        ref: str = typer.Argument(..., metavar="NAME:VERSION"),
        to: str = typer.Option(..., "--to", help="test or prod."),
        reason: str | None = typer.Option(None, "--reason", help="Why (recorded)."),
        actor: str | None = ActorOpt,
        config: Path | None = ConfigOpt,
        registry_url: str | None = RegistryOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Promote a version (dev→test→prod) if it passes the gate.

        The gate: a valid signature, unchanged artifacts, and a passing audit report bound to
        exactly these artifact hashes."""
        from privtune.registry import PromotionRefused

        with _errors(), _registry(config, registry_url) as reg:
            try:
                change = reg.promote(ref, to, reason=reason, actor=actor)
            except PromotionRefused as exc:
                if as_json:
                    _echo_json({"promoted": False, "ref": ref, "to": to, "reasons": exc.reasons})
                    raise typer.Exit(1) from None
                err_console.print(f"[bold red]refused:[/] promotion of {ref} to {to}",
                                  highlight=False)
                for r in exc.reasons:
                    err_console.print(f"  - {r}", highlight=False)
                raise typer.Exit(1) from None
        if as_json:
            _echo_json({"promoted": True, **change.to_dict()})
        else:
            was = f" (was {change.previous})" if change.previous else ""
            console.print(f"promoted [bold]{ref}[/] to [bold]{to}[/]{was}")

    @model.command("revoke")
    def revoke_cmd(
        ref: str = typer.Argument(..., metavar="NAME:VERSION"),
        reason: str = typer.Option(..., "--reason", help="Why (recorded in the audit trail)."),
        actor: str | None = ActorOpt,
        config: Path | None = ConfigOpt,
        registry_url: str | None = RegistryOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Withdraw a version now; each environment falls back to its previous good version."""
        with _errors(), _registry(config, registry_url) as reg:
            changes = reg.revoke(ref, reason=reason, actor=actor)
        if as_json:
            _echo_json({"revoked": ref, "aliases": [c.to_dict() for c in changes]})
            return
        console.print(f"revoked [bold]{ref}[/]: {reason}")
        for c in changes:
            now = c.current or "[red]nothing (the gateway refuses this model)[/]"
            console.print(f"  {c.environment}: {c.previous} → {now}")

    @model.command("rollback")
    def rollback_cmd(
        name: str = typer.Argument(..., help="Model name."),
        env: str = typer.Option("prod", "--env", help="Environment whose alias moves."),
        to: str | None = typer.Option(None, "--to", help="Version (default: previous good)."),
        reason: str | None = typer.Option(None, "--reason"),
        actor: str | None = ActorOpt,
        config: Path | None = ConfigOpt,
        registry_url: str | None = RegistryOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Move an environment back to a version it served before (verified first)."""
        from privtune.registry import PromotionRefused

        with _errors(), _registry(config, registry_url) as reg:
            try:
                change = reg.rollback(name, env, to=to, reason=reason, actor=actor)
            except PromotionRefused as exc:
                err_console.print(f"[bold red]refused:[/] {exc.message}", highlight=False)
                for r in exc.reasons:
                    err_console.print(f"  - {r}", highlight=False)
                raise typer.Exit(1) from None
        if as_json:
            _echo_json(change.to_dict())
        else:
            console.print(f"{name} in {env}: {change.previous} → [bold]{change.current}[/]")

    @model.command("verify")
    def verify_cmd(
        ref: str = typer.Argument(..., metavar="NAME:VERSION"),
        config: Path | None = ConfigOpt,
        registry_url: str | None = RegistryOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Recompute artifact hashes and check the signature (exit 1 when tampered)."""
        with _errors(), _registry(config, registry_url) as reg:
            result = reg.verify(ref)
            trail = reg.verify_trail()
        if as_json:
            _echo_json({**result.to_dict(), "trail_problems": trail})
        else:
            sig = "[green]valid[/]" if result.signature_ok else "[red]INVALID[/]"
            console.print(f"{ref} ({result.status}): signature {sig}, "
                          f"{result.files_checked} files checked")
            for p in result.problems:
                console.print(f"  [red]✗[/] {p}", highlight=False)
            for p in trail:
                console.print(f"  [red]✗ audit trail:[/] {p}", highlight=False)
            if result.ok and not trail:
                console.print("[green]ok[/]: artifacts match the signed manifest")
        if not result.ok or trail:
            raise typer.Exit(1)

    @model.command("list")
    def list_cmd(
        name: str | None = typer.Argument(None, help="Only this model."),
        config: Path | None = ConfigOpt,
        registry_url: str | None = RegistryOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Versions with status, environments, audit verdict and lineage."""
        with _errors(), _registry(config, registry_url) as reg:
            infos = reg.list(name)
        if as_json:
            _echo_json([i.to_dict() for i in infos])
            return
        from rich.table import Table

        table = Table(title="model registry")
        for col in ("model", "version", "status", "serving in", "reached", "audit", "parent",
                    "registered"):
            table.add_column(col)
        for i in infos:
            lineage = i.manifest.get("lineage") or {}
            table.add_row(i.name, i.version, _status(i.status), _envs(i), "→".join(i.stages),
                          _verdict(i.verdict), lineage.get("parent") or "-",
                          f"{i.registered_at[:19]} {i.registered_by}")
        console.print(table)

    @model.command("show")
    def show_cmd(
        ref: str = typer.Argument(..., metavar="NAME:VERSION"),
        config: Path | None = ConfigOpt,
        registry_url: str | None = RegistryOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """One version: manifest, lineage, environments and its history."""
        with _errors(), _registry(config, registry_url) as reg:
            info = reg.get(ref)
            history = [d for d in reg.deployments(info.name) if d["version"] == info.version]
            events = reg.events(info.name, info.version)
        if as_json:
            _echo_json({**info.to_dict(with_manifest=True), "deployments": history,
                        "events": events})
            return
        from rich.table import Table

        m = info.manifest
        lineage = m.get("lineage") or {}
        audit = m.get("audit") or {}
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style="bold")
        facts.add_column()
        rows = [
            ("status", _status(info.status)
             + (f" ({info.status_reason}, {info.status_by})" if info.status_reason else "")),
            ("serving in", _envs(info)), ("reached", " → ".join(info.stages) or "-"),
            ("artifacts", f"{info.artifact_path} ({len(m['artifacts']['files'])} files, "
                          f"{m['artifacts']['total_size']} bytes)"),
            ("audit", f"{_verdict(audit.get('verdict'))}, bound: {audit.get('bound', False)}"
                      f", report sha256 {str(audit.get('report_sha256', '-'))[:16]}"),
            ("dataset", str(m.get("dataset_fingerprint") or "-")),
            ("config", str(m.get("config_sha256") or "-")),
            ("base model", str(lineage.get("base_model") or "-")),
            ("parent", str(lineage.get("parent") or "-")),
            ("signed by", info.key_id),
            ("registered", f"{info.registered_at} by {info.registered_by}"),
        ]
        for k, v in rows:
            facts.add_row(k, v)
        console.print(f"[bold]{info.ref}[/]")
        console.print(facts)
        files = Table(title="artifacts")
        files.add_column("file")
        files.add_column("size", justify="right")
        files.add_column("sha256")
        for rel, meta in sorted(m["artifacts"]["files"].items()):
            files.add_row(rel, str(meta["size"]), meta["sha256"])
        console.print(files)
        trail = Table(title="history")
        for col in ("at", "action", "env", "actor", "detail"):
            trail.add_column(col)
        for e in events:
            detail = e["detail"]
            text = "; ".join(f"{k}={v}" for k, v in detail.items() if v not in (None, [], {}))
            trail.add_row(e["at"][:19], e["action"], e["environment"] or "-", e["actor"], text)
        console.print(trail)

    @model.command("shred")
    def shred_cmd(
        ref: str = typer.Argument(..., metavar="NAME:VERSION"),
        yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
        include_unsealed: bool = typer.Option(
            False, "--include-unsealed",
            help="Also overwrite and remove unsealed artifact files (best effort)."),
        reason: str | None = typer.Option(None, "--reason"),
        actor: str | None = ActorOpt,
        config: Path | None = ConfigOpt,
        registry_url: str | None = RegistryOpt,
    ) -> None:
        """Crypto-shred a revoked version's sealed artifacts (irreversible)."""
        with _errors(), _registry(config, registry_url) as reg:
            info = reg.get(ref)
            if not yes and not typer.confirm(
                    f"crypto-shred the {len(info.manifest['artifacts']['files'])} artifact "
                    f"file(s) of {ref}? This cannot be undone", default=False):
                raise typer.Exit(1)
            done = reg.shred(ref, actor=actor, reason=reason, include_unsealed=include_unsealed)
        console.print(f"shredded {len(done)} artifact file(s) of [bold]{ref}[/]: sealed files' "
                      "data keys are destroyed")


__all__ = ["open_keyring", "register"]
