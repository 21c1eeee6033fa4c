"""From ``privtune.yaml`` to LLaMA-Factory arguments, with the seed's safe settings enforced.

``train.llamafactory`` passes through unchanged, except for what privtune must own to keep its
promises (output directory, dataset directory, trackers, checkpoint rotation, resume) and
combinations it refuses with a clear message (``check``). Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privtune.config import PrivtuneConfig, TrainConfig
from privtune.errors import ConfigError, Location

_FALSE = (None, False, "false", "False", 0)
MODEL_PATH_KEYS = ("model_name_or_path", "adapter_name_or_path", "tokenizer_name_or_path")


@dataclass
class TrainPlan:
    """Everything a run needs, resolved: paths absolute, LLaMA-Factory arguments final."""

    config: PrivtuneConfig
    base_dir: Path
    out_dir: Path  # where privtune writes: checkpoints/, final/, train_summary.json
    dataset_dir: Path  # the processed directory with dataset_info.json
    datasets: list[str]
    lf_args: dict[str, Any]  # LLaMA-Factory arguments before privtune's run-time paths
    source: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def train(self) -> TrainConfig:
        return self.config.train

    @property
    def staged(self) -> bool:
        """Whether LLaMA-Factory writes to a private staging dir that privtune empties."""
        t = self.train
        return t.safe_checkpoint or t.encrypt_checkpoint or t.no_log_samples

    @property
    def needs_keyring(self) -> bool:
        t = self.train
        sealed_inputs = any(Path(str(p)).name.endswith(".sealed") for p in self.dataset_files())
        predicts = bool(self.lf_args.get("do_predict")) and t.no_log_samples
        final_sealed = t.encrypt_checkpoint and not t.release_final
        return (
            t.encrypt_checkpoint
            or final_sealed
            or predicts
            or sealed_inputs
            or bool(self.sealed_model_inputs())
            or self.config.data.remove_original
        )

    def sealed_model_inputs(self) -> list[tuple[str, int, Path]]:
        """(key, index, path) of sealed directories among the model/adapter paths."""
        found = []
        for key in MODEL_PATH_KEYS:
            value = self.lf_args.get(key)
            if not isinstance(value, str):
                continue
            for i, part in enumerate(value.split(",")):
                path = Path(part.strip())
                if path.is_dir() and (path / "MANIFEST.json.sealed").is_file():
                    found.append((key, i, path))
        return found

    def dataset_files(self) -> list[Path]:
        import json

        info = self.dataset_dir / "dataset_info.json"
        try:
            data = json.loads(info.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        out = []
        for name in self.datasets:
            attr = data.get(name) or {}
            fname = attr.get("file_name")
            if fname:
                p = self.dataset_dir / fname
                out.append(p if p.exists() else p.with_name(p.name + ".sealed"))
        return out


def base_dir_of(cfg: PrivtuneConfig, source: str | Path | None) -> Path:
    """``work_dir`` resolved against the config file's folder (or the current directory)."""
    from privtune.config import work_dir_path

    return work_dir_path(source, cfg.work_dir)


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _trackers(value: Any) -> list[str]:
    return [t for t in _names(value) if t.lower() != "none"]


def check(cfg: PrivtuneConfig, source: str | Path | None = None) -> None:
    """Refuse unsafe or unsupported combinations, naming the key and the fix."""
    t = cfg.train
    lf = t.llamafactory

    def fail(key: str, message: str) -> None:
        path = f"train.llamafactory.{key}"
        raise ConfigError(message, Location(source, _line(source, path), path))

    for required in ("model_name_or_path", "output_dir"):
        if not lf.get(required):
            raise ConfigError(
                f"train.llamafactory.{required} is required",
                Location(source, _line(source, "train.llamafactory"), "train.llamafactory"),
            )
    if "resume_from_checkpoint" in lf:
        fail(
            "resume_from_checkpoint",
            "privtune resumes from its own (sealed) checkpoints: use `privtune train --resume`",
        )
    if lf.get("use_ray") not in _FALSE:
        fail(
            "use_ray",
            "Ray workers run outside privtune's hooks; for several GPUs privtune "
            "starts torchrun itself (train.nproc_per_node)",
        )
    if not t.allow_trackers:
        if _trackers(lf.get("report_to")):
            fail(
                "report_to",
                "experiment trackers receive training data and metrics; "
                "set train.allow_trackers: true to allow them",
            )
        if lf.get("use_swanlab") not in _FALSE:
            fail(
                "use_swanlab",
                "SwanLab is an experiment tracker; set train.allow_trackers: true to allow it",
            )
    if t.safe_checkpoint:
        for key in (
            "push_to_hub",
            "hub_model_id",
            "export_hub_model_id",
            "hub_token",
            "hub_strategy",
        ):
            if lf.get(key) not in _FALSE:
                fail(
                    key,
                    "safe_checkpoint never pushes to a hub; remove it or set "
                    "train.safe_checkpoint: false",
                )
        if lf.get("save_total_limit") is not None:
            fail(
                "save_total_limit",
                "with safe_checkpoint privtune rotates checkpoints itself and removes the old "
                "ones securely (LLaMA-Factory's rotation deletes them in plaintext before "
                "privtune can act): use train.keep_checkpoints instead",
            )
        if lf.get("save_safetensors") is False:
            fail("save_safetensors", "safe_checkpoint writes safetensors only (no pickles)")
    if t.no_log_samples:
        if lf.get("debug") not in (*_FALSE, "", []):
            fail("debug", "debug modes print tensors and samples; refused with no_log_samples")
        for key in ("log_level", "log_level_replica"):
            if str(lf.get(key, "")).lower() == "debug":
                fail(key, "debug logging may quote samples; refused with no_log_samples")
        if lf.get("tokenized_path"):
            fail(
                "tokenized_path",
                "tokenized_path saves the tokenized dataset in plaintext; "
                "refused with no_log_samples",
            )
    if t.encrypt_checkpoint and lf.get("load_best_model_at_end") not in _FALSE:
        fail(
            "load_best_model_at_end",
            "checkpoints are sealed right after they are saved, so the trainer cannot reload "
            "one at the end; evaluate the sealed checkpoints afterwards instead",
        )
    if lf.get("do_predict") not in _FALSE and lf.get("stage", "sft") != "sft":
        fail("do_predict", "do_predict is supported for stage: sft only")


def known_lf_keys() -> set[str]:
    """Every argument LLaMA-Factory's ``train`` accepts (its five argument dataclasses)."""
    import dataclasses

    try:
        from llamafactory import hparams
    except ImportError as exc:
        raise ConfigError(
            "LLaMA-Factory is not installed: run "
            "`bash scripts/install-llamafactory.sh .venv` (docs/train.md)"
        ) from exc
    classes = (
        hparams.ModelArguments,
        hparams.DataArguments,
        hparams.TrainingArguments,
        hparams.FinetuningArguments,
        hparams.GeneratingArguments,
        hparams.RayArguments,
    )
    return {f.name for cls in classes for f in dataclasses.fields(cls)}


def check_lf_keys(cfg: PrivtuneConfig, source: str | Path | None = None) -> None:
    """Unknown LLaMA-Factory arguments are errors here, with the line, not a traceback later."""
    import difflib

    known = known_lf_keys()
    for key in cfg.train.llamafactory:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            path = f"train.llamafactory.{key}"
            raise ConfigError(
                f"LLaMA-Factory has no argument {key!r}{hint}",
                Location(source, _line(source, path), path),
            )


def _line(source: str | Path | None, dotted: str) -> int | None:
    """The line of a key in the config file, for error messages (best effort)."""
    if not source:
        return None
    try:
        import yaml

        from privtune.config import _key_lines

        node = yaml.compose(Path(source).read_text(encoding="utf-8"))
        lines = _key_lines(node) if node is not None else {}
    except Exception:
        return None
    parts = tuple(dotted.split("."))
    for i in range(len(parts), 0, -1):
        if parts[:i] in lines:
            return lines[parts[:i]]
    return None


def abs_if_exists(value: Any, base: Path) -> Any:
    """A relative path that exists under ``base`` made absolute; anything else unchanged."""
    if not isinstance(value, str) or not value:
        return value
    p = Path(value).expanduser()
    if p.is_absolute():
        return value
    cand = base / p
    return str(cand) if cand.exists() else value


def build_plan(
    cfg: PrivtuneConfig, source: str | Path | None = None, *, check_keys: bool = True
) -> TrainPlan:
    """Check the configuration and resolve the run (``check_keys``: against LLaMA-Factory)."""
    check(cfg, source)
    if check_keys:
        check_lf_keys(cfg, source)
    base = base_dir_of(cfg, source)
    t = cfg.train
    args = dict(t.llamafactory)
    out_dir = (base / str(args["output_dir"])).resolve()
    dataset_dir = Path(args.get("dataset_dir") or cfg.data.processed_dir)
    dataset_dir = (dataset_dir if dataset_dir.is_absolute() else base / dataset_dir).resolve()
    args.setdefault("stage", "sft")
    args.setdefault("dataset", "privtune_train")
    for key in MODEL_PATH_KEYS:
        if isinstance(args.get(key), str):
            args[key] = ",".join(abs_if_exists(v.strip(), base) for v in args[key].split(","))
    datasets = _names(args.get("dataset")) + _names(args.get("eval_dataset"))
    notes = []
    if not t.allow_trackers:
        args["report_to"] = "none"
    if t.safe_checkpoint:
        args["save_total_limit"] = None
        args["push_to_hub"] = False
    return TrainPlan(
        config=cfg,
        base_dir=base,
        out_dir=out_dir,
        dataset_dir=dataset_dir,
        datasets=datasets,
        lf_args=args,
        source=Path(source).resolve() if source else None,
        notes=notes,
    )
