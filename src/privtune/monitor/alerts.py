"""Alerts: one JSON object, sent to every sink (the log, a JSONL file, a webhook).

An alert names the model version, what was found (types and counts, request-log sequence
numbers) and what was done (revoked or not); it never carries a detected value.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("privtune.monitor")

SEVERITIES = ("info", "warning", "critical")


@dataclass
class Alert:
    kind: str  # log-leak, filter-caught, audit-fail, integrity, log-tampered, audit-skipped
    severity: str  # info | warning | critical
    summary: str
    model: str | None = None
    version: str | None = None
    environment: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    action: str | None = None  # "revoked", "revoke-failed: ...", None
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def ref(self) -> str | None:
        return f"{self.model}:{self.version}" if self.model and self.version else None

    def to_dict(self) -> dict[str, Any]:
        return {"source": "privtune-monitor", **asdict(self)}


class AlertSink(Protocol):
    def send(self, alert: Alert) -> None: ...


class LogSink:
    """The Python log (``privtune.monitor``) and, optionally, an append-only JSONL file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None

    def send(self, alert: Alert) -> None:
        level = {"critical": logging.CRITICAL, "warning": logging.WARNING}.get(
            alert.severity, logging.INFO)
        log.log(level, "[%s] %s%s", alert.kind, alert.summary,
                f" -> {alert.action}" if alert.action else "")
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = (json.dumps(alert.to_dict(), sort_keys=True, ensure_ascii=False) + "\n").encode()
            # one write() of a whole line on an O_APPEND descriptor: lines never interleave
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)


class WebhookSink:
    """POST each alert as JSON; retried with backoff. A failure is logged, never raised: the
    monitor must still revoke and log when the webhook receiver is down."""

    def __init__(self, url: str, *, timeout: float = 5.0, retries: int = 2,
                 headers: dict[str, str] | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"monitor.webhook must be an http(s) URL, got {url!r}")
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.headers = {"content-type": "application/json", "user-agent": "privtune-monitor",
                        **(headers or {})}
        self.failures = 0

    def send(self, alert: Alert) -> None:
        import httpx

        body = json.dumps(alert.to_dict(), sort_keys=True, ensure_ascii=False).encode()
        for attempt in range(self.retries + 1):
            try:
                resp = httpx.post(self.url, content=body, headers=self.headers,
                                  timeout=self.timeout)
                if resp.status_code < 300:
                    return
                problem = f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            if attempt < self.retries:
                time.sleep(0.2 * 2**attempt)
        self.failures += 1
        log.error("alert webhook %s failed (%s); the alert is in the log", self.url, problem)


class Alerter:
    """Fans each alert out to every sink; remembers what it sent in this run."""

    def __init__(self, sinks: Sequence[AlertSink]) -> None:
        self.sinks = list(sinks)
        self.sent: list[Alert] = []

    def __call__(self, alert: Alert) -> Alert:
        for sink in self.sinks:
            try:
                sink.send(alert)
            except Exception:  # one broken sink must not silence the others
                log.exception("alert sink %s failed", type(sink).__name__)
        self.sent.append(alert)
        return alert
