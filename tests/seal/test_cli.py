"""privtune seal / unseal / verify / shred and keys init / rotate / rewrap / retire / status.

Also invariant 3: no command prints or logs key material (stdout, stderr, log records)."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from privtune.cli import keys as keys_cli
from privtune.cli import seal as seal_cli
from privtune.config import KeysConfig
from privtune.seal import Keyring, inspect_sealed, read_sealed

PLAINTEXT = b'{"instruction": "call me", "output": "my phone is 13800138000"}\n' * 50


def make_app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    seal_cli.register(app)
    keys_app = typer.Typer()
    keys_cli.register(keys_app)
    app.add_typer(keys_app, name="keys")
    return app


class Cli:
    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.cwd = cwd
        self.env = env or {}
        self.app = make_app()
        self.outputs: list[bytes] = []

    def __call__(self, *args: str, code: int = 0, input: str | None = None):
        old = Path.cwd()
        os.chdir(self.cwd)
        try:
            result = CliRunner().invoke(self.app, list(args), env=self.env, input=input)
        finally:
            os.chdir(old)
        self.outputs += [result.stdout_bytes, result.stderr_bytes,
                         str(result.exception or "").encode()]
        got = result.exit_code
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            got = getattr(result.exception, "exit_code", 99)
        assert got == code, (args, result.stdout, result.stderr, result.exception)
        return result


def _forms(secret: bytes) -> list[bytes]:
    return [secret, secret.hex().encode(), secret.hex()[:16].encode(),
            base64.b64encode(secret), base64.urlsafe_b64encode(secret),
            base64.b64encode(secret)[:16]]


def _key_material(kr: Keyring, sealed: list[Path]) -> list[bytes]:
    from privtune.seal import PURPOSES
    from privtune.seal.format import subkeys
    from privtune.seal.providers import _decode_key

    secrets = [kr._Keyring__master, kr.signing_key().private_bytes_raw()]  # type: ignore[attr-defined]
    secrets += [kr.derive_key(p) for p in PURPOSES]
    key_file = kr.directory / "kek.key"
    if key_file.exists():
        for line in key_file.read_text().splitlines():
            if line.startswith("v"):
                secrets.append(_decode_key(line.split()[1]))
    for p in sealed:
        if p.exists():
            h = inspect_sealed(p)
            if not h.destroyed and h.key_id.split("/v")[-1] in map(str, kr.versions):
                dk = kr.unwrap_data_key(h.key_id, h.wrapped_key)
                secrets += [dk, *subkeys(dk, h.prefix)]
    return secrets


def _assert_no_leak(outputs: list[bytes], records: list[logging.LogRecord],
                    secrets: list[bytes]) -> None:
    blob = b"\n".join(outputs) + b"\n".join(r.getMessage().encode() for r in records)
    assert blob  # the commands did say something
    for s in secrets:
        for form in _forms(s):
            assert form not in blob


def test_full_cli_flow_and_no_key_material_anywhere(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    cli = Cli(tmp_path)
    (tmp_path / "data").mkdir()
    src = tmp_path / "data" / "export.jsonl"
    src.write_bytes(PLAINTEXT)
    other = tmp_path / "data" / "other.json"
    other.write_bytes(b'[{"a": 1}]')

    assert "created keyring" in cli("keys", "init").stdout
    cli("keys", "init", code=2)  # already exists
    assert "kr-" in cli("keys", "status").stdout
    out = cli("seal", "data/export.jsonl", "data/other.json", "--out", "sealed",
              "--remove-original").stdout
    assert "original verified and shredded" in out
    assert not src.exists() and not other.exists()
    sealed = [tmp_path / "sealed" / "export.jsonl.sealed", tmp_path / "sealed" / "other.json.sealed"]
    assert "ok" in cli("verify", *map(str, sealed)).stdout
    assert cli("unseal", str(sealed[0]), "--to", "-").stdout_bytes == PLAINTEXT
    cli("unseal", str(sealed[1]), "--to", "plain.json")
    assert (tmp_path / "plain.json").read_bytes() == b'[{"a": 1}]'
    cli("shred", "plain.json")
    assert not (tmp_path / "plain.json").exists()

    kr1 = Keyring.from_config(KeysConfig(), tmp_path)
    secrets = _key_material(kr1, sealed)
    assert "-> " in cli("keys", "rotate").stdout
    assert "2 file(s) not on the current key" in cli("keys", "status", "sealed").stdout
    assert "2 rewrapped" in cli("keys", "rewrap", "sealed").stdout
    assert '"stale": 0' in cli("keys", "status", "--json", "sealed").stdout
    cli("keys", "retire", "2", code=2)  # the current version
    cli("keys", "retire", "1")
    kr2 = Keyring.from_config(KeysConfig(), tmp_path)
    assert read_sealed(sealed[0], kr2) == PLAINTEXT
    secrets += _key_material(kr2, sealed)

    raw = bytearray(sealed[0].read_bytes())
    raw[-5] ^= 1
    sealed[0].write_bytes(bytes(raw))
    res = cli("verify", *map(str, sealed), code=1)
    assert "FAIL" in res.stdout and "chunk_tampered" in res.stdout and "ok" in res.stdout
    cli("unseal", str(sealed[0]), "--to", "out.bin", code=1)
    assert not (tmp_path / "out.bin").exists()
    cli("unseal", str(sealed[0]), "--to", "-", code=1)
    cli("shred", "--crypto", str(sealed[1]))
    assert not sealed[1].exists()
    cli("seal", "sealed/export.jsonl.sealed", code=2)  # refuses to double-seal
    (tmp_path / ".privtune" / "keys" / "kek.key").chmod(0o644)
    assert "chmod 600" in str(cli("keys", "status", code=2).exception)
    _assert_no_leak(cli.outputs, caplog.records, secrets)


def test_env_and_passphrase_secrets_never_printed(tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    kek = base64.b64encode(os.urandom(32)).decode()
    kek2 = base64.b64encode(os.urandom(32)).decode()
    cfg = tmp_path / "privtune.yaml"
    cfg.write_text("keys:\n  provider: env\n  env_var: MY_KEK\n")
    cli = Cli(tmp_path, {"MY_KEK": kek})
    cli("keys", "init", "--config", str(cfg))
    (tmp_path / "a.txt").write_text("hello")
    cli("seal", "a.txt", "--config", str(cfg))
    cli("keys", "rotate", "--config", str(cfg), code=2)  # no v2 supplied yet
    cli.env = {"MY_KEK": f"v1:{kek},v2:{kek2}"}
    cli("keys", "rotate", "--config", str(cfg))
    cli("keys", "rewrap", "a.txt.sealed", "--config", str(cfg))
    cli("keys", "status", "a.txt.sealed", "--config", str(cfg))
    cli("verify", "a.txt.sealed", "--config", str(cfg))

    pcfg = tmp_path / "p.yaml"
    pcfg.write_text("keys:\n  provider: passphrase\n  passphrase_env: MY_PASS\n"
                    "  keyring_dir: pkeys\n")
    passphrase = "Tr0ub4dor&3-very-secret"
    cli.env = {"MY_PASS": passphrase}
    cli("keys", "init", "--config", str(pcfg))
    cli("keys", "rotate", "--config", str(pcfg))
    cli("keys", "status", "--config", str(pcfg))
    cli.env = {"MY_PASS": "wrong passphrase"}
    cli("keys", "status", "--config", str(pcfg), code=2)

    monkeypatch.setenv("MY_KEK", f"v1:{kek},v2:{kek2}")
    kr = Keyring.from_config(KeysConfig(provider="env", env_var="MY_KEK"), tmp_path)
    secrets = [base64.b64decode(kek), base64.b64decode(kek2),
               *_key_material(kr, [tmp_path / "a.txt.sealed"])]
    blob = b"\n".join(cli.outputs)
    assert kek.encode() not in blob and kek2.encode() not in blob
    assert passphrase.encode() not in blob and b"wrong passphrase" not in blob
    _assert_no_leak(cli.outputs, caplog.records, secrets)


def test_entry_point_exit_codes(tmp_path):
    """Through the real `privtune` entry point: one clear line, exit 1 on tampering."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "privtune.cli.main", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)

    assert run("keys", "init").returncode == 0
    (tmp_path / "a.txt").write_text("hello")
    assert run("seal", "a.txt").returncode == 0
    p = tmp_path / "a.txt.sealed"
    raw = bytearray(p.read_bytes())
    raw[40] ^= 1
    p.write_bytes(bytes(raw))
    out = run("unseal", "a.txt.sealed", "--to", "b.txt")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "(" in out.stderr and not (tmp_path / "b.txt").exists()
    out = run("keys", "--help")
    assert out.returncode == 0
    assert all(c in out.stdout for c in ("init", "rotate", "rewrap", "status"))


def test_help_of_every_command():
    app = make_app()
    for args in (["seal"], ["unseal"], ["verify"], ["shred"], ["keys", "init"],
                 ["keys", "rotate"], ["keys", "rewrap"], ["keys", "retire"], ["keys", "status"]):
        res = CliRunner().invoke(app, [*args, "--help"])
        assert res.exit_code == 0 and "Usage" in res.stdout, args


@pytest.mark.parametrize("flag", ["--remove-original", "--keep-original"])
def test_remove_original_flag_and_config_default(tmp_path, flag):
    cli = Cli(tmp_path)
    cli("keys", "init")
    (tmp_path / "a.txt").write_text("x")
    cli("seal", "a.txt", flag)
    assert (tmp_path / "a.txt").exists() == (flag == "--keep-original")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  remove_original: true\n")
    (tmp_path / "b.txt").write_text("y")
    cli("seal", "b.txt", "--config", str(cfg))
    assert not (tmp_path / "b.txt").exists()


def test_progress_bar_for_large_files(tmp_path, monkeypatch):
    import io

    from rich.console import Console

    buf = io.StringIO()
    monkeypatch.setattr(seal_cli, "err_console", Console(file=buf, force_terminal=True))
    monkeypatch.setattr(seal_cli, "PROGRESS_MIN", 1000)
    cli = Cli(tmp_path)
    cli("keys", "init")
    (tmp_path / "big.bin").write_bytes(os.urandom(300_000))
    cli("seal", "big.bin", "--chunk-size", "4096")
    cli("verify", "big.bin.sealed")
    cli("unseal", "big.bin.sealed", "--to", "out.bin")
    assert "sealing big.bin" in buf.getvalue() and "verifying" in buf.getvalue()
    assert (tmp_path / "out.bin").read_bytes() == (tmp_path / "big.bin").read_bytes()
