"""Signed manifests: what exactly a registered model version is.

A manifest names every artifact file with its sha256 and size, the dataset fingerprint, the
config hash, the bound audit report's hash and verdict, and the lineage. It is serialized as
canonical JSON (sorted keys, no spaces, UTF-8) and signed with the keyring's Ed25519 key; the
signature covers every byte of that serialization, so editing any field, in the database or
anywhere else, makes verification fail.

The public key used to verify is always the keyring's, never one stored next to the manifest:
whoever can edit the database could otherwise sign a forged manifest with their own key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from privtune.fsutil import sha256_file
from privtune.registry.errors import RegistryError

MANIFEST_FORMAT = "privtune.manifest/1"
_CHUNK = 1 << 20


def canonical_json(obj: Any) -> bytes:
    """The one serialization that is hashed and signed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()




def artifact_files(root: str | Path) -> list[tuple[str, Path]]:
    """Every regular file under ``root`` (or ``root`` itself), as (posix relative path, path).

    Symbolic links are refused: a link could point the hashes at a file other than the one
    the gateway loads.
    """
    base = Path(root)
    if base.is_symlink():
        raise RegistryError(f"artifact path {base} is a symbolic link; give the real path")
    if base.is_file():
        return [(base.name, base)]
    if not base.is_dir():
        raise RegistryError(f"artifact path {base} does not exist")
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.is_symlink():
                raise RegistryError(f"artifact {p} is a symbolic link; links are not registered")
            out.append((p.relative_to(base).as_posix(), p))
    out.sort()
    if not out:
        raise RegistryError(f"artifact directory {base} is empty")
    return out


def hash_artifacts(root: str | Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"sha256": hex, "size": bytes}}`` for every artifact file."""
    return {rel: {"sha256": sha256_file(p), "size": p.stat().st_size}
            for rel, p in artifact_files(root)}


def tree_fingerprint(root: str | Path) -> str:
    """One sha256 over a directory's relative paths and file hashes (a dataset fingerprint)."""
    files = hash_artifacts(root)
    return "sha256:" + sha256_bytes(canonical_json({k: v["sha256"] for k, v in files.items()}))


def config_hash(config_dump: Mapping[str, Any]) -> str:
    """Hash of the validated configuration (defaults filled in), not of its YAML spelling."""
    return "sha256:" + sha256_bytes(canonical_json(dict(config_dump)))


def public_key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "ed25519:" + sha256_bytes(raw)[:16]


def sign_manifest(manifest: Mapping[str, Any], key: Ed25519PrivateKey) -> str:
    return key.sign(canonical_json(dict(manifest))).hex()


def signature_valid(manifest_bytes: bytes, signature_hex: str, key: Ed25519PublicKey) -> bool:
    try:
        key.verify(bytes.fromhex(signature_hex), manifest_bytes)
    except (InvalidSignature, ValueError):
        return False
    return True


def compare_files(expected: Mapping[str, Mapping[str, Any]],
                  actual: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Human-readable differences between two ``hash_artifacts`` results (no content)."""
    problems: list[str] = []
    for rel in sorted(set(expected) | set(actual)):
        if rel not in actual:
            problems.append(f"{rel}: missing")
        elif rel not in expected:
            problems.append(f"{rel}: not in the manifest (added after registration)")
        elif expected[rel]["sha256"] != actual[rel]["sha256"]:
            problems.append(f"{rel}: sha256 {actual[rel]['sha256'][:16]}… does not match the "
                            f"manifest's {expected[rel]['sha256'][:16]}…")
    return problems


def normalize_report_hashes(model_sha256: Any) -> dict[str, str]:
    """An audit report's ``model_sha256`` as ``{posix relative path: hex}``.

    Accepts ``{path: hex}`` or ``{path: {"sha256": hex}}`` and ``sha256:`` prefixes.
    """
    if not isinstance(model_sha256, Mapping):
        return {}
    out: dict[str, str] = {}
    for key, value in model_sha256.items():
        if isinstance(value, Mapping):
            value = value.get("sha256")
        if not isinstance(value, str):
            continue
        rel = Path(str(key)).as_posix()
        while rel.startswith("./"):
            rel = rel[2:]
        out[rel] = value.removeprefix("sha256:").lower()
    return out


def _artifact_prefix(bound: Mapping[str, str], want: Mapping[str, str]) -> str:
    """Where the artifact directory sits in a report's ``model_sha256``.

    ``privtune audit`` names files ``<directory name>/<relative path>`` and, for an adapter,
    also lists the base model's files under the base's directory name. The prefix chosen is
    the one under which the most artifact files appear (ties: the shortest)."""
    candidates = {""}
    for key in bound:
        for rel in want:
            if key.endswith("/" + rel):
                candidates.add(key[: len(key) - len(rel)])
    return max(sorted(candidates, key=len), key=lambda p: sum((p + r) in bound for r in want))


def report_binding_problems(report: Mapping[str, Any],
                            files: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Why ``report`` is not a passing audit of exactly ``files`` (empty list: it is).

    Every artifact file must be in the report with the same sha256, and the report must not
    name a file under the artifact directory that is not an artifact (the audited directory
    held something else). Entries under other roots (the base model of an adapter) are
    allowed."""
    problems: list[str] = []
    verdict = report.get("verdict")
    if verdict != "pass":
        problems.append(f"audit verdict is {verdict!r}, not 'pass'")
    bound = normalize_report_hashes(report.get("model_sha256"))
    if not bound:
        problems.append("audit report has no model_sha256: it is not bound to any artifact")
        return problems
    want = {rel: meta["sha256"] for rel, meta in files.items()}
    prefix = _artifact_prefix(bound, want)
    mine = {k[len(prefix):]: v for k, v in bound.items() if k.startswith(prefix)}
    for rel in sorted(set(want) | set(mine)):
        if rel not in mine:
            problems.append(f"audit report does not cover artifact {rel}")
        elif rel not in want:
            problems.append(f"audit report covers {prefix}{rel}, which is not an artifact of "
                            "this version")
        elif mine[rel] != want[rel]:
            problems.append(f"audit report's sha256 for {rel} ({mine[rel][:16]}…) differs from "
                            f"the artifact's ({want[rel][:16]}…)")
    return problems
