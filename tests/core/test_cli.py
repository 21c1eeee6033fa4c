import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "privtune.cli.main", *args],
                          capture_output=True, text=True, timeout=120)


def test_help_lists_stages():
    out = run("--help")
    assert out.returncode == 0
    assert "scan" in out.stdout and "keys" in out.stdout


def test_version():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("privtune ")
