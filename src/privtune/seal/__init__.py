"""privtune.seal: authenticated streaming encryption at rest, the keyring, safe removal.

A recipe layer in the manner of Fernet: callers seal and open files; the format, nonce
schedule and key wrapping stay inside.

    kr = Keyring.from_config(cfg.keys)
    seal_file("raw/data.jsonl", "raw/data.jsonl.sealed", kr, remove_original=True)
    with open_sealed("raw/data.jsonl.sealed", kr) as fh: ...
"""

from privtune.seal.errors import Reason, SealError
from privtune.seal.format import DEFAULT_CHUNK_SIZE
from privtune.seal.keyring import PURPOSES, Keyring
from privtune.seal.providers import KekProvider, UnwrapFailed
from privtune.seal.shred import shred
from privtune.seal.stream import (
    SealedReader,
    SealInfo,
    crypto_shred,
    inspect_sealed,
    open_sealed,
    read_sealed,
    remove_verified_original,
    rewrap_file,
    seal_bytes,
    seal_file,
    seal_stream,
    unseal_file,
    verify_sealed,
)


def load_sealed_dataset(path, keyring):
    """Decrypt a sealed JSON/JSONL file into an in-memory ``datasets.Dataset`` (no cache files).

    Imported lazily: ``datasets`` is heavy and optional for the rest of this package.
    """
    from privtune.seal.dataset import load_sealed_dataset as _load

    return _load(path, keyring)


__all__ = [
    "DEFAULT_CHUNK_SIZE", "PURPOSES", "KekProvider", "Keyring", "Reason", "SealError",
    "SealInfo", "SealedReader", "UnwrapFailed", "crypto_shred", "inspect_sealed",
    "load_sealed_dataset", "open_sealed", "read_sealed", "remove_verified_original",
    "rewrap_file", "seal_bytes", "seal_file", "seal_stream", "shred", "unseal_file",
    "verify_sealed",
]
