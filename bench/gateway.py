"""Gateway overhead: a load generator against a stub upstream on 127.0.0.1, direct and
through ``privtune serve`` (filtering and the request log on), in the same run.

    .venv/bin/python bench/gateway.py                          # ~2 minutes, the full table
    .venv/bin/python bench/gateway.py --duration 3 --modes open --rate 1000 --no-stream
    .venv/bin/python bench/gateway.py --workers 2              # two gateway processes
    .venv/bin/python bench/gateway.py --profile /tmp/gw/prof.svg --modes open  # py-spy

Three kinds of run, each direct (stub alone) then through the gateway, named in the table:

- ``serial``: one client, one request at a time: the pure per-request overhead, no queueing.
- ``open``: open loop, a fixed arrival rate (``--rate``, default 1,000 requests/s; streaming
  rows ``--stream-rate``, default 300) spread over ``c`` open keep-alive connections. Latency is measured from each request's
  *scheduled* send time, so a stalled server is charged for the requests it delayed
  (no coordinated omission). A request finding every connection busy waits for one; that
  wait counts. This is the figure to compare with a latency target.
- ``closed``: ``c`` clients, each sending its next request when the last one finished: the
  maximum throughput. Its latency is mostly queueing (c / throughput), not overhead.

Per row: achieved requests/s, p50/p99 latency (ms) direct and through the gateway, the added
p50/p99 (gateway minus direct, same run), and CPU per request (us, user+system from
/proc) of the gateway (all its processes), the stub and the load generator. Streaming
latency is to the last byte; ``ttft`` is the gateway's time to the first content byte.
``errors/unsent``: failed requests, and scheduled requests never sent because every
connection stayed busy (the server fell behind the arrival rate). The last lines check issue
8's targets and, once the gateway stopped, that its request log holds a record per request
and its hash chain verifies.

The load generator is a raw asyncio HTTP/1.1 keep-alive client (a Protocol, requests
prebuilt as bytes, Content-Length/chunked parsing only): ~25-40 us of CPU per request, against
~200 us for an aiohttp client (``--client aiohttp`` keeps that one for comparison). All three
processes share this machine's cores; the CPU columns show who used them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPLY = ("Thanks for waiting. I have checked the order and it shipped yesterday; the tracking "
         "number was sent to zhang.wei.test@example.com. If anything is missing please reply "
         "to this message and we will look into it right away. 祝您生活愉快！")
_TICK = os.sysconf("SC_CLK_TCK")
_CONTENT = re.compile(rb'"content":"[^"]')


def pct(xs: list[float], p: float) -> float:
    """Nearest-rank percentile (NaN for no samples)."""
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid: int) -> float:
    """CPU seconds (user+system) of ``pid`` and all its descendants (uvicorn workers)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            raw = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        f = raw[raw.rindex(")") + 2:].split()
        children.setdefault(int(f[1]), []).append(int(d))
        stats[int(d)] = (int(f[11]) + int(f[12])) / _TICK
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += stats.get(p, 0.0)
        todo.extend(children.get(p, []))
    return total


# --- the raw client -------------------------------------------------------------------------
@dataclass
class Samples:
    lat: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    errors: int = 0
    unsent: int = 0


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request in flight; callback-driven (no task
    or future per request: the generator must stay cheap next to what it measures)."""

    def __init__(self, stream: bool, run: _Run) -> None:
        self.stream = stream
        self.run = run
        self.transport: Any = None
        self.buf = bytearray()
        self.closed = False
        self.busy = False
        self.t0 = 0.0
        self._reset()

    def _reset(self) -> None:
        self.buf.clear()
        self.hend = -1
        self.status = 0
        self.clen = -1
        self.pos = 0  # chunked: where the next chunk-size line starts
        self.body = bytearray()
        self.first: float | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.busy:
            self.busy = False
            self.run.done(self, False, None)

    def send(self, t0: float) -> None:
        self.busy = True
        self.t0 = t0
        self.transport.write(self.run.req)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.hend < 0:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                return
            head = bytes(self.buf[:i]).lower()
            self.status = int(head[9:12])
            m = re.search(rb"\r\ncontent-length: *(\d+)", head)
            self.clen = int(m.group(1)) if m else -1
            self.hend = self.pos = i + 4
        if self.stream and self.first is None and _CONTENT.search(data):
            self.first = time.perf_counter()
        if self.clen >= 0:
            if len(self.buf) - self.hend >= self.clen:
                self.body = self.buf[self.hend:self.hend + self.clen]
                self._done()
            return
        buf = self.buf
        while True:  # chunked transfer encoding
            j = buf.find(b"\r\n", self.pos)
            if j < 0:
                return
            size = int(bytes(buf[self.pos:j]).split(b";")[0], 16)
            if len(buf) < j + 2 + size + 2:
                return
            if size == 0:
                self._done()
                return
            self.body += buf[j + 2:j + 2 + size]
            self.pos = j + 2 + size + 2

    def _done(self) -> None:
        ok = self.status == 200
        if self.stream:
            ok = ok and self.body.rstrip().endswith(b"data: [DONE]") \
                and b'data: {"error"' not in self.body
        first = self.first
        self._reset()
        self.busy = False
        self.run.done(self, ok, first)


class _Run:
    """One measured run: open loop (a backlog of scheduled send times, served by whichever
    connection is idle) or closed loop (each connection resends at once)."""

    def __init__(self, port: int, req: bytes, stream: bool, closed_loop: bool,
                 t_measure: float, t_end: float) -> None:
        self.port, self.req, self.stream = port, req, stream
        self.closed_loop = closed_loop
        self.t_measure, self.t_end = t_measure, t_end
        self.idle: list[_Conn] = []
        self.conns: list[_Conn] = []
        self.backlog: collections.deque[float] = collections.deque()
        self.out = Samples()
        self.inflight = 0
        self.reconnecting = 0

    async def connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: _Conn(self.stream, self),
                                               "127.0.0.1", self.port)
        self.conns.append(conn)
        return conn

    def submit(self, t0: float) -> None:
        """A request is due (scheduled at ``t0``)."""
        if self.idle:
            self._start(self.idle.pop(), t0)
        else:
            self.backlog.append(t0)

    def _start(self, conn: _Conn, t0: float) -> None:
        if conn.closed:  # the server closed an idle keep-alive connection: reopen it
            self.reconnecting += 1
            task = asyncio.ensure_future(self.connect())
            task.add_done_callback(lambda f, t0=t0: self._reopened(f, t0))
            return
        self.inflight += 1
        conn.send(t0)

    def _reopened(self, fut: asyncio.Future[_Conn], t0: float) -> None:
        self.reconnecting -= 1
        if fut.exception() is not None:
            if self.t_measure <= t0 < self.t_end:
                self.out.errors += 1
            return
        self._start(fut.result(), t0)

    def done(self, conn: _Conn, ok: bool, first: float | None) -> None:
        self.inflight -= 1
        t1 = time.perf_counter()
        t0 = conn.t0
        if self.t_measure <= t0 < self.t_end and (self.closed_loop is False or t1 <= self.t_end):
            if ok:
                self.out.lat.append(t1 - t0)
                if first is not None:
                    self.out.ttft.append(first - t0)
            else:
                self.out.errors += 1
        if self.closed_loop:
            if t1 < self.t_end:
                self._start(conn, t1)
            else:
                self.idle.append(conn)
        elif self.backlog:
            self._start(conn, self.backlog.popleft())
        else:
            self.idle.append(conn)


def _request_bytes(port: int, path: str, token: str | None, body: bytes) -> bytes:
    auth = f"authorization: Bearer {token}\r\n" if token else ""
    return (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
            f"content-type: application/json\r\n{auth}content-length: {len(body)}\r\n\r\n"
            ).encode() + body


async def run_raw(port: int, path: str, token: str | None, body: bytes, *, conns: int,
                  duration: float, warmup: float, stream: bool, rate: float | None) -> Samples:
    """Closed loop (``rate`` None: each connection sends back to back) or open loop
    (requests scheduled every 1/rate s, taken by whichever connection is free)."""
    t_start = time.perf_counter() + 0.2
    run = _Run(port, _request_bytes(port, path, token, body), stream, rate is None,
               t_start + warmup, t_start + warmup + duration)
    run.idle = [await run.connect() for _ in range(conns)]
    await asyncio.sleep(max(0.0, t_start - time.perf_counter()))
    if rate is None:
        for conn in list(run.idle):
            run.idle.remove(conn)
            run._start(conn, time.perf_counter())
        await asyncio.sleep(max(0.0, run.t_end - time.perf_counter()))
    else:
        n_total = int((warmup + duration) * rate)
        i = 0
        while i < n_total:
            now = time.perf_counter()
            while i < n_total and t_start + i / rate <= now:
                run.submit(t_start + i / rate)
                i += 1
            if i < n_total:
                # event-loop timers have 1 ms resolution and a shorter sleep spins: wake at
                # most every ms and send everything due (the lag is charged to the latency)
                await asyncio.sleep(max(0.001, t_start + i / rate - time.perf_counter()))
    # let in-flight requests finish; scheduled requests never sent within 2 s count as
    # "unsent" (the server fell behind the arrival rate)
    grace = time.perf_counter() + 2.0
    while (run.inflight or run.reconnecting or run.backlog) and time.perf_counter() < grace:
        await asyncio.sleep(0.005)
    run.out.unsent = sum(1 for t0 in run.backlog if run.t_measure <= t0 < run.t_end)
    run.backlog.clear()
    run.out.errors += sum(1 for c in run.conns if c.busy and run.t_measure <= c.t0 < run.t_end)
    for c in run.conns:
        if c.transport is not None:
            c.transport.close()
    return run.out


async def run_aiohttp(url: str, token: str | None, body: bytes, *, conns: int, duration: float,
                      warmup: float, stream: bool) -> Samples:
    """The previous closed-loop generator (aiohttp), kept to show what the client costs."""
    import aiohttp

    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    out = Samples()
    t_measure = time.perf_counter() + warmup
    t_end = t_measure + duration
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def client() -> None:
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                ok = True
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        raw = await resp.read()
                        ok = resp.status == 200 and (not stream or b"data: [DONE]" in raw)
                except Exception:
                    ok = False
                if t0 >= t_measure:
                    if ok:
                        out.lat.append(time.perf_counter() - t0)
                    else:
                        out.errors += 1

        await asyncio.gather(*(client() for _ in range(conns)))
    return out


# --- one measured run -----------------------------------------------------------------------
@dataclass
class Target:
    name: str
    port: int
    path: str
    token: str | None
    pid: int


def measure(t: Target, others: list[int], body: bytes, *, kind: str, conns: int,
            duration: float, warmup: float, stream: bool, rate: float | None,
            client: str) -> dict[str, Any]:
    """One run; CPU of the target, the other server process(es) and this generator."""
    c0 = {p: proc_cpu(p) for p in [t.pid, *others]}
    g0, w0 = time.process_time(), time.perf_counter()
    if client == "aiohttp":
        s = asyncio.run(run_aiohttp(f"http://127.0.0.1:{t.port}{t.path}", t.token, body,
                                    conns=conns, duration=duration, warmup=warmup,
                                    stream=stream))
    else:
        s = asyncio.run(run_raw(t.port, t.path, t.token, body, conns=conns, duration=duration,
                                warmup=warmup, stream=stream,
                                rate=rate if kind == "open" else None))
    gen = time.process_time() - g0
    wall = time.perf_counter() - w0
    cpu = {p: proc_cpu(p) - c0[p] for p in c0}
    n_all = max(1, round(len(s.lat) * (warmup + duration) / duration))  # incl. warm-up
    ms = [x * 1000 for x in s.lat]
    return {"n": len(ms), "rps": len(ms) / duration, "p50": pct(ms, 50), "p99": pct(ms, 99),
            "p999": pct(ms, 99.9), "max": max(ms, default=float("nan")),
            "ttft_p50": pct([x * 1000 for x in s.ttft], 50) if s.ttft else None,
            "errors": s.errors, "unsent": s.unsent,
            "cpu_us": {"target": cpu[t.pid] / n_all * 1e6,
                       "other": sum(cpu[p] for p in others) / n_all * 1e6,
                       "generator": gen / n_all * 1e6},
            "cpu_util": {"target": cpu[t.pid] / wall, "generator": gen / wall}}


def _fmt(row: dict[str, Any]) -> str:
    d, g = row["direct"], row["gateway"]
    lab = f"{row['mode']:<10} {row['kind']:<6} c={row['conns']:<4}" + (
        f" r={row['rate']:<5.0f}" if row["kind"] == "open" else " " * 8)
    bad = d["errors"] + d["unsent"] + g["errors"] + g["unsent"]
    return (f"{lab} | {d['rps']:6.0f} {d['p50']:7.2f} {d['p99']:7.2f} | {g['rps']:6.0f} "
            f"{g['p50']:7.2f} {g['p99']:7.2f} | {row['added_p50_ms']:+7.2f} "
            f"{row['added_p99_ms']:+7.2f} | {g['cpu_us']['target']:5.0f} "
            f"{d['cpu_us']['target']:5.0f} {g['cpu_us']['generator']:4.0f}"
            + (f" | ttft {g['ttft_p50']:.2f}" if g.get("ttft_p50") else "")
            + (f" | errors/unsent {d['errors']}/{d['unsent']} {g['errors']}/{g['unsent']}"
               if bad else ""))


HEADER = ("mode       kind   conns  rate   | direct: req/s p50 p99   | gateway: req/s p50 p99  "
          " | added p50 p99   | CPU us/req: gateway stub generator")


def verdict(results: list[dict[str, Any]]) -> list[str]:
    """Issue 8's targets (non-streaming, filter and log on): added p50 <= 2 ms and p99 <=
    10 ms under an open-loop load, and >= 1,000 requests/s."""
    out = []
    for r in results:
        if r["mode"] != "non-stream" or r["kind"] != "open":
            continue
        g = r["gateway"]
        keeps_up = g["rps"] >= 0.98 * r["rate"] and not g["unsent"] and not g["errors"]
        ok = keeps_up and r["added_p50_ms"] <= 2 and r["added_p99_ms"] <= 10
        out.append(f"target c={r['conns']} at {r['rate']:.0f} req/s: added p50 "
                   f"{r['added_p50_ms']:+.2f} (<= 2), p99 {r['added_p99_ms']:+.2f} (<= 10), "
                   f"{g['rps']:.0f} req/s served: {'MET' if ok else 'NOT MET'}")
    top = [r["gateway"]["rps"] for r in results
           if r["mode"] == "non-stream" and r["kind"] == "closed"]
    if top:
        out.append(f"target >= 1,000 req/s (closed loop, the most the gateway serves here): "
                   f"{max(top):.0f} req/s: {'MET' if max(top) >= 1000 else 'NOT MET'}")
    return out


@contextlib.contextmanager
def servers(workers: int, log_url: str | None, output: str = "redact",
            gateway_src: Path | None = None) -> Iterator[tuple[Target, Target]]:
    """A stub upstream and a gateway in front of it (filter: ``output`` policy + blocked
    terms; request log on: SQLite in a temporary folder unless ``log_url``). ``gateway_src``:
    run the gateway from another copy of ``src/`` (before/after comparisons)."""
    from privtune.seal import Keyring
    from privtune.serve.apikeys import KeyStore
    from privtune.serve.store import open_store
    from privtune.serve.stub import wait_http

    tmp = Path(tempfile.mkdtemp(prefix="privtune-bench-"))
    stub_port, gw_port = free_port(), free_port()
    procs: list[subprocess.Popen] = []
    try:
        stub = subprocess.Popen([sys.executable, "-m", "privtune.serve.stub", str(stub_port),
                                 REPLY])
        procs.append(stub)
        keyring = Keyring.ephemeral(tmp / "keys")
        db = log_url or f"sqlite:///{tmp}/serve.db"
        token, _ = KeyStore(open_store(db), keyring.derive_key("api-keys")).create(
            "prod", ["support"], rpm=10**9)
        cfg = {"work_dir": str(tmp),
               "keys": {"provider": "file", "keyring_dir": str(tmp / "keys")},
               "serve": {"upstream": f"http://127.0.0.1:{stub_port}/v1", "port": gw_port,
                         "log_url": db, "log_head_export": str(tmp / "head.json"),
                         "workers": workers,
                         "aliases": {"support": {"model": "base", "environment": "prod"}},
                         "environments": {"prod": {"output": output,
                                                   "blocked_terms": ["机密", "内部"]}}}}
        import yaml

        (tmp / "privtune.yaml").write_text(yaml.safe_dump(cfg))
        env = dict(os.environ)
        if gateway_src is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(gateway_src.resolve()), *filter(None, [env.get("PYTHONPATH")])])
        gw = subprocess.Popen([sys.executable, "-m", "privtune.cli.main", "serve", "-c",
                               str(tmp / "privtune.yaml")], env=env)
        procs.append(gw)
        wait_http(f"http://127.0.0.1:{stub_port}/v1/models", stub)
        wait_http(f"http://127.0.0.1:{gw_port}/healthz", gw)
        path = "/v1/chat/completions"
        yield (Target("direct", stub_port, path, None, stub.pid),
               Target("gateway", gw_port, path, token, gw.pid))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if len(procs) == 2 and procs[1].returncode == 0:
            print(verify_request_log(db, keyring.derive_key("request-log")), flush=True)
        shutil.rmtree(tmp, ignore_errors=True)


def verify_request_log(db: str, key: bytes) -> str:
    """After the gateway stopped: the log holds one record per gateway request and its chain
    verifies (with ``--workers 2``: both processes extended one chain)."""
    from privtune.serve.reqlog import verify_log
    from privtune.serve.store import open_store

    store = open_store(db)
    try:
        rep = verify_log(store, key)
    finally:
        store.close()
    return (f"request log: {rep.records} records, hash chain "
            + ("verifies" if rep.ok else "BROKEN: " + "; ".join(rep.problems[:3])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--conns", "--concurrency", type=int, nargs="+", default=[50, 200],
                    dest="conns", help="open connections (open loop) / clients (closed)")
    ap.add_argument("--rate", type=float, nargs="+", default=[1000.0],
                    help="open-loop arrival rates, requests/s")
    ap.add_argument("--stream-rate", type=float, nargs="+", default=[300.0],
                    help="open-loop arrival rates for the streaming rows (a streamed answer "
                    "costs the gateway ~4x the CPU of a plain one)")
    ap.add_argument("--modes", nargs="+", default=["serial", "open", "closed"],
                    choices=["serial", "open", "closed"])
    ap.add_argument("--no-stream", action="store_true", help="non-streaming runs only")
    ap.add_argument("--stream-only", action="store_true", help="streaming runs only")
    ap.add_argument("--client", choices=["raw", "aiohttp"], default="raw",
                    help="load generator (aiohttp: closed loop only)")
    ap.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    ap.add_argument("--output", choices=["redact", "pass"], default="redact",
                    help="the environment's output policy (pass: no detector, to isolate "
                    "its cost)")
    ap.add_argument("--gateway-src", type=Path, help="run the gateway from this copy of "
                    "src/ (e.g. a `git archive` of another commit) for before/after runs")
    ap.add_argument("--log-url", help="request log database (default: SQLite in a temp dir)")
    ap.add_argument("--profile", type=Path, help="py-spy the gateway during the first "
                    "gateway run of the first open-loop row; write it here "
                    "(.svg: a flame graph, else collapsed stacks)")
    ap.add_argument("--paced", action="store_true", help="also the paced-stream TTFT run")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results: list[dict[str, Any]] = []
    with servers(args.workers, args.log_url, args.output, args.gateway_src) as (direct, gw):
        print(f"cores: {os.cpu_count()}  load average at start: "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}  gateway workers: "
              f"{args.workers}  client: {args.client}  request log: "
              f"{'sqlite' if not args.log_url else args.log_url.split(':')[0]}  "
              f"filter: {args.output}  reply: {len(REPLY)} chars (one e-mail)"
              + (f"  gateway from: {args.gateway_src}" if args.gateway_src else ""), flush=True)
        print("latency in ms from the scheduled send (open) or the send (serial, closed); "
              "added = gateway - direct", flush=True)
        print(HEADER, flush=True)
        profiled = args.profile is None
        for stream in (False,) if args.no_stream else (True,) if args.stream_only else (False, True):
            body = json.dumps({"model": "support", "messages": [{"role": "user",
                                                                 "content": "hi"}],
                               "stream": stream, "stub_chunk": 8}).encode()
            plan: list[tuple[str, int, float | None]] = []
            if "serial" in args.modes:
                plan.append(("serial", 1, None))
            if "open" in args.modes:
                plan += [("open", c, r) for r in (args.stream_rate if stream else args.rate)
                         for c in args.conns]
            if "closed" in args.modes:
                plan += [("closed", c, None) for c in args.conns]
            for kind, conns, rate in plan:
                if args.client == "aiohttp" and kind == "open":
                    continue
                dur = args.duration if kind != "serial" else max(args.duration, 3.0)
                kw = dict(kind=kind, conns=conns, duration=dur, warmup=args.warmup,
                          stream=stream, rate=rate, client=args.client)
                d = measure(direct, [], body, **kw)
                spy = None
                if not profiled and kind == "open":
                    args.profile.parent.mkdir(parents=True, exist_ok=True)
                    spy = subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "-o",
                         str(args.profile), "--pid", str(gw.pid), "--subprocesses",
                         "--duration", str(int(dur + args.warmup)), "--nonblocking",
                         "--format", "flamegraph" if args.profile.suffix == ".svg" else "raw"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    profiled = True
                g = measure(gw, [direct.pid], body, **kw)
                if spy is not None:
                    spy.wait(60)
                row = {"mode": "stream" if stream else "non-stream", "kind": kind,
                       "conns": conns, "rate": rate, "direct": d, "gateway": g,
                       "added_p50_ms": g["p50"] - d["p50"], "added_p99_ms": g["p99"] - d["p99"],
                       "load": os.getloadavg()[0]}
                results.append(row)
                print(_fmt(row), flush=True)
        if args.paced and not args.no_stream:
            # TTFT cost of the hold-back: a paced upstream (4 characters every 20 ms, about
            # 50 tokens/s), 10 clients; the gateway's first content byte waits for the window
            body = json.dumps({"model": "support", "messages": [{"role": "user",
                                                                 "content": "hi"}],
                               "stream": True, "stub_chunk": 4, "stub_delay_ms": 20}).encode()
            kw = dict(kind="closed", conns=10, duration=max(args.duration, 4.0),
                      warmup=args.warmup, stream=True, rate=None, client="raw")
            d = measure(direct, [], body, **kw)
            g = measure(gw, [direct.pid], body, **kw)
            results.append({"mode": "paced-stream", "kind": "closed", "conns": 10,
                            "direct": d, "gateway": g})
            print(f"paced stream c=10 (4 chars / 20 ms): TTFT p50 direct {d['ttft_p50']:.1f} "
                  f"ms, gateway {g['ttft_p50']:.1f} ms; total p50 direct {d['p50']:.0f} ms, "
                  f"gateway {g['p50']:.0f} ms", flush=True)
        for line in verdict(results):
            print(line)
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
