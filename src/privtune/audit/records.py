"""Training and held-out records as the model saw them (LLaMA-Factory alpaca / sharegpt /
openai-messages, or plain text), rendered with the training template.

The rendered text is what the probes score and prompt with; record *values* never leave this
module except as model inputs: reports name records by index only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from privtune.errors import InputError, Location

#: LLaMA-Factory templates we render: "default" ("Human: ...\nAssistant:") and "empty".
TEMPLATES = ("default", "empty")


@dataclass(frozen=True, slots=True)
class Record:
    prompt: str
    response: str
    system: str = ""

    def render(self, template: str = "default") -> str:
        return self.render_prompt(template) + self.response

    def render_prompt(self, template: str = "default") -> str:
        if template == "empty":
            return (self.system + "\n" if self.system else "") + self.prompt
        sys_part = f"System: {self.system}\n" if self.system else ""
        return f"{sys_part}Human: {self.prompt}\nAssistant:"


def _from_obj(obj: object, where: Location) -> Record:
    if not isinstance(obj, dict):
        raise InputError("a record must be a JSON object", where)
    if "instruction" in obj or "output" in obj:  # alpaca
        prompt = "\n".join(str(obj[k]) for k in ("instruction", "input") if obj.get(k))
        turns = []
        for pair in obj.get("history") or []:
            if isinstance(pair, list | tuple) and len(pair) == 2:
                turns.append(f"Human: {pair[0]}\nAssistant:{pair[1]}\n")
        prefix = "".join(turns)
        return Record(prompt=(prefix + prompt) if prefix else prompt,
                      response=str(obj.get("output") or ""), system=str(obj.get("system") or ""))
    msgs = obj.get("conversations") or obj.get("messages")
    if isinstance(msgs, list) and msgs:
        system, parts = "", []
        for m in msgs:
            role = m.get("from") or m.get("role")
            text = str(m.get("value") if "value" in m else m.get("content") or "")
            if role == "system":
                system = text
            else:
                parts.append((role in ("human", "user"), text))
        response = parts[-1][1] if parts and not parts[-1][0] else ""
        body = parts[:-1] if response else parts
        prompt, first = "", True
        for is_user, text in body:
            if is_user:
                prompt += (text if first else f"\nHuman: {text}")
                first = False
            else:
                prompt += f"\nAssistant:{text}"
        return Record(prompt=prompt, response=response, system=system)
    if "text" in obj:
        return Record(prompt="", response=str(obj["text"]))
    raise InputError("unknown record format (expected alpaca, sharegpt, openai or text)", where)


def load_records(path: str | Path, limit: int | None = None) -> list[Record]:
    """Records from a .json (list) or .jsonl file, in file order, at most ``limit``."""
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError("file not found", Location(p)) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 ({exc.reason})", Location(p)) from exc
    stripped = raw.lstrip()
    out: list[Record] = []
    if stripped.startswith("["):
        try:
            items = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg}", Location(p, exc.lineno)) from exc
        for i, obj in enumerate(items):
            out.append(_from_obj(obj, Location(p, None, f"[{i}]")))
            if limit and len(out) >= limit:
                break
    else:
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not valid JSON: {exc.msg}", Location(p, n)) from exc
            out.append(_from_obj(obj, Location(p, n)))
            if limit and len(out) >= limit:
                break
    return out
