"""The run state: which stages finished, with which inputs and outputs.

``WORK/.privtune/run-state.json`` is rewritten atomically (privtune.fsutil.atomic_write) after
every stage, so a killed run leaves the state of the last finished stage. It holds hashes,
counts and paths only, never customer data. Hashing is content-based (sha256); a directory
hashes to the sha256 of its sorted ``(relative path, file sha256)`` list.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privtune.fsutil import atomic_write_text, sha256_file

STATE_VERSION = 1
STATE_DIR = ".privtune"
STATE_FILE = "run-state.json"
MISSING = "missing"

#: Folders never hashed as part of an input or output (the keyring, the state itself).
_SKIP_DIRS = frozenset({"__pycache__"})


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")




def hash_path(path: str | Path) -> str:
    """sha256 of a file, of a directory tree (names and contents), or ``"missing"``."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    if p.is_dir():
        h = hashlib.sha256(b"dir\0")
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
            for name in sorted(files):
                f = Path(root) / name
                if f.is_symlink() or not f.is_file():
                    continue
                rel = f.relative_to(p).as_posix()
                h.update(rel.encode() + b"\0" + sha256_file(f).encode() + b"\n")
        return h.hexdigest()
    return MISSING


def hash_json(obj: Any) -> str:
    return hashlib.sha256(
        json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()


@dataclass
class StageRecord:
    """What the state file remembers about one stage."""

    status: str  # "done" | "failed"
    fingerprint: str = ""  # hash of the stage's config slice and input hashes
    inputs: dict[str, str] = field(default_factory=dict)  # path -> hash at run time
    outputs: dict[str, str] = field(default_factory=dict)  # path -> hash after the run
    info: dict[str, Any] = field(default_factory=dict)  # counts and paths, never values
    started: str = ""
    finished: str = ""
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageRecord:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class RunState:
    """The whole state file."""

    path: Path
    config_sha256: str = ""
    stages: dict[str, StageRecord] = field(default_factory=dict)
    updated: str = ""

    @classmethod
    def load(cls, path: str | Path) -> RunState:
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path=p)
        except (OSError, ValueError):
            # A damaged state file only costs a rerun; never trust half of it.
            return cls(path=p)
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return cls(path=p)
        stages = {
            name: StageRecord.from_json(rec)
            for name, rec in (data.get("stages") or {}).items()
            if isinstance(rec, dict)
        }
        return cls(
            path=p,
            config_sha256=data.get("config_sha256", ""),
            stages=stages,
            updated=data.get("updated", ""),
        )

    def save(self) -> None:
        self.updated = now()
        doc = {
            "version": STATE_VERSION,
            "config_sha256": self.config_sha256,
            "updated": self.updated,
            "stages": {n: r.to_json() for n, r in self.stages.items()},
        }
        atomic_write_text(
            self.path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n", perms=0o600
        )

    def done(self, name: str) -> StageRecord | None:
        rec = self.stages.get(name)
        return rec if rec is not None and rec.status == "done" else None
