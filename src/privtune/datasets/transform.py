"""The per-record sanitize transformation, shared by every engine (one process, a process
pool, Ray Data): minimize -> detect -> anonymize -> re-scan -> serialize.

:class:`RecordTransform` is built from a picklable :class:`TransformSpec`, so each worker
process or Ray actor builds its own scanner once and then maps records to
:class:`Outcome` tuples. The transformation is a pure function of the record, the spec and
the keys: any engine, any worker count, gives byte-identical output.
"""

from __future__ import annotations

import collections
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from privtune.anonymize.operators import ZH_TAGS, Keys, Policy, is_chinese, protected_regions
from privtune.config import DetectConfig, SanitizeConfig
from privtune.detect.normalize import normalize_value

#: The training fields kept by default, per input record format.
DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "alpaca": ("instruction", "input", "output", "system", "history"),
    "sharegpt": ("conversations", "system", "tools"),
    "openai": ("messages",),
    "text": ("text",),
}
#: The LLaMA-Factory formatting each input format is written as.
OUTPUT_FORMAT = {"alpaca": "alpaca", "sharegpt": "sharegpt", "openai": "openai", "text": "sharegpt"}
_TEXT_KEYS = ("text", "dialogue", "dialog", "conversation", "transcript", "content", "log")
_FUZZY = {"PERSON", "ADDRESS", "ORG", "OTHER"}  # boundaries of these findings vary
_SLACK = 3
_WITHIN = 64  # a finding up to this far inside a fake name or address is part of it
_CUTS = 24  # ... trying at most this many start and end positions on each side
_PASSES = 4  # detect -> replace -> re-scan rounds per record, at most
_ADDRESS_GAP = 2  # two address findings this close (CJK or digits between) are one address
#: building / unit / floor / room numbers right after an address belong to it
_ADDRESS_TAIL = re.compile(
    r"(?:[0-9A-Za-z一二三四五六七八九十百]{1,6}(?:号楼|号院|栋|幢|座|单元|层|楼|室|户|号))+"
)
_ROLE_MAP = {
    "user": "human",
    "assistant": "gpt",
    "system": "system",
    "tool": "observation",
    "function": "observation",
    "human": "human",
    "gpt": "gpt",
    "observation": "observation",
    "function_call": "function_call",
}


class Outcome(NamedTuple):
    """What became of one record (plain types only: cheap to send between processes)."""

    status: str  # "ok" | "dropped" | "error"
    line: bytes | None  # the output record, serialized (status ok)
    valid: bool  # goes to valid.json
    reason: str | None  # status error: why (never the record's content)
    events: list[tuple[str, str, str, str]]  # (type, field, action, fingerprint) per value
    dropped_fields: list[str]
    residual: list[tuple[str, str]]  # (type, field) found again after anonymization
    fakes: list[str]  # fingerprints of pseudonyms this record received
    columns: tuple[str, ...]  # top-level keys of the output record


@dataclass(frozen=True)
class TransformSpec:
    """Everything a worker needs to build a :class:`RecordTransform` (picklable)."""

    keys: Keys
    fmt: str  # input record format: alpaca | sharegpt | openai | text
    detect: DetectConfig = field(default_factory=DetectConfig)
    sanitize: SanitizeConfig = field(default_factory=SanitizeConfig)
    fields: tuple[str, ...] | None = None
    known_fakes: frozenset[str] = frozenset()
    text_field: str | None = None
    convert_alpaca: bool = False  # sharegpt run: alpaca records become sharegpt (mixed input)

    def __repr__(self) -> str:
        return f"TransformSpec(fmt={self.fmt!r}, fields={self.fields!r})"


class RecordError(ValueError):
    """A record that cannot be sanitized (its reason never contains record content)."""


def split_is_valid(line: bytes, seed: int, ratio: float) -> bool:
    """Deterministic train/valid split by content: stable under any order or engine."""
    if ratio <= 0:
        return False
    h = hashlib.sha256(f"privtune-split\0{seed}\0".encode() + line).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < ratio


def _content_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [
            p if isinstance(p, str) else p.get("text")
            for p in value
            if isinstance(p, str) or (isinstance(p, dict) and isinstance(p.get("text"), str))
        ]
        return "\n".join(parts)
    if value is None:
        return ""
    raise RecordError(f"message content is a {type(value).__name__}, not text")


# --- free-form dialogue logs -> sharegpt -----------------------------------------------------
_HUMAN = {
    "客户",
    "用户",
    "顾客",
    "买家",
    "访客",
    "患者",
    "user",
    "customer",
    "human",
    "client",
    "q",
    "问",
    "visitor",
    "caller",
}
_GPT = {
    "客服",
    "坐席",
    "助手",
    "助理",
    "客服助手",
    "机器人",
    "医生",
    "agent",
    "assistant",
    "bot",
    "ai",
    "gpt",
    "a",
    "答",
    "support",
    "operator",
    "staff",
}
_ZH_TAG_LIST = tuple(ZH_TAGS.values())
_LABELS = sorted(_HUMAN | _GPT, key=len, reverse=True)
_INLINE = re.compile(
    r"(?:(?<=\s)|^)(" + "|".join(re.escape(x) for x in _LABELS) + r")\s*[:：]",
    re.IGNORECASE | re.MULTILINE,
)
_LINE = re.compile(r"^\s*([^\s:：][^:：\n]{0,23}?)\s*[:：]\s?(.*)$")


def dialogue_to_conversations(text: str) -> list[dict[str, str]]:
    """Turns of a free-form dialogue log (``客户：...`` / ``Agent: ...`` lines) as sharegpt
    turns, alternating human/gpt. Raises :class:`RecordError` when it holds no dialogue."""
    text = _INLINE.sub(lambda m: "\n" + m.group(0).lstrip(), text)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    labels = [m[1].strip() if (m := _LINE.match(ln)) else None for ln in lines]
    seen = collections.Counter(x for x in labels if x)

    def is_speaker(i: int) -> bool:
        # known labels; an unknown one (often a name or its tag) when it opens the log, labels
        # several lines, or is one of privtune's own tokens - not "注意：" or "https:" in a turn
        label = labels[i]
        if label is None or len(label) > 12:
            return False
        low = label.lower()
        return (
            low in _HUMAN
            or low in _GPT
            or i == 0
            or seen[label] >= 2
            or bool(protected_regions(label, _ZH_TAG_LIST))
        )

    turns: list[tuple[str, str]] = []
    for i, raw in enumerate(lines):
        m = _LINE.match(raw)
        if m and is_speaker(i):
            turns.append((m[1].strip(), m[2].strip()))
        elif turns:
            turns[-1] = (turns[-1][0], (turns[-1][1] + "\n" + raw.strip()).strip())
    roles: dict[str, str] = {}
    conv: list[dict[str, str]] = []
    for speaker, utt in turns:
        key = speaker.lower()
        if key not in roles:
            if key in _HUMAN:
                roles[key] = "human"
            elif key in _GPT:
                roles[key] = "gpt"
            else:  # unknown labels (often names): first speaker asks, the next answers
                used = set(roles.values())
                roles[key] = "human" if "human" not in used else "gpt"
        role = roles[key]
        if not utt:
            continue
        if conv and conv[-1]["from"] == role:
            conv[-1]["value"] += "\n" + utt
        else:
            conv.append({"from": role, "value": utt})
    while conv and conv[0]["from"] != "human":
        conv.pop(0)
    if conv and conv[-1]["from"] != "gpt":
        conv.pop()
    if len(conv) < 2:
        raise RecordError("free-form text holds no dialogue (speaker: text lines)")
    return conv


# --- the transformation ----------------------------------------------------------------------
class RecordTransform:
    """Sanitize records of one input format into one LLaMA-Factory format."""

    def __init__(self, spec: TransformSpec, scanner: Any = None) -> None:
        self.spec = spec
        if scanner is None:
            from privtune.detect import Scanner

            scanner = Scanner(spec.detect)
        self.scanner = scanner
        self.policy = Policy.from_config(spec.sanitize, spec.keys)
        self.literals = self.policy.known_tokens()
        self.fmt = spec.fmt
        self.allowed = tuple(spec.fields) if spec.fields else DEFAULT_FIELDS[spec.fmt]
        self.seed = spec.sanitize.seed
        self.ratio = spec.sanitize.valid_ratio

    # minimization: build the output record with only allowed fields ----------------------
    def minimize(self, data: dict) -> tuple[dict, list[str]]:
        dropped = [k for k in data if k not in self.allowed and not self._alias(k)]
        out: dict[str, Any] = {}
        fmt = self.fmt
        if fmt == "alpaca":
            if not isinstance(data.get("instruction"), str):
                raise RecordError("alpaca record without a string 'instruction'")
            for key in ("instruction", "input", "output"):
                if key in self.allowed:
                    v = data.get(key, "")
                    if v is not None and not isinstance(v, str):
                        raise RecordError(f"'{key}' is a {type(v).__name__}, not text")
                    out[key] = "" if v is None else v
            for key in ("system", "history"):
                if key in self.allowed and data.get(key) not in (None, "", []):
                    out[key] = data[key]
            if not isinstance(out.get("system", ""), str):
                raise RecordError("'system' is not text")
            if "history" in out and not (
                isinstance(out["history"], list)
                and all(
                    isinstance(p, list | tuple)
                    and len(p) == 2
                    and all(isinstance(s, str) for s in p)
                    for p in out["history"]
                )
            ):
                raise RecordError("'history' is not a list of [query, response] pairs")
        elif (
            fmt == "sharegpt"
            and self.spec.convert_alpaca
            and "conversations" not in data
            and "messages" not in data
            and isinstance(data.get("instruction"), str)
        ):
            out, dropped = self._alpaca_to_sharegpt(data)
        elif fmt in ("sharegpt", "openai"):
            src_key = "conversations" if "conversations" in data else "messages"
            turns = data.get(src_key)
            if not isinstance(turns, list) or not turns:
                raise RecordError(f"{fmt} record without a list of turns")
            want = "conversations" if fmt == "sharegpt" else "messages"
            if want in self.allowed:
                conv = []
                for i, turn in enumerate(turns):
                    if not isinstance(turn, dict):
                        raise RecordError(f"turn {i} is not an object")
                    for k in turn:
                        if k not in ("from", "value", "role", "content"):
                            dropped.append(f"{want}[*].{k}")
                    speaker = turn.get("from", turn.get("role"))
                    if not isinstance(speaker, str):
                        raise RecordError(f"turn {i} has no speaker ('from' or 'role')")
                    text = _content_text(turn.get("value", turn.get("content")))
                    if fmt == "sharegpt":
                        role = _ROLE_MAP.get(speaker, speaker) if "role" in turn else speaker
                        conv.append({"from": role, "value": text})
                    else:
                        conv.append({"role": speaker, "content": text})
                out[want] = conv
            for key in ("system", "tools"):
                if key in self.allowed and isinstance(data.get(key), str) and data[key]:
                    out[key] = data[key]
        elif fmt == "text":
            key = self.spec.text_field or next(
                (k for k in _TEXT_KEYS if isinstance(data.get(k), str)), None
            )
            if key is None or not isinstance(data.get(key), str):
                raise RecordError("text record without a text field")
            out["text"] = data[key]
            dropped = [k for k in data if k != key]
        else:
            raise RecordError(f"unrecognized record format {fmt!r} (use --format)")
        for key in self.allowed:  # extra allow-listed fields pass through (anonymized)
            if key not in out and key in data and key not in DEFAULT_FIELDS.get(fmt, ()):
                out[key] = data[key]
        return out, sorted(set(dropped))

    def _alpaca_to_sharegpt(self, data: dict) -> tuple[dict, list[str]]:
        """An alpaca record as sharegpt turns, the way LLaMA-Factory reads alpaca: each
        history pair, then ``instruction`` + newline + ``input`` and ``output``."""
        alpaca = DEFAULT_FIELDS["alpaca"]
        dropped = [k for k in data if k not in alpaca and k not in self.allowed]
        for key in ("input", "output", "system"):
            v = data.get(key)
            if v is not None and not isinstance(v, str):
                raise RecordError(f"'{key}' is a {type(v).__name__}, not text")
        history = data.get("history") or []
        if not (
            isinstance(history, list)
            and all(
                isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(s, str) for s in p)
                for p in history
            )
        ):
            raise RecordError("'history' is not a list of [query, response] pairs")
        out: dict[str, Any] = {}
        if "conversations" in self.allowed:
            conv = []
            for q, a in history:
                conv += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
            prompt = data["instruction"]
            if data.get("input"):
                prompt = f"{prompt}\n{data['input']}"
            conv += [
                {"from": "human", "value": prompt},
                {"from": "gpt", "value": data.get("output") or ""},
            ]
            out["conversations"] = conv
        if "system" in self.allowed and data.get("system"):
            out["system"] = data["system"]
        for key in self.allowed:  # extra allow-listed fields pass through (anonymized)
            if key not in out and key in data and key not in DEFAULT_FIELDS["sharegpt"]:
                out[key] = data[key]
        return out, sorted(set(dropped))

    def _alias(self, key: str) -> bool:
        return self.fmt == "sharegpt" and key == "messages" and "conversations" in self.allowed

    # anonymization of one record's text leaves -------------------------------------------
    def _anonymize_texts(self, leaves: list[tuple[str, str]], acc: _Acc) -> list[str]:
        """Anonymize all text leaves ``(field, text)`` of one record together.

        1. detect in every leaf;
        2. propagate: every value detected anywhere in the record is also replaced where it
           occurs undetected in any leaf (longest first, never overlapping a finding);
        3. render, re-scan the result, and map what the re-scan finds (an address fragment
           left next to a tag, or context the replacement changed) back onto the original
           text, widening or merging the findings; repeat until nothing new is found (at most
           ``_PASSES`` times). What the last scan still finds is the residual.
        """
        texts = [t for _, t in leaves]
        spans: list[list[tuple[int, int, str]]] = [
            self._widen(
                t, [(s.start, s.end, s.type) for s in self._filtered(t, self.spec.known_fakes)]
            )
            if t
            else []
            for t in texts
        ]
        if not any(spans):  # nothing detected: a re-scan would find exactly the same (nothing)
            return texts
        for _ in range(_PASSES):
            spans = self._propagate(texts, spans)
            changed = False
            for i, text in enumerate(texts):
                if not spans[i]:
                    continue
                new, segs, inserted, fakes = self._render(text, spans[i])
                found = self._rescan(new, acc.fakes | fakes, inserted)
                if found:
                    wider = self._widen(
                        text, spans[i] + [_map_back(segs, s, e, t) for s, e, t in found]
                    )
                    if wider != spans[i]:  # else: nothing more to take (stays a residual)
                        changed = True
                        spans[i] = wider
            if not changed:
                break
        spans = self._propagate(texts, spans)
        out = []
        for (fieldname, text), sp in zip(leaves, spans, strict=True):
            if not sp:
                out.append(text)
                continue
            new, _, inserted, fakes = self._render(text, sp, acc, fieldname)
            acc.fakes |= fakes
            for _, _, typ in self._rescan(new, acc.fakes, inserted):
                acc.residual.append((typ, fieldname))
            out.append(new)
        return out

    def _render(
        self,
        text: str,
        spans: list[tuple[int, int, str]],
        acc: _Acc | None = None,
        fieldname: str = "",
    ) -> tuple[str, list[tuple[int, int, int, int, bool]], list[tuple[int, int]], set[str]]:
        """``text`` with ``spans`` replaced: the new text, its segments ``(new_start,
        new_end, old_start, old_end, replaced)``, the pseudonyms' ranges and fingerprints.
        With ``acc``, the replacements are recorded (events, drop)."""
        chinese = is_chinese(text)
        pieces: list[str] = []
        segs: list[tuple[int, int, int, int, bool]] = []
        inserted: list[tuple[int, int]] = []
        fakes: set[str] = set()
        pos = 0
        out_len = 0
        for start, end, typ in spans:
            value = text[start:end]
            action, repl = self.policy.replace(typ, value, chinese)
            if action == "drop":
                repl = self.policy.tag(typ, chinese)
            if acc is not None:
                acc.events.append((typ, fieldname, action, self.policy.fingerprint(typ, value)))
                if action == "drop":
                    acc.drop = True
            if start > pos:
                pieces.append(text[pos:start])
                segs.append((out_len, out_len + start - pos, pos, start, False))
                out_len += start - pos
            if action == "pseudonym":  # realistic by design: the residual check skips it
                fakes.add(self.policy.fingerprint(typ, repl))
                inserted.append((out_len, out_len + len(repl)))
            pieces.append(repl)
            segs.append((out_len, out_len + len(repl), start, end, True))
            out_len += len(repl)
            pos = end
        if pos < len(text):
            pieces.append(text[pos:])
            segs.append((out_len, out_len + len(text) - pos, pos, len(text), False))
        return "".join(pieces), segs, inserted, fakes

    def _rescan(
        self, text: str, fakes: set[str], inserted: list[tuple[int, int]]
    ) -> list[tuple[int, int, str]]:
        """Findings in anonymized ``text`` that are not (almost all) our own output."""
        found = []
        for sp in self._filtered(text, self.spec.known_fakes | fakes):
            outside = "".join(
                c
                for i, c in enumerate(text[sp.start : sp.end], sp.start)
                if not any(s <= i < e for s, e in inserted)
            )
            if sum(c.isalnum() for c in outside) < 2:
                continue  # the finding is (almost) all our own pseudonym
            found.append((sp.start, sp.end, sp.type))
        return found

    def _widen(self, text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        """Sorted, non-overlapping spans: overlapping findings are merged (the longer one's
        type wins), an address takes the building/unit/room numbers right after it, and two
        addresses separated only by a character or two of the same word are one address, and
        so is an address and a finding right next to it (blanks between)."""
        merged: list[tuple[int, int, str]] = []
        for start, end, typ in sorted(spans, key=lambda s: (s[0], -s[1])):
            if typ == "ADDRESS" and (m := _ADDRESS_TAIL.match(text, end)):
                end = m.end()
            if merged:
                ps, pe, pt = merged[-1]
                gap = text[pe:start]
                near = (
                    pt == typ == "ADDRESS"
                    and len(gap) <= _ADDRESS_GAP
                    and all(_is_cjk(c) or c.isdigit() for c in gap)
                )
                touching = "ADDRESS" in (pt, typ) and {pt, typ} <= _FUZZY and not gap.strip()
                if start < pe or near or touching:
                    keep = pt if pe - ps >= end - start else typ
                    if touching:  # "12 Elm" + "Street Name": one address, one fake
                        keep = "ADDRESS"
                    merged[-1] = (ps, max(pe, end), keep)
                    continue
            merged.append((start, end, typ))
        return merged

    def _propagate(
        self, texts: list[str], spans: list[list[tuple[int, int, str]]]
    ) -> list[list[tuple[int, int, str]]]:
        """Add every exact occurrence, in any leaf, of a value detected anywhere in the record
        (raw or normalized form; longest first; never overlapping a finding or own token)."""
        values: dict[str, str] = {}
        for text, sp in zip(texts, spans, strict=True):
            for start, end, typ in sp:
                value = text[start:end]
                for v in {value.strip(), normalize_value(typ, value)}:
                    if len(v) >= 2 and sum(c.isalnum() for c in v) >= 2:
                        values.setdefault(v, typ)
                if typ == "PERSON" and value.isascii():
                    # "Victoria Lopez" found once: "Hi Victoria" in the reply is the same person
                    for part in value.split():
                        if len(part) >= 3 and part[0].isupper() and part[1:].isalpha():
                            values.setdefault(part, typ)
        if not values:
            return spans
        ordered = sorted(values, key=lambda v: (-len(v), v))
        out = []
        for text, sp in zip(texts, spans, strict=True):
            taken = list(sp) + [(s, e, "") for s, e in protected_regions(text, self.literals)]
            added = []
            for v in ordered:
                start = text.find(v)
                while start >= 0:
                    end = start + len(v)
                    if (
                        not any(s < end and start < e for s, e, _ in taken)
                        and not (
                            v[0].isascii()
                            and v[0].isalnum()
                            and start
                            and text[start - 1].isalnum()
                            and text[start - 1].isascii()
                        )
                        and not (
                            v[-1].isascii()
                            and v[-1].isalnum()
                            and end < len(text)
                            and text[end].isalnum()
                            and text[end].isascii()
                        )
                    ):
                        taken.append((start, end, values[v]))
                        added.append((start, end, values[v]))
                    start = text.find(v, start + 1)
            out.append(self._widen(text, sp + added) if added else sp)
        return out

    def _filtered(self, text: str, skip_fps: Iterable[str] | frozenset[str]) -> list:
        spans = self.scanner.scan(text)
        if not spans:
            return []
        regions = protected_regions(text, self.literals)
        out = []
        for sp in spans:
            if any(s < sp.end and sp.start < e for s, e in regions):
                continue
            if skip_fps and self._is_fake(text, sp, skip_fps):
                continue
            out.append(sp)
        return out

    def _is_fake(self, text: str, sp: Any, fps: Iterable[str] | frozenset[str]) -> bool:
        """Whether the finding is one of our pseudonyms: exactly, or (names, addresses) off by
        a few characters at either end, as when a detector takes a neighbouring character."""
        fp = self.policy.fingerprint
        if fp(sp.type, text[sp.start : sp.end]) in fps:
            return True
        if sp.type not in _FUZZY:
            return False
        for typ in (sp.type, *(t for t in ("PERSON", "ADDRESS") if t != sp.type)):
            for ds in range(-_SLACK, _SLACK + 1):
                for de in range(-_SLACK, _SLACK + 1):
                    s, e = sp.start + ds, sp.end + de
                    moved = ds or de or typ != sp.type
                    if (
                        moved
                        and s >= 0
                        and e <= len(text)
                        and e - s >= 2
                        and fp(typ, text[s:e]) in fps
                    ):
                        return True
        # a part of a fake name or address (the detector took only a piece of it)
        lo, hi = max(0, sp.start - _WITHIN), min(len(text), sp.end + _WITHIN)
        starts = [i for i in range(sp.start, lo - 1, -1) if _boundary(text, i)][:_CUTS]
        ends = [i for i in range(sp.end, hi + 1) if _boundary(text, i)][:_CUTS]
        for typ in ("ADDRESS", "PERSON"):
            for s in starts:
                for e in ends:
                    if (s, e) != (sp.start, sp.end) and fp(typ, text[s:e]) in fps:
                        return True
        return False

    def _walk(self, value: Any, path: str, leaves: list[tuple[str, str]], new: Any = None) -> Any:
        """Collect the text leaves ``(field, text)`` of ``value`` in order (``new`` is None),
        or rebuild ``value`` with the texts taken in the same order from the iterator ``new``."""
        if isinstance(value, str):
            if new is None:
                leaves.append((path, value))
                return value
            return next(new)
        if isinstance(value, list):
            return [self._walk(v, f"{path}[*]", leaves, new) for v in value]
        if isinstance(value, dict):
            return {
                k: (
                    v
                    if k in ("from", "role")
                    else self._walk(v, f"{path}.{k}" if path else k, leaves, new)
                )
                for k, v in value.items()
            }
        return value

    # one record ---------------------------------------------------------------------------
    def __call__(self, data: dict | None) -> Outcome:
        acc = _Acc()
        try:
            if not isinstance(data, dict):
                raise RecordError("record is not a JSON object")
            out, dropped = self.minimize(data)
            leaves: list[tuple[str, str]] = []
            self._walk(out, "", leaves)
            texts = self._anonymize_texts(leaves, acc)
            out = self._walk(out, "", leaves, iter(texts))
            if self.fmt == "text":
                out = {
                    "conversations": dialogue_to_conversations(out["text"]),
                    **{k: v for k, v in out.items() if k != "text"},
                }
        except RecordError as exc:
            return Outcome("error", None, False, str(exc), acc.events, [], [], [], ())
        if acc.drop:
            return Outcome(
                "dropped",
                None,
                False,
                "a type with action 'drop'",
                acc.events,
                dropped,
                acc.residual,
                sorted(acc.fakes),
                (),
            )
        line = orjson.dumps(out)
        return Outcome(
            "ok",
            line,
            split_is_valid(line, self.seed, self.ratio),
            None,
            acc.events,
            dropped,
            acc.residual,
            sorted(acc.fakes),
            tuple(out),
        )


def _boundary(text: str, i: int) -> bool:
    """Whether a value can start or end at ``i``: not inside a run of ASCII letters/digits."""
    if i <= 0 or i >= len(text):
        return True
    a, b = text[i - 1], text[i]
    return not (a.isascii() and a.isalnum() and b.isascii() and b.isalnum())


def _is_cjk(c: str) -> bool:
    return "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf"


def _map_back(
    segs: list[tuple[int, int, int, int, bool]], start: int, end: int, typ: str
) -> tuple[int, int, str]:
    """The original-text range of the anonymized range ``[start, end)``: a position inside a
    replacement stands for the whole replaced value."""
    o_start, o_end = None, None
    for ns, ne, os_, oe, repl in segs:
        if o_start is None and ns <= start < ne:
            o_start = os_ if repl else os_ + start - ns
        if ns < end <= ne:
            o_end = oe if repl else os_ + end - ns
    if o_start is None:
        o_start = segs[-1][3] if segs else 0
    if o_end is None:
        o_end = segs[-1][3] if segs else 0
    return (o_start, max(o_end, o_start), typ)


class _Acc:
    __slots__ = ("drop", "events", "fakes", "residual")

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []
        self.residual: list[tuple[str, str]] = []
        self.fakes: set[str] = set()
        self.drop = False


def transform_batch(transform: RecordTransform, records: list[dict | None]) -> list[Outcome]:
    return [transform(r) for r in records]
