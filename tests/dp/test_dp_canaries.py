"""The proof: DP-SGD at epsilon 8 inside the LLaMA-Factory run cuts canary exposure from
"fully memorized" to within the DP bound, with the accounting in the run summary."""

from __future__ import annotations

import json
import math

import pytest

pytestmark = pytest.mark.slow

EPSILON = 8.0  # as in conftest's dp_run
DELTA = 1e-5


def test_dp_summary_and_live_epsilon(setup, dp_run):
    dp = dp_run["dp"]
    assert dp_run["status"] == "completed"
    assert dp["steps"] == dp["planned_steps"] == 300
    assert dp["sampling"] == "poisson" and dp["accountant"] == "prv"
    assert 0 < dp["noise_multiplier"] < 10
    assert EPSILON * 0.95 <= dp["epsilon"] <= EPSILON  # the whole budget, never more
    assert dp["delta"] == DELTA
    assert dp["check"]["passed"] and dp["check"]["problems"] == []
    assert dp["check"]["adapter"]["tensors"] > 0
    # stored: train_summary.json on disk is the returned summary
    on_disk = json.loads((setup.out("dp") / "train_summary.json").read_text())
    assert on_disk["dp"] == dp
    # reported live: every training log entry carries the epsilon spent so far, increasing
    state = json.loads((setup.out("dp") / "trainer_state.json").read_text())
    eps = [e["epsilon"] for e in state["log_history"] if "loss" in e]
    assert (
        len(eps) == 300 // 50
        and eps == sorted(eps)
        and eps[-1] == pytest.approx(dp["epsilon"], abs=1e-3)
    )


def test_dp_canary_exposure_far_below_nondp_and_within_bound(setup, nondp_run, dp_run):
    from privtune.train.dp.tinyrun import canary_exposure

    plain = canary_exposure(setup, setup.out("nondp") / "final")
    private = canary_exposure(setup, setup.out("dp") / "final")
    bound = EPSILON / math.log(2)  # about 1.44 * epsilon bits
    print(
        f"canary exposure: non-DP {plain['max_exposure_bits']} bits, DP(eps={EPSILON}) "
        f"{private['max_exposure_bits']} bits, bound {bound:.2f} bits, "
        f"space {plain['space_bits']} bits"
    )
    assert plain["max_exposure_bits"] >= 20  # the non-DP adapter memorized the canaries
    assert private["max_exposure_bits"] <= bound
    assert private["max_exposure_bits"] <= plain["max_exposure_bits"] - 15


def test_dp_eval_loss_within_factor_of_nondp(setup, nondp_run, dp_run):
    from privtune.train.dp.check import MAX_RATIO_NONDP
    from privtune.train.dp.tinyrun import eval_loss

    ev = dp_run["dp"]["check"]["eval"]
    plain = eval_loss(setup.out("nondp"))
    assert ev["nondp_eval_loss"] == pytest.approx(plain)
    assert math.isfinite(ev["eval_loss"]) and ev["eval_loss"] <= MAX_RATIO_NONDP * plain
    assert ev["eval_loss"] < ev["base_eval_loss"]  # DP training still learned something
