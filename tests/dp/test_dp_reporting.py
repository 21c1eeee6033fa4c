"""The spent DP budget travels from train_summary.json into the audit report and the signed
registry manifest (issue 10: 'stored in the manifest and shown in the audit report')."""

import json

from privtune.audit.report import _dp_line
from privtune.audit.run import _training_facts
from privtune.registry import Registry
from privtune.registry.store import Store
from privtune.seal import Keyring

DP = {"epsilon": 7.93, "delta": 1e-05, "accountant": "prv", "target_epsilon": 8.0}


def _train_run(tmp_path):
    run = tmp_path / "train-out"
    run.mkdir()
    (run / "train_summary.json").write_text(json.dumps({"status": "completed", "dp": DP}))
    return run


def test_audit_report_shows_spent_epsilon(tmp_path):
    facts = _training_facts(_train_run(tmp_path))
    assert facts["dp"]["epsilon"] == 7.93
    line = "".join(_dp_line({"training": facts}))
    assert "ε=7.93" in line and "accountant prv" in line and "11.4 bits" in line
    assert _dp_line({"training": _training_facts(None)}) == []


def test_registry_manifest_carries_dp_budget(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "adapter_model.safetensors").write_bytes(b"weights")
    report = tmp_path / "report.json"
    report.write_text(json.dumps({
        "verdict": "pass", "probes": {}, "model_sha256": {},
        "training": _training_facts(_train_run(tmp_path))}))
    keyring = Keyring.ephemeral(tmp_path / "keys")
    registry = Registry(Store(f"sqlite:///{tmp_path / 'reg.db'}"), keyring)
    registry.register(model, "bot", "1", audit_report=report)
    manifest = registry.get("bot:1").manifest
    assert manifest["audit"]["dp"]["epsilon"] == 7.93
    assert registry.verify("bot:1").ok  # the budget is under the signature
