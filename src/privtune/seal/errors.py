"""SealError and its reason codes: every distinct failure has its own code and message."""

from __future__ import annotations

from pathlib import Path

from privtune.errors import Location, PrivtuneError


class Reason:
    """Reason codes carried by :class:`SealError` (``err.reason``). Stable strings."""

    # the file is not (or no longer) a sealed file this version understands
    NOT_SEALED = "not_sealed"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    MALFORMED_HEADER = "malformed_header"
    # keys
    WRONG_KEY = "wrong_key"  # sealed under a key of another keyring
    UNKNOWN_KEY_VERSION = "unknown_key_version"  # this keyring, but a version it does not hold
    KEY_ID_MISMATCH = "key_id_mismatch"  # the wrapped data key does not open under the named key
    KEY_DESTROYED = "key_destroyed"  # crypto-shredded
    # integrity
    HEADER_TAMPERED = "header_tampered"
    TRUNCATED = "truncated"
    TRAILING_DATA = "trailing_data"
    CHUNK_TAMPERED = "chunk_tampered"
    CHUNK_REORDERED = "chunk_reordered"
    CHUNK_DUPLICATED = "chunk_duplicated"
    # sealing / removal
    SOURCE_CHANGED = "source_changed"
    ROUNDTRIP_MISMATCH = "roundtrip_mismatch"
    # keyring
    NO_KEYRING = "no_keyring"
    KEYRING_EXISTS = "keyring_exists"
    BAD_KEYRING = "bad_keyring"
    KEK_UNAVAILABLE = "kek_unavailable"
    WRONG_KEK = "wrong_kek"
    INSECURE_KEY_FILE = "insecure_key_file"
    KMS_ERROR = "kms_error"


#: failures that mean "the data is not what was sealed" (exit code 1 in ``privtune verify``)
INTEGRITY_REASONS = frozenset({
    Reason.NOT_SEALED, Reason.UNSUPPORTED_VERSION, Reason.UNSUPPORTED_ALGORITHM,
    Reason.MALFORMED_HEADER, Reason.WRONG_KEY, Reason.UNKNOWN_KEY_VERSION,
    Reason.KEY_ID_MISMATCH, Reason.KEY_DESTROYED, Reason.HEADER_TAMPERED, Reason.TRUNCATED,
    Reason.TRAILING_DATA, Reason.CHUNK_TAMPERED, Reason.CHUNK_REORDERED,
    Reason.CHUNK_DUPLICATED, Reason.ROUNDTRIP_MISMATCH,
})


class SealError(PrivtuneError):
    """A sealed file or the keyring cannot be used. ``reason`` says which failure it is."""

    def __init__(self, reason: str, message: str, path: str | Path | None = None) -> None:
        self.reason = reason
        self.exit_code = 1 if reason in INTEGRITY_REASONS else 2
        super().__init__(f"{message} ({reason})", Location(path) if path is not None else None)
