"""A minimal OpenAI-compatible upstream for tests and ``bench/gateway.py`` (loopback only).

It answers with the last user message (or the prompt) echoed back, or with a fixed text
(``reply=``), so a test decides what the "model" says. Request fields it understands besides
the OpenAI ones: ``stub_delay_ms`` (between stream chunks), ``stub_chunk`` (characters per
chunk, default 4), ``stub_tool`` (answer with a tool call whose arguments carry the text),
``stub_reasoning`` (also send the text as ``reasoning_content``). It also serves vLLM-style
``/v1/models`` (listing an adapter path) and ``/v1/load_lora_adapter`` so tests can prove
the gateway never exposes them. ``requests`` keeps the last bodies it received.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from typing import Any

import orjson


class StubUpstream:
    def __init__(self, reply: str | None = None) -> None:
        self.reply = reply
        self.requests: deque[dict[str, Any]] = deque(maxlen=64)
        self.lora_calls = 0

    def _text(self, body: dict[str, Any]) -> str:
        if self.reply is not None:
            return self.reply
        msgs = body.get("messages")
        if isinstance(msgs, list):
            for m in reversed(msgs):
                if isinstance(m, dict) and m.get("role") == "user":
                    c = m.get("content")
                    return c if isinstance(c, str) else orjson.dumps(c).decode()
            return ""
        p = body.get("prompt", "")
        return p if isinstance(p, str) else str(p)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        chunks = []
        while True:
            m = await receive()
            chunks.append(m.get("body", b""))
            if not m.get("more_body"):
                break
        raw = b"".join(chunks)
        if path == "/v1/models":
            await _json(send, 200, {"object": "list", "data": [
                {"id": "base", "object": "model"},
                {"id": "/secret/adapters/customer-a", "object": "model"}]})
            return
        if path in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter"):
            self.lora_calls += 1
            await _json(send, 200, {"ok": True})
            return
        if path not in ("/v1/chat/completions", "/v1/completions"):
            await _json(send, 404, {"error": {"message": "not found"}})
            return
        body = orjson.loads(raw) if raw else {}
        self.requests.append(body)
        chat = path == "/v1/chat/completions"
        text = self._text(body)
        n = int(body.get("n") or 1)
        if body.get("stream"):
            await self._stream(send, body, text, n, chat)
        else:
            await _json(send, 200, self._full(body, text, n, chat))

    def _full(self, body: dict[str, Any], text: str, n: int, chat: bool) -> dict[str, Any]:
        choices = []
        for i in range(n):
            if chat:
                msg: dict[str, Any] = {"role": "assistant", "content": text}
                if body.get("stub_tool"):
                    msg["content"] = None
                    msg["tool_calls"] = [{"id": f"call_{i}", "type": "function", "function": {
                        "name": "lookup", "arguments": orjson.dumps({"q": text}).decode()}}]
                if body.get("stub_reasoning"):
                    msg["reasoning_content"] = text
                choices.append({"index": i, "message": msg, "finish_reason": "stop",
                                "logprobs": {"content": [{"token": text, "logprob": -0.1}]},
                                "token_ids": [ord(ch) for ch in text]})  # vLLM extra
            else:
                choices.append({"index": i, "text": text, "finish_reason": "stop",
                                "logprobs": {"tokens": [text]}})
        ct = max(1, len(text) // 4)
        return {"id": "cmpl-stub", "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()), "model": body.get("model"), "choices": choices,
                "prompt_token_ids": [1, 2, 3],
                "usage": {"prompt_tokens": 7, "completion_tokens": ct * n,
                          "total_tokens": 7 + ct * n}}

    async def _stream(self, send: Any, body: dict[str, Any], text: str, n: int,
                      chat: bool) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        step = int(body.get("stub_chunk") or 4)
        delay = float(body.get("stub_delay_ms") or 0) / 1000
        base = {"id": "chatcmpl-stub" if chat else "cmpl-stub",
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()), "model": body.get("model")}

        async def emit(obj: dict[str, Any]) -> None:
            await send({"type": "http.response.body", "body": b"data: " + orjson.dumps(obj)
                        + b"\n\n", "more_body": True})

        tool = bool(body.get("stub_tool"))
        if tool and chat:
            text = orjson.dumps({"q": text}).decode()
        for i in range(n):
            if chat:
                await emit({**base, "choices": [{"index": i, "delta": {
                    "role": "assistant", "content": ""}, "logprobs": None,
                    "finish_reason": None}]})
        pieces = [text[j:j + step] for j in range(0, len(text), step)]
        if tool and chat:
            for i in range(n):
                await emit({**base, "choices": [{"index": i, "delta": {"tool_calls": [{
                    "index": 0, "id": f"call_{i}", "type": "function",
                    "function": {"name": "lookup", "arguments": ""}}]},
                    "logprobs": None, "finish_reason": None}]})
        for piece in pieces:
            for i in range(n):
                if chat:
                    if tool:
                        delta: dict[str, Any] = {"tool_calls": [{"index": 0, "function": {
                            "arguments": piece}}]}
                    else:
                        delta = {"content": piece}
                        if body.get("stub_reasoning"):
                            delta["reasoning_content"] = piece
                    ch = {"index": i, "delta": delta,
                          "logprobs": {"content": [{"token": piece, "logprob": -0.1}]},
                          "finish_reason": None}
                else:
                    ch = {"index": i, "text": piece, "logprobs": {"tokens": [piece]},
                          "finish_reason": None}
                await emit({**base, "choices": [ch]})
            if delay:
                await asyncio.sleep(delay)
        for i in range(n):
            fin = "tool_calls" if tool else "stop"
            ch = ({"index": i, "delta": {}, "logprobs": None, "finish_reason": fin} if chat
                  else {"index": i, "text": "", "logprobs": None, "finish_reason": fin})
            await emit({**base, "choices": [ch]})
        if (body.get("stream_options") or {}).get("include_usage"):
            ct = max(1, len(text) // 4)
            await emit({**base, "choices": [], "usage": {"prompt_tokens": 7,
                                                         "completion_tokens": ct * n,
                                                         "total_tokens": 7 + ct * n}})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n",
                    "more_body": False})


async def _json(send: Any, status: int, obj: Any) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": orjson.dumps(obj)})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: Any = None, timeout: float = 60) -> None:
    """Poll ``url`` until it answers (a server started in another process); fail at once,
    with the process's exit code, when ``proc`` (a ``subprocess.Popen``) has exited."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f} s")


class ServerThread:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a background thread (tests)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, loop="asyncio",
                                http="httptools", lifespan="on", access_log=False,
                                log_level="warning")
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)


def main() -> None:  # python -m privtune.serve.stub PORT  (bench: a separate process)
    import sys

    import uvicorn

    port = int(sys.argv[1])
    uvicorn.run(StubUpstream(sys.argv[2] if len(sys.argv) > 2 else None), host="127.0.0.1",
                port=port, loop="uvloop", http="httptools", access_log=False,
                log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
