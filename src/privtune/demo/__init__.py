"""The bundled synthetic demo data (every name and number in it is invented)."""

from __future__ import annotations

from pathlib import Path

#: Synthetic customer-service chats, alpaca and sharegpt, Chinese and English, full of PII.
DEMO_DATA: Path = Path(__file__).parent / "data" / "support_chats.jsonl"

__all__ = ["DEMO_DATA"]
