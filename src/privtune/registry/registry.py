"""The model registry: register, promote, revoke, rollback, verify, shred, list, show.

Lifecycle of one version ``name:version``::

    register ──► dev ──promote──► test ──promote──► prod
        │                                             │
        └────────────── revoke (any time) ◄───────────┘ ──► shred (sealed artifacts)

* ``register`` hashes every artifact file, binds the audit report, signs the manifest with
  the keyring's Ed25519 key and points the ``dev`` alias at the new version.
* ``promote`` is the gate: signature valid, artifacts on disk still match the manifest, and a
  passing audit report bound to exactly those hashes; ``prod`` also needs the version to have
  been in ``test``. Every refusal lists each failed check.
* ``revoke`` marks a version revoked and, in the same transaction, moves every alias that
  pointed at it back to the previous good version of that environment (or removes the alias
  when there is none, so the gateway refuses the model).
* ``rollback`` moves an alias back explicitly, only to a version that was in that environment
  before, and only after its signature and hashes verify.

Every change is one transaction and appends an event to a hash-chained audit trail.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from privtune.registry import manifest as mf
from privtune.registry.errors import PromotionRefused, RegistryError
from privtune.registry.store import Store, Tx

ENVIRONMENTS: tuple[str, ...] = ("dev", "test", "prod")
ACTIVE, REVOKED, SHREDDED = "active", "revoked", "shredded"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_GENESIS = "0" * 64


class SigningKeySource(Protocol):
    """What the registry needs from ``privtune.seal.Keyring``."""

    def signing_key(self) -> Any: ...  # Ed25519PrivateKey


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def current_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"uid:{os.getuid()}"


def parse_ref(ref: str) -> tuple[str, str]:
    """``"name:version"`` → ``(name, version)``."""
    name, sep, version = ref.rpartition(":")
    if not sep or not name or not version:
        raise RegistryError(f"expected NAME:VERSION, got {ref!r}")
    return name, version


@dataclass
class VersionInfo:
    name: str
    version: str
    status: str
    registered_at: str
    registered_by: str
    artifact_path: str
    verdict: str | None
    environments: list[str]
    stages: list[str]
    status_reason: str | None
    status_at: str
    status_by: str
    key_id: str
    manifest: dict[str, Any] = field(repr=False)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self, *, with_manifest: bool = False) -> dict[str, Any]:
        out = asdict(self)
        if not with_manifest:
            out.pop("manifest")
        out["lineage"] = self.manifest.get("lineage", {})
        out["dataset_fingerprint"] = self.manifest.get("dataset_fingerprint")
        out["config_sha256"] = self.manifest.get("config_sha256")
        out["files"] = len(self.manifest.get("artifacts", {}).get("files", {}))
        return out


@dataclass
class VerifyResult:
    ref: str
    signature_ok: bool
    files_checked: int
    problems: list[str]
    status: str

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class AliasChange:
    name: str
    environment: str
    previous: str | None
    current: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Registry:
    """The registry library. ``keyring`` is needed to register and to verify (its public key)."""

    def __init__(self, store: Store, keyring: SigningKeySource | None = None) -> None:
        self.store = store
        self._keyring = keyring

    # --- keys ---------------------------------------------------------------------------
    def _private_key(self) -> Any:
        if self._keyring is None:
            raise RegistryError("this operation needs the keyring (registry signing key)")
        return self._keyring.signing_key()

    def _public_key(self) -> Any:
        return self._private_key().public_key()

    # --- reads --------------------------------------------------------------------------
    def _row(self, tx: Tx, name: str, version: str) -> dict[str, Any]:
        row = tx.one("SELECT * FROM model_versions WHERE name = ? AND version = ?",
                     (name, version))
        if row is None:
            raise RegistryError(f"no model version {name}:{version} in the registry")
        return row

    def _info(self, tx: Tx, row: Mapping[str, Any]) -> VersionInfo:
        envs = [r["environment"] for r in tx.all(
            "SELECT environment FROM model_aliases WHERE name = ? AND version = ?",
            (row["name"], row["version"]))]
        stages = {r["environment"] for r in tx.all(
            "SELECT DISTINCT environment FROM model_deployments WHERE name = ? AND version = ?",
            (row["name"], row["version"]))}
        try:
            manifest = json.loads(row["manifest"])
        except ValueError:
            manifest = {}
        audit = manifest.get("audit") or {}
        return VersionInfo(
            name=row["name"], version=row["version"], status=row["status"],
            registered_at=row["registered_at"], registered_by=row["registered_by"],
            artifact_path=row["artifact_path"], verdict=audit.get("verdict"),
            environments=sorted(envs, key=ENVIRONMENTS.index),
            stages=[e for e in ENVIRONMENTS if e in stages],
            status_reason=row["status_reason"], status_at=row["status_at"],
            status_by=row["status_by"], key_id=row["key_id"], manifest=manifest)

    def get(self, ref: str) -> VersionInfo:
        name, version = parse_ref(ref)
        with self.store.transaction(write=False) as tx:
            return self._info(tx, self._row(tx, name, version))

    def list(self, name: str | None = None) -> list[VersionInfo]:
        with self.store.transaction(write=False) as tx:
            if name:
                rows = tx.all("SELECT * FROM model_versions WHERE name = ? ORDER BY seq", (name,))
            else:
                rows = tx.all("SELECT * FROM model_versions ORDER BY name, seq")
            return [self._info(tx, r) for r in rows]

    def aliases(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.store.transaction(write=False) as tx:
            sql = "SELECT * FROM model_aliases"
            rows = (tx.all(sql + " WHERE name = ? ORDER BY name, environment", (name,)) if name
                    else tx.all(sql + " ORDER BY name, environment"))
        return rows

    def alias(self, name: str, environment: str) -> str | None:
        """The version an environment's alias points at, only if that version is active."""
        with self.store.transaction(write=False) as tx:
            row = tx.one(
                "SELECT a.version FROM model_aliases a JOIN model_versions v "
                "ON v.name = a.name AND v.version = a.version "
                "WHERE a.name = ? AND a.environment = ? AND v.status = ?",
                (name, environment, ACTIVE))
        return row["version"] if row else None

    def deployments(self, name: str, environment: str | None = None) -> list[dict[str, Any]]:
        with self.store.transaction(write=False) as tx:
            if environment:
                return tx.all("SELECT * FROM model_deployments WHERE name = ? AND environment = ? "
                              "ORDER BY id", (name, environment))
            return tx.all("SELECT * FROM model_deployments WHERE name = ? ORDER BY id", (name,))

    def events(self, name: str | None = None, version: str | None = None) -> list[dict[str, Any]]:
        with self.store.transaction(write=False) as tx:
            rows = tx.all("SELECT * FROM registry_events ORDER BY id")
        out = []
        for r in rows:
            if (name and r["name"] != name) or (version and r["version"] != version):
                continue
            r = dict(r)
            r["detail"] = json.loads(r["detail"])
            out.append(r)
        return out

    def verify_trail(self) -> list[str]:
        """Problems in the hash-chained event trail (an edited or deleted event)."""
        with self.store.transaction(write=False) as tx:
            rows = tx.all("SELECT * FROM registry_events ORDER BY id")
        problems, prev = [], _GENESIS
        for r in rows:
            if r["prev_hash"] != prev:
                problems.append(f"event {r['id']}: chain broken (an earlier event was removed "
                                "or edited)")
            if _event_hash(r["prev_hash"], r) != r["hash"]:
                problems.append(f"event {r['id']}: content does not match its hash (edited)")
            prev = r["hash"]
        return problems

    # --- writes -------------------------------------------------------------------------
    def _event(self, tx: Tx, actor: str, action: str, name: str | None = None,
               version: str | None = None, environment: str | None = None,
               **detail: Any) -> None:
        last = tx.one("SELECT hash FROM registry_events ORDER BY id DESC LIMIT 1")
        prev = last["hash"] if last else _GENESIS
        row = {"at": now(), "actor": actor, "action": action, "name": name, "version": version,
               "environment": environment, "detail": mf.canonical_json(detail).decode()}
        tx.execute("INSERT INTO registry_events (at, actor, action, name, version, environment, "
                   "detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (row["at"], actor, action, name, version, environment, row["detail"], prev,
                    _event_hash(prev, row)))

    def register(
        self,
        path: str | Path,
        name: str,
        version: str,
        *,
        audit_report: str | Path | None = None,
        dataset_fingerprint: str | None = None,
        config: Mapping[str, Any] | None = None,
        base_model: str | None = None,
        parent: str | None = None,
        served_as: str | None = None,
        actor: str | None = None,
        notes: str | None = None,
    ) -> VersionInfo:
        """Hash, bind, sign and store a new version; it starts in ``dev``."""
        if not _NAME.match(name) or ":" in name:
            raise RegistryError(f"invalid model name {name!r} (letters, digits, . _ - /)")
        if not _VERSION.match(version):
            raise RegistryError(f"invalid version {version!r} (letters, digits, . _ + -)")
        actor = actor or current_actor()
        root = Path(path).resolve()
        files = mf.hash_artifacts(root)
        report_text: str | None = None
        audit: dict[str, Any] | None = None
        if audit_report is not None:
            rp = Path(audit_report)
            try:
                raw = rp.read_bytes()
                report = json.loads(raw)
            except FileNotFoundError as exc:
                raise RegistryError(f"audit report {rp} not found") from exc
            except ValueError as exc:
                raise RegistryError(f"audit report {rp} is not valid JSON: {exc}") from exc
            if not isinstance(report, dict) or "verdict" not in report:
                raise RegistryError(f"audit report {rp} has no 'verdict' (docs/contracts.md)")
            report_text = raw.decode("utf-8")
            problems = mf.report_binding_problems(report, files)
            audit = {"report_sha256": mf.sha256_bytes(raw), "verdict": report.get("verdict"),
                     "bound": not problems,
                     "probes": sorted(report.get("probes", {}) or {}),
                     # the DP budget the training run spent (train.dp), signed with the rest
                     "dp": (report.get("training") or {}).get("dp")}
        key = self._private_key()
        manifest = {
            "format": mf.MANIFEST_FORMAT,
            "name": name,
            "version": version,
            "registered_at": now(),
            "registered_by": actor,
            "artifact_path": str(root),
            "artifacts": {"kind": "file" if root.is_file() else "directory", "files": files,
                          "total_size": sum(f["size"] for f in files.values())},
            "dataset_fingerprint": dataset_fingerprint,
            "config_sha256": mf.config_hash(config) if config is not None else None,
            "audit": audit,
            "lineage": {"parent": parent, "base_model": base_model},
            "served_as": served_as,
            "notes": notes,
            "key_id": mf.public_key_id(key.public_key()),
        }
        body = mf.canonical_json(manifest).decode()
        signature = mf.sign_manifest(manifest, key)
        with self.store.transaction() as tx:
            if tx.one("SELECT 1 AS x FROM model_versions WHERE name = ? AND version = ?",
                      (name, version)):
                raise RegistryError(f"{name}:{version} is already registered; versions are "
                                    "immutable, register a new version")
            if parent:
                pn, pv = parse_ref(parent)
                self._row(tx, pn, pv)
            seq = tx.one("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM model_versions")["n"]
            ts = manifest["registered_at"]
            tx.execute(
                "INSERT INTO model_versions (name, version, seq, registered_at, registered_by, "
                "artifact_path, manifest, signature, key_id, audit_report, status, status_at, "
                "status_by, status_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, version, seq, ts, actor, str(root), body, signature, manifest["key_id"],
                 report_text, ACTIVE, ts, actor, None))
            self._set_alias(tx, name, "dev", version, actor, "register", "registered")
            self._event(tx, actor, "register", name, version, "dev",
                        files=len(files), verdict=audit and audit["verdict"],
                        manifest_sha256=mf.sha256_bytes(body.encode()))
            return self._info(tx, self._row(tx, name, version))

    def _set_alias(self, tx: Tx, name: str, env: str, version: str | None, actor: str,
                   action: str, reason: str | None) -> None:
        tx.execute("DELETE FROM model_aliases WHERE name = ? AND environment = ?", (name, env))
        if version is not None:
            tx.execute("INSERT INTO model_aliases (name, environment, version, updated_at, "
                       "updated_by, reason) VALUES (?, ?, ?, ?, ?, ?)",
                       (name, env, version, now(), actor, reason))
            tx.execute("INSERT INTO model_deployments (name, environment, version, action, at, "
                       "actor, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (name, env, version, action, now(), actor, reason))

    def _integrity_problems(self, row: Mapping[str, Any]) -> tuple[bool, int, list[str],
                                                                   dict[str, Any]]:
        """(signature ok, files checked, problems, manifest) for a stored version."""
        problems: list[str] = []
        body = row["manifest"].encode()
        sig_ok = mf.signature_valid(body, row["signature"], self._public_key())
        if not sig_ok:
            problems.append("manifest signature is invalid: the stored manifest was altered or "
                            "signed with another key")
        try:
            manifest = json.loads(body)
        except ValueError:
            return sig_ok, 0, [*problems, "stored manifest is not valid JSON"], {}
        if manifest.get("name") != row["name"] or manifest.get("version") != row["version"]:
            problems.append("manifest names another version than the registry row")
        if manifest.get("artifact_path") != row["artifact_path"]:
            problems.append("artifact_path in the registry row differs from the signed manifest")
        expected = manifest.get("artifacts", {}).get("files", {})
        if row["status"] == SHREDDED:
            return sig_ok, 0, problems, manifest
        try:
            actual = mf.hash_artifacts(manifest.get("artifact_path") or row["artifact_path"])
        except RegistryError as exc:
            actual = {}
            problems.append(str(exc))
        problems += mf.compare_files(expected, actual) if actual else []
        audit = manifest.get("audit")
        if audit:
            report = row["audit_report"]
            if report is None or mf.sha256_bytes(report.encode()) != audit["report_sha256"]:
                problems.append("stored audit report does not match the hash in the manifest")
        elif row["audit_report"] is not None:
            problems.append("an audit report is stored but the signed manifest binds none")
        return sig_ok, len(expected), problems, manifest

    def verify(self, ref: str) -> VerifyResult:
        """Recompute every artifact hash and check the signature; never raises on tampering."""
        name, version = parse_ref(ref)
        with self.store.transaction(write=False) as tx:
            row = self._row(tx, name, version)
        sig_ok, n, problems, _ = self._integrity_problems(row)
        return VerifyResult(ref, sig_ok, n, problems, row["status"])

    def gate(self, ref: str) -> list[str]:
        """Why ``ref`` may not be promoted (empty: it may)."""
        name, version = parse_ref(ref)
        with self.store.transaction(write=False) as tx:
            row = self._row(tx, name, version)
        return self._gate(row)

    def _gate(self, row: Mapping[str, Any]) -> list[str]:
        if row["status"] != ACTIVE:
            return [f"version is {row['status']}"
                    + (f" ({row['status_reason']})" if row["status_reason"] else "")]
        _, _, problems, manifest = self._integrity_problems(row)
        if problems:
            return problems
        if not manifest.get("audit") or row["audit_report"] is None:
            return ["no audit report is bound to this version (register it with "
                    "--audit-report report.json)"]
        report = json.loads(row["audit_report"])
        # Bound to the hashes just recomputed from disk (equal to the manifest's, checked above).
        return mf.report_binding_problems(report, manifest["artifacts"]["files"])

    def promote(self, ref: str, to: str, *, reason: str | None = None,
                actor: str | None = None) -> AliasChange:
        """Point ``to``'s alias at ``ref`` after the gate passes; dev→test→prod order."""
        name, version = parse_ref(ref)
        actor = actor or current_actor()
        if to not in ENVIRONMENTS[1:]:
            raise RegistryError(f"--to must be one of {', '.join(ENVIRONMENTS[1:])} (got {to!r}); "
                                "registration puts a version in dev")
        with self.store.transaction(write=False) as tx:
            row = self._row(tx, name, version)
        reasons = self._gate(row)
        prior = ENVIRONMENTS[ENVIRONMENTS.index(to) - 1]
        with self.store.transaction() as tx:
            fresh = self._row(tx, name, version)
            if (fresh["manifest"], fresh["signature"], fresh["status"], fresh["audit_report"]) != (
                    row["manifest"], row["signature"], row["status"], row["audit_report"]):
                reasons.append("the version changed while it was being checked; run again")
            if prior != "dev" and not tx.one(
                    "SELECT 1 AS x FROM model_deployments WHERE name = ? AND version = ? "
                    "AND environment = ?", (name, version, prior)):
                reasons.append(f"{ref} was never in {prior}: promote it to {prior} first "
                               f"(order {' → '.join(ENVIRONMENTS)})")
            current = tx.one("SELECT version FROM model_aliases WHERE name = ? AND "
                             "environment = ?", (name, to))
            if current and current["version"] == version:
                reasons.append(f"{ref} is already the {to} version")
            if reasons:
                self._event(tx, actor, "promote-refused", name, version, to, reason=reason,
                            reasons=reasons)
                refusal = PromotionRefused(f"promotion of {ref} to {to} refused", reasons)
            else:
                refusal = None
                self._set_alias(tx, name, to, version, actor, "promote", reason)
                self._event(tx, actor, "promote", name, version, to, reason=reason,
                            previous=current and current["version"])
        if refusal is not None:
            raise refusal
        return AliasChange(name, to, current and current["version"], version)

    def _previous_good(self, tx: Tx, name: str, env: str, exclude: set[str]) -> str | None:
        """The most recent version deployed to ``env`` that is still active, not in ``exclude``."""
        rows = tx.all(
            "SELECT d.version FROM model_deployments d JOIN model_versions v "
            "ON v.name = d.name AND v.version = d.version "
            "WHERE d.name = ? AND d.environment = ? AND v.status = ? ORDER BY d.id DESC",
            (name, env, ACTIVE))
        for r in rows:
            if r["version"] not in exclude:
                return r["version"]
        return None

    def revoke(self, ref: str, *, reason: str, actor: str | None = None) -> list[AliasChange]:
        """Withdraw ``ref`` now; each alias on it falls back to the previous good version."""
        name, version = parse_ref(ref)
        actor = actor or current_actor()
        if not reason or not reason.strip():
            raise RegistryError("revoke needs --reason (it is recorded in the audit trail)")
        changes: list[AliasChange] = []
        with self.store.transaction() as tx:
            row = self._row(tx, name, version)
            if row["status"] != ACTIVE:
                raise RegistryError(f"{ref} is already {row['status']}")
            tx.execute("UPDATE model_versions SET status = ?, status_at = ?, status_by = ?, "
                       "status_reason = ? WHERE name = ? AND version = ?",
                       (REVOKED, now(), actor, reason, name, version))
            for a in tx.all("SELECT environment FROM model_aliases WHERE name = ? AND version = ?",
                            (name, version)):
                env = a["environment"]
                fallback = self._previous_good(tx, name, env, {version})
                self._set_alias(tx, name, env, fallback, actor, "fallback",
                                f"{ref} revoked: {reason}")
                changes.append(AliasChange(name, env, version, fallback))
            changes.sort(key=lambda c: ENVIRONMENTS.index(c.environment))
            self._event(tx, actor, "revoke", name, version, reason=reason,
                        fallbacks={c.environment: c.current for c in changes})
        return changes

    def rollback(self, name: str, env: str, *, to: str | None = None, reason: str | None = None,
                 actor: str | None = None) -> AliasChange:
        """Move ``env``'s alias back to ``to`` (default: the previous good version there)."""
        actor = actor or current_actor()
        if env not in ENVIRONMENTS:
            raise RegistryError(f"--env must be one of {', '.join(ENVIRONMENTS)} (got {env!r})")
        with self.store.transaction(write=False) as tx:
            cur = tx.one("SELECT version FROM model_aliases WHERE name = ? AND environment = ?",
                         (name, env))
            current = cur["version"] if cur else None
            target = to or self._previous_good(tx, name, env, {current} if current else set())
            if target is None:
                raise RegistryError(f"no earlier good version of {name} was in {env}")
            row = self._row(tx, name, target)
            was_there = tx.one("SELECT 1 AS x FROM model_deployments WHERE name = ? AND "
                               "version = ? AND environment = ?", (name, target, env))
        ref = f"{name}:{target}"
        reasons: list[str] = []
        if target == current:
            reasons.append(f"{ref} is already the {env} version")
        if not was_there:
            reasons.append(f"{ref} was never in {env}; use promote (rollback only returns to "
                           "a version that passed the gate for this environment)")
        if row["status"] != ACTIVE:
            reasons.append(f"{ref} is {row['status']}")
        else:
            reasons += self._integrity_problems(row)[2]
        with self.store.transaction() as tx:
            now_cur = tx.one("SELECT version FROM model_aliases WHERE name = ? AND "
                             "environment = ?", (name, env))
            if (now_cur["version"] if now_cur else None) != current:
                reasons.append(f"the {env} alias changed meanwhile; run again")
            if self._row(tx, name, target)["status"] != ACTIVE and not reasons:
                reasons.append(f"{ref} was revoked meanwhile")
            if reasons:
                self._event(tx, actor, "rollback-refused", name, target, env, reason=reason,
                            reasons=reasons)
            else:
                self._set_alias(tx, name, env, target, actor, "rollback", reason)
                self._event(tx, actor, "rollback", name, target, env, reason=reason,
                            previous=current)
        if reasons:
            raise PromotionRefused(f"rollback of {name} in {env} to {target} refused", reasons)
        return AliasChange(name, env, current, target)

    def shred(self, ref: str, *, actor: str | None = None, reason: str | None = None,
              include_unsealed: bool = False) -> list[str]:
        """Crypto-shred a revoked version's sealed artifacts; returns the files destroyed.

        Sealed files (recognized by content) lose their wrapped data key in place
        (``privtune.seal.crypto_shred``), then are removed: no copy of their blocks, in backups
        or snapshots, can be decrypted any more. Unsealed artifact files cannot be
        crypto-shredded; they are refused unless ``include_unsealed``, which overwrites and
        removes them (``privtune.seal.shred``, best effort on SSDs and copy-on-write storage).
        Only revoked versions can be shredded; re-running after an interruption finishes."""
        name, version = parse_ref(ref)
        actor = actor or current_actor()
        with self.store.transaction(write=False) as tx:
            row = self._row(tx, name, version)
        if row["status"] == SHREDDED:
            raise RegistryError(f"{ref} is already shredded")
        if row["status"] != REVOKED:
            raise RegistryError(f"{ref} is {row['status']}: revoke it before shredding")
        manifest = json.loads(row["manifest"])
        root = Path(manifest.get("artifact_path") or row["artifact_path"])
        rels = sorted(manifest.get("artifacts", {}).get("files", {}))
        if manifest.get("artifacts", {}).get("kind") == "file":
            paths = [root]
        else:
            paths = [root / rel for rel in rels]
        present = [p for p in paths if p.exists()]
        unsealed = [p for p in present if not _is_sealed(p)]
        if unsealed and not include_unsealed:
            raise RegistryError(f"{ref} has unsealed artifacts, which cannot be crypto-shredded: "
                                f"{', '.join(str(p) for p in unsealed[:5])} (add "
                                "--include-unsealed to overwrite and remove them, best effort)")
        from privtune.seal import crypto_shred
        from privtune.seal import shred as overwrite_and_remove

        done = []
        for p in present:
            if p in unsealed:
                overwrite_and_remove(p)
            else:
                crypto_shred(p)
            done.append(str(p))
        with self.store.transaction() as tx:
            tx.execute("UPDATE model_versions SET status = ?, status_at = ?, status_by = ?, "
                       "status_reason = ? WHERE name = ? AND version = ?",
                       (SHREDDED, now(), actor, reason or row["status_reason"], name, version))
            self._event(tx, actor, "shred", name, version, reason=reason, files=len(done),
                        unsealed=len(unsealed))
        return done


_SEAL_MAGIC = b"\x89PTSEAL\n"  # privtune.seal.format.MAGIC: sealed files by content


def _is_sealed(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(_SEAL_MAGIC)) == _SEAL_MAGIC
    except OSError:
        return False


def _event_hash(prev: str, row: Mapping[str, Any]) -> str:
    body = {k: row[k] for k in ("at", "actor", "action", "name", "version", "environment",
                                "detail")}
    return mf.sha256_bytes(prev.encode() + mf.canonical_json(body))
