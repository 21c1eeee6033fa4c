"""Scanner: every enabled recognizer over one folded copy of the text, overlaps resolved.

Engine (chosen by measurement, see docs/detect.md): the text is folded once (full-width ->
ASCII, length-preserving, so offsets need no mapping); each regex recognizer then runs as its
own ``re`` pass, because CPython's ``re`` engine uses a fast literal/charset prefix scan per
pattern, which a single combined alternation with named groups loses (it was ~3x slower).
Lexicon work (surnames, given-name characters, place names, first/last names, custom
deny-lists) uses pyahocorasick automata or frozenset look-ups that only run at candidate
positions found by cheap regex prefilters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import ahocorasick

from privtune.config import DetectConfig
from privtune.detect import custom, hsplan
from privtune.detect.custom import lower_same_length
from privtune.detect.normalize import fold
from privtune.detect.recognizer import (
    Candidate,
    CombinedPass,
    FunctionRecognizer,
    PatternRecognizer,
)
from privtune.detect.recognizers import secrets, universal, zh
from privtune.detect.resolve import resolve
from privtune.detect.span import Span

_DIGIT_TRIGGER = ("\\d",)
#: patterns open with a single class, not ``[0-9]+``: ``re`` skips ahead to a possible first
#: character only for a class, literal or alternation of literals as the first item, and a
#: repeat is none of those (``[0-9]+`` searches at ~8 ns per character, ``[0-9][0-9]*`` at ~2.5)
_DIGIT_RUN = re.compile(r"[0-9][0-9]*")
_TOKEN_TAIL = re.compile(r"[0-9A-Za-z+/_\-=.@:]{0,512}")
_TOKEN_HEAD = re.compile(r"[0-9A-Za-z+/_\-=.@:]{1,512}$")
#: characters of context a digit-anchored recognizer may need before the first digit
#: ("+86 ", "QQ号码是", "IBAN GB", "March ") and after the last one ("x818", check letter)
_WIN_BEFORE = 24
_WIN_AFTER = 12
_WHOLE_TEXT = 256
_DIGIT_CLUSTER = re.compile(r"[0-9][0-9]*(?:[^0-9]{1," + str(_WIN_BEFORE + _WIN_AFTER) + r"}[0-9]+)*")
#: characters per stage-major chunk of :meth:`Scanner.scan_many` (measured: bench/scan.py)
BATCH_CHUNK_CHARS = 1 << 20
_TOKEN_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/_-=.@:")


def merge_windows(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and merge (start, end) windows; each end is pushed past any ASCII token run."""
    return [(s, _TOKEN_TAIL.match(text, e).end()) for s, e in hsplan.merge(spans)]


def digit_windows(text: str) -> list[tuple[int, int]]:
    """Merged windows around the ASCII digit runs of ``text``: digit-anchored recognizers
    (IDs, phones, cards, dates ...) only run there. A window never starts or ends inside a run
    of ASCII token characters (letters, digits, ``+/_-=.@:``), so look-arounds at its edges see
    the truth and a token holding a digit is always scanned whole."""
    n = len(text)
    out: list[tuple[int, int]] = []
    if n <= _WHOLE_TEXT:
        return [(0, n)] if _DIGIT_RUN.search(text) else out
    # one C-level pass: digit runs closer than the two margins together form one cluster
    for m in _DIGIT_CLUSTER.finditer(text):
        s = max(0, m.start() - _WIN_BEFORE)
        e = _TOKEN_TAIL.match(text, min(n, m.end() + _WIN_AFTER)).end()
        if s and text[s - 1] in _TOKEN_CHARS:
            head = _TOKEN_HEAD.search(text, max(0, s - 512), s)
            if head is not None:
                s = head.start()
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(e, out[-1][1]))
        else:
            out.append((s, e))
    return out


#: types produced by the (slower) name and address recognizers, switched by ``names``
NAME_TYPES = frozenset({"PERSON", "ADDRESS"})


def builtin_recognizers(
    names: bool = True, zh_ner: str = "rules"
) -> list[PatternRecognizer | FunctionRecognizer]:
    recs: list[PatternRecognizer | FunctionRecognizer] = []
    recs += zh.recognizers()
    recs += universal.recognizers()
    recs += secrets.recognizers()
    recs.append(secrets.PemBlock())
    if names:
        from privtune.detect.recognizers import address_en, address_zh, names_en, names_zh

        recs.append(names_zh.ChineseNames(ner=zh_ner))
        recs.append(address_zh.ChineseAddress())
        recs.append(names_en.EnglishNames())
        recs.append(address_en.EnglishAddress())
    return recs


def _types_of(rec: PatternRecognizer | FunctionRecognizer) -> tuple[str, ...]:
    return (rec.type,) if isinstance(rec, PatternRecognizer) else tuple(rec.types)


def _allow_key(value: str) -> str:
    return re.sub(r"[\s\-]", "", fold(value)).lower()


class Scanner:
    """Finds PII and secrets in text. Thread-safe after construction: no mutable state but
    the Chinese-name recognizer's bounded memo of a pure function (a race only recomputes)."""

    def __init__(self, config: DetectConfig | None = None, *, engine: str = "auto") -> None:
        if engine == "auto":
            engine = "hyperscan" if hsplan.AVAILABLE else "passes"
        if engine not in ("hyperscan", "passes", "combined"):
            raise ValueError(f"unknown engine {engine!r}")
        self.config = cfg = config or DetectConfig()
        wanted = set(cfg.types) if cfg.types is not None else None
        disabled = set(cfg.disable)
        if not cfg.names:
            disabled |= NAME_TYPES
        names = cfg.names and not disabled >= NAME_TYPES and (
            wanted is None or bool(wanted & NAME_TYPES))
        recs = builtin_recognizers(names=names, zh_ner=cfg.zh_ner)
        custom_recs = custom.build(list(cfg.custom))
        self.enabled_types: frozenset[str] = frozenset(
            t for r in recs for t in _types_of(r)
            if (wanted is None or t in wanted) and t not in disabled
        ) | frozenset(t for r in custom_recs for t in _types_of(r))
        self._patterns: list[PatternRecognizer] = []
        self._functions: list[FunctionRecognizer] = []
        for r in [*custom_recs, *recs]:
            if not any(t in self.enabled_types for t in _types_of(r)):
                continue
            if isinstance(r, PatternRecognizer):
                self._patterns.append(r)
            else:
                self._functions.append(r)
        # engine plan: digit-anchored recognizers run in windows around digit runs; recognizers
        # with literal triggers run in windows around the hits of one Aho-Corasick automaton
        # over the lower-cased text; the rest (custom regexes) scan the whole text.
        self._digit_recs = [r for r in self._patterns if r.trigger == _DIGIT_TRIGGER]
        self._digit_pass = (CombinedPass(self._digit_recs)
                            if self._digit_recs and engine == "combined" else None)
        self._anchor_recs = [r for r in self._patterns
                             if r.trigger and r.trigger != _DIGIT_TRIGGER]
        self._plain_recs = [r for r in self._patterns if not r.trigger]
        self._anchor_ac = None
        if self._anchor_recs:
            keys: dict[str, list[int]] = {}
            for i, r in enumerate(self._anchor_recs):
                for t in r.trigger:
                    keys.setdefault(lower_same_length(t), []).append(i)
            self._anchor_ac = ahocorasick.Automaton()
            for k, idxs in keys.items():
                self._anchor_ac.add_word(k, (len(k), tuple(idxs)))
            self._anchor_ac.make_automaton()
        #: the Hyperscan prefilter plan (None: the pure-Python engine)
        self._hs: hsplan.HsPlan | None = None
        if engine == "hyperscan" and (self._digit_recs or self._anchor_recs):
            self._hs = hsplan.HsPlan(self._digit_recs, self._anchor_recs)
        self.engine = engine
        self._filter_types = any(
            not set(_types_of(r)) <= self.enabled_types for r in self._functions)
        self._allow = frozenset(_allow_key(a) for a in cfg.allow if a.strip())
        self._allow_res = [re.compile(p) for p in cfg.allow_patterns]
        self.min_score = cfg.min_score
        self.max_span_length: int = max(
            [r.max_len for r in self._patterns] + [r.max_len for r in self._functions] + [1])

    @classmethod
    def from_config(cls, config: DetectConfig | None = None) -> Scanner:
        return cls(config)

    @property
    def recognizer_names(self) -> list[str]:
        return [r.name for r in self._patterns] + [r.name for r in self._functions]

    def candidates(self, text: str) -> list[Candidate]:
        """All raw candidates before overlap resolution (for debugging and evaluation)."""
        folded = fold(text)
        cands = self._structured(folded)
        for f in self._functions:
            found = f.find(folded)
            if found:
                self._add_found(f, found, cands)
        return self._filtered(folded, cands)

    def _structured(self, folded: str) -> list[Candidate]:
        """The regex recognizers' candidates (Hyperscan-gated or pure-Python engine)."""
        cands: list[Candidate] = []
        events = self._hs.events(folded) if self._hs is not None else None
        if events is not None:
            self._hs_candidates(folded, events, cands)
        else:
            self._digit_candidates(folded, self._digit_recs, cands)
            self._anchor_candidates(folded, range(len(self._anchor_recs)), cands)
        for r in self._plain_recs:
            cands.extend(r.find(folded))
        return cands

    @staticmethod
    def _add_found(f: FunctionRecognizer, found: list[Candidate],
                   cands: list[Candidate]) -> None:
        """Append a function recognizer's candidates, each cut to at most ``f.max_len``."""
        limit = f.max_len
        if max([c[1] - c[0] for c in found]) <= limit:  # the common case: no chunking
            cands += found
            return
        for c in found:
            if c[1] - c[0] > limit:  # respect the bound: adjacent chunks cover the span
                cands.extend((cs, min(c[1], cs + limit), *c[2:])
                             for cs in range(c[0], c[1], limit))
            else:
                cands.append(c)

    def _filtered(self, folded: str, cands: list[Candidate]) -> list[Candidate]:
        """Drop candidates of disabled types and allow-listed values."""
        if self._filter_types:
            enabled = self.enabled_types
            cands = [c for c in cands if c[2] in enabled]
        if self._allow or self._allow_res:
            cands = [c for c in cands if not self._allowed(folded[c[0]:c[1]])]
        return cands

    def _hs_candidates(self, folded: str, events: list[tuple[int, int]],
                       cands: list[Candidate]) -> None:
        """Regex recognizers where the Hyperscan pass says they can match (see hsplan)."""
        plan = self._hs
        assert plan is not None
        if plan.python_digit:
            self._digit_candidates(folded, plan.python_digit, cands)
        if not events:
            if plan.python_anchor:
                self._anchor_candidates(folded, plan.python_anchor, cands)
            return
        n = len(folded)
        kinds, payload = plan.kinds, plan.payload
        wins: dict[int, list[tuple[int, int]]] | None = None
        gated = plan.python_anchor_set
        hits: list[tuple[int, int]] | None = None
        for i, e in events:
            k = kinds[i]
            if k == 0:  # first: re from the earliest possible start to the end of the text
                r, w = payload[i]
                cands.extend(r.find(folded, e - w if e > w else 0))
            elif k == 1:  # ends: a window per reported end
                w, a = payload[i][1], payload[i][2]
                win = (e - w if e > w else 0, e + a if e + a < n else n)
                if wins is None:
                    wins = {i: [win]}
                elif i in wins:
                    wins[i].append(win)
                else:
                    wins[i] = [win]
            elif k == 2:  # gate: this trigger recognizer can match somewhere
                if gated is plan.python_anchor_set:
                    gated = set(gated)
                gated.add(payload[i])
            elif hits is None:
                hits = [(i, e)]
            else:
                hits.append((i, e))
        if wins is not None:
            for i, wl in wins.items():
                r = payload[i][0]
                for ws, we in hsplan.merge(wl) if len(wl) > 1 else wl:
                    cands.extend(r.find(folded, ws, we))
        if gated and hits is not None:
            recs = self._anchor_recs
            per: dict[int, list[tuple[int, int]]] = {}
            for i, e in hits:
                length, idxs = payload[i]
                start = e - length
                for k in idxs:
                    if k in gated:
                        before, after = recs[k].window or (0, n)
                        per.setdefault(k, []).append((max(0, start - before), min(n, e + after)))
            for k, spans in per.items():
                r = recs[k]
                for ws, we in merge_windows(folded, spans):
                    cands.extend(r.find(folded, ws, we))

    def _digit_candidates(self, folded: str, recs: list[PatternRecognizer],
                          cands: list[Candidate]) -> None:
        """Pure-Python engine: digit-anchored recognizers in the windows around digit runs."""
        if recs and _DIGIT_RUN.search(folded) is not None:
            windows = digit_windows(folded)
            if self._digit_pass is not None and recs is self._digit_recs:
                dp = self._digit_pass
                for ws, we in windows:
                    cands.extend(dp.find(folded, ws, we))
            else:
                lo, hi = windows[0][0], windows[-1][1]
                for r in recs:
                    if r.charset_first:
                        # re's first-character scan skips the gaps faster than a call per
                        # window would cost
                        cands.extend(r.find(folded, lo, hi))
                    else:
                        for ws, we in windows:
                            cands.extend(r.find(folded, ws, we))

    def _anchor_candidates(self, folded: str, which, cands: list[Candidate]) -> None:
        """Pure-Python engine: trigger-anchored recognizers (indexes ``which``) in the windows
        around the hits of one Aho-Corasick automaton over the lower-cased text."""
        if self._anchor_ac is not None and which:
            n = len(folded)
            wanted = set(which)
            per: dict[int, list[tuple[int, int]]] = {}
            recs = self._anchor_recs
            for end, (length, idxs) in self._anchor_ac.iter(lower_same_length(folded)):
                start = end - length + 1
                for i in idxs:
                    if i not in wanted:
                        continue
                    before, after = recs[i].window or (0, n)
                    per.setdefault(i, []).append((max(0, start - before),
                                                  min(n, end + 1 + after)))
            for i, spans in per.items():
                r = recs[i]
                for ws, we in merge_windows(folded, spans):
                    cands.extend(r.find(folded, ws, we))

    def _allowed(self, value: str) -> bool:
        if _allow_key(value) in self._allow:
            return True
        return any(p.fullmatch(value) for p in self._allow_res)

    def scan(self, text: str) -> list[Span]:
        """Spans sorted by start, without overlaps (rule: :mod:`privtune.detect.resolve`)."""
        if not text:
            return []
        return resolve(self.candidates(text), self.min_score)

    def scan_many(self, texts: Iterable[str], *,
                  chunk_chars: int = BATCH_CHUNK_CHARS) -> list[list[Span]]:
        """``[self.scan(t) for t in texts]``, the same spans, but run stage-major over chunks
        of about ``chunk_chars`` characters: fold every text, the structured engine over every
        text, then each function recognizer over every text, then resolve each. Why: each
        stage's code, Hyperscan database, lexicons and memo tables stay in the CPU caches
        across documents instead of evicting one another per document (each stage cost
        1.3-2x more inside the per-document loop; bench/scan.py). Chunking bounds memory to
        one chunk's folded texts and candidates."""
        out: list[list[Span]] = []
        for batch in text_chunks(texts, chunk_chars):
            out += self._scan_chunk(batch)
        return out

    def _scan_chunk(self, texts: list[str]) -> list[list[Span]]:
        """One chunk of :meth:`scan_many`, stage by stage; per text, candidates are appended
        in the order :meth:`candidates` appends them, so ``resolve`` sees the same list."""
        live = [i for i, t in enumerate(texts) if t]  # scan("") is [] without any stage
        folded = [fold(texts[i]) for i in live]
        cands = [self._structured(f) for f in folded]
        for f in self._functions:
            find, add = f.find, self._add_found
            for fd, cl in zip(folded, cands, strict=True):
                found = find(fd)
                if found:
                    add(f, found, cl)
        out: list[list[Span]] = [[] for _ in texts]
        min_score = self.min_score
        for i, fd, cl in zip(live, folded, cands, strict=True):
            out[i] = resolve(self._filtered(fd, cl), min_score)
        return out


def text_chunks(texts: Iterable[str], max_chars: int, max_texts: int | None = None
                ) -> Iterator[list[str]]:
    """``texts`` in consecutive lists, each closed once it holds ``max_chars`` characters or
    ``max_texts`` texts: the batches of :meth:`Scanner.scan_many` (and of the benchmark that
    mimics ``privtune scan``), streamed, so memory holds one batch."""
    batch: list[str] = []
    chars = 0
    for t in texts:
        batch.append(t)
        chars += len(t)
        if chars >= max_chars or (max_texts is not None and len(batch) >= max_texts):
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch
