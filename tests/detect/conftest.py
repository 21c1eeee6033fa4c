"""Fixtures the detect tests share: the default scanner (names and addresses on) and the
Chinese address recognizer alone. A test file may still define its own ``scanner``."""

from __future__ import annotations

import pytest

from privtune.detect import Scanner
from privtune.detect.recognizers.address_zh import ChineseAddress


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner()


@pytest.fixture(scope="module")
def address() -> ChineseAddress:
    return ChineseAddress()
