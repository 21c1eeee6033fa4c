"""Record formats (alpaca, sharegpt, OpenAI messages, plain text) and their text fields.

Field paths name where a text sits inside a record, in one notation used everywhere
(reports, inventories, error messages): keys joined by ``.``, list positions in brackets -
``instruction``, ``history[0][1]``, ``conversations[2].value``, ``messages[0].content``,
``messages[1].content[0].text``. :func:`field_pattern` folds the positions to ``[*]`` for
per-field counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

__all__ = [
    "ALPACA_FIELDS",
    "RecordFormat",
    "detect_format",
    "field_pattern",
    "get_path",
    "iter_leaves",
    "iter_text_fields",
    "join_path",
]

RecordFormat = Literal["alpaca", "sharegpt", "openai", "text", "generic"]

#: The text fields of an alpaca record, in order (LLaMA-Factory's columns).
ALPACA_FIELDS = ("system", "instruction", "input", "output", "chosen", "rejected")
_SHAREGPT_SPEAKER = ("from", "role")
_SHAREGPT_TEXT = ("value", "content")


def _is_turns(value: Any, speaker_keys: tuple[str, ...], text_keys: tuple[str, ...]) -> bool:
    if not isinstance(value, list) or not value:
        return False
    first = value[0]
    return (isinstance(first, dict) and any(k in first for k in speaker_keys)
            and any(k in first for k in text_keys))


def detect_format(data: dict) -> RecordFormat:
    """Which format one record is in.

    * ``sharegpt``: a ``conversations`` list of turns (``from``/``value``, or ``role``/``content``);
    * ``openai``: a ``messages`` list of ``role``/``content`` turns;
    * ``alpaca``: an ``instruction`` string (with optional ``input``, ``output``, ``system``,
      ``history``);
    * ``text``: a ``text`` string and none of the above;
    * ``generic``: anything else.
    """
    if not isinstance(data, dict):
        return "generic"
    if _is_turns(data.get("conversations"), _SHAREGPT_SPEAKER, _SHAREGPT_TEXT):
        return "sharegpt"
    if _is_turns(data.get("messages"), ("role",), ("content",)):
        return "openai"
    if _is_turns(data.get("messages"), ("from",), ("value",)):
        return "sharegpt"
    if isinstance(data.get("instruction"), str):
        return "alpaca"
    if isinstance(data.get("text"), str):
        return "text"
    return "generic"


def iter_leaves(value: Any, *, numbers: bool = False, _prefix: tuple[str | int, ...] = ()
                ) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string leaf (and integer leaf with ``numbers``) as (key path parts, text)."""
    if isinstance(value, str):
        yield _prefix, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from iter_leaves(v, numbers=numbers, _prefix=(*_prefix, str(k)))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from iter_leaves(v, numbers=numbers, _prefix=(*_prefix, i))
    elif numbers and isinstance(value, int) and not isinstance(value, bool):
        yield _prefix, str(value)


def join_path(parts: tuple[str | int, ...]) -> str:
    """``("messages", 0, "content")`` -> ``messages[0].content``."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out = f"{out}.{p}" if out else p
    return out


def _content(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """A message's content: a string, or a list of parts ({"type": "text", "text": ...})."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, part in enumerate(value):
            if isinstance(part, str):
                yield f"{path}[{i}]", part
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                yield f"{path}[{i}].text", part["text"]


def _turns(data: dict, key: str) -> Iterator[tuple[str, str]]:
    turns = data.get(key)
    if not isinstance(turns, list):
        return
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            continue
        for text_key in _SHAREGPT_TEXT:
            if text_key in turn:
                yield from _content(turn[text_key], f"{key}[{i}].{text_key}")
                break


def iter_text_fields(
    data: dict, fmt: RecordFormat | str | None = None, *, numbers: bool = False
) -> Iterator[tuple[str, str]]:
    """Yield ``(field path, text)`` for the text of a record in format ``fmt``.

    For alpaca, sharegpt, openai and text: the format's training fields only (metadata such
    as ``customer_id`` is not yielded); for generic: every string leaf. ``fmt`` None or
    ``"auto"`` detects the format first. ``numbers=True`` also yields integer leaves as strings (generic only), for
    scanning exports that store phone or card numbers as numbers.
    """
    if fmt is None or fmt == "auto":
        fmt = detect_format(data)
    if fmt == "alpaca":
        for key in ALPACA_FIELDS:
            if key in data:
                value = data[key]
                if isinstance(value, str):
                    yield key, value
                elif isinstance(value, list):  # e.g. several outputs to rank
                    for i, v in enumerate(value):
                        if isinstance(v, str):
                            yield f"{key}[{i}]", v
        history = data.get("history")
        if isinstance(history, list):
            for i, pair in enumerate(history):
                if isinstance(pair, list | tuple):
                    for j, v in enumerate(pair):
                        if isinstance(v, str):
                            yield f"history[{i}][{j}]", v
    elif fmt == "sharegpt":
        if isinstance(data.get("system"), str):
            yield "system", data["system"]
        yield from _turns(data, "conversations" if "conversations" in data else "messages")
        for key in ("chosen", "rejected"):
            if isinstance(data.get(key), dict):
                for text_key in _SHAREGPT_TEXT:
                    if text_key in data[key]:
                        yield from _content(data[key][text_key], f"{key}.{text_key}")
                        break
    elif fmt == "openai":
        yield from _turns(data, "messages")
    elif fmt == "text":
        if isinstance(data.get("text"), str):
            yield "text", data["text"]
    elif fmt == "generic":
        for parts, text in iter_leaves(data, numbers=numbers):
            yield join_path(parts), text
    else:
        raise ValueError(f"unknown record format {fmt!r}")


_INDEX = re.compile(r"\[\d+\]")


def field_pattern(path: str) -> str:
    """``conversations[2].value`` -> ``conversations[*].value`` (for per-field counts)."""
    return _INDEX.sub("[*]", path)


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def get_path(data: Any, path: str) -> Any:
    """The value at a field path (as produced by :func:`iter_text_fields`); KeyError if absent."""
    cur = data
    for key, idx in _STEP.findall(path):
        if key:
            if not isinstance(cur, dict) or key not in cur:
                raise KeyError(path)
            cur = cur[key]
        else:
            i = int(idx)
            if not isinstance(cur, list | tuple) or i >= len(cur):
                raise KeyError(path)
            cur = cur[i]
    return cur
