"""One monitor run, and the loop around it.

Each run, in this order (revocation first, alerts after, so an alert says what was done):

1. **integrity**: every active version serving in ``monitor.environments`` is verified
   (signature, artifact hashes); a mismatch is a critical ``integrity`` alert.
2. **log re-scan**: the gateway's request log is scanned with the current detection rules.
   When the rules changed since the last run (their hash is kept in the state file) the whole
   log is scanned again, otherwise only records added since. PII found in stored outputs is a
   critical ``log-leak`` for the version that produced it; PII the serve-time filter caught is a
   ``filter-caught`` warning. When a keyring is given, the log's hash chain is verified too
   (``log-tampered``).
3. **re-audit**: each active version is audited again through ``audit_fn`` (by default
   ``privtune.audit``'s library entry point, when that is present); a failing verdict is a
   critical ``audit-fail``.

With ``monitor.auto_revoke`` a version is revoked when an alert of a kind in
``monitor.revoke_on`` names it (``log-leak`` needs ``revoke_min_findings`` findings).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from privtune.fsutil import atomic_write_text
from privtune.monitor.alerts import Alert, Alerter
from privtune.monitor.rescan import (
    LogEntry,
    RescanResult,
    iter_request_log,
    request_log_exists,
    rescan,
)

log = logging.getLogger("privtune.monitor")
ACTOR = "privtune-monitor"

AuditFn = Callable[[Any], dict[str, Any] | None]  # VersionInfo -> report.json dict (None: skip)

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_interval(text: str) -> float:
    """``"90s"``, ``"15m"``, ``"1h"``, ``"1d"`` or plain seconds → seconds."""
    m = _INTERVAL.match(text or "")
    if not m:
        raise ValueError(f"not an interval: {text!r} (use e.g. 30m, 1h, 1d)")
    value = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if value <= 0:
        raise ValueError(f"the interval must be positive, got {text!r}")
    return value


def rules_fingerprint(detect_config: Any) -> str:
    """Changes when the detection rules change: the config's rules or privtune's version."""
    import hashlib

    from privtune import __version__

    dump = detect_config.model_dump(mode="json") if detect_config is not None else {}
    body = json.dumps({"detect": dump, "privtune": __version__}, sort_keys=True).encode()
    return hashlib.sha256(body).hexdigest()


@dataclass
class MonitorReport:
    started: str
    finished: str = ""
    verified: list[str] = field(default_factory=list)
    rescan: dict[str, Any] = field(default_factory=dict)
    audited: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def critical(self) -> bool:
        return any(a["severity"] == "critical" for a in self.alerts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def library_audit(config: Any, base_dir: Path, keyring: Any = None) -> AuditFn | None:
    """Re-audit through ``privtune.audit.run_audit`` with the configuration's audit settings.

    Inputs: the version's artifacts (an adapter gets ``audit.base_model``, else its lineage's
    base model), and, when they exist, ``<processed_dir>/train.json`` and ``valid.json`` and
    the sanitize outputs ``inventory.jsonl.sealed`` and ``canaries.json.sealed`` next to
    ``processed_dir``. None when the audit library is not installed."""
    try:
        from privtune.audit import AuditInputs, run_audit
    except ImportError:
        return None

    def existing(p: Path) -> Path | None:
        return p if p.exists() else None

    def audit(info: Any) -> dict[str, Any] | None:
        processed = base_dir / config.data.processed_dir
        base = config.audit.base_model or (info.manifest.get("lineage") or {}).get("base_model")
        inputs = AuditInputs(
            model=Path(info.artifact_path), base=Path(base) if base else None,
            train=existing(processed / "train.json"), heldout=existing(processed / "valid.json"),
            inventory=existing(processed.parent / "inventory.jsonl.sealed"),
            canaries=existing(processed.parent / "canaries.json.sealed"))
        out = base_dir / ".privtune" / "monitor-audits" / f"{info.name}-{info.version}"
        return run_audit(inputs, config.audit, out, keyring=keyring, detect=config.detect)

    return audit


class Monitor:
    """Runs the checks against one registry and (optionally) one gateway request log."""

    def __init__(
        self,
        registry: Any,
        config: Any,  # MonitorConfig
        *,
        alerter: Alerter,
        scanner: Any = None,
        detect_config: Any = None,
        log_url: str | None = None,
        log_entries: Callable[[int], Any] | None = None,
        log_key: bytes | None = None,
        base_dir: str | Path = ".",
        state_path: str | Path | None = None,
        audit_fn: AuditFn | None = None,
        audit_unavailable: str | None = None,
        actor: str = ACTOR,
    ) -> None:
        self.registry = registry
        self.config = config
        self.alert = alerter
        self.scanner = scanner
        self.detect_config = detect_config
        self.log_url = log_url
        self.log_entries = log_entries
        self.log_key = log_key
        self.base_dir = Path(base_dir)
        self.state_path = Path(state_path) if state_path else None
        self.audit_fn = audit_fn
        self.audit_unavailable = audit_unavailable
        self.actor = actor

    # --- state ------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        if self.state_path and self.state_path.exists():
            try:
                return json.loads(self.state_path.read_text(encoding="utf-8"))
            except ValueError:
                log.warning("monitor state %s unreadable; scanning the whole log",
                            self.state_path)
        return {}

    def _save_state(self, state: dict[str, Any]) -> None:
        if self.state_path:
            atomic_write_text(self.state_path, json.dumps(state, sort_keys=True, indent=2))

    # --- helpers ----------------------------------------------------------------------
    def _serving(self) -> list[Any]:
        """Active versions that an alias in one of the monitored environments points at."""
        envs = set(self.config.environments)
        return [i for i in self.registry.list()
                if i.status == "active" and envs.intersection(i.environments)]

    def _maybe_revoke(self, kind: str, model: str | None, version: str | None, why: str,
                      report: MonitorReport, *, enough: bool = True) -> str | None:
        if not (self.config.auto_revoke and kind in self.config.revoke_on and enough):
            return None
        if not model or not version:
            return None
        ref = f"{model}:{version}"
        if ref in report.revoked:
            return "revoked"
        from privtune.registry import RegistryError

        try:
            self.registry.revoke(ref, reason=f"monitor: {why}", actor=self.actor)
        except RegistryError as exc:
            return f"not revoked: {exc.message}"
        report.revoked.append(ref)
        return "revoked"

    def _emit(self, report: MonitorReport, alert: Alert) -> None:
        self.alert(alert)
        report.alerts.append(alert.to_dict())

    # --- the three checks -------------------------------------------------------------
    def check_integrity(self, report: MonitorReport) -> None:
        from privtune.errors import PrivtuneError

        for info in self._serving():
            try:
                result = self.registry.verify(info.ref)
            except PrivtuneError as exc:  # e.g. the keyring (public key) is unavailable
                report.skipped.append(f"integrity check of {info.ref} skipped: {exc}")
                continue
            if result.ok:
                report.verified.append(info.ref)
                continue
            why = f"{info.ref} no longer matches its signed manifest"
            action = self._maybe_revoke("integrity", info.name, info.version, why, report)
            self._emit(report, Alert(
                "integrity", "critical", why, info.name, info.version,
                ",".join(info.environments),
                {"problems": result.problems[:20], "signature_ok": result.signature_ok},
                action))

    def _entries(self, after_seq: int) -> Any:
        if self.log_entries is not None:
            return self.log_entries(after_seq)
        assert self.log_url is not None
        return iter_request_log(self.log_url, self.base_dir, after_seq=after_seq)

    def check_log(self, report: MonitorReport, *, full: bool = False) -> RescanResult | None:
        if self.log_url is None and self.log_entries is None:
            report.skipped.append("log re-scan skipped: no request log configured "
                                  "(serve.log_url)")
            return None
        if self.log_entries is None and not request_log_exists(self.log_url, self.base_dir):
            report.skipped.append(f"log re-scan skipped: no request log at {self.log_url} "
                                  "(the gateway has not run here)")
            return None
        if self.scanner is None:
            from privtune.detect import Scanner

            self.scanner = Scanner(self.detect_config)
        state = self._state()
        rules = rules_fingerprint(self.detect_config)
        rules_changed = state.get("rules") != rules
        after = 0 if full or rules_changed else int(state.get("last_seq", 0))
        result = rescan(self._entries(after), self.scanner)
        report.rescan = {"from_seq": after + 1, "records": result.records,
                         "with_text": result.with_text, "last_seq": result.last_seq,
                         "full": after == 0, "rules_changed": rules_changed}
        if result.records and not result.with_text:
            report.skipped.append("the request log holds fingerprints only (serve.log_text: "
                                  "fingerprint): outputs cannot be re-scanned, only the "
                                  "serve-time filter counts are checked")
        for vf in result.findings():
            env = ",".join(sorted(vf.environments)) or None
            ref = f"{vf.model}:{vf.version}"
            if vf.leaked:
                types = ", ".join(f"{t}×{n}" for t, n in vf.leaked.most_common())
                why = (f"{vf.leak_count} PII finding(s) ({types}) in outputs of {ref} "
                       f"that reached clients")
                action = self._maybe_revoke(
                    "log-leak", vf.model, vf.version, why, report,
                    enough=vf.leak_count >= self.config.revoke_min_findings)
                self._emit(report, Alert(
                    "log-leak", "critical", why, vf.model, vf.version, env,
                    {"types": dict(vf.leaked), "records": vf.leak_records,
                     "rules": rules[:16]}, action))
            if vf.filter_caught:
                types = ", ".join(f"{t}×{n}" for t, n in vf.filter_caught.most_common())
                self._emit(report, Alert(
                    "filter-caught", "warning",
                    f"the gateway filter removed {sum(vf.filter_caught.values())} PII "
                    f"finding(s) ({types}) from outputs of {ref}: the model produces PII",
                    vf.model, vf.version, env, {"types": dict(vf.filter_caught)}))
        if self.log_key is not None and self.log_url is not None:
            self._verify_chain(report)
        state.update(rules=rules, last_seq=max(result.last_seq, after),
                     at=datetime.now(UTC).isoformat(timespec="seconds"))
        self._save_state(state)
        return result

    def _verify_chain(self, report: MonitorReport) -> None:
        from privtune.serve.reqlog import verify_log
        from privtune.serve.store import open_store

        store = open_store(self.log_url, self.base_dir)  # type: ignore[arg-type]
        try:
            rep = verify_log(store, self.log_key)  # type: ignore[arg-type]
        finally:
            store.close()
        report.rescan["chain_ok"] = rep.ok
        if not rep.ok:
            self._emit(report, Alert("log-tampered", "critical",
                                     "the gateway request log's hash chain does not verify",
                                     details={"problems": rep.problems[:20]}))

    def check_audits(self, report: MonitorReport) -> None:
        if not getattr(self.config, "reaudit", True):
            report.skipped.append("re-audit disabled (monitor.reaudit: false)")
            return
        if self.audit_fn is None:
            report.skipped.append(self.audit_unavailable or
                                  "re-audit skipped: the privtune.audit library has no "
                                  "run_audit entry point in this installation")
            return
        for info in self._serving():
            try:
                rep = self.audit_fn(info)
            except Exception as exc:  # an audit that cannot run is an alert, not a crash
                self._emit(report, Alert(
                    "audit-error", "warning",
                    f"re-audit of {info.ref} could not run: {type(exc).__name__}: "
                    f"{str(exc)[:300]}", info.name, info.version, ",".join(info.environments)))
                continue
            if rep is None:
                report.skipped.append(f"re-audit of {info.ref} skipped")
                continue
            verdict = rep.get("verdict")
            report.audited.append({"ref": info.ref, "verdict": verdict})
            if verdict != "pass":
                failed = sorted({c.get("probe") for c in rep.get("gate") or []
                                 if isinstance(c, dict) and c.get("status") == "fail"}
                                | {k for k, v in (rep.get("probes") or {}).items()
                                   if isinstance(v, dict) and v.get("passed") is False})
                why = f"re-audit of {info.ref}: verdict {verdict!r}"
                if failed:
                    why += f" (failed probes: {', '.join(failed)})"
                action = self._maybe_revoke("audit-fail", info.name, info.version, why, report)
                self._emit(report, Alert("audit-fail", "critical", why, info.name, info.version,
                                         ",".join(info.environments),
                                         {"failed_probes": failed}, action))

    # --- runs -------------------------------------------------------------------------
    def run_once(self, *, full: bool = False) -> MonitorReport:
        report = MonitorReport(started=datetime.now(UTC).isoformat(timespec="seconds"))
        self.check_integrity(report)
        self.check_log(report, full=full)
        self.check_audits(report)
        report.finished = datetime.now(UTC).isoformat(timespec="seconds")
        for msg in report.skipped:
            log.info("%s", msg)
        return report

    def run_forever(self, every_s: float, *, max_runs: int | None = None, full_first: bool = False,
                    on_report: Callable[[MonitorReport], None] | None = None,
                    sleep: Callable[[float], None] = time.sleep) -> int:
        """Run, then sleep ``every_s`` (measured from each run's start); returns runs done."""
        runs = 0
        while max_runs is None or runs < max_runs:
            t0 = time.monotonic()
            try:
                report = self.run_once(full=full_first and runs == 0)
            except Exception:  # keep monitoring; the next run may succeed
                log.exception("monitor run failed")
            else:
                if on_report:
                    on_report(report)
            runs += 1
            if max_runs is not None and runs >= max_runs:
                break
            sleep(max(0.0, every_s - (time.monotonic() - t0)))
        return runs


__all__ = ["LogEntry", "Monitor", "MonitorReport", "library_audit", "parse_interval",
           "rules_fingerprint"]
