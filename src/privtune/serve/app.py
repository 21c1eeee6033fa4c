"""The gateway: a small ASGI app (no framework on the hot path) that denies by default.

Routes (everything else is 404, including vLLM's ``/v1/load_lora_adapter``,
``/v1/unload_lora_adapter``, ``/invocations``, ``/tokenize``...):

- ``POST /v1/chat/completions``, ``POST /v1/completions`` (key; streaming and not)
- ``GET /v1/models`` (key; the gateway's own aliases visible to that key, never upstream's)
- ``GET /healthz``, ``GET /readyz``, ``GET /metrics`` (no key; no customer data)

Per request: key (constant-time HMAC check, revocation read from the database) -> alias
(same environment as the key, in the key's alias set, active) -> rate limit -> optional
input scan -> upstream -> output filter (every choice; content, reasoning, refusal, tool-call
arguments; logprobs stripped) -> response -> one request-log record.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from privtune.serve.aliases import Alias, AliasResolver
from privtune.serve.apikeys import ApiKey, KeyStore, RateLimiter
from privtune.serve.filter import StreamFilter, TextFilter
from privtune.serve.metrics import Metrics
from privtune.serve.ratelimit import Limiter
from privtune.serve.reqlog import RequestLog
from privtune.serve.settings import EnvPolicy
from privtune.serve.upstream import Upstream, UpstreamError

log = logging.getLogger("privtune.serve")

_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no")]
_TEXT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal")
#: request fields that would return text or token ids around the filter (stripped when the
#: environment filters output) or run server-side code (always stripped)
_STRIP_REQUEST = ("logprobs", "top_logprobs", "prompt_logprobs", "echo",
                  "return_tokens_as_token_ids", "return_token_ids")
_NEVER_FORWARD = ("logits_processors", "kv_transfer_params", "vllm_xargs")
#: response fields passed to clients (anything else an upstream adds is dropped: vLLM's
#: token_ids / prompt_token_ids would let a client decode the unfiltered text)
_TOP_FIELDS = frozenset(("id", "object", "created", "model", "choices", "usage",
                         "system_fingerprint", "service_tier"))
_CHOICE_FIELDS = frozenset(("index", "message", "text", "logprobs", "finish_reason",
                            "stop_reason"))
_MESSAGE_FIELDS = frozenset(("role", "content", "reasoning_content", "reasoning", "refusal",
                             "tool_calls", "function_call", "annotations"))
_LOG_TEXT_MAX = 4000
_ID_PREFIX = uuid.uuid4().hex[:12]  # request ids: per-process prefix + counter (no syscall)
_ID_COUNTER = itertools.count(1)


def _err(message: str, type_: str, code: str | None = None, param: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param,
                                   "code": code}})


@dataclass
class EnvFilters:
    policy: EnvPolicy
    output: TextFilter
    input: TextFilter  # redact-policy filter used for input scanning and redacted logging


@dataclass
class _Ctx:
    """What one request accumulates for its log record."""

    route: str
    t0: float
    key: ApiKey | None = None
    alias: Alias | None = None
    stream: bool = False
    status: int = 200
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    out_actions: Counter[str] = field(default_factory=Counter)
    in_actions: Counter[str] = field(default_factory=Counter)
    blocked: bool = False
    finish: list[str] = field(default_factory=list)
    ttft_ms: float | None = None
    prompt_fp: str | None = None
    prompt_redacted: str | None = None
    output_raw: dict[str, str] = field(default_factory=dict)
    output_sent: dict[str, str] = field(default_factory=dict)
    cut: str | None = None


class Gateway:
    def __init__(self, *, resolver: AliasResolver, keys: KeyStore, scanner: Any,
                 policies: dict[str, EnvPolicy], upstream: Upstream,
                 upstreams: dict[str, Upstream] | None = None,
                 upstream_factory: Any = None,
                 request_log: RequestLog | None = None, log_key: bytes = b"",
                 log_text: str = "fingerprint", max_body_bytes: int = 4 << 20,
                 limiter: Limiter | None = None) -> None:
        self.resolver = resolver
        self.keys = keys
        self.scanner = scanner
        self.upstream = upstream
        #: base URL -> upstream, for aliases that name their own upstream
        self.upstreams: dict[str, Upstream] = dict(upstreams or {})
        base = getattr(upstream, "base_url", None)
        if base:
            self.upstreams.setdefault(base, upstream)
        self._upstream_factory = upstream_factory
        self.log = request_log
        self.log_key = log_key
        self.log_text = log_text
        self.max_body = max_body_bytes
        self.metrics = Metrics()
        #: per-key token buckets; ``serve`` passes a table shared by its worker processes
        self.limiter: Limiter = limiter if limiter is not None else RateLimiter()
        self._filters = {env: self._make_filters(p) for env, p in policies.items()}
        self._default_filters = self._make_filters(EnvPolicy())
        self._routes = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/completions"): self._completions,
            ("GET", "/v1/models"): self._models,
            ("GET", "/healthz"): self._healthz,
            ("GET", "/readyz"): self._readyz,
            ("GET", "/metrics"): self._metrics,
        }
        self._started = False

    def _make_filters(self, policy: EnvPolicy) -> EnvFilters:
        return EnvFilters(policy, TextFilter(self.scanner, policy.output, policy.blocked_terms),
                          TextFilter(self.scanner, "redact", policy.blocked_terms))

    def filters(self, environment: str) -> EnvFilters:
        return self._filters.get(environment, self._default_filters)

    # --- lifecycle ------------------------------------------------------------------------
    async def startup(self) -> None:
        if self._started:
            return
        self._started = True
        await self.resolver.start()
        for up in {id(u): u for u in [self.upstream, *self.upstreams.values()]}.values():
            await up.start()
        if self.log is not None:
            self.log.start()

    async def shutdown(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.resolver.stop()
        for up in {id(u): u for u in [self.upstream, *self.upstreams.values()]}.values():
            with contextlib.suppress(Exception):
                await up.close()
        if self.log is not None:
            await asyncio.to_thread(self.log.stop)

    # --- ASGI -----------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            handler = self._routes.get((scope["method"], scope["path"]))
            if handler is None:
                self.metrics.child(self.metrics.refused, "route").inc()
                await self._respond(send, 404, _err("not found", "invalid_request_error",
                                                    "not_found"))
                return
            await handler(scope, receive, send)
        elif kind == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    try:
                        await self.startup()
                    except Exception as exc:  # pragma: no cover - reported by uvicorn
                        await send({"type": "lifespan.startup.failed", "message": str(exc)})
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await self.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        # websockets and anything else: refuse by not accepting

    @staticmethod
    async def _respond(send: Any, status: int, body: bytes, headers: list | None = None) -> None:
        hdrs = [*_JSON, *(headers or [])]
        await send({"type": "http.response.start", "status": status, "headers": hdrs})
        await send({"type": "http.response.body", "body": body})

    async def _read_body(self, receive: Any) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return None
            body = msg.get("body", b"")
            size += len(body)
            if size > self.max_body:
                return None
            chunks.append(body)
            if not msg.get("more_body"):
                return b"".join(chunks)

    def _authenticate(self, scope: dict[str, Any]) -> ApiKey | None:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token:
                    return None
                return self.keys.authenticate(token.strip())
        return None

    # --- plain routes -----------------------------------------------------------------------
    async def _healthz(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._respond(send, 200, b'{"status":"ok"}')

    async def _readyz(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        ok = await self.upstream.ready()
        log_ok = self.log is None or (self.log._thread is not None and self.log._thread.is_alive())
        status = 200 if ok and log_ok else 503
        await self._respond(send, status, orjson.dumps({"upstream": ok, "request_log": log_ok}))

    async def _metrics(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.log is not None:
            self.metrics.log_written.set(self.log.written)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]})
        await send({"type": "http.response.body", "body": self.metrics.render()})

    async def _models(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        key = self._authenticate(scope)
        if key is None:
            self.metrics.child(self.metrics.refused, "auth").inc()
            await self._respond(send, 401, _err("invalid or missing API key",
                                                "authentication_error", "invalid_api_key"))
            return
        data = [{"id": a.name, "object": "model", "created": 0, "owned_by": "privtune"}
                for a in sorted(self.resolver.all(), key=lambda a: a.name)
                if a.active and a.environment == key.environment and key.allows(a.name)]
        await self._respond(send, 200, orjson.dumps({"object": "list", "data": data}))

    # --- completions ----------------------------------------------------------------------
    async def _chat(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._completion(scope, receive, send, "chat/completions")

    async def _completions(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._completion(scope, receive, send, "completions")

    async def _refuse(self, send: Any, ctx: _Ctx, status: int, body: bytes, reason: str,
                      headers: list | None = None) -> None:
        ctx.status = status
        ctx.error = reason
        self.metrics.child(self.metrics.refused, reason).inc()
        await self._respond(send, status, body, headers)
        self._finish(ctx)

    async def _completion(self, scope: dict[str, Any], receive: Any, send: Any,
                          route: str) -> None:
        ctx = _Ctx(route=route, t0=time.perf_counter())
        key = self._authenticate(scope)
        if key is None:
            await self._refuse(send, ctx, 401, _err("invalid or missing API key",
                                                    "authentication_error", "invalid_api_key"),
                               "auth")
            return
        ctx.key = key
        raw = await self._read_body(receive)
        if raw is None:
            await self._refuse(send, ctx, 413, _err("request body too large or incomplete",
                                                    "invalid_request_error"), "body")
            return
        try:
            req = orjson.loads(raw)
        except orjson.JSONDecodeError:
            req = None
        if not isinstance(req, dict) or not isinstance(req.get("model"), str):
            await self._refuse(send, ctx, 400, _err("the body must be a JSON object with a "
                                                    "'model'", "invalid_request_error"), "body")
            return
        alias = self.resolver.get(req["model"])
        if alias is None or alias.environment != key.environment or not key.allows(alias.name):
            await self._refuse(send, ctx, 404, _err(f"model {req['model'][:100]!r} not found",
                                                    "invalid_request_error", "model_not_found",
                                                    "model"), "model")
            return
        ctx.alias = alias
        if not alias.active:
            await self._refuse(send, ctx, 403, _err("this model version has been revoked",
                                                    "permission_error", "model_revoked",
                                                    "model"), "revoked_model")
            return
        wait = self.limiter.take(key.key_id, key.rpm)
        if wait > 0:
            await self._refuse(send, ctx, 429, _err("rate limit exceeded for this key",
                                                    "rate_limit_error", "rate_limit_exceeded"),
                               "rate_limit", [(b"retry-after", str(int(wait) + 1).encode())])
            return
        filters = self.filters(alias.environment)
        if route == "chat/completions" and not isinstance(req.get("messages"), list):
            await self._refuse(send, ctx, 400, _err("'messages' must be a list",
                                                    "invalid_request_error", None, "messages"),
                               "body")
            return
        # input side
        prompt_obj = req.get("messages") if route == "chat/completions" else req.get("prompt")
        if self.log_text == "fingerprint":
            ctx.prompt_fp = self._fp(orjson.dumps(prompt_obj))
        if filters.policy.input != "off" or self.log_text == "redacted":
            redacted, actions = self._scan_input(route, req, filters.input)
            if filters.policy.input != "off":
                ctx.in_actions.update(actions)
                for t, n in actions.items():
                    self.metrics.child(self.metrics.filter_actions, "input", t).inc(n)
            if filters.policy.input == "block" and actions:
                self.metrics.child(self.metrics.blocked, "input").inc()
                await self._refuse(send, ctx, 400, _err(
                    "the request contains personal data or blocked terms ("
                    + ", ".join(sorted(actions)) + ")", "invalid_request_error",
                    "input_blocked"), "input_blocked")
                return
            if filters.policy.input == "redact":
                req = redacted
            if self.log_text == "redacted":
                obj = redacted.get("messages") if route == "chat/completions" else \
                    redacted.get("prompt")
                ctx.prompt_redacted = orjson.dumps(obj).decode()[:_LOG_TEXT_MAX]
        upstream_body = dict(req)
        upstream_body["model"] = alias.model
        for k in _NEVER_FORWARD:
            upstream_body.pop(k, None)
        if filters.output.active:
            for k in _STRIP_REQUEST:
                upstream_body.pop(k, None)
        upstream = self._upstream_for(alias)
        extra = ([(b"x-privtune-input-findings", ",".join(sorted(ctx.in_actions)).encode())]
                 if ctx.in_actions and filters.policy.input == "warn" else [])
        if req.get("stream"):
            ctx.stream = True
            opts = req.get("stream_options") if isinstance(req.get("stream_options"), dict) \
                else {}
            want_usage = bool(opts.get("include_usage"))
            upstream_body["stream_options"] = {**opts, "include_usage": True}
            await self._stream(scope, receive, send, ctx, upstream, route, upstream_body,
                               filters, want_usage, extra)
            return
        try:
            resp = await upstream.request(route, upstream_body)
        except UpstreamError as exc:
            await self._upstream_error(send, ctx, exc.status, exc.body, filters)
            return
        except Exception as exc:
            log.warning("upstream request failed: %s", type(exc).__name__)
            await self._refuse(send, ctx, 502, _err("upstream unavailable", "api_error",
                                                    "upstream_error"), "upstream")
            return
        current = self.resolver.get(alias.name)
        if current is None or not current.active:
            await self._refuse(send, ctx, 403, _err("this model version has been revoked",
                                                    "permission_error", "model_revoked",
                                                    "model"), "revoked_model")
            return
        self._filter_response(resp, route, filters.output, ctx)
        resp["model"] = alias.name
        usage = resp.get("usage") or {}
        ctx.prompt_tokens = usage.get("prompt_tokens")
        ctx.completion_tokens = usage.get("completion_tokens")
        await self._respond(send, 200, orjson.dumps(resp), extra)
        self._finish(ctx)

    async def _upstream_error(self, send: Any, ctx: _Ctx, status: int, body: Any,
                              filters: EnvFilters) -> None:
        msg = "upstream error"
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            m = body["error"].get("message")
            if isinstance(m, str):
                msg = filters.input.apply(m[:500]).text  # may echo the prompt: redact it
        code = status if 400 <= status < 500 else 502
        await self._refuse(send, ctx, code, _err(msg, "upstream_error", "upstream_error"),
                           "upstream")

    def _upstream_for(self, alias: Alias) -> Upstream:
        url = getattr(alias, "upstream", None)
        if not url:
            return self.upstream
        url = url.rstrip("/")
        up = self.upstreams.get(url)
        if up is None:
            if self._upstream_factory is None:
                from privtune.serve.upstream import HttpUpstream

                up = HttpUpstream(url)
            else:
                up = self._upstream_factory(url)
            self.upstreams[url] = up
        return up

    def _scan_input(self, route: str, req: dict[str, Any],
                    tf: TextFilter) -> tuple[dict[str, Any], Counter[str]]:
        actions: Counter[str] = Counter()

        def clean(text: str) -> str:
            r = tf.apply(text)
            actions.update(r.actions)
            return r.text

        out = dict(req)
        if route == "chat/completions":
            msgs = []
            for m in req.get("messages") or []:
                if not isinstance(m, dict):
                    msgs.append(m)
                    continue
                m = dict(m)
                c = m.get("content")
                if isinstance(c, str):
                    m["content"] = clean(c)
                elif isinstance(c, list):
                    parts = []
                    for p in c:
                        if isinstance(p, dict) and isinstance(p.get("text"), str):
                            p = {**p, "text": clean(p["text"])}
                        parts.append(p)
                    m["content"] = parts
                msgs.append(m)
            out["messages"] = msgs
        else:
            p = req.get("prompt")
            if isinstance(p, str):
                out["prompt"] = clean(p)
            elif isinstance(p, list) and all(isinstance(x, str) for x in p):
                out["prompt"] = [clean(x) for x in p]
        return out, actions

    def _fp(self, data: bytes) -> str:
        return hmac.digest(self.log_key, data, "sha256").hex()  # one-shot C HMAC

    def _filter_response(self, resp: dict[str, Any], route: str, tf: TextFilter,
                         ctx: _Ctx) -> None:
        if tf.active:
            for k in [k for k in resp if k not in _TOP_FIELDS]:
                del resp[k]
            for choice in resp.get("choices") or []:
                for k in [k for k in choice if k not in _CHOICE_FIELDS]:
                    del choice[k]
                msg = choice.get("message")
                if isinstance(msg, dict):
                    for k in [k for k in msg if k not in _MESSAGE_FIELDS]:
                        del msg[k]
        for choice in resp.get("choices") or []:
            idx = choice.get("index", 0)
            blocked = False
            if route == "chat/completions":
                msg = choice.get("message") or {}
                for fld in _TEXT_FIELDS:
                    v = msg.get(fld)
                    if isinstance(v, str):
                        blocked |= self._filter_field(msg, fld, v, tf, ctx, f"{idx}.{fld}")
                calls = list(msg.get("tool_calls") or [])
                fc = msg.get("function_call")
                if isinstance(fc, dict):
                    calls.append({"function": fc})
                for j, call in enumerate(calls):
                    fn = call.get("function") if isinstance(call, dict) else None
                    if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                        blocked |= self._filter_field(fn, "arguments", fn["arguments"], tf, ctx,
                                                      f"{idx}.tool{j}")
                if blocked:
                    choice["message"] = {"role": msg.get("role", "assistant"), "content": ""}
            else:
                v = choice.get("text")
                if isinstance(v, str):
                    blocked = self._filter_field(choice, "text", v, tf, ctx, f"{idx}.text")
                if blocked:
                    choice["text"] = ""
            if tf.active:
                choice["logprobs"] = None
                choice.pop("prompt_logprobs", None)
            if blocked:
                choice["finish_reason"] = "content_filter"
                ctx.blocked = True
            ctx.finish.append(str(choice.get("finish_reason")))
        if tf.active:
            resp.pop("prompt_logprobs", None)

    def _filter_field(self, obj: dict[str, Any], fld: str, value: str, tf: TextFilter,
                      ctx: _Ctx, log_name: str) -> bool:
        r = tf.apply(value)
        obj[fld] = r.text
        self._count(ctx, r.actions)
        ctx.output_raw[log_name] = value
        ctx.output_sent[log_name] = r.text
        return r.blocked

    def _count(self, ctx: _Ctx, actions: Counter[str]) -> None:
        if actions:
            ctx.out_actions.update(actions)
            for t, n in actions.items():
                self.metrics.child(self.metrics.filter_actions, "output", t).inc(n)

    # --- streaming --------------------------------------------------------------------------
    async def _stream(self, scope: dict[str, Any], receive: Any, send: Any, ctx: _Ctx,
                      upstream: Upstream, route: str, body: dict[str, Any],
                      filters: EnvFilters, want_usage: bool, extra: list) -> None:
        agen = upstream.stream(route, body)
        try:
            first = await agen.__anext__()
        except StopAsyncIteration:
            first = None
        except UpstreamError as exc:
            await self._upstream_error(send, ctx, exc.status, exc.body, filters)
            return
        except Exception as exc:
            log.warning("upstream stream failed: %s: %s", type(exc).__name__, exc)
            await self._refuse(send, ctx, 502, _err("upstream unavailable", "api_error",
                                                    "upstream_error"), "upstream")
            return
        await send({"type": "http.response.start", "status": 200, "headers": [*_SSE, *extra]})
        self.metrics.inflight.inc()
        disconnected = asyncio.Event()

        async def watch() -> None:
            while True:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    disconnected.set()
                    return

        watcher = asyncio.create_task(watch())
        st = _StreamState(route, ctx.alias.name if ctx.alias else "", filters.output, want_usage,
                          ctx, self)
        alias = ctx.alias
        assert alias is not None
        try:
            event = first
            while event is not None:
                if disconnected.is_set():
                    ctx.cut = "client_disconnected"
                    break
                cur = self.resolver.get(alias.name)
                if (cur is None or not cur.active) and filters.policy.on_revoke == "cut":
                    ctx.cut = "model_revoked"
                    await send({"type": "http.response.body", "body": b"data: " + _err(
                        "this model version has been revoked", "permission_error",
                        "model_revoked") + b"\n\ndata: [DONE]\n\n", "more_body": True})
                    break
                if "error" in event and not event.get("choices"):
                    ctx.cut = "upstream_error"
                    await send({"type": "http.response.body", "body": b"data: " + _err(
                        "upstream error", "upstream_error", "upstream_error")
                        + b"\n\ndata: [DONE]\n\n", "more_body": True})
                    break
                out = st.process(event)
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
                try:
                    event = await agen.__anext__()
                except StopAsyncIteration:
                    event = None
            else:
                out = st.finish()
                await send({"type": "http.response.body", "body": out + b"data: [DONE]\n\n",
                            "more_body": True})
        except Exception as exc:
            ctx.cut = f"error:{type(exc).__name__}"
            log.warning("stream ended with %s", type(exc).__name__)
        finally:
            watcher.cancel()
            with contextlib.suppress(Exception):
                await agen.aclose()
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            self.metrics.inflight.dec()
            for cs in st.choices.values():
                if not cs.done:  # cut streams: count what the filters found so far
                    for f in cs.filters.values():
                        self._count(ctx, f.actions)
            if ctx.cut == "upstream_error":
                ctx.status = 502
            st.commit()
            self._finish(ctx)

    # --- logging ----------------------------------------------------------------------------
    def _finish(self, ctx: _Ctx) -> None:
        elapsed = time.perf_counter() - ctx.t0
        self.metrics.child(self.metrics.requests, ctx.route, str(ctx.status)).inc()
        self.metrics.child(self.metrics.latency, ctx.route).observe(elapsed)
        if ctx.prompt_tokens:
            self.metrics.child(self.metrics.tokens, "prompt").inc(ctx.prompt_tokens)
        if ctx.completion_tokens:
            self.metrics.child(self.metrics.tokens, "completion").inc(ctx.completion_tokens)
        if ctx.blocked:
            self.metrics.child(self.metrics.blocked, "output").inc()
        if self.log is None:
            return
        a = ctx.alias
        rec: dict[str, Any] = {
            "id": f"{_ID_PREFIX}-{next(_ID_COUNTER)}", "ts": time.time(), "route": ctx.route,
            "key_id": ctx.key.key_id if ctx.key else None,
            "environment": ctx.key.environment if ctx.key else None,
            "alias": a.name if a else None, "model": a.model if a else None,
            "version": a.version if a else None, "stream": ctx.stream, "status": ctx.status,
            "latency_ms": round(elapsed * 1000, 3),
            "prompt_tokens": ctx.prompt_tokens, "completion_tokens": ctx.completion_tokens,
            "output_actions": dict(ctx.out_actions), "blocked": ctx.blocked,
        }
        if ctx.in_actions:
            rec["input_actions"] = dict(ctx.in_actions)
        if ctx.error:
            rec["refused"] = ctx.error
        if ctx.cut:
            rec["cut"] = ctx.cut
        if ctx.finish:
            rec["finish"] = ctx.finish
        if ctx.ttft_ms is not None:
            rec["ttft_ms"] = round(ctx.ttft_ms, 3)
        if self.log_text == "fingerprint":
            if ctx.prompt_fp:
                rec["prompt_fp"] = ctx.prompt_fp
            if ctx.output_raw:
                rec["output_fp"] = self._fp(orjson.dumps(ctx.output_raw,
                                                         option=orjson.OPT_SORT_KEYS))
        elif self.log_text == "redacted":
            if ctx.prompt_redacted is not None:
                rec["prompt"] = ctx.prompt_redacted
            if ctx.output_raw:
                # what the client received under a non-redacting policy is still redacted here
                sent = ctx.output_sent
                if a is not None and not self.filters(a.environment).output.active:
                    tf = self.filters(a.environment).input
                    sent = {k: tf.apply(v).text for k, v in ctx.output_raw.items()}
                rec["output"] = {k: v[:_LOG_TEXT_MAX] for k, v in sent.items()}
        self.log.append(rec)


class _ChoiceState:
    __slots__ = ("done", "filters", "names")

    def __init__(self) -> None:
        self.filters: dict[Any, StreamFilter] = {}
        self.done = False

    def get(self, name: Any, tf: TextFilter) -> StreamFilter:
        f = self.filters.get(name)
        if f is None:
            f = self.filters[name] = tf.stream()
        return f

    def blocked(self) -> bool:
        return any(f.blocked for f in self.filters.values())


class _StreamState:
    """Re-frames upstream chunks: filtered deltas per choice, finish chunks after a flush."""

    def __init__(self, route: str, alias: str, tf: TextFilter, want_usage: bool, ctx: _Ctx,
                 gw: Gateway) -> None:
        self.chat = route == "chat/completions"
        self.alias = alias
        self.tf = tf
        self.want_usage = want_usage
        self.ctx = ctx
        self.gw = gw
        self.choices: dict[int, _ChoiceState] = {}
        self.envelope: dict[str, Any] | None = None
        self.usage: dict[str, Any] | None = None
        self.chunks_seen = 0
        self.log_raw = gw.log is not None and gw.log_text != "none"
        self.raw: dict[str, list[str]] = {}  # per "choice.field": upstream text, for the log
        self.sent: dict[str, list[str]] = {}  # what the client received

    def commit(self) -> None:
        """Put the texts seen so far on the request's log context (once, at the end)."""
        self.ctx.output_raw.update((k, "".join(v)) for k, v in self.raw.items())
        self.ctx.output_sent.update((k, "".join(v)) for k, v in self.sent.items())

    def _env(self, event: dict[str, Any]) -> dict[str, Any]:
        if self.envelope is None:
            env = {k: v for k, v in event.items()
                   if k in _TOP_FIELDS and k not in ("choices", "usage", "model")}
            env.setdefault("id", f"chatcmpl-{uuid.uuid4().hex}")
            env.setdefault("object", "chat.completion.chunk" if self.chat else "text_completion")
            env.setdefault("created", int(time.time()))
            env["model"] = self.alias
            self.envelope = env
        return self.envelope

    def _chunk(self, choice: dict[str, Any]) -> bytes:
        obj = {**self.envelope, "choices": [choice]} if self.envelope else {"choices": [choice]}
        if self.want_usage:
            obj["usage"] = None
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    def _note(self, idx: int, name: str, raw: str, sent: str) -> None:
        if self.log_raw:
            # parts, joined once in commit(): appending to a growing string per delta is
            # quadratic (~10 ms of copying for a 16,000-character answer)
            k = f"{idx}.{name}"
            parts = self.raw.get(k)
            if parts is None:
                parts = self.raw[k] = []
            parts.append(raw)
            if sent:
                self.sent.setdefault(k, []).append(sent)
        if sent and self.ctx.ttft_ms is None:
            self.ctx.ttft_ms = (time.perf_counter() - self.ctx.t0) * 1000
            self.gw.metrics.ttft.observe(self.ctx.ttft_ms / 1000)

    def _feed(self, cs: _ChoiceState, idx: int, name: Any, label: str, text: str) -> str:
        out = cs.get(name, self.tf).feed(text)
        self._note(idx, label, text, out)
        return out

    def process(self, event: dict[str, Any]) -> bytes:
        self._env(event)
        if event.get("usage"):
            self.usage = event["usage"]
        parts: list[bytes] = []
        for c in event.get("choices") or []:
            idx = int(c.get("index", 0))
            cs = self.choices.get(idx)
            if cs is None:
                cs = self.choices[idx] = _ChoiceState()
            if cs.done:
                continue
            if self.chat:
                delta = c.get("delta") or {}
                nd: dict[str, Any] = {}
                if "role" in delta:
                    nd["role"] = delta["role"]
                for fld in _TEXT_FIELDS:
                    v = delta.get(fld)
                    if isinstance(v, str):
                        out = self._feed(cs, idx, fld, fld, v)
                        if out or (fld == "content" and "role" in delta):
                            nd[fld] = out
                calls = delta.get("tool_calls")
                if isinstance(calls, list):
                    out_calls = []
                    for call in calls:
                        ti = int(call.get("index", 0))
                        oc: dict[str, Any] = {"index": ti}
                        for k in ("id", "type"):
                            if k in call:
                                oc[k] = call[k]
                        fn = call.get("function") or {}
                        ofn: dict[str, Any] = {}
                        if "name" in fn:
                            ofn["name"] = fn["name"]
                        args = fn.get("arguments")
                        if isinstance(args, str):
                            out = self._feed(cs, idx, ("tool", ti), f"tool{ti}", args)
                            if out or "name" in fn:
                                ofn["arguments"] = out
                        if ofn:
                            oc["function"] = ofn
                        if len(oc) > 1:
                            out_calls.append(oc)
                    if out_calls:
                        nd["tool_calls"] = out_calls
                if nd:
                    parts.append(self._chunk({"index": idx, "delta": nd, "logprobs": None,
                                              "finish_reason": None}))
            else:
                v = c.get("text")
                if isinstance(v, str):
                    out = self._feed(cs, idx, "text", "text", v)
                    if out:
                        parts.append(self._chunk({"index": idx, "text": out, "logprobs": None,
                                                  "finish_reason": None}))
            finish = c.get("finish_reason")
            if cs.blocked():
                finish = "content_filter"
            if finish:
                parts.append(self._close(idx, cs, finish))
        return b"".join(parts)

    def _close(self, idx: int, cs: _ChoiceState, finish: str) -> bytes:
        parts: list[bytes] = []
        if finish != "content_filter":
            nd: dict[str, Any] = {}
            calls = []
            text = ""
            for name, f in cs.filters.items():
                out = f.flush()
                self._note(idx, name if isinstance(name, str) else f"tool{name[1]}", "", out)
                if cs.blocked():
                    finish = "content_filter"
                    break
                if not out:
                    continue
                if isinstance(name, tuple):
                    calls.append({"index": name[1], "function": {"arguments": out}})
                elif self.chat:
                    nd[name] = out
                else:
                    text = out
            if finish != "content_filter":
                if calls:
                    nd["tool_calls"] = calls
                if nd:
                    parts.append(self._chunk({"index": idx, "delta": nd, "logprobs": None,
                                              "finish_reason": None}))
                elif text:
                    parts.append(self._chunk({"index": idx, "text": text, "logprobs": None,
                                              "finish_reason": None}))
        for f in cs.filters.values():
            self.gw._count(self.ctx, f.actions)
        if finish == "content_filter" and cs.blocked():
            self.ctx.blocked = True
        cs.done = True
        self.ctx.finish.append(finish)
        last: dict[str, Any] = ({"index": idx, "delta": {}, "logprobs": None,
                                 "finish_reason": finish} if self.chat else
                                {"index": idx, "text": "", "logprobs": None,
                                 "finish_reason": finish})
        parts.append(self._chunk(last))
        return b"".join(parts)

    def finish(self) -> bytes:
        """The upstream stream ended: close choices that never got a finish_reason, then the
        usage chunk when the client asked for it."""
        parts = [self._close(i, cs, "stop") for i, cs in sorted(self.choices.items())
                 if not cs.done]
        if self.usage:
            self.ctx.prompt_tokens = self.usage.get("prompt_tokens")
            self.ctx.completion_tokens = self.usage.get("completion_tokens")
        if self.want_usage and self.envelope is not None:
            obj = {**self.envelope, "choices": [], "usage": self.usage}
            parts.append(b"data: " + orjson.dumps(obj) + b"\n\n")
        return b"".join(parts)
