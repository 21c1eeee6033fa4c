"""Hyperscan prefilter for the regex recognizers (optional: used when ``hyperscan`` imports).

One Hyperscan database holds, for every built-in regex recognizer, its pattern compiled in
*prefilter* mode (look-arounds and back-references dropped, so it reports a superset of the
places where Python's ``re`` can match), plus every trigger literal. One C-level pass over the
UTF-8 bytes of a document tells the scanner which recognizers can match at all and where;
Python's ``re`` then runs only there, so the spans are exactly those of ``re`` over the whole
text:

* ``first`` recognizers (the pattern opens with a character class, so ``re`` skips ahead on
  its own; bounded match width ``W``): Hyperscan reports the end ``E`` of the first possible
  match (``HS_FLAG_SINGLEMATCH``); every real match ends at or after ``E`` and so starts at or
  after ``E - W``, and ``re.finditer`` runs from there to the end of the text.
* ``ends`` recognizers (bounded width, the pattern opens with a look-behind): every end ``e``
  Hyperscan reports gives the window ``[e - W, e + A]`` (``A``: the longest look-ahead);
  ``re.finditer`` runs in the merged windows. A real match ends at a reported end, so it lies
  in a window, and no match can start in a gap between windows.
* ``trigger`` recognizers (e-mail, URLs, tokens, context-gated ids): the same trigger windows
  as the pure-Python engine (case-insensitive literal hits, ``window=(before, after)``), from
  the same Hyperscan pass instead of an Aho-Corasick pass, and only when the recognizer's own
  prefilter matched somewhere in the document.

Hyperscan's ``\\d`` and case folding are ASCII-only here, Python's are Unicode: a document
holding a non-ASCII decimal digit or one of the four non-ASCII letters that fold to ASCII
(``İ ı ſ K``) is handed to the pure-Python engine (the guard pattern below, in the same pass).
Patterns with a positive ``\\s``, ``\\w`` or ``\\b`` (or that Hyperscan rejects) stay in Python.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import sys
import threading

try:  # Python 3.11+: the regex parser (used to bound match widths)
    from re import _constants as _C  # type: ignore[attr-defined]
    from re import _parser as _P  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older layouts
    import sre_constants as _C  # type: ignore[no-redef]
    import sre_parse as _P  # type: ignore[no-redef]

try:  # optional dependency: the scanner falls back to the pure-Python engine without it
    import hyperscan as _hs
except ImportError:  # pragma: no cover - depends on the environment
    _hs = None

from privtune.detect.custom import lower_same_length
from privtune.detect.recognizer import PatternRecognizer

AVAILABLE = _hs is not None

#: widths above this count as unbounded
_UNBOUNDED = 1 << 20

#: non-ASCII characters Python's ``re`` may treat as a digit (``\\d``) or as an ASCII letter
#: (case-insensitive matching, ``str.lower``) where Hyperscan would not; generated from
#: Python 3.11's Unicode tables and checked by tests/detect/test_hsplan.py
GUARD_RANGES = (
    (0x130, 0x131), (0x17F, 0x17F), (0x212A, 0x212A),
    (0x660, 0x669), (0x6F0, 0x6F9), (0x7C0, 0x7C9), (0x966, 0x96F), (0x9E6, 0x9EF),
    (0xA66, 0xA6F), (0xAE6, 0xAEF), (0xB66, 0xB6F), (0xBE6, 0xBEF), (0xC66, 0xC6F),
    (0xCE6, 0xCEF), (0xD66, 0xD6F), (0xDE6, 0xDEF), (0xE50, 0xE59), (0xED0, 0xED9),
    (0xF20, 0xF29), (0x1040, 0x1049), (0x1090, 0x1099), (0x17E0, 0x17E9), (0x1810, 0x1819),
    (0x1946, 0x194F), (0x19D0, 0x19D9), (0x1A80, 0x1A89), (0x1A90, 0x1A99), (0x1B50, 0x1B59),
    (0x1BB0, 0x1BB9), (0x1C40, 0x1C49), (0x1C50, 0x1C59), (0xA620, 0xA629), (0xA8D0, 0xA8D9),
    (0xA900, 0xA909), (0xA9D0, 0xA9D9), (0xA9F0, 0xA9F9), (0xAA50, 0xAA59), (0xABF0, 0xABF9),
    (0xFF10, 0xFF19), (0x104A0, 0x104A9), (0x10D30, 0x10D39), (0x11066, 0x1106F),
    (0x110F0, 0x110F9), (0x11136, 0x1113F), (0x111D0, 0x111D9), (0x112F0, 0x112F9),
    (0x11450, 0x11459), (0x114D0, 0x114D9), (0x11650, 0x11659), (0x116C0, 0x116C9),
    (0x11730, 0x11739), (0x118E0, 0x118E9), (0x11950, 0x11959), (0x11C50, 0x11C59),
    (0x11D50, 0x11D59), (0x11DA0, 0x11DA9), (0x16A60, 0x16A69), (0x16AC0, 0x16AC9),
    (0x16B50, 0x16B59), (0x1D7CE, 0x1D7FF), (0x1E140, 0x1E149), (0x1E2F0, 0x1E2F9),
    (0x1E950, 0x1E959), (0x1FBF0, 0x1FBF9),
)
#: the guard as a Hyperscan class
_GUARD = ("[" + "".join(f"\\x{{{a:X}}}-\\x{{{b:X}}}" if a != b else f"\\x{{{a:X}}}"
                        for a, b in GUARD_RANGES) + "]").encode()


def pattern_width(pattern: str, flags: int = 0) -> int | None:
    """Longest match of ``pattern`` in characters (look-arounds count 0), None if unbounded."""
    hi = _P.parse(pattern, flags).getwidth()[1]
    return None if hi >= _UNBOUNDED else int(hi)


def lookahead_reach(pattern: str, flags: int = 0) -> int | None:
    """How many characters past a match's end its look-aheads may read (None: unbounded)."""

    def walk(p) -> int:
        w = 0
        for op, av in p:
            if op in (_C.ASSERT, _C.ASSERT_NOT):
                direction, sub = av
                if direction == 1:
                    w = max(w, sub.getwidth()[1])
                w = max(w, walk(sub))
            elif op is _C.SUBPATTERN:
                w = max(w, walk(av[3]))
            elif op is _C.BRANCH:
                w = max([w, *(walk(x) for x in av[1])])
            elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT, getattr(_C, "POSSESSIVE_REPEAT", None)):
                w = max(w, walk(av[2]))
            elif op is getattr(_C, "ATOMIC_GROUP", None):
                w = max(w, walk(av))
            elif op is _C.GROUPREF_EXISTS:
                w = max(w, walk(av[1]), walk(av[2]) if av[2] is not None else 0)
        return w

    w = walk(_P.parse(pattern, flags))
    return None if w >= _UNBOUNDED else w


def _hs_safe(pattern: str) -> bool:
    """No construct for which Hyperscan's (ASCII) semantics would match LESS than ``re``."""
    p = pattern.replace(r"[\s\S]", "").replace(r"[^\s", "")
    return not any(t in p for t in (r"\s", r"\w", r"\W", r"\b", r"\B", "(?u", "(?L", "(?a"))


_BOUNDED = re.compile(r"(?<!\\)\{(\d+),(\d+)\}")
#: bounded repeats longer than this become open-ended in the prefilter (a superset that
#: Hyperscan compiles much faster; match widths come from the Python pattern)
_CAP = 16
_POSSESSIVE = re.compile(r"(?<!\\)(\{\d+(?:,\d*)?\})\+")


def prefilter_expr(pattern: str) -> bytes:
    """The Hyperscan prefilter expression for a recognizer's pattern (UTF-8)."""
    pattern = _POSSESSIVE.sub(r"\1", pattern)  # possessive repeats (3.11): same language
    return _BOUNDED.sub(lambda m: m.group(0) if int(m.group(2)) <= _CAP
                        else "{" + m.group(1) + ",}", pattern).encode("utf-8")


_DB_CACHE: dict[tuple, object] = {}
_DB_LOCK = threading.Lock()


def _cache_dir() -> str | None:
    base = os.environ.get("PRIVTUNE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "privtune")
    return os.path.join(base, "hyperscan") if base else None


def _compile(exprs: list[bytes], flags: list[int]):
    """A block-mode database for ``exprs`` (ids 0..n-1): compiled once per process, and kept
    serialised under ~/.cache/privtune/hyperscan/ (compiling takes about a second; loading a
    few milliseconds). Any cache problem just means compiling again."""
    key = (tuple(exprs), tuple(flags))
    with _DB_LOCK:
        db = _DB_CACHE.get(key)
        if db is not None:
            return db
        digest = hashlib.sha256(repr((_hs.__version__, sys.platform, key)).encode()).hexdigest()
        d = _cache_dir()
        path = os.path.join(d, digest[:32] + ".hsdb") if d else None
        if path and os.path.exists(path):
            try:
                with open(path, "rb") as f:
                    db = _hs.loadb(f.read(), mode=_hs.HS_MODE_BLOCK)
            except Exception:
                db = None
        if db is None:
            db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
            db.compile(expressions=list(exprs), ids=list(range(len(exprs))),
                       elements=len(exprs), flags=list(flags))
            if path:
                try:
                    os.makedirs(d, exist_ok=True)
                    tmp = f"{path}.{os.getpid()}.tmp"
                    with open(tmp, "wb") as f:
                        f.write(_hs.dumpb(db))
                    os.replace(tmp, path)
                except Exception:
                    pass
        if len(exprs) > 1:
            _DB_CACHE[key] = db
        return db


def _ascii_safe(pattern: str) -> bool:
    """``re.ASCII`` changes nothing for this pattern on a text the guard let through: it only
    narrows ``\\d`` and case folding (guarded) and no ``\\s``/``\\w``/``\\b`` occurs (``[\\s\\S]``,
    any character, is the same in both modes)."""
    p = pattern.replace(r"[\s\S]", "")
    return not any(t in p for t in (r"\s", r"\S", r"\w", r"\W", r"\b", r"\B", "(?u", "(?L"))


def ascii_twin(r: PatternRecognizer) -> PatternRecognizer:
    """A copy of ``r`` whose regex is compiled with ``re.ASCII`` (the same spans on guarded
    text; re's Unicode ``\\d`` check costs ~3x more per character than the ASCII one)."""
    if not _ascii_safe(r.pattern):
        return r
    twin = copy.copy(r)
    twin.regex = re.compile(r.pattern, r.flags | re.ASCII)
    return twin


def _caseless_literal(key: str) -> bytes:
    return re.escape(key).encode("utf-8")


class HsPlan:
    """The Hyperscan database and the per-recognizer plan; immutable after construction
    (one scratch space per thread)."""

    def __init__(self, digit_recs: list[PatternRecognizer],
                 anchor_recs: list[PatternRecognizer]) -> None:
        if _hs is None:  # pragma: no cover
            raise RuntimeError("hyperscan is not installed")
        exprs: list[bytes] = []
        flags: list[int] = []
        self.first: dict[int, tuple[PatternRecognizer, int]] = {}  # hs id -> (rec, width)
        self.ends: dict[int, tuple[PatternRecognizer, int, int]] = {}  # id -> (rec, W, A)
        self.gate: dict[int, int] = {}  # hs id -> anchor rec index
        self.trig: dict[int, tuple[int, tuple[int, ...]]] = {}  # id -> (len, anchor idxs)
        #: regex recognizers Hyperscan cannot stand in for: run by the Python engine
        self.python_digit: list[PatternRecognizer] = []
        self.python_anchor: list[int] = []
        base = _hs.HS_FLAG_PREFILTER | _hs.HS_FLAG_UTF8

        def add(expr: bytes, flag: int) -> int:
            exprs.append(expr)
            flags.append(flag)
            return len(exprs) - 1

        candidates: list[tuple[bytes, int, str, object]] = []  # (expr, flags, kind, payload)
        for r in digit_recs:
            w = pattern_width(r.pattern, r.flags)
            a = lookahead_reach(r.pattern, r.flags)
            ci = _hs.HS_FLAG_CASELESS if r.flags & re.IGNORECASE else 0
            expr = prefilter_expr(r.hs_pattern or r.pattern)
            if w is None or a is None or not _hs_safe(r.hs_pattern or r.pattern):
                self.python_digit.append(r)
            elif r.charset_first:
                candidates.append((expr, base | ci | _hs.HS_FLAG_SINGLEMATCH, "first", (r, w)))
            else:
                candidates.append((expr, base | ci, "ends", (r, w, a)))
        keys: dict[str, list[int]] = {}
        for i, r in enumerate(anchor_recs):
            ci = _hs.HS_FLAG_CASELESS if r.flags & re.IGNORECASE else 0
            pat = r.hs_pattern or r.pattern
            if _hs_safe(pat):
                candidates.append((prefilter_expr(pat), base | ci | _hs.HS_FLAG_SINGLEMATCH,
                                   "gate", i))
            else:
                self.python_anchor.append(i)  # no gate: always look at its trigger windows
            for t in r.trigger:
                keys.setdefault(lower_same_length(t), []).append(i)
        def build(cands: list[tuple[bytes, int, str, object]]):
            exprs.clear()
            flags.clear()
            self.first.clear()
            self.ends.clear()
            self.gate.clear()
            self.trig.clear()
            # id 0: the guard, so ``min(events)`` tells whether it fired
            self.guard_id = add(_GUARD, _hs.HS_FLAG_UTF8 | _hs.HS_FLAG_SINGLEMATCH)
            for expr, flag, kind, payload in cands:
                i = add(expr, flag)
                if kind == "first":
                    self.first[i] = (ascii_twin(payload[0]), payload[1])  # type: ignore
                elif kind == "ends":
                    self.ends[i] = (ascii_twin(payload[0]), *payload[1:])  # type: ignore
                else:
                    self.gate[i] = payload  # type: ignore[assignment]
            for k, idxs in keys.items():
                f = _hs.HS_FLAG_UTF8 | _hs.HS_FLAG_CASELESS
                self.trig[add(_caseless_literal(k), f)] = (len(k), tuple(sorted(set(idxs))))
            return _compile(exprs, flags)

        try:
            self.db = build(candidates)
        except Exception:  # find the expressions Hyperscan rejects; they stay in Python
            kept = []
            for c in candidates:
                try:
                    _compile([c[0]], [c[1]])
                    kept.append(c)
                except Exception:
                    if c[2] == "gate":
                        self.python_anchor.append(c[3])  # type: ignore[arg-type]
                    else:
                        self.python_digit.append(c[3][0])  # type: ignore[index]
            self.db = build(kept)
        #: per hs id: 0 first, 1 ends, 2 gate, 3 trigger literal, 4 guard; and its payload
        self.kinds: list[int] = [4] * len(exprs)
        self.payload: list[object] = [None] * len(exprs)
        for table, kind in ((self.first, 0), (self.ends, 1), (self.gate, 2), (self.trig, 3)):
            for i, v in table.items():
                self.kinds[i] = kind
                self.payload[i] = v
        self.python_anchor_set: set[int] = set(self.python_anchor)
        self._local = threading.local()

    def _scratch(self):
        s = getattr(self._local, "scratch", None)
        if s is None:
            s = self._local.scratch = _hs.Scratch(self.db)
        return s

    def events(self, folded: str) -> list[tuple[int, int]] | None:
        """(hs id, end offset in code points) for every report; None when the guard fired
        (the caller uses the pure-Python engine for this text)."""
        ev: list[tuple[int, int]] = []
        if folded.isascii():
            self.db.scan(folded.encode("ascii"), match_event_handler=_on_match, context=ev,
                         scratch=self._scratch())
            if ev and min(ev)[0] == 0:  # the guard (id 0) fired
                return None
            return ev
        try:
            data = folded.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: not valid UTF-8 for Hyperscan
            return None
        self.db.scan(data, match_event_handler=_on_match, context=ev, scratch=self._scratch())
        if not ev:
            return ev
        if min(ev)[0] == 0:  # the guard (id 0) fired
            return None
        # byte offsets -> code-point offsets, incrementally over the sorted ends
        ends = sorted({e for _, e in ev})
        conv: dict[int, int] = {}
        pb = pc = 0
        for e in ends:
            pc += len(data[pb:e].decode("utf-8"))
            pb = e
            conv[e] = pc
        return [(i, conv[e]) for i, e in ev]


def _on_match(idx: int, _from: int, to: int, _flags: int, ctx: list) -> None:
    ctx.append((idx, to))


def merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    out = [spans[0]]
    for s, e in spans[1:]:
        if s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out
