"""``serve.workers: 2``: a key's rate limit is one bucket for the whole gateway, not one per
worker process (issue 8)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import yaml

from privtune.serve.stub import free_port, wait_http

RPM = 12  # a burst of two (ten seconds' worth), then one more every five seconds


def _serving_pids(gateway: psutil.Process, port: int) -> set[int]:
    """The worker processes holding an accepted connection on ``port``."""
    pids = set()
    for child in gateway.children(recursive=True):
        try:
            conns = child.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        if any(c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
               for c in conns):
            pids.add(child.pid)
    return pids


def test_two_workers_share_one_bucket_per_key(tmp_path, stub):
    from privtune.seal import Keyring
    from privtune.serve.apikeys import KeyStore
    from privtune.serve.store import open_store

    _, srv = stub
    keyring = Keyring.ephemeral(tmp_path / "keys")
    db = f"sqlite:///{tmp_path}/serve.db"
    token, _ = KeyStore(open_store(db), keyring.derive_key("api-keys")).create(
        "prod", ["support"], rpm=RPM)
    port = free_port()
    path = tmp_path / "privtune.yaml"
    path.write_text(yaml.safe_dump({
        "work_dir": str(tmp_path),
        "keys": {"provider": "file", "keyring_dir": "keys"},
        "serve": {"upstream": f"{srv.url}/v1", "port": port, "workers": 2, "log_url": db,
                  "aliases": {"support": {"model": "m", "environment": "prod"}}}}))
    proc = subprocess.Popen([sys.executable, "-m", "privtune.cli.main", "serve", "-c",
                             str(path)], cwd=tmp_path, env={**os.environ},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clients: list[httpx.Client] = []
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, timeout=90)
        time.sleep(1.0)  # both workers up (healthz answered by one of them)

        def one() -> httpx.Response:
            c = httpx.Client(timeout=30)  # a fresh connection, kept open until the end
            clients.append(c)
            return c.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                          headers={"authorization": f"Bearer {token}"},
                          json={"model": "support",
                                "messages": [{"role": "user", "content": "hi"}]})

        gateway = psutil.Process(proc.pid)
        responses: list[httpx.Response] = []
        start = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            for _ in range(5):  # waves of concurrent requests until both workers served
                responses += pool.map(lambda _: one(), range(16))
                if len(_serving_pids(gateway, port)) >= 2:
                    break
        elapsed = time.monotonic() - start
        assert len(_serving_pids(gateway, port)) == 2, "both workers served requests"
    finally:
        for c in clients:
            c.close()
        proc.terminate()
        proc.wait(30)
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, statuses
    # one bucket: its burst of two, nothing refilled in under five seconds (per-process
    # buckets would allow four)
    assert elapsed < 60 / RPM, "the requests took too long for the count to be exact"
    assert statuses.count(200) == RPM // 6, (statuses, elapsed)
    for r in responses:
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "rate_limit_exceeded"
            assert 1 <= int(r.headers["retry-after"]) <= 60 // RPM + 1
