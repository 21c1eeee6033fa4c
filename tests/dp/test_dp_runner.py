"""`privtune train` (runner.run_training, the CLI and `privtune run`) must apply train.dp: a
config with a privacy budget must never train without DP."""

from __future__ import annotations

import json

import pytest


def test_run_training_applies_dp(setup):
    from privtune.train import run_training

    cfg = setup.config("runner", steps=4, logging_steps=2, dp={"target_epsilon": 4.0})
    summary = run_training(cfg)
    dp = summary.get("dp")
    assert dp is not None, "runner.run_training ignored train.dp (trained without DP)"
    assert dp["steps"] == 4 and 0 < dp["epsilon"] <= 4.0 and dp["check"]["passed"]
    on_disk = json.loads((setup.out("runner") / "train_summary.json").read_text())
    assert on_disk["dp"] == dp
    with pytest.raises(Exception, match="cannot resume"):
        run_training(cfg, resume=True)
