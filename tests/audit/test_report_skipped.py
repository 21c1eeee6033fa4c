"""render_html renders every probe section whatever subset of probes ran: a skipped (or not
requested) probe shows as "skipped: <reason>" instead of crashing the report."""

from __future__ import annotations

import copy

import pytest

from privtune.audit.report import render_html

PROBES = ("extraction", "pii", "canaries", "membership", "generalization", "artifacts")


def _bare_report(probes: dict) -> dict:
    return {"verdict": "pass", "created": "2026-01-01T00:00:00+00:00",
            "privtune_version": "0", "backend": "transformers", "model": {"path": "/m"},
            "model_sha256": {"model.safetensors": "0" * 64}, "config": {},
            "config_sha256": "1" * 64, "inputs": {"train": None}, "gate": [],
            "probes": probes, "seconds": 1.0}


def test_every_probe_skipped_renders():
    probes = {name: {"skipped": f"reason for {name}"} for name in PROBES}
    page = render_html(_bare_report(probes))
    for name in PROBES:
        assert f'id="{name}"' in page
        assert f'id="{name}-skipped"' in page
        assert f"skipped: reason for {name}" in page


def test_no_probe_requested_renders():
    page = render_html(_bare_report({}))
    for name in PROBES:
        assert f'id="{name}-skipped"' in page
    assert page.count("skipped: not requested") == len(PROBES)


@pytest.mark.slow
@pytest.mark.parametrize("skipped", PROBES)
def test_real_report_with_one_probe_skipped(raw_audit, skipped):
    report, _ = raw_audit
    r = copy.deepcopy(report)
    r["probes"][skipped] = {"skipped": "test: not run"}
    page = render_html(r)
    assert f'id="{skipped}-skipped"' in page and "skipped: test: not run" in page
    for name in PROBES:
        assert f'id="{name}"' in page
        if name != skipped:
            assert f'id="{name}-skipped"' not in page
    del r["probes"][skipped]  # not requested at all
    assert "skipped: not requested" in render_html(r)
