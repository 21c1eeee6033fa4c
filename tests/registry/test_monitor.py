"""privtune monitor: re-scan with current rules, re-audit, alerts (real local webhook
receiver), automatic revocation."""

from __future__ import annotations

import json

import pytest

from privtune.config import CustomRule, DetectConfig, MonitorConfig
from privtune.monitor import Alerter, LogEntry, LogSink, Monitor, WebhookSink, parse_interval
from privtune.registry.testing import make_model, write_report

SECRET_ORDER = "ACME-77881234"  # a customer order number: no built-in rule knows this format


def _prod(registry, tmp_path, versions):
    for v in versions:
        m = make_model(tmp_path / f"m{v}", f"w{v}".encode())
        registry.register(m, "bot", v, audit_report=write_report(tmp_path / f"r{v}.json", m))
        registry.promote(f"bot:{v}", "test")
        registry.promote(f"bot:{v}", "prod")


def _entries(version="2"):
    return [
        LogEntry(1, 1.0, "bot", version, "prod", outputs={"0": "Your order is shipped."}),
        LogEntry(2, 2.0, "bot", version, "prod",
                 outputs={"0": f"Order {SECRET_ORDER} belongs to [PERSON]."},
                 output_actions={"PERSON": 1}),
        LogEntry(3, 3.0, "bot@test", "1", "test", outputs={"0": "hello"},
                 prompt='[{"role":"user","content":"mail me at a.b@example.com"}]'),
    ]


def _monitor(registry, tmp_path, alerter, detect, entries, **cfg):
    return Monitor(registry, MonitorConfig(**cfg), alerter=alerter, detect_config=detect,
                   log_entries=lambda after: [e for e in entries if e.seq > after],
                   base_dir=tmp_path, state_path=tmp_path / "state.json")


def test_parse_interval():
    assert parse_interval("90s") == 90 and parse_interval("15m") == 900
    assert parse_interval("1h") == 3600 and parse_interval("2d") == 172800
    assert parse_interval("5") == 5
    for bad in ("", "1w", "-1h", "0s"):
        with pytest.raises(ValueError):
            parse_interval(bad)


def test_new_rule_finds_yesterdays_leak_and_revokes(registry, tmp_path, receiver):
    url, got = receiver
    _prod(registry, tmp_path, ["1", "2"])
    alerter = Alerter([LogSink(tmp_path / "alerts.jsonl"), WebhookSink(url, timeout=5)])
    entries = _entries()
    old_rules = DetectConfig(names=False)
    mon = _monitor(registry, tmp_path, alerter, old_rules, entries, auto_revoke=True)
    first = mon.run_once()
    assert first.rescan["records"] == 3 and not [a for a in first.alerts
                                                  if a["kind"] == "log-leak"]
    assert [a["kind"] for a in first.alerts] == ["filter-caught"]  # serve-time filter counts
    again = mon.run_once()
    assert again.rescan["records"] == 0  # incremental: same rules, nothing new
    # today a rule for order numbers is added: the whole log is scanned again
    new_rules = DetectConfig(names=False, custom=[CustomRule(type="ORDER_NO",
                                                             pattern=r"ACME-\d{8}")])
    mon = _monitor(registry, tmp_path, alerter, new_rules, entries, auto_revoke=True)
    report = mon.run_once()
    assert report.rescan["rules_changed"] and report.rescan["records"] == 3
    leak = next(a for a in report.alerts if a["kind"] == "log-leak")
    assert (leak["model"], leak["version"], leak["action"]) == ("bot", "2", "revoked")
    assert leak["details"]["types"] == {"ORDER_NO": 1} and leak["details"]["records"] == [2]
    assert report.revoked == ["bot:2"] and registry.alias("bot", "prod") == "1"
    assert registry.get("bot:2").status_reason.startswith("monitor: 1 PII finding")
    # the webhook receiver got the alerts, without the leaked value
    kinds = [a["kind"] for a in got]
    assert kinds.count("log-leak") == 1 and all(a["source"] == "privtune-monitor" for a in got)
    assert SECRET_ORDER not in json.dumps(got)
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == len(got) and SECRET_ORDER not in "".join(lines)
    revoke = [e for e in registry.events("bot") if e["action"] == "revoke"]
    assert revoke[0]["actor"] == "privtune-monitor"


def test_no_auto_revoke_only_alerts(registry, tmp_path):
    _prod(registry, tmp_path, ["1", "2"])
    alerter = Alerter([])
    rules = DetectConfig(names=False, custom=[CustomRule(type="ORDER_NO", pattern=r"ACME-\d{8}")])
    report = _monitor(registry, tmp_path, alerter, rules, _entries()).run_once()
    leak = next(a for a in report.alerts if a["kind"] == "log-leak")
    assert leak["action"] is None and registry.alias("bot", "prod") == "2"
    # below the policy's threshold: alert, no revocation
    report = _monitor(registry, tmp_path, alerter, rules, _entries(), auto_revoke=True,
                      revoke_min_findings=5).run_once(full=True)
    assert registry.alias("bot", "prod") == "2" and not report.revoked


def test_reaudit_and_integrity(registry, tmp_path):
    _prod(registry, tmp_path, ["1", "2"])
    mon = _monitor(registry, tmp_path, Alerter([]), DetectConfig(names=False), [],
                   auto_revoke=True)
    report = mon.run_once()
    assert any("re-audit skipped" in s for s in report.skipped) and not report.alerts
    assert set(report.verified) == {"bot:2"}
    def crash(info):
        raise RuntimeError("no GPU")

    mon.audit_fn = crash
    report = mon.run_once()
    assert [(a["kind"], a["severity"]) for a in report.alerts] == [("audit-error", "warning")]
    assert registry.alias("bot", "prod") == "2"
    mon.audit_fn = lambda info: {"verdict": "fail", "probes": {"canaries": {"passed": False}}}
    report = mon.run_once()
    alert = next(a for a in report.alerts if a["kind"] == "audit-fail")
    assert alert["action"] == "revoked" and "canaries" in alert["summary"]
    assert registry.alias("bot", "prod") == "1"
    # an artifact of the serving version edited on disk
    mon.audit_fn = lambda info: {"verdict": "pass"}
    (tmp_path / "m1" / "adapter_model.safetensors").write_bytes(b"swapped")
    report = mon.run_once()
    alert = next(a for a in report.alerts if a["kind"] == "integrity")
    assert alert["version"] == "1" and alert["action"] == "revoked"
    assert registry.alias("bot", "prod") is None


def test_real_request_log_rescan_and_chain(registry, tmp_path, keyring):
    """Records written by the gateway's own request-log code are read back and re-scanned."""
    from privtune.serve.reqlog import append_records
    from privtune.serve.store import ensure_schema, open_store

    _prod(registry, tmp_path, ["1", "2"])
    url = f"sqlite:///{tmp_path}/requests.db"
    key = keyring.derive_key("request-log")
    store = open_store(url)
    ensure_schema(store)
    append_records(store, key, [
        {"id": "a", "ts": 1.0, "alias": "bot", "model": "bot-2", "version": "2",
         "environment": "prod", "output": {"0": f"see {SECRET_ORDER}"},
         "output_actions": {}},
        {"id": "b", "ts": 2.0, "alias": "bot", "model": "bot-2", "version": "2",
         "environment": "prod", "prompt_fp": "ab", "output_fp": "cd", "output_actions": {}},
    ])
    rules = DetectConfig(names=False, custom=[CustomRule(type="ORDER_NO", pattern=r"ACME-\d{8}")])
    mon = Monitor(registry, MonitorConfig(auto_revoke=True), alerter=Alerter([]),
                  detect_config=rules, log_url=url, log_key=key, base_dir=tmp_path,
                  state_path=tmp_path / "state.json")
    report = mon.run_once()
    assert report.rescan["records"] == 2 and report.rescan["chain_ok"] is True
    assert report.revoked == ["bot:2"]
    store.execute("UPDATE request_log SET record = replace(record, 'see', 'saw') WHERE seq = 1")
    report = mon.run_once(full=True)
    assert any(a["kind"] == "log-tampered" for a in report.alerts)
    store.close()


def test_webhook_down_does_not_stop_revocation(registry, tmp_path):
    _prod(registry, tmp_path, ["1", "2"])
    sink = WebhookSink("http://127.0.0.1:9/unreachable", timeout=0.5, retries=0)
    rules = DetectConfig(names=False, custom=[CustomRule(type="ORDER_NO", pattern=r"ACME-\d{8}")])
    report = _monitor(registry, tmp_path, Alerter([sink, LogSink(tmp_path / "a.jsonl")]), rules,
                      _entries(), auto_revoke=True).run_once()
    assert report.revoked == ["bot:2"] and sink.failures >= 1
    assert "log-leak" in (tmp_path / "a.jsonl").read_text()


def test_library_audit_wiring(tmp_path, monkeypatch, registry):
    """The monitor calls privtune.audit.run_audit with the version's artifacts and the
    project's data (the audit itself is tested in tests/audit)."""
    import privtune.audit as audit_lib
    from privtune.config import PrivtuneConfig
    from privtune.monitor.runner import library_audit

    _prod(registry, tmp_path, ["1"])
    processed = tmp_path / "data" / "processed"
    processed.mkdir(parents=True)
    (processed / "train.json").write_text("[]")
    (tmp_path / "data" / "inventory.jsonl.sealed").write_bytes(b"x")
    seen = {}

    def fake_run_audit(inputs, cfg, out_dir, **kw):
        seen.update(inputs=inputs, cfg=cfg, out_dir=out_dir, **kw)
        return {"verdict": "fail", "gate": [{"probe": "pii", "status": "fail"}]}

    monkeypatch.setattr(audit_lib, "run_audit", fake_run_audit)
    cfg = PrivtuneConfig.model_validate({"audit": {"base_model": str(tmp_path / "base")}})
    fn = library_audit(cfg, tmp_path, keyring="KR")
    mon = Monitor(registry, MonitorConfig(auto_revoke=True), alerter=Alerter([]),
                  base_dir=tmp_path, audit_fn=fn)
    report = mon.run_once()
    inputs = seen["inputs"]
    assert str(inputs.model) == registry.get("bot:1").artifact_path
    assert inputs.base == tmp_path / "base" and inputs.train == processed / "train.json"
    assert inputs.heldout is None and inputs.inventory.name == "inventory.jsonl.sealed"
    assert seen["keyring"] == "KR" and seen["cfg"] is cfg.audit
    alert = next(a for a in report.alerts if a["kind"] == "audit-fail")
    assert "pii" in alert["summary"] and report.revoked == ["bot:1"]
