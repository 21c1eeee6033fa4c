"""Re-scan the gateway's request log with today's detection rules.

The gateway stores redacted text (``serve.log_text: redacted``) or only keyed fingerprints
(``fingerprint``, the default). Redacted outputs were filtered with the rules of the day they
were served; scanning them again with the current rules finds what those rules missed: a rule
added today finds yesterday's leak. Fingerprint-only records cannot be re-scanned (there is no
text); for them, and for every record, the serve-time filter counts (``output_actions``) still
show which versions produce PII.

The scan works over any iterable of :class:`LogEntry`; :func:`iter_request_log` reads the
gateway's own table (``privtune.serve.store``), in batches, after a sequence number.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class LogEntry:
    """One request-log record as the monitor needs it."""

    seq: int
    ts: float
    alias: str | None
    version: str | None
    environment: str | None
    outputs: dict[str, str] = field(default_factory=dict)  # redacted text per choice/field
    prompt: str | None = None  # redacted prompt (JSON text)
    output_actions: dict[str, int] = field(default_factory=dict)  # serve-time filter counts

    @classmethod
    def from_record(cls, seq: int, ts: float, record: dict[str, Any]) -> LogEntry:
        out = record.get("output")
        outputs = ({str(k): str(v) for k, v in out.items() if isinstance(v, str)}
                   if isinstance(out, dict) else ({"0": out} if isinstance(out, str) else {}))
        prompt = record.get("prompt")
        return cls(seq=int(seq), ts=float(ts), alias=record.get("alias"),
                   version=None if record.get("version") is None else str(record["version"]),
                   environment=record.get("environment"), outputs=outputs,
                   prompt=prompt if isinstance(prompt, str) else None,
                   output_actions={str(k): int(v) for k, v in
                                   (record.get("output_actions") or {}).items()})

    @property
    def model(self) -> str | None:
        """The registry model name: the alias without its ``@env`` suffix (see resolver)."""
        return self.alias.split("@", 1)[0] if self.alias else None


@dataclass
class VersionFindings:
    """What the re-scan found for one served version. Types, counts and places only."""

    model: str | None
    version: str | None
    environments: set[str] = field(default_factory=set)
    leaked: Counter[str] = field(default_factory=Counter)  # in stored outputs, by type
    leak_records: list[int] = field(default_factory=list)  # request-log seq numbers
    filter_caught: Counter[str] = field(default_factory=Counter)  # serve-time filter counts
    prompt_findings: Counter[str] = field(default_factory=Counter)  # customer input, informative

    @property
    def leak_count(self) -> int:
        return sum(self.leaked.values())


@dataclass
class RescanResult:
    records: int = 0
    with_text: int = 0
    last_seq: int = 0
    by_version: dict[tuple[str | None, str | None], VersionFindings] = field(default_factory=dict)

    def findings(self) -> list[VersionFindings]:
        return [v for v in self.by_version.values()
                if v.leaked or v.filter_caught or v.prompt_findings]


def rescan(entries: Iterable[LogEntry], scanner: Any, *, max_records_listed: int = 50
           ) -> RescanResult:
    """Scan every entry's stored outputs (and prompts) with ``scanner`` (``Scanner.scan``)."""
    result = RescanResult()
    for e in entries:
        result.records += 1
        result.last_seq = max(result.last_seq, e.seq)
        key = (e.model, e.version)
        vf = result.by_version.get(key)
        if vf is None:
            vf = result.by_version[key] = VersionFindings(e.model, e.version)
        if e.environment:
            vf.environments.add(e.environment)
        vf.filter_caught.update(e.output_actions)
        if e.outputs or e.prompt:
            result.with_text += 1
        hit = False
        for text in e.outputs.values():
            for span in scanner.scan(text):
                vf.leaked[span.type] += 1
                hit = True
        if hit and len(vf.leak_records) < max_records_listed:
            vf.leak_records.append(e.seq)
        if e.prompt:
            for span in scanner.scan(e.prompt):
                vf.prompt_findings[span.type] += 1
    return result


def iter_request_log(url: str, base_dir: str | Path = ".", *, after_seq: int = 0,
                     batch: int = 2000) -> Iterator[LogEntry]:
    """Records of the gateway's request log (``serve.log_url``) with ``seq > after_seq``."""
    from privtune.serve.reqlog import log_rows
    from privtune.serve.store import ensure_schema, open_store

    store = open_store(url, base_dir)
    try:
        ensure_schema(store)
        for seq, ts, record in log_rows(store, "seq, ts, record", after_seq, batch):
            try:
                obj = json.loads(record)
            except ValueError:
                obj = {}
            yield LogEntry.from_record(int(seq), float(ts), obj)
    finally:
        store.close()


def request_log_exists(url: str, base_dir: str | Path = ".") -> bool:
    """False for a SQLite log file that does not exist (do not create one by looking)."""
    from urllib.parse import unquote, urlparse

    if urlparse(url).scheme != "sqlite":
        return True
    raw = unquote(url[len("sqlite://"):])
    if raw in (":memory:", "/:memory:"):
        return False
    path = Path(raw[1:] if raw.startswith("/") else raw)
    path = path if path.is_absolute() else Path(base_dir) / path
    return path.exists()
