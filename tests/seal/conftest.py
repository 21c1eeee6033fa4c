from __future__ import annotations

from pathlib import Path

import pytest

from privtune.seal import Keyring


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.ephemeral(tmp_path / "keys")


@pytest.fixture
def other_keyring(tmp_path: Path) -> Keyring:
    return Keyring.ephemeral(tmp_path / "other-keys")
