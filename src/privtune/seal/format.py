"""The sealed-file format, version 1 (byte layout in docs/seal-format.md).

Header (integers big-endian)::

    0     8  magic          89 50 54 53 45 41 4c 0a  ("\\x89PTSEAL\\n")
    8     1  version        1
    9     1  algorithm      1 = AES-256-GCM STREAM, HKDF-SHA256 subkeys, HMAC-SHA256 header tag
    10    4  chunk_size     plaintext bytes per chunk
    14    7  nonce_prefix   random per file
    ---- the 21 bytes above are the "stream prefix": associated data of every chunk
    21    8  length         plaintext length
    29    1  K              key id length
    30    K  key_id         ASCII, "<keyring id>/v<KEK version>"
    30+K  2  W              wrapped data key length
    32+K  W  wrapped_key    the file's data key wrapped by that KEK (all zero: crypto-shredded)
    32+K+W 32 header_tag    HMAC-SHA256(header_key, header[0 : 32+K+W])

Chunk ``i`` follows at ``header_len + i * (chunk_size + 16)``: AES-256-GCM ciphertext and tag of
plaintext bytes ``[i*chunk_size, (i+1)*chunk_size)`` under ``payload_key``, nonce
``nonce_prefix ‖ u32(i) ‖ u8(last)``, associated data the stream prefix. There is always at
least one chunk (an empty plaintext is one empty final chunk).

``payload_key ‖ header_key = HKDF-SHA256(data_key, salt=stream prefix, info=INFO_KEYS, 64)``.
The key id and wrapped key sit outside the chunks' associated data so that ``keys rewrap`` can
replace them without touching the payload; they are bound by the wrap (its associated data is
``WRAP_AAD_LABEL ‖ key_id``) and by the header tag.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privtune.seal.errors import Reason, SealError

MAGIC = b"\x89PTSEAL\n"
VERSION = 1
ALG_AES256GCM_STREAM = 1
ALGORITHMS = {ALG_AES256GCM_STREAM: "AES-256-GCM-STREAM/HKDF-SHA256/HMAC-SHA256"}
TAG_SIZE = 16
HEADER_TAG_SIZE = 32
NONCE_PREFIX_SIZE = 7
PREFIX_SIZE = 21  # magic .. nonce_prefix
FIXED_SIZE = 30  # up to and including the key id length byte
MIN_CHUNK = 16
MAX_CHUNK = 1 << 28
MAX_CHUNKS = 1 << 32
MAX_WRAPPED = 4096
DATA_KEY_SIZE = 32
INFO_KEYS = b"privtune-seal v1 keys"
WRAP_AAD_LABEL = b"privtune-seal v1 data-key\x00"
DEFAULT_CHUNK_SIZE = 256 << 10  # measured: bench/seal.py (docs/seal-format.md)


def random_bytes(n: int) -> bytes:
    """Every random byte of a sealed file comes from here (test vectors patch it)."""
    return os.urandom(n)


@dataclass(frozen=True)
class Header:
    chunk_size: int
    nonce_prefix: bytes
    length: int
    key_id: str
    wrapped_key: bytes
    tag: bytes = b"\0" * HEADER_TAG_SIZE
    version: int = VERSION
    algorithm: int = ALG_AES256GCM_STREAM

    @property
    def prefix(self) -> bytes:
        return (MAGIC + bytes([self.version, self.algorithm])
                + struct.pack(">I", self.chunk_size) + self.nonce_prefix)

    def body(self) -> bytes:
        """Everything the header tag covers."""
        kid = self.key_id.encode("ascii")
        return (self.prefix + struct.pack(">QB", self.length, len(kid)) + kid
                + struct.pack(">H", len(self.wrapped_key)) + self.wrapped_key)

    def encode(self) -> bytes:
        return self.body() + self.tag

    @property
    def size(self) -> int:
        return FIXED_SIZE + len(self.key_id) + 2 + len(self.wrapped_key) + HEADER_TAG_SIZE

    @property
    def wrapped_key_offset(self) -> int:
        return FIXED_SIZE + len(self.key_id) + 2

    @property
    def n_chunks(self) -> int:
        return n_chunks(self.length, self.chunk_size)

    @property
    def file_size(self) -> int:
        return self.size + self.length + TAG_SIZE * self.n_chunks

    @property
    def destroyed(self) -> bool:
        return not any(self.wrapped_key)


def wrap_aad(key_id: str) -> bytes:
    """Associated data of a data-key wrap: binds the wrapped key to the KEK version's id."""
    return WRAP_AAD_LABEL + key_id.encode("ascii")


def n_chunks(length: int, chunk_size: int) -> int:
    return max(1, -(-length // chunk_size))


def nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def subkeys(data_key: bytes, prefix: bytes) -> tuple[bytes, bytes]:
    """(payload_key, header_key) for one file."""
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=prefix, info=INFO_KEYS).derive(data_key)
    return okm[:32], okm[32:]


def header_tag(header_key: bytes, body: bytes) -> bytes:
    mac = hmac.HMAC(header_key, hashes.SHA256())
    mac.update(body)
    return mac.finalize()


def check_tag(header_key: bytes, header: Header) -> bool:
    mac = hmac.HMAC(header_key, hashes.SHA256())
    mac.update(header.body())
    try:
        mac.verify(header.tag)
    except Exception:
        return False
    return True


def read_header(fh, path=None) -> Header:
    """Parse (not authenticate) the header at the start of ``fh``."""
    fixed = fh.read(FIXED_SIZE)
    if len(fixed) < 10 or fixed[:8] != MAGIC:
        if len(fixed) < 8 and MAGIC.startswith(fixed) and fixed:
            raise SealError(Reason.TRUNCATED, "sealed file is truncated inside its header", path)
        raise SealError(Reason.NOT_SEALED, "not a privtune sealed file (bad magic)", path)
    if fixed[8] != VERSION:
        raise SealError(Reason.UNSUPPORTED_VERSION,
                        f"sealed-file format version {fixed[8]} is not supported "
                        f"(this privtune reads version {VERSION})", path)
    if fixed[9] not in ALGORITHMS:
        raise SealError(Reason.UNSUPPORTED_ALGORITHM,
                        f"sealed-file algorithm {fixed[9]} is not supported", path)
    if len(fixed) < FIXED_SIZE:
        raise SealError(Reason.TRUNCATED, "sealed file is truncated inside its header", path)
    (chunk_size,) = struct.unpack(">I", fixed[10:14])
    nonce_prefix = fixed[14:21]
    length, klen = struct.unpack(">QB", fixed[21:30])
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK or klen == 0:
        raise SealError(Reason.MALFORMED_HEADER,
                        f"header has an impossible chunk size ({chunk_size}) or key id length",
                        path)
    if n_chunks(length, chunk_size) > MAX_CHUNKS:
        raise SealError(Reason.MALFORMED_HEADER, "header has an impossible length", path)
    rest = fh.read(klen + 2)
    if len(rest) < klen + 2:
        raise SealError(Reason.TRUNCATED, "sealed file is truncated inside its header", path)
    try:
        key_id = rest[:klen].decode("ascii")
    except UnicodeDecodeError:
        raise SealError(Reason.MALFORMED_HEADER, "header key id is not ASCII", path) from None
    (wlen,) = struct.unpack(">H", rest[klen:])
    if not 0 < wlen <= MAX_WRAPPED:
        raise SealError(Reason.MALFORMED_HEADER, "header has an impossible wrapped key length",
                        path)
    tail = fh.read(wlen + HEADER_TAG_SIZE)
    if len(tail) < wlen + HEADER_TAG_SIZE:
        raise SealError(Reason.TRUNCATED, "sealed file is truncated inside its header", path)
    return Header(chunk_size=chunk_size, nonce_prefix=nonce_prefix, length=length,
                  key_id=key_id, wrapped_key=tail[:wlen], tag=tail[wlen:])
