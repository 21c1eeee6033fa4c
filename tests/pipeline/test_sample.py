"""--sample: the sample pass, its safety checks and the gate before the full run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from privtune.fsutil import atomic_write_text
from privtune.pipeline import Check, RunContext, Stage
from privtune.pipeline.api import SampleGateError, run_pipeline
from privtune.pipeline.safety import find_residue, searchable
from privtune.pipeline.sample import (
    REQUIRED,
    SampleReport,
    load_report,
    missing_checks,
    sample_allows_full,
    sample_config,
)
from privtune.pipeline.stages import raw_inputs

EMAILS = [f"wei.zhang{i}@example-corp.com" for i in range(30)]


def records() -> list[dict[str, str]]:
    return [
        {
            "instruction": "Reply to the customer.",
            "input": f"Please mail the invoice to {e}, thanks.",
            "output": "Sure, the invoice is on its way.",
        }
        for e in EMAILS
    ]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    raw = tmp_path / "export.jsonl"
    raw.write_text("".join(json.dumps(r) + "\n" for r in records()))
    cfg = {
        "project": "t",
        "data": {"raw": ["export.jsonl"]},
        "keys": {"provider": "file", "keyring_dir": "keys"},
    }
    path = tmp_path / "privtune.yaml"
    path.write_text(yaml.safe_dump(cfg))
    from privtune.config import KeysConfig
    from privtune.seal import Keyring

    Keyring.init(KeysConfig(provider="file", keyring_dir="keys"), tmp_path)
    return path


class Digest(Stage):
    """A 'sanitize' that keeps only a hash of each raw file: no residue."""

    name = "digest"

    def inputs(self, ctx: RunContext) -> list[Path]:
        return raw_inputs(ctx)

    def outputs(self, ctx: RunContext) -> list[Path]:
        return [ctx.path("data/digest.txt")]

    def run(self, ctx: RunContext) -> dict[str, Any]:
        lines = [hashlib.sha256(p.read_bytes()).hexdigest() for p in raw_inputs(ctx)]
        atomic_write_text(self.outputs(ctx)[0], "\n".join(lines))
        n = sum(1 for p in raw_inputs(ctx) for _ in p.open())
        return {"records": n}

    def checks(self, ctx: RunContext, info: dict[str, Any]) -> list[Check]:
        return [Check("residual PII after sanitize is zero", True, f"{info['records']} records")]


class Leak(Digest):
    """A careless stage that copies the raw records into the work dir in plaintext."""

    name = "leak"

    def outputs(self, ctx: RunContext) -> list[Path]:
        return [ctx.path("data/copy.jsonl")]

    def run(self, ctx: RunContext) -> dict[str, Any]:
        text = "".join(p.read_text() for p in raw_inputs(ctx))
        atomic_write_text(self.outputs(ctx)[0], text)
        return {"records": text.count("\n")}


def test_gate_logic() -> None:
    ok = [Check(n, True) for n in REQUIRED]
    assert sample_allows_full(ok) == (True, [])
    bad = [*ok[:1], Check(REQUIRED[1], False, "found in: data/copy.jsonl"), *ok[2:]]
    allowed, reasons = sample_allows_full(bad)
    assert not allowed and "data/copy.jsonl" in reasons[0]
    # a check that could not be made (stage not configured/installed) does not block
    assert sample_allows_full([*ok[:2], Check(REQUIRED[2], None), Check(REQUIRED[3], None)])[0]
    # a stage that failed in the sample pass blocks
    assert not sample_allows_full(ok, "stage 'train' failed: boom")[0]
    # any other check that failed blocks too
    assert not sample_allows_full([*ok, Check("raw data sealed and verified", False)])[0]
    missing = missing_checks([Check(REQUIRED[0], True)])
    assert [c.name for c in missing] == list(REQUIRED[1:]) and all(c.ok is None for c in missing)


def test_report_round_trip() -> None:
    r = SampleReport(
        records=5,
        work_dir="/w",
        checks=[Check(REQUIRED[0], True, "x")],
        config_sha256="ab",
        created="now",
        error=None,
    )
    back = SampleReport.from_json(json.loads(json.dumps(r.to_json())))
    assert back.to_json() == r.to_json() and back.ok


def test_clean_sample_allows_the_full_run(project: Path) -> None:
    rep = run_pipeline(project, sample=10, stages=lambda: [Digest()])
    assert rep.sample is not None and rep.sample.records == 10 and rep.sample.ok
    by = {c.name: c for c in rep.sample.checks}
    assert by["no plaintext residue under the work dir"].ok is True
    assert by["residual PII after sanitize is zero"].ok is True
    assert by["audit gate"].ok is None  # no audit stage in this chain: not checked
    # the sample ran in its own work dir on exactly 10 records, the full run on all 30
    sample_dir = project.parent / ".privtune" / "sample"
    assert (sample_dir / "data" / "digest.txt").exists()
    assert rep.full is not None and rep.full.outcome("digest").info == {"records": 30}
    assert load_report(project.parent / ".privtune").ok
    # the raw sample never rested in plaintext under the work dir
    assert not [p for p in sample_dir.rglob("*.jsonl")]


def test_leaky_sample_blocks_the_full_run(project: Path) -> None:
    with pytest.raises(SampleGateError) as info:
        run_pipeline(project, sample=10, stages=lambda: [Leak()])
    msg = str(info.value)
    assert "no plaintext residue" in msg and "data/copy.jsonl" in msg
    assert "full run was not started" in msg
    assert info.value.exit_code == 1
    assert not any(e in msg for e in EMAILS)  # the report names files, never values
    assert not (project.parent / "data" / "copy.jsonl").exists()  # full run never started
    # without --sample the failed sample report still holds the full run back...
    with pytest.raises(SampleGateError, match="last --sample pass"):
        run_pipeline(project, stages=lambda: [Leak()])
    # ...unless forced
    rep = run_pipeline(project, force=True, stages=lambda: [Leak()])
    assert rep.full is not None
    residue = {c.name: c for c in rep.checks}["no plaintext residue under the work dir"]
    assert residue.ok is False  # and the full run's own check says so


def test_sample_config_is_isolated(tmp_path: Path) -> None:
    from privtune.config import PrivtuneConfig

    model = tmp_path / "model"
    model.mkdir()
    cfg = PrivtuneConfig.model_validate(
        {
            "keys": {"keyring_dir": "keys"},
            "data": {
                "raw": ["x.jsonl"],
                "root": "/abs/data",
                "processed_dir": "/abs/data/processed",
            },
            "train": {
                "llamafactory": {
                    "model_name_or_path": "model",
                    "output_dir": "/abs/out",
                    "max_steps": 100,
                    "save_steps": 50,
                    "dataset_dir": "/abs/data/processed",
                }
            },
            "audit": {"out_dir": "/abs/audit", "max_records": 200},
            "registry": {"url": "postgresql://db/registry"},
        }
    )
    sdir = tmp_path / ".privtune" / "sample"
    s = sample_config(cfg, tmp_path, sdir, Path("/dev/shm/x/sample.jsonl"), 20)
    assert s.work_dir == str(sdir)
    assert s.data.raw == ["/dev/shm/x/sample.jsonl"] and s.data.root == "data"
    assert s.keys.keyring_dir == str(tmp_path / "keys")  # the same keyring
    lf = s.train.llamafactory
    assert lf["model_name_or_path"] == str(model) and lf["output_dir"] == "train-out"
    assert lf["max_steps"] == 4 and lf["save_steps"] == 4 and "dataset_dir" not in lf
    assert s.audit.out_dir == "audit" and s.audit.max_records == 20
    assert s.registry.url.startswith(f"sqlite:///{sdir}")


def test_find_residue(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("nothing here")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.json").write_text('{"x": "张三丰 at 13800138000"}')
    (tmp_path / "c.sealed").write_text("13800138000")  # sealed files are ciphertext: skipped
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * ((8 << 20) - 3) + b"zq.secret@example.org")  # across a chunk edge
    res = find_residue(tmp_path, {"13800138000", "zq.secret@example.org"})
    assert sorted(res.files_with_residue) == ["big.bin", "sub/b.json"]
    assert res.files_searched == 3
    assert searchable("张三丰") and not searchable("张三") and not searchable("abc")


def test_cli_run_on_a_config_without_stages(tmp_path: Path) -> None:
    """The command itself, on its own Typer app: nothing configured, every stage skipped."""
    import typer

    from privtune.cli.run import register

    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """test app"""

    cfg = tmp_path / "privtune.yaml"
    cfg.write_text("project: t\n")
    r = CliRunner().invoke(app, ["run", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "data.raw is empty" in r.output and "not set" in r.output
    r = CliRunner().invoke(app, ["run", str(cfg), "--json"])
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert [s["status"] for s in doc["stages"]][:3] == ["disabled"] * 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  safe_checkpoint: maybe\n")
    r = CliRunner().invoke(app, ["run", str(bad)])
    assert r.exit_code == 2 and "safe_checkpoint" in r.output
    r = CliRunner().invoke(app, ["run", str(cfg), "--sample-only"])
    assert r.exit_code == 2
