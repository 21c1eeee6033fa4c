"""report.html in a real headless Chromium: it renders, and the key elements are there."""

from __future__ import annotations

import re
import subprocess

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _chromium(binary, *args, tmp_path):
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-dev-shm-usage",
           f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_report_renders_in_chromium(chromium, raw_audit, tmp_path):
    _, out = raw_audit
    page = (out / "report.html").resolve()
    html = page.read_text(encoding="utf-8")
    # self-contained: no external fetches of any kind
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", html)
    assert "<script" not in html

    shot = tmp_path / "report.png"
    res = _chromium(chromium, f"--screenshot={shot}", "--window-size=1280,2400",
                    f"file://{page}", tmp_path=tmp_path)
    assert shot.is_file() and shot.stat().st_size > 10_000, res.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    dom = _chromium(chromium, "--dump-dom", f"file://{page}", tmp_path=tmp_path).stdout
    assert 'id="verdict"' in dom and 'data-verdict="fail"' in dom
    # the verdict comes first, before any probe table
    assert dom.index('id="verdict"') < dom.index('id="gate"') < dom.index('id="extraction"')
    assert dom.count('class="roc-curve"') >= 4  # LOSS, zlib, Min-K%, Min-K%++, reference
    assert 'id="roc-plot"' in dom and 'id="exposure-histogram"' in dom
    assert 'class="canary-mark"' in dom
    assert 'class="leaked-pii"' in dom and "***" in dom
    assert 'class="hashes"' in dom and "model.safetensors" in dom


def test_passing_report_renders(chromium, clean_audit, tmp_path):
    _, out = clean_audit
    page = (out / "report.html").resolve()
    dom = _chromium(chromium, "--dump-dom", f"file://{page}", tmp_path=tmp_path).stdout
    assert 'data-verdict="pass"' in dom and 'id="no-leaked-pii"' in dom
