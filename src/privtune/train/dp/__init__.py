"""Differentially private LoRA fine-tuning (``train.dp``; docs/dp.md).

``run_dp_training(config)`` is ``privtune train`` with DP-SGD (Opacus) inside the
LLaMA-Factory run, the spent epsilon in ``train_summary.json`` and a post-training check that
fails loudly; :class:`DPEngine` is the in-process hook for a runner that installs it itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "DPCheckFailed",
    "DPEngine",
    "DPError",
    "active",
    "check_dp_args",
    "dp_section",
    "record_and_check",
    "run_dp_training",
]


def __getattr__(name: str) -> Any:  # torch and opacus load only when DP is used
    if name in ("DPEngine", "DPError", "check_dp_args"):
        from privtune.train.dp import engine

        return getattr(engine, name)
    if name == "DPCheckFailed":
        from privtune.train.dp.check import DPCheckFailed

        return DPCheckFailed
    if name in ("run_dp_training", "record_and_check", "active"):
        from privtune.train.dp import run

        return getattr(run, name)
    raise AttributeError(name)


def dp_section(out_dir: str | Path) -> dict[str, Any] | None:
    """The ``dp`` section of a run's ``train_summary.json`` (None: not a DP run), for the audit
    report and the registry manifest; numbers only."""
    f = Path(out_dir) / "train_summary.json"
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    dp = data.get("dp") if isinstance(data, dict) else None
    return dp if isinstance(dp, dict) else None
