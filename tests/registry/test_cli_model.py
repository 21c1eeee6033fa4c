"""`privtune model ...` through typer's CliRunner on a local app (the lead wires main.py)."""

from __future__ import annotations

import json

import pytest
import typer
import yaml
from typer.testing import CliRunner

from privtune.cli import model as model_cli


@pytest.fixture
def cli(tmp_path, store_url, keyring, monkeypatch):
    url, schema = store_url
    cfg = tmp_path / "privtune.yaml"
    doc = {"registry": {"url": url, "db_schema": schema}}
    if hasattr(keyring, "directory"):  # the real privtune.seal keyring, opened from the config
        doc["keys"] = {"provider": "file", "keyring_dir": str(keyring.directory)}
    else:
        monkeypatch.setattr(model_cli, "open_keyring", lambda cfg, base: keyring)
    cfg.write_text(yaml.safe_dump(doc))
    app = typer.Typer()
    model_cli.register(app)
    runner = CliRunner()

    def run(*args: str, code: int = 0):
        result = runner.invoke(app, [*args, "--config", str(cfg)], catch_exceptions=False)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result

    return run


def test_cli_lifecycle(cli, tmp_path, make_model, write_report):
    for v in ("1", "2"):
        m = make_model(tmp_path / f"m{v}", f"w{v}".encode())
        r = write_report(tmp_path / f"r{v}.json", m)
        out = cli("model", "register", str(m), "--name", "bot", "--version", v,
                  "--audit-report", str(r), "--dataset", str(m), "--actor", "alice")
        assert f"registered bot:{v}" in out.stdout
        cli("model", "promote", f"bot:{v}", "--to", "test", "--reason", "qa")
        out = cli("model", "promote", f"bot:{v}", "--to", "prod", "--reason", "ship")
        assert f"promoted bot:{v} to prod" in out.stdout
    listing = json.loads(cli("model", "list", "--json").stdout)
    assert [(i["version"], i["environments"]) for i in listing] == [
        ("1", []), ("2", ["dev", "test", "prod"])]
    assert listing[0]["dataset_fingerprint"].startswith("sha256:")
    assert "bot" in cli("model", "list").stdout
    out = cli("model", "revoke", "bot:2", "--reason", "leak")
    assert "prod: 2 → 1" in out.stdout
    shown = json.loads(cli("model", "show", "bot:2", "--json").stdout)
    assert shown["status"] == "revoked" and shown["status_reason"] == "leak"
    assert [e["action"] for e in shown["events"]] == ["register", "promote", "promote", "revoke"]
    assert "history" in cli("model", "show", "bot:2").stdout
    cli("model", "verify", "bot:1")
    out = cli("model", "rollback", "bot", "--env", "prod", code=2)
    assert "no earlier good version" in out.stderr


def test_cli_refusals_and_tamper(cli, tmp_path, make_model, write_report):
    m = make_model(tmp_path / "m")
    bad = write_report(tmp_path / "bad.json", m, verdict="fail")
    cli("model", "register", str(m), "--name", "bot", "--version", "1", "--audit-report", str(bad))
    out = cli("model", "promote", "bot:1", "--to", "test", code=1)
    assert "refused" in out.stderr and "verdict is 'fail'" in out.stderr
    out = cli("model", "promote", "bot:1", "--to", "prod", "--json", code=1)
    assert json.loads(out.stdout)["reasons"]
    (m / "adapter_model.safetensors").write_bytes(b"edited")
    out = cli("model", "verify", "bot:1", code=1)
    assert "adapter_model.safetensors" in out.stdout
    out = cli("model", "show", "bot:9", code=2)
    assert "no model version bot:9" in out.stderr
    cli("model", "promote", "bot", "--to", "prod", code=2)
    cli("model", "shred", "bot:1", "--yes", code=2)  # not revoked yet


def test_cli_shred_revoked_sealed_version(cli, tmp_path, make_model, keyring):
    from privtune.seal import seal_bytes

    m = tmp_path / "sealed"
    m.mkdir()
    art = seal_bytes(b"adapter weights", m / "adapter_model.safetensors.sealed", keyring)
    cli("model", "register", str(m), "--name", "bot", "--version", "1")
    cli("model", "shred", "bot:1", "--yes", code=2)  # not revoked yet
    cli("model", "revoke", "bot:1", "--reason", "leak")
    out = cli("model", "shred", "bot:1", "--yes", "--reason", "customer asked")
    assert "shredded 1 artifact file" in out.stdout and not art.exists()
    assert json.loads(cli("model", "show", "bot:1", "--json").stdout)["status"] == "shredded"
    cli("model", "verify", "bot:1")  # a shredded version still verifies its manifest
    # an unsealed version cannot be crypto-shredded unless asked to overwrite it
    m2 = make_model(tmp_path / "plain")
    cli("model", "register", str(m2), "--name", "bot", "--version", "2")
    cli("model", "revoke", "bot:2", "--reason", "x")
    out = cli("model", "shred", "bot:2", "--yes", code=2)
    assert "unsealed" in out.stderr and (m2 / "adapter_config.json").exists()
    cli("model", "shred", "bot:2", "--yes", "--include-unsealed")
    assert not any(m2.iterdir())
