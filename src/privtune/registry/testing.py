"""Helpers for registry tests and demos: a tiny model directory and an audit report bound to it
(the shape of ``privtune audit``'s report.json, docs/contracts.md)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def make_model(root: Path, content: bytes = b"weights-v1") -> Path:
    """A two-file adapter directory (contents are placeholders, not a loadable model)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "adapter_model.safetensors").write_bytes(content)
    (root / "adapter_config.json").write_text('{"r": 8}')
    return root


def write_report(path: Path, model: Path, verdict: str = "pass",
                 override: dict[str, str] | None = None) -> Path:
    """An audit report.json with ``verdict`` whose ``model_sha256`` covers ``model``'s files."""
    hashes = {p.relative_to(model).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
              for p in sorted(model.rglob("*")) if p.is_file()}
    hashes.update(override or {})
    path.write_text(json.dumps({"verdict": verdict, "model_sha256": hashes,
                                "probes": {"pii": {"passed": verdict == "pass"}}}))
    return path
