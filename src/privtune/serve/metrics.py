"""Prometheus metrics of one gateway (its own registry, so several apps can coexist)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("privtune_gateway_requests_total", "Requests by route and status",
                                ["route", "status"], registry=r)
        self.latency = Histogram("privtune_gateway_request_seconds",
                                 "Gateway request latency (to the last byte)", ["route"],
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5,
                                          5, 10, 30, 60, 120), registry=r)
        self.ttft = Histogram("privtune_gateway_ttft_seconds",
                              "Time to the first released content byte (streaming)",
                              buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30),
                              registry=r)
        self.filter_actions = Counter("privtune_gateway_filter_actions_total",
                                      "Output/input filter findings by type and direction",
                                      ["direction", "type"], registry=r)
        self.blocked = Counter("privtune_gateway_blocked_total", "Responses or requests blocked",
                               ["direction"], registry=r)
        self.refused = Counter("privtune_gateway_refused_total", "Requests refused by reason",
                               ["reason"], registry=r)
        self.tokens = Counter("privtune_gateway_tokens_total", "Tokens by kind",
                              ["kind"], registry=r)
        self.inflight = Gauge("privtune_gateway_inflight_streams", "Open streams", registry=r)
        self.log_written = Gauge("privtune_gateway_log_records_written",
                                 "Request log records written by this instance", registry=r)

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, cached: ``labels()`` validates and locks on every call
        (~2 us, four times per request); label sets here are few and fixed."""
        key = (id(metric), labels)
        c = self._children.get(key)
        if c is None:
            c = self._children[key] = metric.labels(*labels)
        return c

    def render(self) -> bytes:
        return generate_latest(self.registry)
