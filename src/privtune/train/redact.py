"""Keep training sample text and PII out of logs, stdout and stderr (``train.no_log_samples``).

Three layers, all installed by :func:`install_redaction`:

* a :class:`SampleIndex` of the training texts (hashes of fixed-length character windows, never
  the text): any log line that quotes 31 or more consecutive characters of a sample is
  redacted around the quote;
* the detect ``Scanner``: PII in a log line becomes ``[TYPE]``;
* LLaMA-Factory's example-quoting warnings ("Invalid role tag in [...]") lose the example.

Redaction happens when a ``logging.LogRecord`` is *created* (a record factory), so every handler
sees the redacted record: handlers that exist now, handlers LLaMA-Factory or transformers add
later and file handlers alike. ``sys.stdout`` and ``sys.stderr`` are wrapped too, so ``print``,
tracebacks and ``warnings`` pass the same filter, line by line.
"""

from __future__ import annotations

import io
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import numpy as np

#: Window length and stride of the sample index. Any quote of at least WINDOW + STRIDE - 1
#: characters of a sample contains one indexed window and is found.
WINDOW = 24
STRIDE = 8
SAMPLE_TAG = "[SAMPLE]"

#: LLaMA-Factory 0.9.5 warnings that quote whole examples (data/converter.py).
_QUOTING_WARNINGS = re.compile(r"^(Invalid role tag in|Invalid message count in) .*", re.DOTALL)


def _window_hash(text: str) -> int:
    return hash(text) & 0x7FFF_FFFF_FFFF_FFFF


class SampleIndex:
    """Hashes of character windows of the training texts; the texts themselves are not kept.

    Memory: 8 bytes per ``STRIDE`` characters of training text (about 1 byte per character),
    capped at ``max_windows``.
    """

    def __init__(self, max_windows: int = 32_000_000) -> None:
        self.max_windows = max_windows
        self._pending: list[int] = []
        self._sorted = np.empty(0, dtype=np.int64)
        self._lock = threading.Lock()
        self.truncated = False

    def __len__(self) -> int:
        return len(self._sorted) + len(self._pending)

    def add(self, text: str) -> None:
        n = len(text)
        if n < WINDOW:
            return
        starts = list(range(0, n - WINDOW + 1, STRIDE))
        if starts[-1] != n - WINDOW:
            starts.append(n - WINDOW)
        room = self.max_windows - len(self)
        if len(starts) > room:
            self.truncated = True
            starts = starts[: max(0, room)]
        with self._lock:
            self._pending.extend(_window_hash(text[i : i + WINDOW]) for i in starts)

    def add_values(self, value: Any) -> None:
        """Index every string inside a record (dicts and lists are walked)."""
        if isinstance(value, str):
            self.add(value)
        elif isinstance(value, dict):
            for v in value.values():
                self.add_values(v)
        elif isinstance(value, list | tuple):
            for v in value:
                self.add_values(v)

    def _freeze(self) -> np.ndarray:
        if self._pending:
            with self._lock:
                merged = np.concatenate([self._sorted, np.asarray(self._pending, dtype=np.int64)])
                self._pending = []
                self._sorted = np.unique(merged)
        return self._sorted

    def find(self, text: str) -> list[tuple[int, int]]:
        """Spans of ``text`` that quote indexed sample text, widened by STRIDE on each side."""
        index = self._freeze()
        n = len(text)
        if n < WINDOW or index.size == 0:
            return []
        hashes = np.fromiter(
            (_window_hash(text[i : i + WINDOW]) for i in range(n - WINDOW + 1)),
            dtype=np.int64,
            count=n - WINDOW + 1,
        )
        pos = np.searchsorted(index, hashes)
        pos[pos >= index.size] = index.size - 1
        hits = np.nonzero(index[pos] == hashes)[0]
        spans: list[tuple[int, int]] = []
        for i in hits.tolist():
            start, end = max(0, i - STRIDE), min(n, i + WINDOW + STRIDE)
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], end))
            else:
                spans.append((start, end))
        return spans


class Redactor:
    """Redacts sample text and detected PII from one string. Thread-safe."""

    def __init__(
        self,
        index: SampleIndex | None = None,
        scanner: Any = None,
        scanner_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.index = index or SampleIndex()
        self._scanner = scanner
        self._scanner_factory = scanner_factory
        self._scanner_lock = threading.Lock()

    @property
    def scanner(self) -> Any:
        if self._scanner is None and self._scanner_factory is not None:
            with self._scanner_lock:
                if self._scanner is None:
                    self._scanner = self._scanner_factory()
        return self._scanner

    def redact(self, text: str) -> str:
        if not text:
            return text
        if _QUOTING_WARNINGS.match(text):
            return text.split(" in ", 1)[0] + " in an example (hidden: train.no_log_samples)."
        spans = [(s, e, SAMPLE_TAG) for s, e in self.index.find(text)]
        scanner = self.scanner
        if scanner is not None:
            try:
                found = scanner.scan(text)
            except Exception:  # a scanner bug must not let the line through unredacted
                return "[log line withheld: PII scanner failed]"
            spans.extend((sp.start, sp.end, f"[{sp.type}]") for sp in found)
        if not spans:
            return text
        spans.sort()
        out: list[str] = []
        pos = 0
        for start, end, tag in spans:
            if end <= pos:
                continue
            start = max(start, pos)
            out.append(text[pos:start])
            out.append(tag)
            pos = end
        out.append(text[pos:])
        return "".join(out)


class RedactingStream(io.TextIOBase):
    """A text stream that redacts each line (``\\n`` or ``\\r`` ended) before passing it on."""

    def __init__(self, target: TextIO, redactor: Redactor) -> None:
        super().__init__()
        self._target = target
        self._redactor = redactor
        self._buf = ""
        self._lock = threading.RLock()

    # Attributes some libraries read (tqdm, rich, faulthandler).
    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._target, "errors", None)

    def isatty(self) -> bool:
        # asked by libraries at interpreter exit too, when the stream may be closed already
        try:
            return self._target.isatty()
        except ValueError:
            return False

    def fileno(self) -> int:
        return self._target.fileno()

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            s = str(s)
        with self._lock:
            self._buf += s
            cut = max(self._buf.rfind("\n"), self._buf.rfind("\r"))
            if cut >= 0:
                ready, self._buf = self._buf[: cut + 1], self._buf[cut + 1 :]
                self._target.write(self._redact_lines(ready))
            if len(self._buf) > 65536:  # a very long line without an end: pass it on redacted
                self._target.write(self._redactor.redact(self._buf))
                self._buf = ""
        return len(s)

    def _redact_lines(self, text: str) -> str:
        parts = re.split(r"([\r\n])", text)
        return "".join(p if p in ("\r", "\n") else self._redactor.redact(p) for p in parts)

    def flush(self) -> None:
        with self._lock:
            if self._buf:
                self._target.write(self._redactor.redact(self._buf))
                self._buf = ""
            self._target.flush()

    @property
    def target(self) -> TextIO:
        return self._target


class _RedactingRecordFactory:
    def __init__(self, previous: Callable[..., logging.LogRecord], redactor: Redactor) -> None:
        self.previous = previous
        self.redactor = redactor

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        redact_record(record, self.redactor)
        return record


def redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Replace a record's message (and traceback text) by its redacted form, in place."""
    if getattr(record, "_privtune_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: keep only its template
        message = str(record.msg)
    record.msg = redactor.redact(message)
    record.args = None
    if record.exc_info:
        text = "".join(__import__("traceback").format_exception(*record.exc_info))
        record.exc_text = redactor.redact(text.rstrip("\n"))
        record.exc_info = None
    if record.stack_info:
        record.stack_info = redactor.redact(record.stack_info)
    record._privtune_redacted = True  # type: ignore[attr-defined]


class RedactionFilter(logging.Filter):
    """The same redaction as a handler filter (for handlers of other processes' configs)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.redactor)
        return True


def _all_handlers() -> Iterable[logging.Handler]:
    seen: set[int] = set()
    loggers = [logging.getLogger()]
    loggers += [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for lg in loggers:
        for h in lg.handlers:
            if id(h) not in seen:
                seen.add(id(h))
                yield h


def install_redaction(redactor: Redactor, *, streams: bool = True) -> Callable[[], None]:
    """Redact every log record and (``streams``) stdout/stderr; return an undo function."""
    previous_factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(_RedactingRecordFactory(previous_factory, redactor))
    filt = RedactionFilter(redactor)
    filtered = list(_all_handlers())
    for h in filtered:
        h.addFilter(filt)
    old_out, old_err = sys.stdout, sys.stderr
    if streams:
        sys.stdout = RedactingStream(old_out, redactor)  # type: ignore[assignment]
        sys.stderr = RedactingStream(old_err, redactor)  # type: ignore[assignment]
        # Handlers bound to the original streams keep working (records are already redacted).

    def undo() -> None:
        logging.setLogRecordFactory(previous_factory)
        for h in filtered:
            h.removeFilter(filt)
        if streams:
            for s in (sys.stdout, sys.stderr):
                if isinstance(s, RedactingStream):
                    s.flush()
            sys.stdout, sys.stderr = old_out, old_err

    return undo
