"""The audit <-> registry hash contract for a SEALED model folder: the audit decrypts it to
run the probes, but its ``model_sha256`` names the files as stored (the ``.sealed`` files),
which is what the registry hashes; so the report binds and promotion is allowed."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_sealed_model_audit_binds_and_promotes(registry, keyring, tmp_path):
    from privtune.audit import AuditInputs, run_audit
    from privtune.config import AuditConfig
    from privtune.registry.manifest import hash_artifacts
    from privtune.testing.tiny_model import build_tiny_llama
    from privtune.train.artifacts import seal_dir

    plain = build_tiny_llama(tmp_path / "plain", ["hello world, the quick brown fox"] * 4)
    sealed = tmp_path / "final"
    seal_dir(plain, sealed, keyring)
    assert all(p.name.endswith(".sealed") for p in sealed.rglob("*") if p.is_file())
    train = tmp_path / "train.json"
    train.write_text(json.dumps([{"instruction": "say hello", "output": "hello world"}] * 3))

    out = tmp_path / "audit"
    report = run_audit(AuditInputs(model=sealed, train=train),
                       AuditConfig(probes=["extraction", "artifacts"]), out,
                       keyring=keyring, fingerprint_key=b"k" * 32)
    assert report["verdict"] == "pass", report["gate"]
    assert report["probes"]["extraction"]["records"] == 3  # the decrypted copy was loaded
    stored = {f"final/{rel}": meta["sha256"] for rel, meta in hash_artifacts(sealed).items()}
    assert report["model_sha256"] == stored
    assert set(report["model_sha256_plaintext"]) == {
        f"final/{rel}" for rel in hash_artifacts(plain)}
    assert report["model"]["path"] == str(sealed) and report["model"]["sealed"] is True

    info = registry.register(sealed, "bot", "1", audit_report=out / "report.json",
                             actor="alice")
    assert info.manifest["audit"]["bound"] is True
    registry.promote("bot:1", "test", reason="qa", actor="bob")


def test_sealed_model_needs_keyring(tmp_path, keyring):
    from privtune.audit import AuditInputs, run_audit
    from privtune.errors import InputError
    from privtune.testing.tiny_model import build_tiny_llama
    from privtune.train.artifacts import seal_dir

    plain = build_tiny_llama(tmp_path / "plain", ["hello world"])
    seal_dir(plain, tmp_path / "final", keyring)
    with pytest.raises(InputError, match="sealed"):
        run_audit(AuditInputs(model=tmp_path / "final"))
