"""`privtune monitor` through CliRunner: one-shot with a webhook to a real local receiver."""

from __future__ import annotations

import json

import pytest
import typer
import yaml
from typer.testing import CliRunner

from privtune.cli import model as model_cli
from privtune.cli import monitor as monitor_cli
from privtune.registry.testing import make_model, write_report


@pytest.fixture
def app():
    app = typer.Typer()
    model_cli.register(app)
    monitor_cli.register(app)
    return app


def test_monitor_cli_one_shot_alerts_and_revokes(app, tmp_path, keyring, receiver):
    from privtune.serve.reqlog import append_records
    from privtune.serve.store import ensure_schema, open_store

    hook, got = receiver
    cfg = tmp_path / "privtune.yaml"
    cfg.write_text(yaml.safe_dump({
        "keys": {"provider": "file", "keyring_dir": str(keyring.directory)},
        "detect": {"names": False, "custom": [{"type": "ORDER_NO", "pattern": r"ACME-\d{8}"}]},
        "registry": {"url": "sqlite:///reg.db"},
        "serve": {"log_url": "sqlite:///requests.db"},
        "monitor": {"webhook": hook, "auto_revoke": True, "reaudit": False},
    }))
    runner = CliRunner()

    def run(*args, code=0):
        r = runner.invoke(app, [*args, "-c", str(cfg)], catch_exceptions=False)
        assert r.exit_code == code, (r.stdout, r.stderr)
        return r

    for v in ("1", "2"):
        m = make_model(tmp_path / f"m{v}", f"w{v}".encode())
        run("model", "register", str(m), "--name", "bot", "--version", v, "--audit-report",
            str(write_report(tmp_path / f"r{v}.json", m)))
        run("model", "promote", f"bot:{v}", "--to", "test")
        run("model", "promote", f"bot:{v}", "--to", "prod")
    out = run("monitor")  # no request log yet: nothing critical
    assert "no request log" in out.stdout and "re-audit disabled" in out.stdout
    assert not (tmp_path / "requests.db").exists()

    store = open_store("sqlite:///requests.db", tmp_path)
    ensure_schema(store)
    append_records(store, keyring.derive_key("request-log"), [
        {"id": "a", "ts": 1.0, "alias": "bot", "version": "2", "environment": "prod",
         "output": {"0": "order ACME-12345678 is yours"}}])
    store.close()
    out = run("monitor", "--json", code=1)
    report = json.loads(out.stdout)
    assert report["revoked"] == ["bot:2"] and report["rescan"]["chain_ok"] is True
    assert [a["kind"] for a in got] == ["log-leak"] and got[0]["action"] == "revoked"
    shown = json.loads(run("model", "show", "bot:2", "--json").stdout)
    assert shown["status"] == "revoked"
    assert (tmp_path / ".privtune" / "alerts.jsonl").exists()
    # loop mode: two runs, nothing new
    out = run("monitor", "--every", "0.05s", "--max-runs", "2", "--json")
    reports = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(reports) == 2 and all(r["rescan"]["records"] == 0 for r in reports)
    run("monitor", "--every", "soon", code=2)
