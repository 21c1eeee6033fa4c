"""Upstreams: any OpenAI-compatible server over HTTP (vLLM in production), or an embedded
transformers model for small local models.

The HTTP client is :mod:`privtune.serve.httpclient` (keep-alive pool, httptools parser): on
these 2-core machines aiohttp cost ~110-150 us of CPU per request more (docs/serve.md). One
pool per upstream base URL.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import orjson

from privtune.serve.httpclient import HttpPool, Response


class UpstreamError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"upstream returned {status}")
        self.status = status
        self.body = body


class Upstream(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def request(self, route: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def stream(self, route: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...

    async def ready(self) -> bool: ...


class HttpUpstream:
    """An OpenAI-compatible base URL such as ``http://127.0.0.1:8001/v1``."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout_s: float = 600.0,
                 max_connections: int = 1000) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"content-type": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        self._pool: HttpPool | None = None

    async def start(self) -> None:
        if self._pool is None:
            self._pool = HttpPool(self.base_url, self._headers, timeout_s=self._timeout_s,
                                  limit=self._max_connections)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _post(self, route: str, body: dict[str, Any]) -> Response:
        """POST and return the response (headers read; see :mod:`.httpclient` for the retry
        of a pooled connection the server closed meanwhile)."""
        await self.start()
        assert self._pool is not None
        return await self._pool.send("POST", route, orjson.dumps(body))

    async def request(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        async with await self._post(route, body) as resp:
            raw = await resp.read()
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                data = {"error": {"message": "upstream sent a non-JSON response"}}
            if resp.status >= 400:
                raise UpstreamError(resp.status, data)
            return data

    async def stream(self, route: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        async with await self._post(route, body) as resp:
            if resp.status >= 400:
                raw = await resp.read()
                try:
                    data = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    data = {"error": {"message": "upstream error"}}
                raise UpstreamError(resp.status, data)
            async for line in resp.iter_lines():
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    return
                if payload:
                    yield orjson.loads(payload)

    async def ready(self) -> bool:
        await self.start()
        assert self._pool is not None
        try:
            async with await self._pool.send("GET", "models") as resp:
                await resp.read()
                return resp.status < 500
        except Exception:
            return False


class EmbeddedUpstream:
    """A small transformers causal LM in this process (CPU), for running without vLLM.

    Requests are served one at a time (the model is not re-entrant); generation runs in a
    thread so the event loop keeps serving. ``model`` in the request is ignored: the
    embedded backend serves exactly one model directory.
    """

    def __init__(self, model_dir: str | Path, max_new_tokens: int = 256) -> None:
        self.model_dir = str(model_dir)
        self.max_new_tokens = max_new_tokens
        self._model: Any = None
        self._tok: Any = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        if self._model is None:
            await asyncio.to_thread(self._load)

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._tok = AutoTokenizer.from_pretrained(self.model_dir)
        self._model = AutoModelForCausalLM.from_pretrained(self.model_dir)
        self._model.eval()

    async def close(self) -> None:
        self._model = None

    async def ready(self) -> bool:
        return self._model is not None

    def _prompt(self, route: str, body: dict[str, Any]) -> str:
        if route == "chat/completions":
            msgs = body.get("messages") or []
            if getattr(self._tok, "chat_template", None):
                return self._tok.apply_chat_template(msgs, tokenize=False,
                                                     add_generation_prompt=True)
            return "".join(f"{m.get('role')}: {m.get('content')}\n" for m in msgs) + "assistant:"
        prompt = body.get("prompt", "")
        return prompt if isinstance(prompt, str) else "".join(map(str, prompt))

    def _gen_kwargs(self, body: dict[str, Any]) -> dict[str, Any]:
        n = body.get("max_completion_tokens") or body.get("max_tokens") or self.max_new_tokens
        temp = body.get("temperature")
        kw: dict[str, Any] = {"max_new_tokens": int(min(n, 4096))}
        if temp:
            kw.update(do_sample=True, temperature=float(temp), top_p=float(body.get("top_p", 1.0)))
        else:
            kw["do_sample"] = False
        if self._tok.pad_token_id is None:
            kw["pad_token_id"] = self._tok.eos_token_id
        return kw

    def _ids(self, text: str) -> Any:
        return self._tok(text, return_tensors="pt", add_special_tokens=False)

    def _generate(self, route: str, body: dict[str, Any]) -> tuple[str, int, int, str]:
        import torch

        enc = self._ids(self._prompt(route, body))
        kw = self._gen_kwargs(body)
        with torch.no_grad():
            out = self._model.generate(**enc, **kw)
        new = out[0][enc["input_ids"].shape[1]:]
        text = self._tok.decode(new, skip_special_tokens=True)
        finish = "length" if len(new) >= kw["max_new_tokens"] else "stop"
        return text, int(enc["input_ids"].shape[1]), len(new), finish

    @staticmethod
    def _envelope(route: str, chunk: bool) -> dict[str, Any]:
        kind = "chat.completion" if route == "chat/completions" else "text_completion"
        if chunk and route == "chat/completions":
            kind += ".chunk"
        prefix = "chatcmpl" if route == "chat/completions" else "cmpl"
        return {"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind,
                "created": int(time.time()), "model": "embedded"}

    async def request(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        await self.start()
        async with self._lock:
            text, pt, ct, finish = await asyncio.to_thread(self._generate, route, body)
        env = self._envelope(route, chunk=False)
        if route == "chat/completions":
            choice = {"index": 0, "message": {"role": "assistant", "content": text},
                      "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        return {**env, "choices": [choice],
                "usage": {"prompt_tokens": pt, "completion_tokens": ct,
                          "total_tokens": pt + ct}}

    async def stream(self, route: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        await self.start()
        from transformers import TextIteratorStreamer

        async with self._lock:
            enc = self._ids(self._prompt(route, body))
            kw = self._gen_kwargs(body)
            streamer = TextIteratorStreamer(self._tok, skip_prompt=True,
                                            skip_special_tokens=True)
            counter = {"n": 0}

            def run() -> None:
                import torch

                with torch.no_grad():
                    out = self._model.generate(**enc, **kw, streamer=streamer)
                counter["n"] = int(out.shape[1] - enc["input_ids"].shape[1])

            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            env = self._envelope(route, chunk=True)
            chat = route == "chat/completions"
            if chat:
                yield {**env, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                 "content": ""},
                                           "logprobs": None, "finish_reason": None}]}
            it = iter(streamer)
            sentinel = object()
            while True:
                piece = await asyncio.to_thread(next, it, sentinel)
                if piece is sentinel:
                    break
                if not piece:
                    continue
                c = ({"index": 0, "delta": {"content": piece}} if chat
                     else {"index": 0, "text": piece})
                yield {**env, "choices": [{**c, "logprobs": None, "finish_reason": None}]}
            await asyncio.to_thread(thread.join)
            ct = counter["n"]
            finish = "length" if ct >= kw["max_new_tokens"] else "stop"
            last = {"index": 0, "delta": {}} if chat else {"index": 0, "text": ""}
            yield {**env, "choices": [{**last, "logprobs": None, "finish_reason": finish}]}
            pt = int(enc["input_ids"].shape[1])
            yield {**env, "choices": [], "usage": {"prompt_tokens": pt, "completion_tokens": ct,
                                                   "total_tokens": pt + ct}}
