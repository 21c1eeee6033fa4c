"""register / promote / revoke / rollback / verify on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from privtune.registry import PromotionRefused, RegistryError
from privtune.registry.testing import make_model, write_report


def _register(reg, tmp_path, version, content=None, verdict="pass"):
    model = make_model(tmp_path / f"m{version}", content or f"weights-{version}".encode())
    report = write_report(tmp_path / f"r{version}.json", model, verdict)
    return reg.register(model, "bot", version, audit_report=report,
                        dataset_fingerprint="sha256:abc", config={"project": "t"},
                        actor="alice")


def test_register_signs_and_starts_in_dev(registry, tmp_path):
    info = _register(registry, tmp_path, "1")
    assert info.status == "active" and info.environments == ["dev"] and info.verdict == "pass"
    m = info.manifest
    assert set(m["artifacts"]["files"]) == {"adapter_model.safetensors", "adapter_config.json"}
    assert m["dataset_fingerprint"] == "sha256:abc" and m["config_sha256"].startswith("sha256:")
    assert m["audit"]["bound"] is True
    assert registry.verify("bot:1").ok
    with pytest.raises(RegistryError, match="already registered"):
        _register(registry, tmp_path, "1")


def test_promote_order_and_record(registry, tmp_path):
    _register(registry, tmp_path, "1")
    with pytest.raises(PromotionRefused, match="never in test"):
        registry.promote("bot:1", "prod", reason="skip", actor="bob")
    registry.promote("bot:1", "test", reason="qa", actor="bob")
    change = registry.promote("bot:1", "prod", reason="release", actor="carol")
    assert (change.previous, change.current) == (None, "1")
    assert registry.alias("bot", "prod") == "1"
    info = registry.get("bot:1")
    assert info.environments == ["dev", "test", "prod"] and info.stages == ["dev", "test", "prod"]
    promo = [e for e in registry.events("bot") if e["action"] == "promote"]
    assert [(e["environment"], e["actor"], e["detail"]["reason"]) for e in promo] == [
        ("test", "bob", "qa"), ("prod", "carol", "release")]
    refused = [e for e in registry.events("bot") if e["action"] == "promote-refused"]
    assert refused and refused[0]["detail"]["reasons"]
    assert registry.verify_trail() == []


def test_promotion_refused_without_passing_report(registry, tmp_path):
    model = make_model(tmp_path / "nr")
    registry.register(model, "bot", "noreport")
    with pytest.raises(PromotionRefused, match="no audit report"):
        registry.promote("bot:noreport", "test")
    _register(registry, tmp_path, "failing", verdict="fail")
    with pytest.raises(PromotionRefused, match="verdict is 'fail'"):
        registry.promote("bot:failing", "test")
    assert registry.alias("bot", "test") is None


def test_promotion_refused_with_mismatched_hashes(registry, tmp_path):
    model = make_model(tmp_path / "mm")
    report = write_report(tmp_path / "r.json", model,
                          override={"adapter_model.safetensors": "0" * 64})
    info = registry.register(model, "bot", "mm", audit_report=report)
    assert info.manifest["audit"]["bound"] is False
    with pytest.raises(PromotionRefused) as exc:
        registry.promote("bot:mm", "test")
    assert "adapter_model.safetensors" in str(exc.value) and exc.value.reasons
    # A report of another model (extra file) is refused too.
    other = make_model(tmp_path / "other")
    (other / "extra.bin").write_bytes(b"x")
    registry.register(model, "bot", "mm2", audit_report=write_report(tmp_path / "o.json", other))
    with pytest.raises(PromotionRefused, match="not an artifact of this version"):
        registry.promote("bot:mm2", "test")


def test_artifact_edited_after_registration_blocks_promotion(registry, tmp_path):
    _register(registry, tmp_path, "1")
    (tmp_path / "m1" / "adapter_model.safetensors").write_bytes(b"poisoned")
    result = registry.verify("bot:1")
    assert not result.ok and result.signature_ok
    assert any("adapter_model.safetensors" in p for p in result.problems)
    with pytest.raises(PromotionRefused, match=r"adapter_model\.safetensors"):
        registry.promote("bot:1", "test")
    (tmp_path / "m1" / "new.bin").write_bytes(b"added")
    assert any("not in the manifest" in p for p in registry.verify("bot:1").problems)


def test_db_manifest_edit_breaks_signature(registry, tmp_path):
    _register(registry, tmp_path, "1")
    with registry.store.transaction() as tx:
        row = tx.one("SELECT manifest FROM model_versions WHERE name = ? AND version = ?",
                     ("bot", "1"))
        m = json.loads(row["manifest"])
        m["audit"]["verdict"] = "pass"
        m["artifacts"]["files"]["adapter_model.safetensors"]["sha256"] = "f" * 64
        tx.execute("UPDATE model_versions SET manifest = ? WHERE name = ? AND version = ?",
                   (json.dumps(m), "bot", "1"))
    result = registry.verify("bot:1")
    assert not result.signature_ok and not result.ok
    assert any("signature is invalid" in p for p in result.problems)
    with pytest.raises(PromotionRefused, match="signature is invalid"):
        registry.promote("bot:1", "test")


def test_report_swapped_in_db_is_detected(registry, tmp_path):
    info = _register(registry, tmp_path, "1", verdict="fail")
    assert info.verdict == "fail"
    passing = write_report(tmp_path / "p.json", tmp_path / "m1").read_text()
    with registry.store.transaction() as tx:
        tx.execute("UPDATE model_versions SET audit_report = ? WHERE name = ?", (passing, "bot"))
    with pytest.raises(PromotionRefused, match="audit report does not match"):
        registry.promote("bot:1", "test")


def test_revoke_falls_back_and_rollback(registry, tmp_path):
    for v in ("1", "2", "3"):
        _register(registry, tmp_path, v)
        registry.promote(f"bot:{v}", "test")
        registry.promote(f"bot:{v}", "prod", reason=f"release {v}")
    assert registry.alias("bot", "prod") == "3"
    changes = registry.revoke("bot:3", reason="leak found", actor="sec")
    assert {c.environment: c.current for c in changes} == {"dev": "2", "test": "2", "prod": "2"}
    assert registry.alias("bot", "prod") == "2"
    with pytest.raises(PromotionRefused, match="revoked"):
        registry.promote("bot:3", "prod")
    with pytest.raises(RegistryError, match="already revoked"):
        registry.revoke("bot:3", reason="again")
    # rollback: the previous good version before 2 is 1
    change = registry.rollback("bot", "prod", reason="2 is slow", actor="ops")
    assert (change.previous, change.current) == ("2", "1")
    # explicit --to back to 2; a revoked one is refused; never-in-env is refused
    registry.rollback("bot", "prod", to="2")
    with pytest.raises(PromotionRefused, match="revoked"):
        registry.rollback("bot", "prod", to="3")
    _register(registry, tmp_path, "4")
    with pytest.raises(PromotionRefused, match="never in prod"):
        registry.rollback("bot", "prod", to="4")
    # revoking every prod version leaves no alias: the gateway refuses
    registry.revoke("bot:2", reason="x")
    assert registry.alias("bot", "prod") == "1"
    registry.revoke("bot:1", reason="x")
    assert registry.alias("bot", "prod") is None
    actions = [e["action"] for e in registry.events("bot")]
    assert actions.count("revoke") == 3 and "rollback" in actions
    assert registry.verify_trail() == []


def test_rollback_refuses_tampered_target(registry, tmp_path):
    for v in ("1", "2"):
        _register(registry, tmp_path, v)
        registry.promote(f"bot:{v}", "test")
    (tmp_path / "m1" / "adapter_config.json").write_text('{"r": 9}')
    with pytest.raises(PromotionRefused, match=r"adapter_config\.json"):
        registry.rollback("bot", "test")
    assert registry.alias("bot", "test") == "2"


def test_event_trail_edit_detected(registry, tmp_path):
    _register(registry, tmp_path, "1")
    registry.promote("bot:1", "test", reason="ok")
    with registry.store.transaction() as tx:
        tx.execute("UPDATE registry_events SET actor = ? WHERE action = ?", ("mallory", "promote"))
    assert any("edited" in p for p in registry.verify_trail())


def test_list_and_lineage(registry, tmp_path):
    _register(registry, tmp_path, "1")
    model = make_model(tmp_path / "child", b"child")
    registry.register(model, "bot", "2", parent="bot:1", base_model="Qwen/Qwen2.5-0.5B")
    with pytest.raises(RegistryError, match="no model version"):
        registry.register(make_model(tmp_path / "c3", b"c3"), "bot", "3", parent="bot:9")
    infos = registry.list("bot")
    assert [i.version for i in infos] == ["1", "2"]
    d = infos[1].to_dict()
    assert d["lineage"] == {"parent": "bot:1", "base_model": "Qwen/Qwen2.5-0.5B"}
    assert infos[0].environments == [] and infos[1].environments == ["dev"]


def test_binding_accepts_privtune_audit_report_layout(registry, tmp_path):
    """`privtune audit` names files `<dir>/<file>` and lists an adapter's base model too."""
    import hashlib

    model = make_model(tmp_path / "final")
    hashes = {f"final/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
              for p in model.iterdir()}
    hashes["Qwen2.5-0.5B/model.safetensors"] = "ab" * 32  # the base model, another root
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"verdict": "pass", "model_sha256": hashes, "probes": {}}))
    info = registry.register(model, "bot", "1", audit_report=report)
    assert info.manifest["audit"]["bound"] is True
    registry.promote("bot:1", "test")
    hashes["final/adapter_config.json"] = "00" * 32
    report.write_text(json.dumps({"verdict": "pass", "model_sha256": hashes, "probes": {}}))
    registry.register(model, "bot", "2", audit_report=report)
    with pytest.raises(PromotionRefused, match=r"sha256 for adapter_config\.json"):
        registry.promote("bot:2", "test")


def test_failed_operation_changes_nothing(registry, tmp_path, monkeypatch):
    """Every change is one transaction: a failure half-way leaves the registry as it was."""
    for v in ("1", "2"):
        _register(registry, tmp_path, v)
        registry.promote(f"bot:{v}", "test")
    events = len(registry.events())

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(registry, "_event", boom)
    with pytest.raises(RuntimeError):
        registry.revoke("bot:2", reason="leak")
    with pytest.raises(RuntimeError):
        registry.promote("bot:2", "prod")
    monkeypatch.undo()
    assert registry.get("bot:2").status == "active"
    assert registry.alias("bot", "test") == "2" and registry.alias("bot", "prod") is None
    assert len(registry.events()) == events and registry.verify_trail() == []


def test_concurrent_writers_are_serialized(store_url, keyring, tmp_path):
    """Several processes' worth of connections writing at once: nothing lost, one winner."""
    from concurrent.futures import ThreadPoolExecutor

    from privtune.registry import Registry, Store

    url, schema = store_url
    regs = [Registry(Store(url, schema=schema), keyring) for _ in range(4)]
    models = [make_model(tmp_path / f"c{i}", f"c{i}".encode()) for i in range(8)]
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda i: regs[i % 4].register(models[i], "bot", str(i)), range(8)))

    def revoke(i):
        try:
            regs[i].revoke("bot:7", reason=f"writer {i}")
            return "ok"
        except RegistryError:
            return "refused"

    with ThreadPoolExecutor(4) as ex:
        outcomes = list(ex.map(revoke, range(4)))
    assert sorted(outcomes) == ["ok", "refused", "refused", "refused"]
    with regs[0].store.transaction(write=False) as tx:
        seqs = [r["seq"] for r in tx.all("SELECT seq FROM model_versions")]
    assert len(set(seqs)) == 8
    assert regs[0].verify_trail() == []
    assert regs[0].alias("bot", "dev") not in (None, "7")
    for r in regs:
        r.store.close()
