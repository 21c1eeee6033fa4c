"""``run_dp_training``: ``privtune train`` with ``train.dp``, the accounting stored in
``train_summary.json`` and the post-training check applied (it raises on failure)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from privtune.config import PrivtuneConfig, load_config
from privtune.errors import ConfigError
from privtune.fsutil import atomic_write_text
from privtune.train.dp.check import DPCheckFailed, check_adapter, check_eval, load_adapter
from privtune.train.dp.engine import DPEngine, check_dp_args

_ACTIVE = 0


def active() -> bool:
    """Whether a DP run is in progress in this process (the runner then trains as told)."""
    return _ACTIVE > 0


def run_dp_training(
    cfg: PrivtuneConfig | str | Path,
    *,
    source: str | Path | None = None,
    keyring: Any = None,
    callbacks: list[Any] | None = None,
    reference_eval_loss: float | None = None,
    resume: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    """Train with DP-SGD; return the summary (with its ``dp`` section).

    ``reference_eval_loss``: a non-DP run's eval loss on the same eval data; the DP run's must
    stay within :data:`~privtune.train.dp.check.MAX_RATIO_NONDP` of it.
    Raises :class:`DPCheckFailed` (after recording it in the summary) when the adapter did not
    train correctly.
    """
    from privtune.train.runner import SUMMARY, run_training
    from privtune.train.settings import base_dir_of

    if not isinstance(cfg, PrivtuneConfig):
        source = cfg
        cfg = load_config(cfg)
    if cfg.train.dp is None:
        raise ConfigError("train.dp is not set")
    global _ACTIVE
    check_dp_args(cfg.train.llamafactory)
    if resume:
        raise ConfigError(
            "train.dp cannot resume a run: the privacy accountant's state is per "
            "run (start a new run; its budget is spent from zero)"
        )
    if _nproc(cfg) > 1:
        raise ConfigError("train.dp trains in one process: set train.nproc_per_node: 1")
    engine = DPEngine(cfg.train.dp)
    undo = engine.install()
    _ACTIVE += 1
    try:
        # the engine adds its callback to the trainer it attaches to
        summary = run_training(cfg, source=source, keyring=keyring, callbacks=callbacks, **kwargs)
    finally:
        _ACTIVE -= 1
        undo()
    out_dir = (base_dir_of(cfg, source) / str(cfg.train.llamafactory["output_dir"])).resolve()
    return record_and_check(
        engine,
        summary,
        out_dir,
        keyring=keyring,
        reference_eval_loss=reference_eval_loss,
        summary_name=SUMMARY,
    )


def record_and_check(
    engine: DPEngine,
    summary: dict[str, Any],
    out_dir: Path,
    *,
    keyring: Any,
    reference_eval_loss: float | None = None,
    summary_name: str = "train_summary.json",
) -> dict[str, Any]:
    """Add ``dp`` to the run summary, check the saved adapter and eval loss; raise on failure."""
    from privtune.train import open_final

    st = engine.state
    dp = st.summary()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="privtune-dp-check-", dir=_private_tmp()) as tmp:
        try:
            saved = load_adapter(open_final(out_dir, keyring, Path(tmp) / "final"))
        except DPCheckFailed as exc:
            saved, problems = {}, [str(exc)]
        adapter = check_adapter(st.initial_adapter, st.final_adapter, saved)
    problems += adapter.pop("problems")
    ev = check_eval(st.eval_losses, reference_eval_loss=reference_eval_loss)
    problems += ev.pop("problems")
    if st.steps == 0:
        problems.append("no DP step was taken")
    dp["check"] = {"passed": not problems, "problems": problems, "adapter": adapter, "eval": ev}
    summary["dp"] = dp
    if problems:
        summary["status"] = "failed"
    atomic_write_text(
        out_dir / summary_name, json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    )
    if problems:
        raise DPCheckFailed(
            "DP training produced an adapter that must not be used: " + "; ".join(problems)
        )
    return summary


def _nproc(cfg: PrivtuneConfig) -> int:
    if cfg.train.nproc_per_node:
        return cfg.train.nproc_per_node
    try:
        import torch

        return max(1, torch.cuda.device_count())
    except Exception:
        return 1


def _private_tmp() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None
