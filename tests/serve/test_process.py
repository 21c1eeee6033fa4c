"""`privtune serve`, `privtune keys`, `privtune log` as real processes; SIGKILL mid-stream."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import openai
import pytest
import yaml

from privtune.serve.stub import free_port, wait_http

EMAIL = "zhang.wei.test@example.com"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "privtune.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def deployment(tmp_path, stub):
    yield from _deploy(tmp_path, stub, workers=1)


def _deploy(tmp_path, stub, workers):
    from privtune.seal import Keyring

    _, srv = stub
    Keyring.ephemeral(tmp_path / "keys")
    port = free_port()
    cfg = {
        "work_dir": str(tmp_path),
        "keys": {"provider": "file", "keyring_dir": str(tmp_path / "keys")},
        "serve": {
            "upstream": f"{srv.url}/v1", "port": port, "workers": workers,
            "log_url": f"sqlite:///{tmp_path}/serve.db",
            "log_head_export": str(tmp_path / "head.json"), "log_head_every_s": 0.1,
            "log_flush_ms": 10,
            "aliases": {"support": {"model": "m-v1", "version": "1", "environment": "prod"}},
            "environments": {"prod": {"output": "redact"}},
        },
    }
    path = tmp_path / "privtune.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = cli("keys", "create", "--env", "prod", "--alias", "support", "--json", "-c", str(path),
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    token = json.loads(out.stdout)["api_key"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "privtune.cli.main", "serve", "-c", str(path)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", proc)
    except RuntimeError:
        proc.kill()
        raise RuntimeError(proc.stdout.read().decode() if proc.stdout else "no output") from None
    yield {"path": path, "url": url, "token": token, "proc": proc, "dir": tmp_path}
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def client(d):
    return openai.OpenAI(base_url=f"{d['url']}/v1", api_key=d["token"], max_retries=0,
                         timeout=30)


def test_sigkill_mid_stream_leaves_a_verifiable_log(deployment):
    d = deployment
    c = client(d)
    for _ in range(5):
        r = c.chat.completions.create(model="support", messages=[
            {"role": "user", "content": f"write to {EMAIL}"}])
        assert EMAIL not in r.choices[0].message.content
    time.sleep(0.5)  # > flush interval and head export interval
    got: list[str] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            s = c.chat.completions.create(model="support", stream=True, messages=[
                {"role": "user", "content": "word " * 400}],
                extra_body={"stub_delay_ms": 20, "stub_chunk": 5})
            for ch in s:
                if ch.choices:
                    got.append(ch.choices[0].delta.content or "")
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=consume)
    t.start()
    deadline = time.monotonic() + 20
    while len("".join(got)) < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "".join(got), "the stream never started"
    d["proc"].send_signal(signal.SIGKILL)
    d["proc"].wait(10)
    t.join(30)
    assert len("".join(got)) < 2000  # it was cut mid-stream
    out = cli("log", "verify", "--json", "-c", str(d["path"]), cwd=d["dir"])
    assert out.returncode == 0, out.stdout + out.stderr
    rep = json.loads(out.stdout)
    assert rep["ok"] and rep["records"] >= 5 and rep["head_checked"]


def test_cli_keys_and_log_verify_tamper(deployment):
    d = deployment
    c = client(d)
    assert c.chat.completions.create(model="support", messages=[
        {"role": "user", "content": "hi"}]).choices[0].message.content == "hi"
    out = cli("keys", "list", "--json", "-c", str(d["path"]), cwd=d["dir"])
    keys = json.loads(out.stdout)
    assert len(keys) == 1 and keys[0]["environment"] == "prod"
    assert d["token"] not in out.stdout and "digest" not in out.stdout
    out = cli("keys", "revoke", keys[0]["key_id"], "-c", str(d["path"]), cwd=d["dir"])
    assert out.returncode == 0, out.stderr
    with pytest.raises(openai.AuthenticationError):
        c.chat.completions.create(model="support", messages=[{"role": "user", "content": "hi"}])
    time.sleep(0.5)
    d["proc"].terminate()
    d["proc"].wait(20)
    out = cli("log", "verify", "-c", str(d["path"]), cwd=d["dir"])
    assert out.returncode == 0, out.stdout + out.stderr
    db = sqlite3.connect(d["dir"] / "serve.db")
    db.execute("UPDATE request_log SET record = replace(record, '\"status\":401', "
               "'\"status\":200')")
    db.commit()
    db.close()
    out = cli("log", "verify", "-c", str(d["path"]), cwd=d["dir"])
    assert out.returncode == 1 and "TAMPERED" in out.stdout


def test_two_workers_extend_one_chain(tmp_path, stub):
    gen = _deploy(tmp_path, stub, workers=2)
    d = next(gen)
    try:
        c = client(d)
        for i in range(12):
            r = c.chat.completions.create(model="support", messages=[
                {"role": "user", "content": f"{i} write to {EMAIL}"}])
            assert EMAIL not in r.choices[0].message.content
        time.sleep(0.5)
        d["proc"].terminate()
        d["proc"].wait(30)
    finally:
        for _ in gen:
            pass
    out = cli("log", "verify", "--json", "-c", str(d["path"]), cwd=d["dir"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["records"] >= 12
