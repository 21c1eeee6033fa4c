"""``serve``, ``log`` and ``keys`` resolve a relative ``work_dir`` against the config file's
folder (like sanitize/train/model/monitor), not against the current directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from privtune.config import load_config
from privtune.serve.server import resolve_work_dir
from privtune.serve.stub import free_port, wait_http


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "privtune.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_resolve_work_dir_uses_the_config_folder(tmp_path, monkeypatch):
    (tmp_path / "proj").mkdir()
    path = tmp_path / "proj" / "privtune.yaml"
    path.write_text(yaml.safe_dump({"work_dir": "state"}))
    monkeypatch.chdir(tmp_path)
    cfg = resolve_work_dir(load_config(path), path)
    assert Path(cfg.work_dir) == (tmp_path / "proj" / "state").resolve()
    # no config file: the current directory, as the other commands do
    assert Path(resolve_work_dir(load_config(None), None).work_dir) == tmp_path.resolve()


def test_serve_keys_log_from_another_directory(tmp_path, stub):
    from privtune.seal import Keyring

    _, srv = stub
    proj = tmp_path / "proj"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Keyring.ephemeral(proj / "state" / "keys")
    port = free_port()
    path = proj / "privtune.yaml"
    path.write_text(yaml.safe_dump({
        "work_dir": "state",  # relative: to the config's folder
        "keys": {"provider": "file", "keyring_dir": "keys"},
        "serve": {"upstream": f"{srv.url}/v1", "port": port,
                  "log_url": "sqlite:///serve.db", "log_head_export": "head.json",
                  "log_head_every_s": 0.1, "log_flush_ms": 10,
                  "aliases": {"support": {"model": "m", "environment": "prod"}}}}))
    out = cli("keys", "create", "--env", "prod", "--alias", "support", "--json", "-c",
              str(path), cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    token = json.loads(out.stdout)["api_key"]
    assert (proj / "state" / "serve.db").exists()
    proc = subprocess.Popen([sys.executable, "-m", "privtune.cli.main", "serve", "-c",
                             str(path)], cwd=elsewhere, env={**os.environ},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                       headers={"authorization": f"Bearer {token}"}, timeout=30,
                       json={"model": "support", "messages": [{"role": "user",
                                                               "content": "hi"}]})
        assert r.status_code == 200, r.text  # the key made from elsewhere is the one it reads
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(20)
    assert (proj / "state" / "head.json").exists()
    assert not list(elsewhere.iterdir()), "nothing may be written to the current directory"
    out = cli("log", "verify", "--json", "-c", str(path), cwd=elsewhere)
    assert out.returncode == 0, out.stdout + out.stderr
    rep = json.loads(out.stdout)
    assert rep["records"] == 1 and rep["head_checked"]
    out = cli("keys", "list", "--json", "-c", str(path), cwd=elsewhere)
    assert out.returncode == 0 and len(json.loads(out.stdout)) == 1
