"""The demo's parts that need no training: data selection, the comparison, the gateway step."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from privtune.pipeline.demo import DemoResult, Side, _gateway, demo_records, render_comparison


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
    render_comparison(console, DemoResult(tmp_path, "tiny", unsafe, safe))
    out = buf.getvalue()
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
