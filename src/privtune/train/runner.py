"""``privtune train``: prepare, run LLaMA-Factory with privtune's hooks, finalize.

The run has three parts so that multi-GPU training keeps every promise:

1. :func:`prepare` (one process): opens the keyring, enforces ``data.remove_original``, makes a
   private staging directory (tmpfs), rewrites ``dataset_info.json`` for in-memory loading,
   decrypts the checkpoint to resume from, and writes the run spec;
2. :func:`execute` (every training process): installs the log redaction and the LLaMA-Factory
   hooks, then calls ``llamafactory.train.tuner.run_exp`` with privtune's callbacks. With
   several GPUs, privtune starts ``torchrun -m privtune.train.worker SPEC`` itself, so every
   rank runs :func:`execute` (LLaMA-Factory's own launcher would re-execute its script and
   lose in-process hooks);
3. :func:`finalize` (one process): seals or releases the final adapter/model, keeps metrics,
   writes ``train_summary.json`` and wipes the staging directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from privtune.config import PrivtuneConfig, load_config
from privtune.errors import ConfigError, Location, PrivtuneError
from privtune.fsutil import atomic_write_text
from privtune.fsutil import pid_alive as _alive
from privtune.fsutil import sha256_file as _sha256
from privtune.train import artifacts
from privtune.train.settings import TrainPlan, build_plan

SUMMARY = "train_summary.json"
SPEC = "run_spec.json"
OWNER = "owner.pid"
#: LLaMA-Factory / Trainer outputs that hold numbers only; kept next to final/ in plaintext.
METRIC_FILES = frozenset(
    {
        "trainer_log.jsonl",
        "trainer_state.json",
        "all_results.json",
        "train_results.json",
        "eval_results.json",
        "predict_results.json",
        "training_loss.png",
        "training_eval_loss.png",
        "training_eval_accuracy.png",
    }
)


class TrainingFailed(PrivtuneError):
    """LLaMA-Factory or the trainer failed; the message is redacted (no_log_samples)."""

    exit_code = 1


@dataclass
class RunSpec:
    """What every training process needs; JSON in the staging directory (no key material)."""

    config_path: str | None
    config: dict[str, Any]
    staging: str
    staging_is_tmpfs: bool
    lf_output_dir: str
    lf_args: dict[str, Any]
    out_dir: str
    in_memory: bool
    resumed_from: str | None = None
    notes: list[str] = field(default_factory=list)

    def save(self) -> Path:
        path = Path(self.staging) / SPEC
        atomic_write_text(path, json.dumps(asdict(self), indent=2), perms=0o600)
        return path

    @classmethod
    def load(cls, path: str | Path) -> RunSpec:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


# --- helpers -----------------------------------------------------------------------------------
def is_tmpfs(path: Path) -> bool:
    """Whether ``path`` lies on a memory file system (tmpfs/ramfs)."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return False
    target = str(path.resolve())
    best, fstype = "", ""
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt = parts[1].replace("\\040", " ")
        if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
            best, fstype = mnt, parts[2]
    return fstype in ("tmpfs", "ramfs")


def make_staging(plan: TrainPlan) -> tuple[Path, bool]:
    """A fresh 0700 directory for everything plaintext during the run; tmpfs when possible."""
    configured = plan.train.staging_dir
    if configured:
        root = Path(configured)
        root = root if root.is_absolute() else plan.base_dir / root
    elif Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
        root = Path("/dev/shm")
    else:
        root = plan.base_dir / ".privtune" / "staging"
    root.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(root)
    path = Path(tempfile.mkdtemp(prefix="privtune-train-", dir=root))
    os.chmod(path, 0o700)
    (path / OWNER).write_text(str(os.getpid()), encoding="utf-8")
    return path, is_tmpfs(path)




def clean_stale_staging(root: Path) -> list[Path]:
    """Wipe staging directories left by killed runs (their owner process is gone)."""
    removed = []
    for d in root.glob("privtune-train-*"):
        try:
            pid = int((d / OWNER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # not ours, or still being created
        if pid != os.getpid() and not _alive(pid):
            artifacts.remove_tree(d, secure=not is_tmpfs(d))
            removed.append(d)
    return removed


def open_keyring(plan: TrainPlan) -> Any:
    from privtune.seal import Keyring

    return Keyring.from_config(plan.config.keys, plan.base_dir)


def enforce_remove_original(plan: TrainPlan, keyring: Any) -> list[str]:
    """``data.remove_original``: each raw original still on disk is removed, but only after
    its sealed copy in ``data.raw_dir`` has been read back and matches it byte for byte."""
    cfg = plan.config
    if not cfg.data.remove_original or not cfg.data.raw:
        return []
    from privtune.seal import remove_verified_original, seal_file

    raw_dir = plan.base_dir / cfg.data.raw_dir
    removed = []
    for pattern in cfg.data.raw:
        pat = Path(pattern)
        matches = [pat] if pat.is_absolute() else sorted(plan.base_dir.glob(pattern))
        for src in matches:
            if not src.is_file():
                continue
            dst = raw_dir / f"{src.name}.sealed"
            if dst.exists():  # sealed earlier (privtune seal): verify it matches, then shred
                remove_verified_original(src, dst, keyring)
            else:
                seal_file(src, dst, keyring, remove_original=True)
            removed.append(str(src))
    return removed


# --- 1. prepare --------------------------------------------------------------------------------
def prepare(plan: TrainPlan, *, resume: bool, keyring: Any) -> RunSpec:
    t = plan.train
    notes = list(plan.notes)
    removed = enforce_remove_original(plan, keyring)
    if removed:
        notes.append(f"removed {len(removed)} original(s) after verifying their sealed copies")
    staging, on_tmpfs = make_staging(plan)
    try:
        if not on_tmpfs and plan.staged:
            notes.append(
                f"staging {staging} is not on tmpfs: plaintext checkpoints are shredded "
                "right after sealing"
            )
        args = dict(plan.lf_args)
        lf_out = staging / "out" if plan.staged else plan.out_dir
        args["output_dir"] = str(lf_out)
        in_memory = t.no_log_samples or any(
            p.name.endswith(".sealed") for p in plan.dataset_files()
        )
        if in_memory:
            from privtune.train.data import prepare_dataset_dir

            args["dataset_dir"] = str(
                prepare_dataset_dir(plan.dataset_dir, plan.datasets, staging / "data")
            )
        else:
            args["dataset_dir"] = str(plan.dataset_dir)
        for key, i, path in plan.sealed_model_inputs():  # e.g. a sealed final/ adapter
            parts = str(args[key]).split(",")
            parts[i] = str(artifacts.open_dir(path, staging / "inputs" / f"{key}-{i}", keyring))
            args[key] = ",".join(parts)
            notes.append(f"{key}: decrypted {path.name} into the staging directory")
        resumed_from = None
        if resume:
            resumed_from = _restore_latest(plan, keyring, lf_out, args)
        spec = RunSpec(
            config_path=str(plan.source) if plan.source else None,
            config=plan.config.model_dump(mode="json"),
            staging=str(staging),
            staging_is_tmpfs=on_tmpfs,
            lf_output_dir=str(lf_out),
            lf_args=args,
            out_dir=str(plan.out_dir),
            in_memory=in_memory,
            resumed_from=resumed_from,
            notes=notes,
        )
        spec.save()
        return spec
    except BaseException:
        artifacts.remove_tree(staging, secure=not on_tmpfs)
        raise


def _restore_latest(plan: TrainPlan, keyring: Any, lf_out: Path, args: dict[str, Any]) -> str:
    ckpt_dir = plan.out_dir / "checkpoints" if plan.staged else plan.out_dir
    found = artifacts.list_checkpoints(ckpt_dir)
    if not found:
        raise PrivtuneError(f"--resume: no checkpoint in {ckpt_dir}", Location(plan.source))
    latest = found[-1]
    if latest.name.endswith(artifacts.SEALED):
        target = lf_out / latest.name.removesuffix(artifacts.SEALED)
        artifacts.open_dir(latest, target, keyring)
    else:
        target = latest
    args["resume_from_checkpoint"] = str(target)
    return latest.name


# --- 2. execute (every training process) -------------------------------------------------------
@contextlib.contextmanager
def _private_temp(spec: RunSpec) -> Iterator[None]:
    """Temp files and any datasets cache go to the staging directory, wiped at the end."""
    tmp = Path(spec.staging) / "tmp"
    cache = Path(spec.staging) / "datasets-cache"
    tmp.mkdir(exist_ok=True)
    cache.mkdir(exist_ok=True)
    saved_env = {k: os.environ.get(k) for k in ("TMPDIR", "HF_DATASETS_CACHE")}
    saved_tempdir = tempfile.tempdir
    os.environ["TMPDIR"] = str(tmp)
    os.environ["HF_DATASETS_CACHE"] = str(cache)
    tempfile.tempdir = str(tmp)
    ds_config = sys.modules.get("datasets.config")
    saved_ds = getattr(ds_config, "HF_DATASETS_CACHE", None) if ds_config else None
    if ds_config is not None:
        ds_config.HF_DATASETS_CACHE = cache
    try:
        yield
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        tempfile.tempdir = saved_tempdir
        if ds_config is not None:
            ds_config.HF_DATASETS_CACHE = saved_ds


def execute(
    spec: RunSpec, *, keyring: Any, callbacks: list[Any] | None = None, redact_streams: bool = True
) -> dict[str, Any]:
    """Install privtune's hooks in this process and run LLaMA-Factory. Returns run facts."""
    cfg = PrivtuneConfig.model_validate(spec.config)
    t = cfg.train
    undo: list[Callable[[], None]] = []
    result: dict[str, Any] = {}
    with _private_temp(spec):
        try:
            redactor = None
            if t.no_log_samples:
                from privtune.train.redact import Redactor, install_redaction

                try:  # fail closed, before training: no scanner, no run
                    from privtune.detect import Scanner

                    scanner = Scanner.from_config(cfg.detect)
                    scanner.scan("warm-up")
                except Exception as exc:
                    raise PrivtuneError(
                        f"no_log_samples needs the PII scanner, which failed "
                        f"to load ({type(exc).__name__}: {exc})"
                    ) from exc
                redactor = Redactor(scanner=scanner)
                undo.append(install_redaction(redactor, streams=redact_streams))
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from privtune.train.hooks import CheckpointGuard, GracefulStop, install_lf_hooks

            out_dir = Path(spec.out_dir)

            def read_bytes(path: Path) -> bytes:
                if path.name.endswith(artifacts.SEALED):
                    from privtune.seal import read_sealed

                    return read_sealed(path, keyring)
                return path.read_bytes()

            def seal_predictions(path: Path) -> Path:
                from privtune.seal import seal_file

                dst = out_dir / (path.name + artifacts.SEALED)
                out_dir.mkdir(parents=True, exist_ok=True)
                seal_file(path, dst, keyring)  # atomic
                artifacts.remove_file(path, secure=not spec.staging_is_tmpfs)
                return dst

            undo.append(
                install_lf_hooks(
                    read_bytes=read_bytes if spec.in_memory else None,
                    on_record=redactor.index.add_values if redactor else None,
                    hide_examples=t.no_log_samples,
                    seal_predictions=seal_predictions if t.no_log_samples else None,
                )
            )
            cbs = list(callbacks or [])
            staged = t.safe_checkpoint or t.encrypt_checkpoint or t.no_log_samples
            if staged:
                keep = (
                    t.keep_checkpoints
                    if t.safe_checkpoint
                    else (t.llamafactory.get("save_total_limit") or 10**9)
                )
                cbs.append(
                    CheckpointGuard(
                        out_dir=out_dir,
                        keyring=keyring,
                        encrypt=t.encrypt_checkpoint,
                        safe=t.safe_checkpoint,
                        keep=int(keep),
                        staging_is_tmpfs=spec.staging_is_tmpfs,
                    )
                )
            stop = GracefulStop()
            undo.append(stop.install())
            cbs.append(stop)

            from llamafactory.train.tuner import run_exp

            try:
                run_exp(dict(spec.lf_args), cbs)
            except (PrivtuneError, KeyboardInterrupt):
                raise
            except Exception as exc:
                if redactor is None:
                    raise
                # The traceback is printed while the redaction is still in place; the error
                # that leaves this function carries redacted text only.
                import traceback

                sys.stderr.write(redactor.redact(traceback.format_exc()) + "\n")
                sys.stderr.flush()
                raise TrainingFailed(
                    redactor.redact(f"training failed: {type(exc).__name__}: {exc}")
                ) from None
            result["stopped_by_signal"] = stop.requested
            if redactor is not None and redactor.index.truncated:
                result["note"] = "sample index capped; PII scanning still applied to logs"
        finally:
            for fn in reversed(undo):
                fn()
    return result


# --- 3. finalize -------------------------------------------------------------------------------
def finalize(spec: RunSpec, plan: TrainPlan, *, keyring: Any, facts: dict[str, Any]) -> dict:
    t = plan.train
    out_dir = plan.out_dir
    lf_out = Path(spec.lf_output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"status": "completed", "resumed_from": spec.resumed_from}
    state_file = lf_out / "trainer_state.json"
    if state_file.is_file():
        state = json.loads(state_file.read_text(encoding="utf-8"))
        summary["global_step"] = state.get("global_step")
        summary["max_steps"] = state.get("max_steps")
        if facts.get("stopped_by_signal") or (
            state.get("max_steps") and state.get("global_step", 0) < state["max_steps"]
        ):
            summary["status"] = "stopped"
    if not plan.staged:
        summary["final"] = {"path": str(out_dir), "sealed": False}
    else:
        final_src = spec_final_files(lf_out)
        for name in METRIC_FILES:
            if (lf_out / name).is_file():
                shutil.copyfile(lf_out / name, out_dir / name)
        pred = lf_out / "generated_predictions.jsonl"
        if pred.exists():  # no_log_samples off: LLaMA-Factory's plaintext file, released as is
            shutil.copyfile(pred, out_dir / pred.name)
        if final_src:
            summary["final"] = _publish_final(
                final_src,
                out_dir,
                keyring,
                t.release_final,
                t.encrypt_checkpoint,
                t.safe_checkpoint,
            )
        sealed_pred = out_dir / "generated_predictions.jsonl.sealed"
        if sealed_pred.exists():
            summary["predictions"] = sealed_pred.name
    ckpt_dir = out_dir / "checkpoints"
    summary["checkpoints"] = [p.name for p in artifacts.list_checkpoints(ckpt_dir)]
    summary["settings"] = {
        "safe_checkpoint": t.safe_checkpoint,
        "no_log_samples": t.no_log_samples,
        "encrypt_checkpoint": t.encrypt_checkpoint,
        "keep_checkpoints": t.keep_checkpoints,
        "release_final": t.release_final,
        "remove_original": plan.config.data.remove_original,
        "staging_on_tmpfs": spec.staging_is_tmpfs,
    }
    summary["notes"] = spec.notes + ([facts["note"]] if facts.get("note") else [])
    atomic_write_text(out_dir / SUMMARY, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return summary


def spec_final_files(lf_out: Path) -> Path | None:
    """Gather the final adapter/model files of ``lf_out`` into ``lf_out/.final`` (or None)."""
    final = lf_out / ".final"
    files = (
        [
            p
            for p in lf_out.iterdir()
            if p.is_file()
            and p.name not in METRIC_FILES
            and p.name != "generated_predictions.jsonl"
        ]
        if lf_out.is_dir()
        else []
    )
    weights = [p for p in files if p.suffix == ".safetensors" or p.name.endswith(".bin")]
    if not weights:
        return None
    final.mkdir(exist_ok=True)
    for p in files:
        os.replace(p, final / p.name)
    return final


def _publish_final(
    src: Path, out_dir: Path, keyring: Any, release: bool, encrypt: bool, safe: bool
) -> dict[str, Any]:
    artifacts.strip_unsafe(src, safe=safe)
    dst = out_dir / "final"
    new = out_dir / ".final.new"
    artifacts.remove_tree(new, secure=True)
    sealed = encrypt and not release
    if sealed:
        manifest = artifacts.seal_dir(src, new, keyring)
    else:
        shutil.copytree(src, new)
        manifest = {
            "files": {
                p.relative_to(new).as_posix(): {"sha256": _sha256(p)}
                for p in sorted(new.rglob("*"))
                if p.is_file()
            }
        }
    artifacts.remove_tree(dst, secure=True)
    os.replace(new, dst)
    return {
        "path": "final",
        "sealed": sealed,
        "sha256": {k: v["sha256"] for k, v in manifest["files"].items()},
    }


# --- the whole run ----------------------------------------------------------------------------
def _nproc(plan: TrainPlan) -> int:
    if plan.train.nproc_per_node:
        return plan.train.nproc_per_node
    try:
        import torch

        return max(1, torch.cuda.device_count())
    except Exception:
        return 1


def run_training(
    cfg: PrivtuneConfig | str | Path,
    *,
    source: str | Path | None = None,
    resume: bool = False,
    callbacks: list[Any] | None = None,
    keyring: Any = None,
    redact_streams: bool = True,
) -> dict[str, Any]:
    """Run ``privtune train``; returns the summary written to ``OUT/train_summary.json``."""
    if not isinstance(cfg, PrivtuneConfig):
        source = cfg
        cfg = load_config(cfg)
    plan = build_plan(cfg, source)
    if plan.train.dp is not None:
        from privtune.train import dp

        if not dp.active():  # dp installs DP-SGD around the trainer, then calls back here
            return dp.run_dp_training(cfg, source=source, resume=resume, callbacks=callbacks,
                                      keyring=keyring, redact_streams=redact_streams)
    if keyring is None and plan.needs_keyring:
        keyring = open_keyring(plan)
    spec = prepare(plan, resume=resume, keyring=keyring)
    try:
        nproc = _nproc(plan)
        if nproc > 1:
            if callbacks:
                raise ConfigError("extra callbacks cannot cross into torchrun ranks")
            facts = _run_torchrun(spec, nproc)
        else:
            facts = execute(
                spec, keyring=keyring, callbacks=callbacks, redact_streams=redact_streams
            )
        return finalize(spec, plan, keyring=keyring, facts=facts)
    finally:
        artifacts.remove_tree(Path(spec.staging), secure=not spec.staging_is_tmpfs)


def _run_torchrun(spec: RunSpec, nproc: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "privtune.train.worker",
        str(Path(spec.staging) / SPEC),
    ]
    proc = subprocess.run(cmd, check=False)
    if proc.returncode != 0:
        raise PrivtuneError(f"training failed in torchrun (exit code {proc.returncode})")
    facts_file = Path(spec.staging) / "facts.json"
    return json.loads(facts_file.read_text()) if facts_file.exists() else {}
