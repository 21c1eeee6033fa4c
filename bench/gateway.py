"""Gateway overhead: a load generator against a stub upstream on 127.0.0.1, direct and
through ``privtune serve`` (filtering and the request log on), in the same run.

    .venv/bin/python bench/gateway.py                       # ~1.5 minutes
    .venv/bin/python bench/gateway.py --duration 3 --concurrency 50

Reports, per mode (non-streaming, streaming) and concurrency: requests/s and latency p50/p99
direct and through the gateway, and the added latency (gateway minus direct). A serial run
(one client) gives the pure per-request overhead without queueing. Streaming latency is to
the last byte; TTFT (first content byte) is reported too. Everything (stub, gateway, load
generator) shares this machine's cores: on a 2-core box the generator itself costs a core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPLY = ("Thanks for waiting. I have checked the order and it shipped yesterday; the tracking "
         "number was sent to zhang.wei.test@example.com. If anything is missing please reply "
         "to this message and we will look into it right away. 祝您生活愉快！")


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def load(url: str, token: str | None, body: dict, concurrency: int, duration: float,
               warmup: float, stream: bool) -> dict:
    import aiohttp

    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode()
    lat: list[float] = []
    ttft: list[float] = []
    errors = 0
    t_start = time.perf_counter()
    t_measure = t_start + warmup
    t_end = t_measure + duration
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def worker() -> None:
            nonlocal errors
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                first = None
                done = False
                try:
                    async with session.post(url, data=data, headers=headers) as resp:
                        if stream:
                            async for line in resp.content:
                                if first is None and line.startswith(b"data:") and \
                                        b'"content":"' in line and b'"content":""' not in line:
                                    first = time.perf_counter()
                                if line.startswith(b"data: [DONE]"):
                                    done = True
                                elif line.startswith(b'data: {"error"'):
                                    done = False
                                    break
                        else:
                            await resp.read()
                        ok = resp.status == 200 and (done or not stream)
                except Exception:
                    ok = False
                t1 = time.perf_counter()
                if t0 >= t_measure and t1 <= t_end:
                    if ok:
                        lat.append(t1 - t0)
                        if first is not None:
                            ttft.append(first - t0)
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    ms = [x * 1000 for x in lat]
    return {"n": len(ms), "rps": len(ms) / duration, "p50": pct(ms, 50), "p99": pct(ms, 99),
            "ttft_p50": pct([x * 1000 for x in ttft], 50) if ttft else None, "errors": errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[50, 200])
    ap.add_argument("--serial", type=int, default=300, help="requests in the 1-client run")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    args = ap.parse_args()

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    from privtune.seal import Keyring
    from privtune.serve.apikeys import KeyStore
    from privtune.serve.store import open_store

    tmp = Path(tempfile.mkdtemp(prefix="privtune-bench-"))
    stub_port, gw_port = free_port(), free_port()
    procs = []
    try:
        stub = subprocess.Popen([sys.executable, "-m", "privtune.serve.stub", str(stub_port),
                                 REPLY])
        procs.append(stub)
        keyring = Keyring.ephemeral(tmp / "keys")
        db = f"sqlite:///{tmp}/serve.db"
        token, _ = KeyStore(open_store(db), keyring.derive_key("api-keys")).create(
            "prod", ["support"], rpm=10**9)
        cfg = {"work_dir": str(tmp),
               "keys": {"provider": "file", "keyring_dir": str(tmp / "keys")},
               "serve": {"upstream": f"http://127.0.0.1:{stub_port}/v1", "port": gw_port,
                         "log_url": db, "log_head_export": str(tmp / "head.json"),
                         "aliases": {"support": {"model": "base", "environment": "prod"}},
                         "environments": {"prod": {"output": "redact",
                                                   "blocked_terms": ["机密", "内部"]}}}}
        import yaml

        (tmp / "privtune.yaml").write_text(yaml.safe_dump(cfg))
        gw = subprocess.Popen([sys.executable, "-m", "privtune.cli.main", "serve", "-c",
                               str(tmp / "privtune.yaml"), "--workers", str(args.workers)],
                              env={**os.environ})
        procs.append(gw)
        wait_http(f"http://127.0.0.1:{stub_port}/v1/models", stub)
        wait_http(f"http://127.0.0.1:{gw_port}/healthz", gw)
        direct = f"http://127.0.0.1:{stub_port}/v1/chat/completions"
        through = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
        results = []
        print(f"cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.2f}  "
              f"reply: {len(REPLY)} chars (one e-mail to redact)", flush=True)
        for stream in (False, True):
            body = {"model": "support", "messages": [{"role": "user", "content": "hi"}],
                    "stream": stream, "stub_chunk": 8}
            runs = [(1, None)] + [(c, None) for c in args.concurrency]
            for conc, _ in runs:
                dur = args.duration if conc > 1 else max(args.duration, 3.0)
                d = asyncio.run(load(direct, None, body, conc, dur, args.warmup, stream))
                g = asyncio.run(load(through, token, body, conc, dur, args.warmup, stream))
                row = {"mode": "stream" if stream else "non-stream", "concurrency": conc,
                       "direct": d, "gateway": g,
                       "added_p50_ms": g["p50"] - d["p50"], "added_p99_ms": g["p99"] - d["p99"]}
                results.append(row)
                print(f"{row['mode']:>10} c={conc:<4} direct {d['rps']:7.0f} req/s "
                      f"p50 {d['p50']:7.2f} p99 {d['p99']:7.2f} | gateway {g['rps']:7.0f} req/s "
                      f"p50 {g['p50']:7.2f} p99 {g['p99']:7.2f}"
                      + (f" ttft {g['ttft_p50']:.2f}" if g["ttft_p50"] else "")
                      + f" | added p50 {row['added_p50_ms']:+.2f} p99 {row['added_p99_ms']:+.2f} ms"
                      + (f" errors {d['errors']}/{g['errors']}" if d["errors"] or g["errors"]
                         else ""), flush=True)
        # TTFT cost of the hold-back: a paced upstream (4 characters every 20 ms, about 50
        # tokens/s), 10 clients; the gateway's first content byte waits for the window
        body = {"model": "support", "messages": [{"role": "user", "content": "hi"}],
                "stream": True, "stub_chunk": 4, "stub_delay_ms": 20}
        d = asyncio.run(load(direct, None, body, 10, max(args.duration, 4.0), args.warmup, True))
        g = asyncio.run(load(through, token, body, 10, max(args.duration, 4.0), args.warmup,
                             True))
        results.append({"mode": "paced-stream", "concurrency": 10, "direct": d, "gateway": g})
        print(f"paced stream c=10 (4 chars / 20 ms): TTFT p50 direct {d['ttft_p50']:.1f} ms, "
              f"gateway {g['ttft_p50']:.1f} ms; total p50 direct {d['p50']:.0f} ms, "
              f"gateway {g['p50']:.0f} ms", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
