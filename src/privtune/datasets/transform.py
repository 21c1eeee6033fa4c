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

    def _alias(self, key: str) -> bool:
        return self.fmt == "sharegpt" and key == "messages" and "conversations" in self.allowed

    # anonymization of one text leaf -------------------------------------------------------
    def _anonymize(self, text: str, fieldname: str, acc: _Acc) -> str:
        if not text:
            return text
        spans = self._filtered(text, self.spec.known_fakes)
        if not spans:  # unchanged text: a re-scan would find exactly the same (nothing)
            return text
        chinese = is_chinese(text)
        pieces: list[str] = []
        inserted: list[tuple[int, int]] = []
        pos = 0
        out_len = 0
        for sp in spans:
            value = text[sp.start : sp.end]
            action, repl = self.policy.replace(sp.type, value, chinese)
            fp = self.policy.fingerprint(sp.type, value)
            acc.events.append((sp.type, fieldname, action, fp))
            if action == "drop":
                acc.drop = True
                repl = self.policy.tag(sp.type, chinese)
            if action == "pseudonym":
                acc.fakes.add(self.policy.fingerprint(sp.type, repl))
            pieces.append(text[pos : sp.start])
            out_len += sp.start - pos
            if action == "pseudonym":  # realistic by design: the residual check skips it
                inserted.append((out_len, out_len + len(repl)))
            pieces.append(repl)
            out_len += len(repl)
            pos = sp.end
        pieces.append(text[pos:])
        new = "".join(pieces)
        self._residual(new, fieldname, acc, inserted)
        return new

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
        return False

    def _residual(
        self, text: str, fieldname: str, acc: _Acc, inserted: list[tuple[int, int]]
    ) -> None:
        for sp in self._filtered(text, self.spec.known_fakes | acc.fakes):
            outside = "".join(
                c
                for i, c in enumerate(text[sp.start : sp.end], sp.start)
                if not any(s <= i < e for s, e in inserted)
            )
            if sum(c.isalnum() for c in outside) < 2:
                continue  # the finding is (almost) all our own pseudonym
            acc.residual.append((sp.type, fieldname))

    def _walk(self, value: Any, path: str, acc: _Acc) -> Any:
        if isinstance(value, str):
            return self._anonymize(value, path, acc)
        if isinstance(value, list):
            return [self._walk(v, f"{path}[*]", acc) for v in value]
        if isinstance(value, dict):
            return {
                k: (
                    v if k in ("from", "role") else self._walk(v, f"{path}.{k}" if path else k, acc)
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
            out = self._walk(out, "", acc)
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


class _Acc:
    __slots__ = ("drop", "events", "fakes", "residual")

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []
        self.residual: list[tuple[str, str]] = []
        self.fakes: set[str] = set()
        self.drop = False


def transform_batch(transform: RecordTransform, records: list[dict | None]) -> list[Outcome]:
    return [transform(r) for r in records]
