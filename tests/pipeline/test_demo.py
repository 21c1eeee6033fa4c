"""The demo's parts that need no training: data selection, the comparison, the gateway step."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from privtune.pipeline.demo import (
    DemoResult,
    Side,
    _gateway,
    _train_args,
    demo_records,
    pretrain_texts,
    privtune_config,
    render_comparison,
    verdict_line,
)


def test_demo_records_are_alpaca_and_disjoint() -> None:
    export, held = demo_records(20)
    assert len(export) == 20 and len(held) == 5
    assert all("instruction" in r and "output" in r for r in export + held)
    assert not {r["id"] for r in export} & {r["id"] for r in held}


def _console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=400, color_system=None), buf


def test_comparison_table(tmp_path: Path) -> None:
    unsafe = Side(
        "unsafe",
        tmp_path / "u",
        report={
            "verdict": "fail",
            "probes": {
                "pii": {"regurgitated": 7},
                "canaries": {"max_exposure_bits": 21.5},
                "membership": {"max_auc": 0.81},
                "extraction": {"excess_rate": 0.05},
            },
        },
        residue_files=["data/support_chats.json", "train.log"],
        residue_searched=40,
        checkpoints_sealed=False,
        raw_at_rest="plaintext (data/support_chats.json)",
    )
    safe = Side(
        "privtune",
        tmp_path / "p",
        report={
            "verdict": "pass",
            "probes": {
                "pii": {"regurgitated": 0},
                "canaries": {"skipped": "needs --canaries"},
                "membership": {"max_auc": 0.52},
                "extraction": {"excess_rate": 0.0},
            },
        },
        residue_files=[],
        residue_searched=12,
        checkpoints_sealed=True,
        registered="support-bot:1",
    )
    console, buf = _console()
    setup = [("privacy", "none (default settings)", "DP-SGD: epsilon 7.99 spent of 8.0")]
    render_comparison(console, DemoResult(tmp_path, "tiny", unsafe, safe, setup=setup))
    out = buf.getvalue()
    assert "DP-SGD: epsilon 7.99 spent of 8.0" in out and "none (default settings)" in out
    for text in (
        "7",
        "21.5",
        "0.81",
        "0.52",
        "2 of 40: data/support_chats.json",
        "0 of 12",
        "plaintext",
        "sealed",
        "support-bot:1",
        "plaintext (data/support_chats.json)",
    ):
        assert text in out, text
    assert "—" in out  # the skipped canary probe


def test_gateway_step_filters_a_secret(tmp_path: Path) -> None:
    """Without a trained model the step falls back to an echo upstream: the answer the client
    gets has the PII replaced, and the raw value is never printed."""
    from privtune.seal import Keyring

    keyring = Keyring.ephemeral(tmp_path / "keys")
    export, _ = demo_records(5)
    result = DemoResult(
        tmp_path, "tiny", Side("unsafe", tmp_path / "u"), Side("privtune", tmp_path / "p")
    )
    console, buf = _console()
    _gateway(console, result, keyring, export)
    out = buf.getvalue()
    assert result.gateway == {"upstream": "echo", "filtered": True}
    gateway_line = next(line for line in out.splitlines() if "gateway:" in line)
    assert "[" in gateway_line and "]" in gateway_line
    from privtune.detect import Scanner

    secret = next(r["output"] for r in export if Scanner().scan(r["output"]))
    values = [secret[s.start : s.end] for s in Scanner().scan(secret)]
    assert not any(v in out for v in values if len(v) >= 4)


def test_demo_never_wipes_a_folder_it_did_not_make(tmp_path):
    import pytest

    from privtune.errors import PrivtuneError
    from privtune.pipeline.demo import run_demo

    precious = tmp_path / "customer-data"
    precious.mkdir()
    (precious / "export.jsonl").write_text("{}\n")
    with pytest.raises(PrivtuneError, match="not made by privtune demo"):
        run_demo(precious)
    assert (precious / "export.jsonl").read_text() == "{}\n"


def _gate(probe: str, value: float, threshold: float) -> dict[str, object]:
    return {"probe": probe, "value": value, "threshold": threshold,
            "status": "pass" if value <= threshold else "fail"}


def test_verdict_line_names_what_decided_it(tmp_path: Path) -> None:
    """FAIL lists exactly the checks over their threshold; PASS lists every check run and
    the registered version; a check that did not run is not claimed either way."""
    gate = [
        _gate("pii", 18, 0),
        _gate("canaries", 29.9, 10.0),
        _gate("membership", 0.55, 0.6),
        {"probe": "extraction", "value": None, "threshold": 0.01, "status": "not run"},
    ]
    bad = Side("unsafe", tmp_path, report={"verdict": "fail", "gate": gate})
    line = verdict_line(bad)
    assert line.startswith("unsafe: FAIL")
    assert "PII values regurgitated 18 > 0" in line and "canary exposure 29.90 bits" in line
    assert "membership" not in line and "extraction" not in line and "not registered" in line

    ok = [_gate("pii", 0, 0), _gate("canaries", 1.5, 10.0), _gate("membership", 0.52, 0.6)]
    good = Side("privtune", tmp_path, report={"verdict": "pass", "gate": ok},
                registered="support-bot:1")
    line = verdict_line(good)
    assert line.startswith("privtune: PASS")
    assert "membership AUC 0.52 <= 0.60" in line and "registered as support-bot:1" in line
    assert verdict_line(Side("x", tmp_path, notes=["train failed"])) == \
        "x: not audited (train failed)"


def test_both_sides_share_every_hyper_parameter_but_the_fine_tuning_type() -> None:
    """The comparison is fair: base, data rendering, steps, batch, schedule and seed are the
    same; only what DP-SGD needs (LoRA on the privtune side of the tiny model) differs."""
    base = Path("/models/base")
    for model, differ in (
        ("tiny", {"finetuning_type", "learning_rate", "lora_target", "lora_rank"}),
        ("smollm2", set()),
    ):
        unsafe = _train_args(model, base, 123, "unsafe")
        safe = _train_args(model, base, 123, "privtune")
        keys = set(unsafe) | set(safe)
        assert {k for k in keys if unsafe.get(k) != safe.get(k)} == differ, model
        assert safe["finetuning_type"] == "lora" and unsafe["max_steps"] == 123


def test_pretraining_text_is_scrubbed_and_never_the_export() -> None:
    """The tiny base model (and its tokenizer) learn from other customers' chats with every
    detected value replaced: no value of the export, no value the scanner can find."""
    from privtune.detect import Scanner
    from privtune.pipeline.demo import _raw_values

    export, held = demo_records(40)
    texts = pretrain_texts(40, 60)
    assert len(texts) == 60 and all("***" in t for t in texts)
    scanner = Scanner()
    assert not [t for t in texts if scanner.scan(t)]
    values = _raw_values(export + held)
    assert values and not [v for v in values if any(v in t for t in texts)]


def test_privtune_config_is_valid_and_private() -> None:
    """The generated privtune.yaml validates and asks for what the comparison relies on:
    canaries, a held-out split, DP-SGD on LoRA in one process, and the default audit gate."""
    from privtune.config import PrivtuneConfig

    doc = privtune_config(Path("/models/base"), "tiny", 400, dp=True)
    cfg = PrivtuneConfig.model_validate(doc)
    assert cfg.sanitize.canaries >= 1 and cfg.sanitize.valid_ratio > 0
    assert cfg.train.dp is not None and cfg.train.dp.target_epsilon == 8.0
    assert cfg.train.nproc_per_node == 1 and cfg.train.encrypt_checkpoint
    assert cfg.train.llamafactory["finetuning_type"] == "lora"
    assert cfg.audit.thresholds == type(cfg.audit.thresholds)()  # the gate is not loosened
    assert PrivtuneConfig.model_validate(
        privtune_config(Path("/m"), "tiny", 400, dp=False)).train.dp is None
