"""The findings report of ``privtune scan``: counts and locations, never the values.

:class:`ScanReport` aggregates :class:`~privtune.detect.files.ScanResult` objects as they
stream past: counts per type, per field (list positions folded to ``[*]``) and per file, plus
the first ``max_locations`` locations and the first ``max_errors`` unreadable records.
Memory is bounded by those caps, whatever the size of the input.

The only text derived from a value that may ever be shown is :func:`mask_value`'s preview
(``--show-masked``), which keeps at most a few characters of each value.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from privtune.datasets.formats import field_pattern

#: Version of the ``--json`` document (bump on incompatible changes).
REPORT_VERSION = 1
#: The by_field bucket for fields beyond ``max_fields`` distinct ones.
OTHER_FIELDS = "(other fields)"


def mask_value(pii_type: str, value: str) -> str:
    """A preview that keeps at most 7 characters of ``value`` (and at most two thirds).

    ``13800138000`` -> ``138****8000``; ``张三`` -> ``张*``; ``John Smith`` -> ``J*** S****``;
    ``zhang.wei@example.com`` -> ``z*******@example.com``; secrets keep only a 4-character
    prefix (``AKIA****************``).
    """
    v = value.strip()
    n = len(v)
    if n <= 1:
        return "*" * n
    if pii_type == "SECRET":
        keep = 4 if n >= 16 else 0
        return v[:keep] + "*" * min(n - keep, 16)
    if pii_type == "PERSON":
        words = v.split()
        if len(words) > 1:
            return " ".join(w[0] + "*" * (len(w) - 1) if len(w) > 1 else "*" for w in words)
        return v[0] + "*" * (n - 1)
    if pii_type == "EMAIL" and "@" in v:
        local, _, domain = v.rpartition("@")
        return (local[:1] + "*" * max(len(local) - 1, 1)) + "@" + domain
    if pii_type == "ADDRESS":
        head = min(3, n // 3)
        return v[:head] + "*" * (n - head)
    if n >= 11:
        head, tail = 3, 4
    elif n >= 7:
        head, tail = 2, 2
    elif n >= 4:
        head, tail = 1, 1
    else:
        head, tail = 1, 0
    return v[:head] + "*" * (n - head - tail) + (v[n - tail:] if tail else "")


@dataclass
class FileStats:
    path: str
    records: int = 0
    errors: int = 0
    findings: int = 0


@dataclass
class ScanReport:
    """Streaming aggregate of a scan. Feed it with :meth:`add`; render or dump it at the end."""

    max_locations: int = 10_000
    max_errors: int = 1_000
    max_fields: int = 10_000  # distinct field patterns; more are counted under OTHER_FIELDS
    records: int = 0
    records_with_findings: int = 0
    error_count: int = 0
    bytes_scanned: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_field: dict[str, Counter[str]] = field(default_factory=dict)
    files: dict[str, FileStats] = field(default_factory=dict)
    locations: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    locations_dropped: int = 0
    errors_dropped: int = 0
    started: float = field(default_factory=time.perf_counter)
    elapsed_s: float = 0.0

    @property
    def findings(self) -> int:
        return sum(self.by_type.values())

    def _file(self, path: Path | str) -> FileStats:
        key = str(path)
        stats = self.files.get(key)
        if stats is None:
            stats = self.files[key] = FileStats(key)
        return stats

    def add(self, result: Any) -> None:
        """Count one :class:`~privtune.detect.files.ScanResult`."""
        stats = self._file(result.source)
        if result.error is not None:
            stats.errors += 1
            self.error_count += 1
            if len(self.errors) < self.max_errors:
                self.errors.append({"file": str(result.source), "line": result.line,
                                    "error": result.error})
            else:
                self.errors_dropped += 1
            return
        stats.records += 1
        self.records += 1
        self.bytes_scanned += result.nbytes
        found = 0
        for fs in result.fields:
            if not fs.spans:
                continue
            per_field = self.by_field.get(pat := field_pattern(fs.field))
            if per_field is None:
                if len(self.by_field) >= self.max_fields:
                    pat = OTHER_FIELDS
                per_field = self.by_field.setdefault(pat, Counter())
            for i, span in enumerate(fs.spans):
                found += 1
                self.by_type[span.type] += 1
                per_field[span.type] += 1
                if len(self.locations) < self.max_locations:
                    loc = {"file": str(result.source), "line": result.line,
                           "field": fs.field, "type": span.type, "start": span.start,
                           "end": span.end, "score": round(span.score, 4),
                           "recognizer": span.recognizer}
                    if fs.previews is not None:
                        loc["masked"] = fs.previews[i]
                    self.locations.append(loc)
                else:
                    self.locations_dropped += 1
        if found:
            stats.findings += found
            self.records_with_findings += 1

    def finish(self) -> ScanReport:
        self.elapsed_s = time.perf_counter() - self.started
        return self

    def matches(self, fail_on: set[str] | None) -> bool:
        """Whether findings of the ``fail_on`` types exist (``{"ANY"}``: any finding)."""
        if not fail_on:
            return False
        if "ANY" in fail_on:
            return self.findings > 0
        return any(self.by_type.get(t, 0) for t in fail_on)

    # --- output ------------------------------------------------------------------------------
    def to_json(self, *, fail_on: set[str] | None = None) -> dict[str, Any]:
        """The ``--json`` document (schema in docs/scan.md)."""
        return {
            "version": REPORT_VERSION,
            "summary": {
                "files": len(self.files),
                "records": self.records,
                "records_with_findings": self.records_with_findings,
                "findings": self.findings,
                "errors": self.error_count,
                "bytes_scanned": self.bytes_scanned,
                "elapsed_s": round(self.elapsed_s, 3),
            },
            "by_type": dict(sorted(self.by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
            "by_field": {f: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))
                         for f, c in sorted(self.by_field.items())},
            "files": [vars(s) for s in self.files.values()],
            "locations": self.locations,
            "locations_truncated": self.locations_dropped > 0,
            "errors": self.errors,
            "errors_truncated": self.errors_dropped > 0,
            "fail_on": sorted(fail_on) if fail_on else [],
            "failed": self.matches(fail_on),
        }

    def render(self, console: Console, *, limit: int = 20, show_masked: bool = False) -> None:
        """Human-readable tables. Field names and paths are printed as plain text (no markup)."""
        mb = self.bytes_scanned / 1e6
        rate = f", {mb / self.elapsed_s:.1f} MB/s" if self.elapsed_s > 0 and mb > 0 else ""
        where = (f"{next(iter(self.files))}" if len(self.files) == 1
                 else f"{len(self.files)} files")
        console.print(Text(
            f"Scanned {self.records:,} records in {where} "
            f"({mb:.1f} MB of text{rate}): {self.findings:,} findings in "
            f"{self.records_with_findings:,} records; {self.error_count:,} unreadable records.",
        ))
        if self.by_type:
            t = Table(title="Findings by type", title_justify="left")
            t.add_column("type")
            t.add_column("count", justify="right")
            for typ, n in sorted(self.by_type.items(), key=lambda kv: (-kv[1], kv[0])):
                t.add_row(Text(typ), f"{n:,}")
            console.print(t)
            f = Table(title="Findings by field", title_justify="left")
            f.add_column("field")
            f.add_column("count", justify="right")
            f.add_column("types")
            for name, counts in sorted(self.by_field.items(),
                                       key=lambda kv: (-sum(kv[1].values()), kv[0])):
                f.add_row(Text(name), f"{sum(counts.values()):,}",
                          Text(", ".join(f"{t} {n:,}" for t, n in counts.most_common())))
            console.print(f)
        if self.files and len(self.files) > 1:
            ft = Table(title="Files", title_justify="left")
            for col in ("file", "records", "findings", "errors"):
                ft.add_column(col, justify="left" if col == "file" else "right")
            for s in self.files.values():
                ft.add_row(Text(s.path), f"{s.records:,}", f"{s.findings:,}", f"{s.errors:,}")
            console.print(ft)
        if self.locations and limit > 0:
            lt = Table(title=f"Locations (first {min(limit, len(self.locations))} of "
                             f"{self.findings:,}; --json for all)", title_justify="left")
            one_file = len(self.files) == 1
            lt.add_column("line" if one_file else "file:line")
            lt.add_column("field")
            lt.add_column("offset", justify="right")
            lt.add_column("type")
            if show_masked:
                lt.add_column("masked")
            for loc in self.locations[:limit]:
                where = str(loc["line"]) if one_file else f"{loc['file']}:{loc['line']}"
                row = [Text(where), Text(loc["field"]),
                       f"{loc['start']}-{loc['end']}", Text(loc["type"])]
                if show_masked:
                    row.append(Text(loc.get("masked", "")))
                lt.add_row(*row)
            console.print(lt)
        if self.errors:
            et = Table(title=f"Unreadable records ({self.error_count:,})", title_justify="left")
            et.add_column("file:line")
            et.add_column("problem")
            for e in self.errors[:limit]:
                et.add_row(Text(f"{e['file']}:{e['line']}"), Text(e["error"]))
            console.print(et)
