"""Fixtures for sanitize tests: a keyring and a small deterministic scanner.

The stub scanner finds a fixed set of types with plain regexes so these tests check the
sanitize logic whatever the state of the real detector; tests marked ``real scanner`` use
``privtune.detect.Scanner`` on e-mail addresses (which every version of it finds).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from privtune.detect import Span

_PATTERNS = [
    ("EMAIL", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    ("ID_CARD", re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")),
    ("BANK_CARD", re.compile(r"(?<!\d)62\d{14,17}(?!\d)")),
    ("PHONE", re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")),
    ("PERSON", re.compile(r"张三|李四|王小明|John Smith|Alice Brown")),
]


class StubScanner:
    """Regex scanner with the real Scanner's contract (sorted, non-overlapping spans)."""

    def __init__(self, extra: list[tuple[str, re.Pattern[str]]] | None = None) -> None:
        self.patterns = _PATTERNS + (extra or [])

    def scan(self, text: str) -> list[Span]:
        spans: list[Span] = []
        for typ, pat in self.patterns:
            for m in pat.finditer(text):
                if not any(s.start < m.end() and m.start() < s.end for s in spans):
                    spans.append(Span(typ, m.start(), m.end(), 1.0, "stub"))
        return sorted(spans, key=lambda s: s.start)

    def scan_many(self, texts):  # type: ignore[no-untyped-def]
        return [self.scan(t) for t in texts]


@pytest.fixture(scope="session")
def keyring_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from privtune.seal import Keyring

    d = tmp_path_factory.mktemp("keys") / "kr"
    Keyring.ephemeral(d)
    return d


@pytest.fixture(scope="session")
def keyring(keyring_dir: Path):  # type: ignore[no-untyped-def]
    from privtune.config import KeysConfig
    from privtune.seal import Keyring

    return Keyring.from_config(KeysConfig(provider="file", keyring_dir=str(keyring_dir)))


@pytest.fixture(scope="session")
def other_keyring(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from privtune.seal import Keyring

    return Keyring.ephemeral(tmp_path_factory.mktemp("keys2") / "kr")


@pytest.fixture
def stub() -> StubScanner:
    return StubScanner()


def write_jsonl(path: Path, records: list) -> Path:
    import json

    path.write_text(
        "".join(
            (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records
        ),
        encoding="utf-8",
    )
    return path


ALPACA = [
    {
        "instruction": "请联系张三，电话13812345678",
        "input": "邮箱 zhangsan@example.cn",
        "output": "好的，已联系张三。",
        "customer_id": "C-001",
        "ts": 1,
    },
    {
        "instruction": "Email John Smith at john.smith@corp.io",
        "input": "",
        "output": "Done, John Smith was emailed.",
        "customer_id": "C-002",
    },
    {
        "instruction": "身份证号 11010519491231002X 是否有效？",
        "input": "",
        "output": "已核实，卡号 6222021234567890128 已绑定。",
    },
    {"instruction": "What is 2+2?", "input": "", "output": "4"},
    {
        "instruction": "李四的手机是 13912345678 吗",
        "input": "",
        "output": "是的，李四的手机是13912345678。",
        "system": "你是客服助手",
    },
] + [
    {"instruction": f"问题 {i}: 联系 user{i}@mail.com", "input": "", "output": f"答复 {i}"}
    for i in range(40)
]
