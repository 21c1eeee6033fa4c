"""The gateway's upstream HTTP client against a raw socket server that sends exact bytes."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable

import pytest

from privtune.serve.httpclient import HttpClientError, HttpPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    return head + (await reader.readexactly(n) if n else b"")


async def _serve(handler: Handler, body: Callable[[HttpPool], Awaitable[object]],
                 **kw: object) -> tuple[object, int]:
    """Run ``body`` against a server that calls ``handler`` per connection; returns the
    result and the number of connections the server saw."""
    conns = 0

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal conns
        conns += 1
        try:
            await handler(r, w, conns)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = HttpPool(f"http://127.0.0.1:{port}/v1", {"authorization": "Bearer t"}, **kw)
    try:
        result = await body(pool)
    finally:
        await pool.close()
        server.close()
    return result, conns


def run(handler: Handler, body: Callable[[HttpPool], Awaitable[object]], **kw: object):
    return asyncio.run(_serve(handler, body, **kw))


def _ok(payload: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(payload) + payload


def test_keep_alive_reuses_one_connection_and_sends_the_body():
    async def handler(r, w, _n):
        while True:
            req = await _read_request(r)
            w.write(_ok(req.split(b"\r\n\r\n", 1)[1].upper()))

    async def body(pool):
        out = []
        for i in range(3):
            async with await pool.send("POST", "chat/completions", b"hello %d" % i) as resp:
                out.append((resp.status, await resp.read()))
        return out

    out, conns = run(handler, body)
    assert out == [(200, b"HELLO 0"), (200, b"HELLO 1"), (200, b"HELLO 2")]
    assert conns == 1


def test_request_line_and_headers():
    got: list[bytes] = []

    async def handler(r, w, _n):
        got.append(await _read_request(r))
        w.write(_ok(b"{}"))

    async def body(pool):
        async with await pool.send("POST", "/completions", b'{"a":1}') as resp:
            return await resp.read()

    run(handler, body)
    head = got[0].lower()
    assert head.startswith(b"post /v1/completions http/1.1\r\n")
    assert b"\r\nauthorization: bearer t\r\n" in head and b"\r\ncontent-length: 7\r\n" in head
    assert got[0].endswith(b'{"a":1}')


def test_chunked_lines_split_across_chunks():
    async def handler(r, w, _n):
        await _read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for piece in (b"data: {\"x\"", b":1}\n\nda", b"ta: [DONE]\n\n"):
            w.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await w.drain()
            await asyncio.sleep(0.01)
        w.write(b"0\r\n\r\n")
        await _read_request(r)  # keep the connection open

    async def body(pool):
        async with await pool.send("POST", "x", b"{}") as resp:
            return [line async for line in resp.iter_lines()]

    lines, _ = run(handler, body)
    assert lines == [b'data: {"x":1}\n', b"\n", b"data: [DONE]\n", b"\n"]


def test_idle_connection_closed_by_the_server_is_retried_once():
    async def handler(r, w, n):
        await _read_request(r)
        w.write(_ok(b"first" if n == 1 else b"second"))
        await w.drain()
        # connection 1 closes after one answer (an idle keep-alive timeout)

    async def body(pool):
        async with await pool.send("GET", "models") as resp:
            a = await resp.read()
        await asyncio.sleep(0.05)  # the close reaches the client
        async with await pool.send("GET", "models") as resp:
            b = await resp.read()
        return a, b

    out, conns = run(handler, body)
    assert out == (b"first", b"second") and conns == 2


def test_connection_dropped_before_any_answer_on_a_new_connection_is_an_error():
    async def handler(r, w, _n):
        await _read_request(r)  # then close without answering

    async def body(pool):
        with pytest.raises(HttpClientError):
            await pool.send("GET", "models")

    run(handler, body)


def test_total_timeout():
    async def handler(r, w, _n):
        await _read_request(r)
        await asyncio.sleep(3)

    async def body(pool):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(HttpClientError, match="timed out"):
            await pool.send("GET", "models")
        return loop.time() - t0

    elapsed, _ = run(handler, body, timeout_s=0.2)
    assert elapsed < 2


def test_gzip_body_and_close_delimited_body():
    async def gz(r, w, _n):
        await _read_request(r)
        data = gzip.compress(b'{"ok": true}')
        w.write(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n"
                % len(data) + data)
        await _read_request(r)

    async def read(pool):
        async with await pool.send("GET", "models") as resp:
            return await resp.read()

    assert run(gz, read)[0] == b'{"ok": true}'

    async def old(r, w, _n):
        await _read_request(r)
        w.write(b"HTTP/1.0 500 Oops\r\n\r\nno length")
        await w.drain()

    async def status_and_body(pool):
        async with await pool.send("GET", "models") as resp:
            return resp.status, await resp.read()

    assert run(old, status_and_body)[0] == (500, b"no length")


def test_abandoned_stream_closes_its_connection():
    async def handler(r, w, n):
        await _read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nhello\n\r\n")
        await w.drain()
        if n == 1:
            await asyncio.sleep(3)  # never finishes
        w.write(b"0\r\n\r\n")
        await _read_request(r)

    async def body(pool):
        resp = await pool.send("POST", "x", b"{}")
        async for _line in resp.iter_lines():
            break  # the reader goes away mid-body
        resp.release()
        async with await pool.send("POST", "x", b"{}") as resp:
            return await resp.read()

    out, conns = run(handler, body)
    assert out == b"hello\n" and conns == 2  # the half-read connection was not reused


def test_limit_queues_requests():
    active = 0
    peak = 0

    async def handler(r, w, _n):
        nonlocal active, peak
        while True:
            await _read_request(r)
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.02)
            active -= 1
            w.write(_ok(b"x"))

    async def body(pool):
        async def one():
            async with await pool.send("GET", "models") as resp:
                return await resp.read()

        return await asyncio.gather(*(one() for _ in range(6)))

    out, conns = run(handler, body, limit=2)
    assert out == [b"x"] * 6 and conns <= 2 and peak <= 2
