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
