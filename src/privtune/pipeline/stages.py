"""The real stages of ``privtune run``: each calls its part's library (no subprocesses).

scan -> sanitize -> seal -> train -> audit -> register. A stage whose library is missing here
(no LLaMA-Factory, no torch) reports ``skipped: <stage> not available``; a stage the
configuration leaves out (no ``train.llamafactory.model_name_or_path``) is ``disabled``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import glob
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from privtune.errors import ConfigError, InputError
from privtune.fsutil import atomic_write_text
from privtune.pipeline.stage import Check, RunContext, Stage, StageGateFailed

SCAN_REPORT = "scan-report.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".npz", ".pkl")


# --- shared helpers ----------------------------------------------------------------------------
def raw_inputs(ctx: RunContext) -> list[Path]:
    """``data.raw`` resolved against the work dir (globs expanded, sorted). A plain path that
    no longer exists is kept: it may have been consumed (sealed, original removed)."""
    out: list[Path] = []
    for pattern in ctx.config.data.raw:
        p = ctx.path(pattern)
        if glob.has_magic(str(p)):
            out.extend(Path(m) for m in sorted(glob.glob(str(p), recursive=True)))
        else:
            out.append(p)
    seen: dict[str, Path] = {}
    for p in out:
        seen.setdefault(str(p), p)
    return list(seen.values())


def present(paths: list[Path]) -> list[Path]:
    return [p for p in paths if p.exists()]


def data_root(ctx: RunContext) -> Path:
    return ctx.path(ctx.config.data.root)


def processed_dir(ctx: RunContext) -> Path:
    """Where sanitize writes (``data.root/processed``); must be ``data.processed_dir``."""
    root = data_root(ctx) / "processed"
    declared = ctx.path(ctx.config.data.processed_dir)
    if root.resolve() != declared.resolve():
        raise ConfigError(
            f"data.processed_dir ({ctx.config.data.processed_dir}) must be data.root/processed "
            f"({ctx.config.data.root}/processed): sanitize writes there and train reads "
            "data.processed_dir"
        )
    return root


def sealed_name(src: Path) -> str:
    return f"{src.name}.sealed"


def has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@contextlib.contextmanager
def private_tmp(prefix: str) -> Iterator[Path]:
    """A 0700 folder on tmpfs (``/dev/shm``) when there is one; removed afterwards."""
    shm = Path("/dev/shm")
    root = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    os.chmod(path, 0o700)
    try:
        yield path
    finally:
        if root is None:
            from privtune.seal import shred

            for f in sorted(path.rglob("*"), reverse=True):
                if f.is_file():
                    with contextlib.suppress(OSError):
                        shred(f)
        shutil.rmtree(path, ignore_errors=True)


# --- scan -------------------------------------------------------------------------------------
class ScanStage(Stage):
    name = "scan"
    title = "scan the raw data for PII"
    config_sections = ("detect", "data")

    def skip_reason(self, ctx: RunContext) -> str | None:
        return None if ctx.config.data.raw else "data.raw is empty (nothing to scan)"

    def inputs(self, ctx: RunContext) -> list[Path]:
        return raw_inputs(ctx)

    def outputs(self, ctx: RunContext) -> list[Path]:
        return [ctx.state_dir / SCAN_REPORT]

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from privtune.detect.files import scan_files
        from privtune.detect.report import ScanReport

        files = present(raw_inputs(ctx))
        if not files:
            sealed = [ctx.path(ctx.config.data.raw_dir) / sealed_name(p) for p in raw_inputs(ctx)]
            if sealed and all(p.exists() for p in sealed):
                return {
                    "note": "raw data already sealed and removed; nothing to scan",
                    "records": 0,
                    "findings": 0,
                    "by_type": {},
                }
            raise InputError(f"no raw input found (data.raw: {', '.join(ctx.config.data.raw)})")
        report = ScanReport()
        adv = ctx.progress("records scanned", 0)
        for result in scan_files(files, ctx.config.detect):
            report.add(result)
            adv(1)
        report.finish()
        doc = report.to_json()
        atomic_write_text(
            self.outputs(ctx)[0], json.dumps(doc, ensure_ascii=False, indent=2), perms=0o600
        )
        s = doc["summary"]
        return {
            "records": s["records"],
            "findings": s["findings"],
            "records_with_findings": s["records_with_findings"],
            "by_type": doc["by_type"],
            "report": str(self.outputs(ctx)[0]),
        }


# --- sanitize ---------------------------------------------------------------------------------
class SanitizeStage(Stage):
    name = "sanitize"
    title = "anonymize and minimize into LLaMA-Factory data"
    config_sections = ("detect", "data", "sanitize", "keys")

    def skip_reason(self, ctx: RunContext) -> str | None:
        return None if ctx.config.data.raw else "data.raw is empty (nothing to sanitize)"

    def inputs(self, ctx: RunContext) -> list[Path]:
        return raw_inputs(ctx)

    def outputs(self, ctx: RunContext) -> list[Path]:
        from privtune.datasets.sanitize import CANARIES, INVENTORY, QUARANTINE

        root = data_root(ctx)
        return [processed_dir(ctx), root / INVENTORY, root / CANARIES, root / QUARANTINE]

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from privtune.datasets.sanitize import sanitize

        files = present(raw_inputs(ctx))
        if not files:
            raise InputError(
                "the raw input is gone (sealed and removed?) and sanitize has not finished: "
                "restore it from the sealed copy (`privtune seal open`) and run again"
            )
        processed_dir(ctx)  # layout check first
        adv = ctx.progress("records sanitized", 0)
        result = sanitize(
            files, data_root(ctx), config=ctx.config, keyring=ctx.keyring, progress=adv
        )
        info = result.summary.to_dict()
        info["out"] = str(result.out)
        return info

    def checks(self, ctx: RunContext, info: dict[str, Any]) -> list[Check]:
        residual = sum(r.get("count", 0) for r in info.get("residual", []))
        return [
            Check(
                "residual PII after sanitize is zero",
                residual == 0,
                f"{residual} finding(s) left in processed/"
                if residual
                else f"{info.get('records_out', 0)} records, rescanned clean",
            )
        ]


# --- seal -------------------------------------------------------------------------------------
class SealStage(Stage):
    name = "seal"
    title = "seal the raw data at rest"
    config_sections = ("data", "keys", "seal")

    def skip_reason(self, ctx: RunContext) -> str | None:
        return None if ctx.config.data.raw else "data.raw is empty (nothing to seal)"

    def inputs(self, ctx: RunContext) -> list[Path]:
        return raw_inputs(ctx)

    def outputs(self, ctx: RunContext) -> list[Path]:
        raw_dir = ctx.path(ctx.config.data.raw_dir)
        return [raw_dir / sealed_name(p) for p in raw_inputs(ctx)]

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from privtune.seal import remove_verified_original, seal_file, verify_sealed

        raw_dir = ctx.path(ctx.config.data.raw_dir)
        remove = ctx.config.data.remove_original
        sealed, removed, verified = [], [], 0
        for src in raw_inputs(ctx):
            dst = raw_dir / sealed_name(src)
            if src.exists():
                if dst.exists() and remove:
                    remove_verified_original(src, dst, ctx.keyring)
                else:
                    seal_file(
                        src,
                        dst,
                        ctx.keyring,
                        chunk_size=ctx.config.seal.chunk_size,
                        remove_original=remove,
                    )
                if remove:
                    removed.append(str(src))
            elif not dst.exists():
                raise InputError(f"{src} is gone and has no sealed copy in {raw_dir}")
            verify_sealed(dst, ctx.keyring)
            verified += 1
            sealed.append(str(dst))
        return {
            "sealed": sealed,
            "verified": verified,
            "removed_originals": removed,
            "remove_original": remove,
        }

    def checks(self, ctx: RunContext, info: dict[str, Any]) -> list[Check]:
        out = [
            Check(
                "raw data sealed and verified",
                info.get("verified", 0) == len(info.get("sealed", [])) and bool(info.get("sealed")),
                f"{info.get('verified', 0)} sealed file(s) authenticated",
            )
        ]
        if info.get("remove_original"):
            left = [p for p in raw_inputs(ctx) if p.exists()]
            out.append(
                Check(
                    "plaintext originals removed",
                    not left,
                    f"{len(left)} original(s) still on disk"
                    if left
                    else "removed after a verified round trip",
                )
            )
        return out


# --- train ------------------------------------------------------------------------------------
def _base_model(ctx: RunContext) -> str | None:
    return ctx.config.train.llamafactory.get("model_name_or_path")


def _plan(ctx: RunContext) -> Any:
    from privtune.train.settings import build_plan

    return build_plan(ctx.config, ctx.config_path if ctx.config_path else None)


class TrainStage(Stage):
    name = "train"
    title = "fine-tune with LLaMA-Factory (safe settings)"
    config_sections = ("train", "keys", "data")

    def available(self) -> str | None:
        for mod in ("torch", "transformers", "llamafactory"):
            if not has_module(mod):
                return f"{mod} is not installed (scripts/install-llamafactory.sh)"
        return None

    def skip_reason(self, ctx: RunContext) -> str | None:
        if not _base_model(ctx):
            return "train: train.llamafactory.model_name_or_path is not set"
        return None

    def inputs(self, ctx: RunContext) -> list[Path]:
        paths = [processed_dir(ctx)]
        model = _base_model(ctx)
        if model and ctx.path(model).is_dir():
            paths.append(ctx.path(model))
        return paths

    def outputs(self, ctx: RunContext) -> list[Path]:
        return [_plan(ctx).out_dir]

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from privtune.train import run_training

        plan = _plan(ctx)
        summary = run_training(ctx.config, source=ctx.config_path, keyring=ctx.keyring)
        info = {
            k: summary.get(k) for k in ("status", "global_step", "checkpoints", "final", "notes")
        }
        info["out_dir"] = str(plan.out_dir)
        return info

    def checks(self, ctx: RunContext, info: dict[str, Any]) -> list[Check]:
        t = ctx.config.train
        out = Path(info.get("out_dir", ""))
        plain = (
            [
                p
                for p in out.rglob("*")
                if p.is_file()
                and p.suffix in WEIGHT_SUFFIXES
                and not (t.release_final and "final" in p.relative_to(out).parts)
            ]
            if out.is_dir()
            else []
        )
        ckpts = info.get("checkpoints") or []
        if not t.encrypt_checkpoint:
            return [
                Check(
                    "checkpoints sealed",
                    False,
                    "train.encrypt_checkpoint is false: checkpoints rest in plaintext",
                )
            ]
        unsealed = [c for c in ckpts if not str(c).endswith(".sealed")]
        ok = not unsealed and not plain
        detail = f"{len(ckpts)} checkpoint(s) sealed" + (
            ", final model sealed" if not t.release_final else ", final released"
        )
        if unsealed or plain:
            detail = (
                f"{len(unsealed)} unsealed checkpoint(s), {len(plain)} plaintext weight file(s)"
            )
        return [Check("checkpoints sealed", ok, detail)]


# --- audit ------------------------------------------------------------------------------------
def _train_artifacts(out_dir: Path) -> list[Path]:
    """What the audit's artifact scan covers besides the model: the checkpoints and every
    log/metrics file training left (privtune's own train_summary.json, which holds only
    counts, paths and sha256 digests, is left out)."""
    return (
        sorted(p for p in out_dir.iterdir() if p.name not in ("final", "train_summary.json"))
        if out_dir.is_dir()
        else []
    )


def _count_records(path: Path) -> int:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    return len(data) if isinstance(data, list) else 0


def _probes_for(acfg: Any, heldout: Path, has_canaries: bool) -> Any:
    """``audit.probes: null`` means every probe the inputs allow: name them, so that a probe
    without its inputs (no held-out records in a small --sample, no canaries) is left out
    rather than reported as skipped."""
    if acfg.probes is not None:
        return acfg
    probes = ["extraction", "pii", "artifacts"]
    if has_canaries:
        probes.append("canaries")
    if _count_records(heldout) > 0:
        probes += ["membership", "generalization"]
    return acfg.model_copy(update={"probes": probes})


class AuditStage(Stage):
    name = "audit"
    title = "attack the model before release (audit gate)"
    config_sections = ("audit", "detect", "keys")

    def available(self) -> str | None:
        for mod in ("torch", "transformers"):
            if not has_module(mod):
                return f"{mod} is not installed"
        return None

    def skip_reason(self, ctx: RunContext) -> str | None:
        if "train" not in ctx.results:
            return "audit: no trained model in this run (train did not run)"
        return None

    def inputs(self, ctx: RunContext) -> list[Path]:
        from privtune.datasets.sanitize import CANARIES, INVENTORY

        out = Path(ctx.results.get("train", {}).get("out_dir", ""))
        root = data_root(ctx)
        return [out / "final", processed_dir(ctx), root / INVENTORY, root / CANARIES]

    def outputs(self, ctx: RunContext) -> list[Path]:
        return [ctx.path(ctx.config.audit.out_dir)]

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from privtune.audit import AuditInputs, run_audit
        from privtune.datasets.sanitize import CANARIES, INVENTORY
        tinfo = ctx.results["train"]
        out_dir = Path(tinfo["out_dir"])
        root = data_root(ctx)
        processed = processed_dir(ctx)
        acfg = ctx.config.audit
        if ctx.sample:
            acfg = acfg.model_copy(update={"max_records": min(acfg.max_records, ctx.sample)})
        acfg = _probes_for(acfg, processed / "valid.json", (root / CANARIES).exists())
        report_dir = ctx.path(acfg.out_dir)
        base = acfg.base_model or _base_model(ctx)
        # The audit is given the model as stored (sealed or released): it decrypts a sealed
        # one in memory/tmpfs itself, and reports the stored files' hashes, which is what
        # the registry binds the report to (docs/contracts.md).
        inputs = AuditInputs(
            model=out_dir / "final",
            base=ctx.path(base) if base and ctx.path(base).exists() else None,
            train=processed / "train.json",
            heldout=processed / "valid.json" if (processed / "valid.json").exists() else None,
            inventory=root / INVENTORY if (root / INVENTORY).exists() else None,
            canaries=root / CANARIES if (root / CANARIES).exists() else None,
            artifacts=_train_artifacts(out_dir),
            train_run=out_dir,
        )
        report = run_audit(
            inputs,
            acfg,
            report_dir,
            keyring=ctx.keyring,
            detect=ctx.config.detect,
            progress=ctx.progress,
            log=ctx.log,
        )
        info = {
            "verdict": report["verdict"],
            "report_html": str(report_dir / "report.html"),
            "report_json": str(report_dir / "report.json"),
            "gate": [
                {k: c.get(k) for k in ("probe", "value", "threshold", "status")}
                for c in report.get("gate", [])
            ],
        }
        if report["verdict"] != "pass":
            failed = [c["probe"] for c in report.get("gate", []) if c["status"] == "fail"]
            raise StageGateFailed(
                f"audit gate failed ({', '.join(failed)}); see "
                f"{info['report_html']}; the model is not registered",
                info,
            )
        return info

    def checks(self, ctx: RunContext, info: dict[str, Any]) -> list[Check]:
        failed = [c["probe"] for c in info.get("gate", []) if c.get("status") == "fail"]
        return [
            Check(
                "audit gate",
                info.get("verdict") == "pass",
                f"failed: {', '.join(failed)}"
                if failed
                else f"pass ({info.get('report_html', '')})",
            )
        ]


# --- register ---------------------------------------------------------------------------------
class RegisterStage(Stage):
    name = "register"
    title = "sign and register the model (dev)"
    config_sections = ("registry", "project")

    def skip_reason(self, ctx: RunContext) -> str | None:
        if ctx.sample:
            return "register: not in a --sample pass"
        if ctx.results.get("audit", {}).get("verdict") != "pass":
            return "register: no model passed the audit in this run"
        return None

    def inputs(self, ctx: RunContext) -> list[Path]:
        tinfo = ctx.results.get("train", {})
        return [
            Path(tinfo.get("out_dir", "")) / "final",
            Path(ctx.results.get("audit", {}).get("report_json", "")),
        ]

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from privtune.registry import Registry, Store
        from privtune.registry.manifest import tree_fingerprint

        cfg = ctx.config
        final = Path(ctx.results["train"]["out_dir"]) / "final"
        report = Path(ctx.results["audit"]["report_json"])
        version = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d.%H%M%S")
        store = Store(cfg.registry.url, schema=cfg.registry.db_schema, base_dir=ctx.base_dir)
        try:
            reg = Registry(store, ctx.keyring)
            info = reg.register(
                final,
                cfg.project,
                version,
                audit_report=report,
                dataset_fingerprint=tree_fingerprint(processed_dir(ctx)),
                config=cfg.model_dump(mode="json"),
                base_model=_base_model(ctx),
                notes="registered by privtune run",
            )
        finally:
            store.close()
        audit = info.manifest.get("audit") or {}
        return {
            "ref": info.ref,
            "registry": cfg.registry.url,
            "environment": "dev",
            "audit_bound": bool(audit.get("bound")),
            "files": len(info.manifest["artifacts"]["files"]),
        }

    def checks(self, ctx: RunContext, info: dict[str, Any]) -> list[Check]:
        return [
            Check(
                "audit report bound to the registered artifacts",
                bool(info.get("audit_bound")),
                info.get("ref", "")
                + ("" if info.get("audit_bound") else ": promotion will be refused"),
            )
        ]


def default_stages() -> list[Stage]:
    return [ScanStage(), SanitizeStage(), SealStage(), TrainStage(), AuditStage(), RegisterStage()]


STAGE_NAMES = tuple(s.name for s in default_stages())
