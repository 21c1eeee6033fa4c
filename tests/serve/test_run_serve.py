"""``privtune run --serve`` starts the same gateway as ``privtune serve``: the run's work dir
(keyring, request log) and ``serve.workers`` are honoured."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import yaml

from privtune.serve.stub import free_port, wait_http

_SERVE = textwrap.dedent("""
    import sys, types
    from pathlib import Path
    from privtune.cli.console import err_console
    from privtune.cli.run import _serve
    _serve(Path(sys.argv[1]), types.SimpleNamespace(work_dir=Path(sys.argv[2])), err_console)
""")


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_run_serve_uses_the_run_work_dir_and_workers(tmp_path, stub):
    from privtune.seal import Keyring

    _, srv = stub
    work = tmp_path / "runs" / "w1"
    Keyring.ephemeral(work / "keys")
    port = free_port()
    path = tmp_path / "privtune.yaml"
    path.write_text(yaml.safe_dump({
        "work_dir": "runs/w1",
        "keys": {"provider": "file", "keyring_dir": "keys"},
        "serve": {"upstream": f"{srv.url}/v1", "port": port, "workers": 2,
                  "log_url": "sqlite:///serve.db", "log_flush_ms": 10,
                  "aliases": {"support": {"model": "m", "environment": "prod"}}}}))
    out = subprocess.run([sys.executable, "-m", "privtune.cli.main", "keys", "create", "--env",
                          "prod", "--alias", "support", "--json", "-c", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    token = json.loads(out.stdout)["api_key"]
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(path), str(work)],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, timeout=90)
        for _ in range(40):  # new connections spread over the worker processes
            r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                           headers={"authorization": f"Bearer {token}"}, timeout=30,
                           json={"model": "support",
                                 "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200, r.text  # the key from the run's keyring is accepted
        assert len(_children(proc.pid)) >= 2, "serve.workers: 2 starts two worker processes"
    finally:
        proc.terminate()
        proc.wait(30)
    assert (work / "serve.db").exists(), "the request log lives in the run's work dir"
    out = subprocess.run([sys.executable, "-m", "privtune.cli.main", "log", "verify", "--json",
                          "-c", str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["records"] == 40
