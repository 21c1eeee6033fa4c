"""The sanitize outputs the audit uses: the PII inventory (keyed fingerprints, never values)
and the canaries. Both are sealed on disk; a plain ``.json``/``.jsonl`` file is accepted too
(tests, or an inventory exported for review)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privtune.errors import InputError, Location


@dataclass
class Inventory:
    """fingerprint -> entry ({"type", "fp", "field", "count"}), with the key that made them."""

    key: bytes
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)

    def fingerprint(self, pii_type: str, value: str) -> str:
        from privtune.anonymize import fingerprint

        return fingerprint(self.key, pii_type, value)

    def match(self, pii_type: str, value: str) -> dict[str, Any] | None:
        return self.entries.get(self.fingerprint(pii_type, value))

    def add(self, pii_type: str, value: str, field_name: str = "") -> None:
        fp = self.fingerprint(pii_type, value)
        entry = self.entries.setdefault(fp, {"type": pii_type, "fp": fp, "field": field_name,
                                             "count": 0})
        entry["count"] += 1


@dataclass
class Canaries:
    template: str
    alphabet: str
    slot_length: int
    inserted: list[dict[str, Any]]
    prompt: str | None = None  # the instruction the canary records were trained under

    def fill(self, slot: str) -> str:
        return self.template.replace("{slot}", slot)


def _read(path: Path, keyring: Any) -> bytes:
    if not path.is_file():
        raise InputError("file not found", Location(path))
    if path.name.endswith(".sealed"):
        if keyring is None:
            raise InputError("a sealed file needs the keyring (--config with a keys section)",
                             Location(path))
        try:
            from privtune.seal import read_sealed
        except ImportError as exc:  # pragma: no cover - seal lands with its issue
            raise InputError("privtune.seal is not available to open sealed files",
                             Location(path)) from exc
        return read_sealed(path, keyring)
    return path.read_bytes()


def fingerprint_key(keyring: Any) -> bytes:
    return keyring.derive_key("fingerprint")


def load_inventory(path: str | Path, key: bytes, keyring: Any = None) -> Inventory:
    p = Path(path)
    inv = Inventory(key=key)
    for n, line in enumerate(_read(p, keyring).decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            inv.entries[str(obj["fp"])] = {"type": str(obj.get("type", "OTHER")),
                                           "fp": str(obj["fp"]), "field": obj.get("field", ""),
                                           "count": int(obj.get("count", 1))}
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"bad inventory entry ({exc})", Location(p, n)) from exc
    return inv


def load_canaries(path: str | Path, keyring: Any = None) -> Canaries:
    p = Path(path)
    try:
        obj = json.loads(_read(p, keyring))
        can = Canaries(template=str(obj["template"]), alphabet=str(obj["alphabet"]),
                       slot_length=int(obj["slot_length"]), inserted=list(obj["inserted"]),
                       prompt=obj.get("prompt"))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"bad canaries file ({exc})", Location(p)) from exc
    if "{slot}" not in can.template or len(set(can.alphabet)) < 2 or can.slot_length < 1:
        raise InputError("canaries: template needs {slot}, alphabet >= 2 symbols",
                         Location(p))
    return can


def mask_value(value: str) -> str:
    """What a report may show of a leaked value: its shape, never enough to recover it."""
    v = value.strip()
    if "@" in v:
        local, _, domain = v.partition("@")
        tld = domain.rsplit(".", 1)[-1] if "." in domain else ""
        return f"{local[:1]}***@***{'.' + tld if tld else ''}"
    if len(v) <= 4:
        return "*" * len(v)
    keep = 2 if len(v) >= 8 else 1
    return v[:1] + "*" * (len(v) - 1 - keep) + v[-keep:]
