"""The command line: exit codes, summary, and no values on stdout/stderr."""

import json

from tests.sanitize.conftest import write_jsonl
from typer.testing import CliRunner

from privtune.cli.main import app

RECORDS = [
    {
        "instruction": f"Email bob{i}@corp.io about order {i}",
        "input": "",
        "output": "sent",
        "customer": "acme",
    }
    for i in range(20)
]


def invoke(*args):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_cli_sanitize_summary_and_exit_codes(tmp_path, keyring_dir):
    src = write_jsonl(tmp_path / "in.jsonl", [*RECORDS, "{bad"])
    out = tmp_path / "out"
    r = invoke(
        "sanitize",
        str(src),
        "--out",
        str(out),
        "--keyring",
        str(keyring_dir),
        "--action",
        "EMAIL=hash",
        "--fields",
        "instruction,output",
        "--canaries",
        "2",
    )
    assert r.exit_code == 0, r.output
    assert "EMAIL" in r.output and "hash" in r.output and "customer" in r.output
    assert "bob1@corp.io" not in r.output
    train = (out / "processed/train.json").read_text()
    assert "<EMAIL#" in train and '"input"' not in train
    r = invoke(
        "sanitize", str(src), "--out", str(tmp_path / "o2"), "--keyring", str(keyring_dir), "--json"
    )
    assert json.loads(r.stdout)["quarantined"] == 1


def test_cli_errors(tmp_path, keyring_dir):
    from privtune.errors import PrivtuneError

    src = write_jsonl(tmp_path / "in.jsonl", [*RECORDS, "{bad"])
    try:
        invoke(
            "sanitize",
            str(src),
            "--out",
            str(tmp_path / "o"),
            "--keyring",
            str(keyring_dir),
            "--on-error",
            "fail",
        )
    except PrivtuneError as exc:
        assert exc.exit_code == 2 and "in.jsonl:21" in str(exc)
    else:
        raise AssertionError("expected a failure")
    try:
        invoke(
            "sanitize",
            str(src),
            "--out",
            str(tmp_path / "o"),
            "--keyring",
            str(keyring_dir),
            "--action",
            "EMAIL",
        )
    except PrivtuneError as exc:
        assert "TYPE=ACTION" in str(exc)
    else:
        raise AssertionError("expected a failure")


def test_cli_restore_encrypted_values(tmp_path, keyring_dir, keyring):
    from privtune.seal import read_sealed

    src = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    out = tmp_path / "out"
    r = invoke(
        "sanitize",
        str(src),
        "--out",
        str(out),
        "--keyring",
        str(keyring_dir),
        "--action",
        "EMAIL=encrypt",
    )
    assert r.exit_code == 0, r.output
    assert "bob" not in (out / "processed/train.json").read_text()
    r = invoke(
        "sanitize-restore",
        str(out / "processed/train.json"),
        "--out",
        str(tmp_path / "restored.sealed"),
        "--keyring",
        str(keyring_dir),
    )
    assert r.exit_code == 0, r.output
    restored = read_sealed(tmp_path / "restored.sealed", keyring).decode()
    assert "@corp.io" in restored and "⟦enc:" not in restored


def test_cli_process_exit_code_and_no_values_in_output(tmp_path, keyring_dir):
    import subprocess
    import sys

    src = write_jsonl(tmp_path / "in.jsonl", [*RECORDS[:3], '{"instruction": "bob9@corp.io'])
    cmd = [
        sys.executable,
        "-m",
        "privtune.cli.main",
        "sanitize",
        str(src),
        "--out",
        str(tmp_path / "out"),
        "--keyring",
        str(keyring_dir),
    ]
    bad = subprocess.run([*cmd, "--on-error", "fail"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2, bad.stderr
    assert "in.jsonl:4" in bad.stderr and "bob9" not in bad.stdout + bad.stderr
    assert not (tmp_path / "out/processed").exists()
    ok = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "@corp.io" not in ok.stdout + ok.stderr
