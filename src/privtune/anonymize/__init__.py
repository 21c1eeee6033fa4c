"""Anonymization: operators (tag, mask, keyed hash, pseudonym, encrypt, drop) and the per-type
policy that applies them to detected spans.

    fingerprint(key, "PHONE", "138 0013 8000")   # keyed, normalized: for inventories and audits
    restore_text(text, keyring.derive_key("encrypt"))   # undo the 'encrypt' action
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from privtune.anonymize.fingerprint import fingerprint, normalize
from privtune.anonymize.operators import (
    ACTIONS,
    Keys,
    Policy,
    RestoreError,
    protected_regions,
    restore_text,
)

__all__ = [
    "ACTIONS",
    "Keys",
    "Policy",
    "RestoreError",
    "fingerprint",
    "normalize",
    "protected_regions",
    "restore_file",
    "restore_text",
]


def restore_file(src: str | Path, dst: str | Path, keyring: Any) -> int:
    """Restore every encryption token of ``src`` and seal the result to ``dst``.

    Returns the number of values restored. The plaintext exists only in memory.
    """
    from privtune.anonymize.operators import count_tokens
    from privtune.seal import seal_bytes

    text = Path(src).read_text(encoding="utf-8")
    restored = restore_text(text, keyring.derive_key("encrypt"))
    seal_bytes(restored.encode(), dst, keyring)
    return count_tokens(text)
