"""Test-only hook: seal with fixed keys and nonces to produce the documented test vectors.

Never use this to seal real data: fixed nonces under a fixed key destroy GCM's security.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from privtune.seal import format as fmt
from privtune.seal.errors import Reason, SealError
from privtune.seal.providers import LocalKekProvider, UnwrapFailed


class _FixedKek(LocalKekProvider):
    name = "vector"

    def __init__(self, kek: bytes) -> None:
        self._kek = kek

    def kek(self, version: int) -> bytes:
        return self._kek

    def create_version(self, version: int) -> dict:
        return {}


class StaticKeyring:
    """The two calls sealing needs from a Keyring, with a fixed KEK (version 1)."""

    def __init__(self, kek: bytes, keyring_id: str) -> None:
        self._provider = _FixedKek(kek)
        self.key_id = f"{keyring_id}/v1"

    def wrap_data_key(self, data_key: bytes) -> tuple[str, bytes]:
        return self.key_id, self._provider.wrap(1, data_key, fmt.wrap_aad(self.key_id))

    def unwrap_data_key(self, key_id: str, blob: bytes, path: str | Path | None = None) -> bytes:
        if key_id != self.key_id:
            raise SealError(Reason.WRONG_KEY, f"sealed under key {key_id!r}: wrong key", path)
        try:
            return self._provider.unwrap(1, blob, fmt.wrap_aad(key_id))
        except UnwrapFailed:
            raise SealError(Reason.KEY_ID_MISMATCH, "wrapped data key does not open", path) \
                from None


@contextlib.contextmanager
def fixed_randomness(by_size: dict[int, bytes]) -> Iterator[None]:
    """Make ``format.random_bytes(n)`` return ``by_size[n]`` (data key 32, wrap nonce 12,
    nonce prefix 7)."""
    real = fmt.random_bytes

    def fixed(n: int) -> bytes:
        return by_size[n]

    fmt.random_bytes = fixed
    try:
        yield
    finally:
        fmt.random_bytes = real
