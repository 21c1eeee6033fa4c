"""The audit must be right: a tiny model trained on RAW data (PII, repeated canaries) fails;
the same model trained on the SANITIZED data passes."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def summary(report) -> dict:
    p = report["probes"]
    return {"verdict": report["verdict"], "exposure_bits": p["canaries"]["max_exposure_bits"],
            "pii": p["pii"]["regurgitated"], "mia_auc": p["membership"]["max_auc"],
            "extraction_excess": p["extraction"]["excess_rate"],
            "artifacts": p["artifacts"]["gated_findings"], "seconds": report["seconds"]}


def test_raw_model_fails(raw_audit, leaky):
    report, out = raw_audit
    s = summary(report)
    print("raw:", s)
    assert report["verdict"] == "fail"
    p = report["probes"]
    can = p["canaries"]
    # near the maximum: a 9-digit slot is 29.9 bits; 10 repeats make it all but certain
    assert can["max_exposure_bits"] >= 0.75 * can["space_bits"], can["canaries"]
    assert all(c["rank"] == 1 for c in can["canaries"])
    assert p["pii"]["regurgitated"] >= 10
    assert {"PHONE", "EMAIL"} <= set(p["pii"]["by_type"])
    assert p["membership"]["max_auc"] >= 0.9
    assert p["membership"]["attacks"]["loss"]["auc"] >= 0.9
    assert p["extraction"]["excess_rate"] >= 0.3
    assert p["generalization"]["loss_gap"] > 0.5
    failed = {c["probe"] for c in report["gate"] if c["status"] == "fail"}
    assert {"canaries", "pii", "membership", "extraction"} <= failed
    assert json.loads((out / "report.json").read_text())["verdict"] == "fail"


def test_sanitized_model_passes(clean_audit):
    report, _ = clean_audit
    s = summary(report)
    print("sanitized:", s)
    p = report["probes"]
    assert report["verdict"] == "pass", report["gate"]
    assert p["pii"]["regurgitated"] == 0
    assert p["canaries"]["max_exposure_bits"] < 10
    assert p["membership"]["max_auc"] <= 0.6
    assert p["artifacts"]["gated_findings"] == 0


def test_reports_hold_no_raw_values(raw_audit, leaky):
    """Leaked PII appears masked; no training value is written to report.json or .html."""
    data, _ = leaky
    _, out = raw_audit
    text = (out / "report.json").read_text() + (out / "report.html").read_text()
    for t, value in data.pii:
        if t in ("PHONE", "EMAIL"):
            assert value not in text
    for c in data.canaries["inserted"]:
        assert c["slot"] not in text
    leaked = json.loads((out / "report.json").read_text())["probes"]["pii"]["leaked"]
    assert leaked and all("*" in f["masked"] for f in leaked)
