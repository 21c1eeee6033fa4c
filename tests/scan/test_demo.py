"""The bundled synthetic data and ``privtune demo``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter

import pytest

from privtune.datasets.formats import detect_format, iter_text_fields
from privtune.datasets.readers import iter_records
from privtune.demo import DEMO_DATA
from privtune.demo.generate import (
    _REGION_CODES,
    FAKER_VERSION,
    N_RECORDS,
    generate,
)
from privtune.detect.validators import id_check_digit, luhn_valid


def test_shipped_data_is_reproducible():
    import faker

    data = generate()
    if faker.VERSION != FAKER_VERSION:
        pytest.skip(f"shipped data was generated with Faker {FAKER_VERSION}, "
                    f"installed is {faker.VERSION}")
    assert data == DEMO_DATA.read_bytes(), "run: python -m privtune.demo.generate"
    assert generate() == data


def test_shipped_data_shape():
    assert DEMO_DATA.stat().st_size < 2_000_000
    recs = [r.data for r in iter_records(DEMO_DATA)]
    assert len(recs) == N_RECORDS and all(r is not None for r in recs)
    formats = Counter(detect_format(r) for r in recs)
    assert set(formats) == {"alpaca", "sharegpt"} and formats["sharegpt"] > 300
    langs = Counter(r["lang"] for r in recs)
    assert langs["zh"] > 900 and langs["en"] > 500
    for r in recs:
        assert {"customer_id", "agent_email", "created_at"} <= set(r)
    text = "\n".join(t for r in recs for _, t in iter_text_fields(r))
    ids = re.findall(r"(?<!\d)\d{17}[\dX](?!\d)", text)
    ids = [i for i in ids if i[:6] in _REGION_CODES]  # not the 18-digit order numbers
    assert len(ids) > 200
    assert all(id_check_digit(i[:17]) == i[17] for i in ids)
    cards = re.findall(r"(?<![\d ])(?:62\d{14}(?:\d{3})?|62\d\d(?: \d{4}){3}(?: \d{3})?)(?!\d)",
                       text)
    assert len(cards) > 100
    assert all(luhn_valid(c.replace(" ", "")) for c in cards)
    assert re.search(r"1[3-9]\d-\d{4}-\d{4}", text) and re.search(r"\+86 1\d{10}", text)


def test_demo_command_reports_without_values():
    out = subprocess.run([sys.executable, "-m", "privtune.cli.main", "demo", "--scan-only"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    assert "PHONE" in out.stdout and "agent_email" in out.stdout
    first = json.loads(DEMO_DATA.read_text(encoding="utf-8").splitlines()[0])
    leaked = [v for _, v in iter_text_fields(first, "generic")
              if re.fullmatch(r"[\w.@+-]{8,}", v) and v in out.stdout + out.stderr]
    assert not leaked
    phones = re.findall(r"1[3-9]\d{9}", first["input"])
    assert phones and not any(p in out.stdout for p in phones)
