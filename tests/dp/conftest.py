"""Fixtures for the DP tests: the tiny canary setup and one non-DP and one DP (epsilon 8) run
on it, shared by the tests (session scope; about 2 minutes on 2 cores)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny matrices: more threads only add contention on 2 cores

EPSILON = 8.0
DELTA = 1e-5


def _require(module: str, hint: str) -> None:
    try:
        __import__(module)
    except ImportError:
        if os.environ.get("PRIVTUNE_REQUIRE_SERVICES") == "1":  # CI installs both
            pytest.fail(f"{module} is not installed ({hint})")
        pytest.skip(f"{module} is not installed ({hint})")


@pytest.fixture(scope="session")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Any:
    _require("llamafactory", "scripts/install-llamafactory.sh")
    _require("opacus", "pip install opacus")
    from privtune.train.dp.tinyrun import make_setup

    return make_setup(tmp_path_factory.mktemp("dp-canaries"))


@pytest.fixture(scope="session")
def nondp_run(setup: Any) -> dict[str, Any]:
    from privtune.train import run_training

    return run_training(setup.config("nondp"))


@pytest.fixture(scope="session")
def dp_run(setup: Any, nondp_run: dict[str, Any]) -> dict[str, Any]:
    from privtune.train.dp import run_dp_training
    from privtune.train.dp.tinyrun import eval_loss

    return run_dp_training(
        setup.config(
            "dp", dp={"target_epsilon": EPSILON, "target_delta": DELTA, "max_grad_norm": 1.0}
        ),
        reference_eval_loss=eval_loss(setup.out("nondp")),
    )


def out(setup: Any, name: str) -> Path:
    return setup.out(name)
