"""Run every probe the inputs allow, apply the gate, write report.json and report.html."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privtune.audit.inventory import Canaries, Inventory, load_canaries, load_inventory
from privtune.audit.records import Record, load_records
from privtune.config import AuditConfig, DetectConfig
from privtune.errors import InputError, Location
from privtune.fsutil import sha256_file

#: progress(description, total) -> advance(n); the CLI passes rich progress bars
ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclass
class AuditInputs:
    """What to audit. ``model`` alone: a full model. ``model`` + ``adapter``: the adapter on
    that model (the model is then the reference too). ``model`` an adapter folder: ``base``
    is required. ``base``: the pre-fine-tune model, used as reference and for subtraction."""

    model: Path
    base: Path | None = None
    adapter: Path | None = None
    train: Path | None = None
    heldout: Path | None = None
    inventory: Path | None = None
    canaries: Path | None = None
    artifacts: list[Path] = field(default_factory=list)  # more folders/files to scan
    train_run: Path | None = None  # privtune train's OUT: its DP accounting goes in the report


def _training_facts(train_run: Path | None) -> dict[str, object] | None:
    """What the training run says about itself that a reviewer needs (DP budget spent)."""
    if train_run is None:
        return None
    from privtune.train.dp import dp_section

    return {"run": str(train_run), "dp": dp_section(train_run)}




def hash_tree(roots: list[Path]) -> dict[str, str]:
    out: dict[str, str] = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*")
                                                     if p.is_file() and not p.is_symlink())
        for p in files:
            rel = p.name if root.is_file() else f"{root.name}/{p.relative_to(root)}"
            out[rel] = sha256_file(p)
    return out


def _noop(_desc: str, _total: int) -> Callable[[int], None]:
    return lambda _n: None


def _resolve_models(inp: AuditInputs) -> tuple[Path, Path | None, Path | None]:
    """(model to load, adapter, reference model)."""
    from privtune.audit.backends.hf import is_adapter_dir

    for p in (inp.model, inp.base, inp.adapter):
        if p is not None and not Path(p).exists():
            raise InputError("model folder not found", Location(p))
    if is_adapter_dir(inp.model):
        if inp.base is None:
            raise InputError("this is a PEFT adapter: pass its base model with --base",
                             Location(inp.model))
        return inp.base, inp.model, inp.base
    if inp.adapter is not None:
        return inp.model, inp.adapter, inp.base or inp.model
    return inp.model, None, inp.base


def gate(report_probes: dict[str, Any], cfg: AuditConfig) -> list[dict[str, Any]]:
    t = cfg.thresholds
    checks = [
        ("extraction", "extraction rate (excess over held-out)", "excess_rate",
         t.max_extraction_rate),
        ("pii", "PII regurgitated (distinct inventory values)", "regurgitated",
         t.max_pii_regurgitated),
        ("canaries", "canary exposure (bits, worst canary)", "max_exposure_bits",
         t.max_canary_exposure_bits),
        ("membership", "membership inference AUC (best attack, beyond the base model's)",
         "gate_auc", t.max_mia_auc),
        ("artifacts", "artifact findings (critical + high)", "gated_findings",
         t.max_artifact_findings),
    ]
    out = []
    for probe, name, key, threshold in checks:
        p = report_probes.get(probe)
        if p is None or "skipped" in p:
            out.append({"probe": probe, "name": name, "value": None, "threshold": threshold,
                        "status": "not run", "note": (p or {}).get("skipped", "not requested")})
            continue
        value = p[key] if key in p or probe != "membership" else p["max_auc"]  # older reports
        note = ""
        if probe == "extraction":
            note = f"±{p['excess_stderr']} (1 s.e.)"
        elif probe == "membership":
            base = p.get("base_max_auc")
            note = (f"{p.get('gate_attack') or p['best_attack']}, ±{p['auc_stderr']} (1 s.e.)"
                    + (f"; raw best {p['max_auc']}, base model {base}" if base is not None
                       else ""))
        elif probe == "canaries":
            note = f"of {p['space_bits']} bits max"
        out.append({"probe": probe, "name": name, "value": value, "threshold": threshold,
                    "status": "pass" if value <= threshold else "fail", "note": note})
    return out


def _is_sealed_dir(path: Path | None) -> bool:
    """A folder sealed by ``privtune train`` (``seal_dir``): ``MANIFEST.json.sealed`` + files
    ``<name>.sealed``."""
    from privtune.train import artifacts as ta

    return path is not None and (Path(path) / (ta.MANIFEST + ta.SEALED)).is_file()


def run_audit(
    inputs: AuditInputs,
    cfg: AuditConfig | None = None,
    out_dir: str | Path | None = None,
    *,
    keyring: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Audit a model; returns the report (also written to ``out_dir`` when given).

    ``fingerprint_key`` defaults to ``keyring.derive_key("fingerprint")``; ``inventory`` and
    ``canaries`` may be passed already loaded instead of as files in ``inputs``.

    A sealed model or adapter folder (``privtune train`` without ``release_final``) is
    decrypted with ``keyring`` into a private tmpfs folder for the probes; the report's
    ``model_sha256`` still names the files AS STORED (the ``.sealed`` files, which the
    registry binds to) and ``model_sha256_plaintext`` the decrypted ones.
    """
    sealed = [p for p in (inputs.model, inputs.adapter) if _is_sealed_dir(p)]
    if not sealed:
        return _run_audit(inputs, cfg, out_dir, keyring=keyring, **kwargs)
    if keyring is None:
        raise InputError("this model folder is sealed: its keyring is needed to audit it",
                         Location(sealed[0]))
    import shutil
    import tempfile

    from privtune.train import artifacts as ta

    shm = Path("/dev/shm")
    tmp = Path(tempfile.mkdtemp(prefix="privtune-audit-",
                                dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))
    try:
        os.chmod(tmp, 0o700)
        stored: dict[Path, Path] = {}
        for i, p in enumerate(sealed):
            stored[ta.open_dir(Path(p), tmp / str(i) / Path(p).name, keyring)] = Path(p)
        opened = {v: k for k, v in stored.items()}
        plain = dataclasses.replace(
            inputs, model=opened.get(inputs.model, inputs.model),
            adapter=opened.get(inputs.adapter, inputs.adapter) if inputs.adapter else None)
        return _run_audit(plain, cfg, out_dir, keyring=keyring, stored=stored, **kwargs)
    finally:
        if tmp.parent != shm:
            from privtune.seal import shred

            for f in sorted(tmp.rglob("*"), reverse=True):
                if f.is_file():
                    with contextlib.suppress(OSError):
                        shred(f)
        shutil.rmtree(tmp, ignore_errors=True)


def _run_audit(
    inputs: AuditInputs,
    cfg: AuditConfig | None = None,
    out_dir: str | Path | None = None,
    *,
    keyring: Any = None,
    fingerprint_key: bytes | None = None,
    detect: DetectConfig | None = None,
    inventory: Inventory | None = None,
    canaries: Canaries | None = None,
    progress: ProgressFactory | None = None,
    log: Callable[[str], None] | None = None,
    stored: dict[Path, Path] | None = None,
) -> dict[str, Any]:
    """``run_audit`` on plaintext folders; ``stored``: decrypted copy -> sealed folder."""
    from privtune import __version__
    from privtune.audit.artifacts import base_vocabulary, scan_artifacts
    from privtune.audit.backends import load_backend
    from privtune.audit.probes.canaries import canary_probe
    from privtune.audit.probes.extraction import extraction_probe
    from privtune.audit.probes.membership import generalization_probe, membership_probe
    from privtune.audit.probes.pii import pii_probe
    from privtune.detect import Scanner

    cfg = cfg or AuditConfig()
    progress = progress or _noop
    say = log or (lambda _m: None)
    started = time.monotonic()
    wanted = set(cfg.probes) if cfg.probes is not None else None

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    model_path, adapter, ref_path = _resolve_models(inputs)
    if fingerprint_key is None:
        fingerprint_key = keyring.derive_key("fingerprint") if keyring is not None else None
    if inventory is None and inputs.inventory is not None:
        if fingerprint_key is None:
            raise InputError("matching the inventory needs the keyring that made it "
                             "(--config with the keys section)", Location(inputs.inventory))
        inventory = load_inventory(inputs.inventory, fingerprint_key, keyring)
    if canaries is None and inputs.canaries is not None:
        canaries = load_canaries(inputs.canaries, keyring)
    train: list[Record] = load_records(inputs.train, cfg.max_records) if inputs.train else []
    heldout: list[Record] = load_records(inputs.heldout, cfg.max_records) \
        if inputs.heldout else []
    scanner = Scanner(detect)
    inv = inventory if inventory is not None else Inventory(key=fingerprint_key or os.urandom(32))
    inv_source = "file" if inventory is not None else "none"
    # Whatever PII is still in the training records counts too (raw data, or residue).
    added = 0
    for r in train:
        text = r.render(cfg.template)
        for span in scanner.scan(text):
            if inv.match(span.type, text[span.start : span.end]) is None:
                inv.add(span.type, text[span.start : span.end], "train-scan")
                added += 1
    if added:
        inv_source = f"{inv_source} + {added} found in the training records"

    probes: dict[str, Any] = {}
    artifact_roots = [p for p in (inputs.model, inputs.adapter, *inputs.artifacts) if p]
    stored = stored or {}
    # the contract with the registry: the artifact files AS STORED (sealed ones when sealed)
    model_hashes = hash_tree([stored.get(p, p) for p in (model_path, adapter) if p])
    plain_hashes = hash_tree([p for p in (model_path, adapter) if p]) if stored else None
    if want("artifacts"):
        say("scanning artifacts")
        n_files = sum(1 for r in artifact_roots for p in ([r] if r.is_file() else r.rglob("*"))
                      if p.is_file())
        probes["artifacts"] = scan_artifacts(artifact_roots, scanner, inv,
                                             progress("artifact scan", n_files),
                                             keyring=keyring,
                                             base_tokens=base_vocabulary(ref_path))

    need_model = any(want(p) for p in ("extraction", "pii", "canaries", "membership",
                                       "generalization"))
    backend_kwargs = {"batch_size": cfg.batch_size, "max_length": cfg.max_length,
                      "device": cfg.device} if cfg.backend == "transformers" else \
        {"max_length": cfg.max_length}
    target = ref = None
    try:
        if need_model:
            say(f"loading {model_path}" + (f" + adapter {adapter}" if adapter else ""))
            target = load_backend(cfg.backend, model_path, adapter=adapter, **backend_kwargs)
            if ref_path is not None and (want("membership") or want("pii")):
                ref = load_backend("transformers" if cfg.backend == "transformers" else
                                   cfg.backend, ref_path, **backend_kwargs)
        tr_texts = [r.render(cfg.template) for r in train]
        ho_texts = [r.render(cfg.template) for r in heldout]
        tr_ids = [target.encode(t) for t in tr_texts] if target else []
        ho_ids = [target.encode(t) for t in ho_texts] if target else []

        if target and (want("membership") or want("generalization")):
            if not train or not heldout:
                why = "needs --train and --heldout records"
                for name in ("membership", "generalization"):
                    if want(name):
                        probes[name] = {"skipped": why}
            else:
                say("scoring training and held-out records")
                n = len(tr_ids) + len(ho_ids)
                adv = progress("scoring records", n * (2 if ref else 1))
                tr_s, ho_s = target.score(tr_ids, adv), target.score(ho_ids, adv)
                ref_tr = ref_ho = None
                if ref is not None:
                    ref_tr, ref_ho = ref.score(tr_ids, adv), ref.score(ho_ids, adv)
                if want("membership"):
                    probes["membership"] = membership_probe(
                        tr_s, tr_texts, ho_s, ho_texts, k=cfg.min_k, ref_member=ref_tr,
                        ref_nonmember=ref_ho)
                if want("generalization"):
                    probes["generalization"] = generalization_probe(tr_s, ho_s)
        if target and want("extraction"):
            if not train:
                probes["extraction"] = {"skipped": "needs --train records"}
            else:
                say("extraction probe")
                probes["extraction"] = extraction_probe(
                    target, tr_ids, ho_ids, k=cfg.prefix_tokens, m=cfg.suffix_tokens,
                    approx=cfg.approx_match,
                    progress=progress("extraction", len(tr_ids) + len(ho_ids)))
        if target and want("canaries"):
            if canaries is None:
                probes["canaries"] = {"skipped": "needs --canaries"}
            else:
                say("canary exposure")
                probes["canaries"] = canary_probe(
                    target, canaries, candidates=cfg.canary_candidates, seed=cfg.seed,
                    template=cfg.template, progress=progress("canaries", cfg.canary_candidates +
                                      len(canaries.inserted)))
        if target and want("pii"):
            if len(inv) == 0:
                probes["pii"] = {"skipped": "no inventory and no PII in the training records"}
            else:
                say("PII regurgitation")
                p = pii_probe(target, scanner, inv, train, base=ref, template=cfg.template,
                              max_new_tokens=cfg.pii_max_new_tokens, samples=cfg.pii_samples,
                              max_contexts=cfg.pii_contexts, seed=cfg.seed,
                              progress=progress("PII prompts", 0))
                p["inventory_source"] = inv_source
                probes["pii"] = p
    finally:
        for b in (target, ref):
            if b is not None:
                with contextlib.suppress(Exception):
                    b.close()

    checks = gate(probes, cfg)
    verdict = "fail" if any(c["status"] == "fail" for c in checks) else "pass"
    cfg_json = cfg.model_dump(mode="json")
    report = {
        "verdict": verdict,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "privtune_version": __version__,
        "backend": cfg.backend,
        "model": {"path": str(stored.get(inputs.model, inputs.model)),
                  "adapter": str(stored.get(adapter, adapter)) if adapter else None,
                  "reference": str(stored.get(ref_path, ref_path)) if ref_path else None,
                  **({"sealed": True} if stored else {})},
        "model_sha256": model_hashes,
        **({"model_sha256_plaintext": plain_hashes} if plain_hashes is not None else {}),
        "config": cfg_json,
        "config_sha256": hashlib.sha256(json.dumps(cfg_json, sort_keys=True).encode())
        .hexdigest(),
        "inputs": {k: str(v) if v is not None else None for k, v in {
            "train": inputs.train, "heldout": inputs.heldout, "inventory": inputs.inventory,
            "canaries": inputs.canaries}.items()},
        "gate": checks,
        "probes": probes,
        "training": _training_facts(inputs.train_run),
        "seconds": round(time.monotonic() - started, 2),
    }
    if out_dir is not None:
        from privtune.audit.report import write_report

        write_report(report, out_dir)
    return report
