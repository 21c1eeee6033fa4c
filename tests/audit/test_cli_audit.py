"""``privtune audit`` as a user runs it: exit codes are the release gate."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "privtune.cli.main", "audit", *args],
                          capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


def _config(tmp_path, probes):
    cfg = tmp_path / "privtune.yaml"
    cfg.write_text("audit:\n  canary_candidates: 200\n  pii_samples: 4\n  max_records: 24\n"
                   f"  probes: {json.dumps(probes)}\n")
    return cfg


def test_cli_gate_passes_and_fails(tmp_path, clean_model, raw_model, leaky):
    _, paths = leaky
    cfg = _config(tmp_path, ["canaries", "artifacts", "membership"])
    common = ["--canaries", str(paths["canaries"]), "--config", str(cfg)]
    ok = run("--model", str(clean_model), "--train", str(paths["clean_train"]),
             "--heldout", str(paths["clean_valid"]), *common, "--out", str(tmp_path / "ok"))
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "PASS" in ok.stdout
    assert json.loads((tmp_path / "ok" / "report.json").read_text())["verdict"] == "pass"

    bad = run("--model", str(raw_model), "--train", str(paths["raw_train"]),
              "--heldout", str(paths["raw_valid"]), *common, "--out", str(tmp_path / "bad"))
    assert bad.returncode == 1, bad.stderr[-3000:]
    assert "FAIL" in bad.stdout and (tmp_path / "bad" / "report.html").is_file()
    # no training text on the terminal (invariant 1)
    data, _ = leaky
    for _t, v in data.pii:
        assert v not in bad.stdout + bad.stderr


def test_cli_malicious_artifact_fails_gate(tmp_path, tiny_base):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_base, model)
    (model / "training_args.bin").write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    res = run("--model", str(model), "--config", str(_config(tmp_path, ["artifacts"])),
              "--out", str(tmp_path / "out"))
    assert res.returncode == 1, res.stderr[-3000:]
    findings = json.loads((tmp_path / "out" / "report.json").read_text())["probes"][
        "artifacts"]["findings"]
    assert any(f["path"].endswith("training_args.bin") and f["severity"] == "critical"
               for f in findings)


def test_cli_clear_errors(tmp_path):
    res = run("--model", str(tmp_path / "missing"), "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    assert "not found" in res.stderr and "Traceback" not in res.stderr
    res = run("--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "--model" in res.stderr


def test_cli_sealed_inventory_and_canaries(tmp_path, raw_model, leaky):
    """The sanitize outputs as they really are: sealed, opened in memory with the keyring."""
    from privtune.anonymize import fingerprint
    from privtune.seal import Keyring, seal_bytes

    data, _ = leaky
    keyring = Keyring.ephemeral(tmp_path / "keys")
    key = keyring.derive_key("fingerprint")
    lines = {fingerprint(key, t, v): {"type": t, "fp": fingerprint(key, t, v),
                                      "field": "output", "count": 1} for t, v in data.pii}
    inv = seal_bytes("".join(json.dumps(e) + "\n" for e in lines.values()).encode(),
                     tmp_path / "inventory.jsonl.sealed", keyring)
    can = seal_bytes(json.dumps(data.canaries).encode(), tmp_path / "canaries.json.sealed",
                     keyring)
    cfg = tmp_path / "privtune.yaml"
    cfg.write_text("keys:\n  provider: file\n"
                   f"  keyring_dir: {json.dumps(str((tmp_path / 'keys').resolve()))}\n"
                   "audit:\n  canary_candidates: 200\n  pii_samples: 4\n  pii_contexts: 16\n"
                   "  max_records: 24\n  probes: [canaries, pii]\n")
    # only the raw training file is given, no PII scan of it can help: drop its PII first
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"instruction": r["instruction"].rsplit(" of ", 1)[0] + ".",
                                    "input": "", "output": ""} for r in data.raw_train
                                   if "Customer" in r["output"]]))
    res = run("--model", str(raw_model), "--train", str(prompts), "--inventory", str(inv),
              "--canaries", str(can), "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert res.returncode == 1, res.stderr[-3000:]
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["probes"]["pii"]["inventory_source"] == "file"
    assert report["probes"]["pii"]["regurgitated"] > 0
    assert report["probes"]["canaries"]["max_exposure_bits"] > 20
