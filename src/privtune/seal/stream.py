"""Sealing and opening files: the one-call recipe layer (the nonce schedule stays inside).

Writes are atomic (temporary file next to the target, fsync, rename, fsync the directory);
reads authenticate every chunk before a byte of it is returned; plaintext only ever lives in
memory.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privtune.errors import InputError, Location
from privtune.fsutil import fsync_dir
from privtune.fsutil import pid_alive as _alive
from privtune.seal import format as fmt
from privtune.seal.errors import Reason, SealError
from privtune.seal.keyring import Keyring

Progress = Callable[[int], None]
_INTO = hasattr(AESGCM, "encrypt_into")  # cryptography >= 45: no per-chunk allocation


def _encrypt_into(aead: AESGCM, nonce: bytes, data: memoryview | bytes, aad: bytes,
                  out: memoryview) -> None:
    if _INTO:
        aead.encrypt_into(nonce, data, aad, out)
    else:  # older cryptography
        out[:] = aead.encrypt(nonce, bytes(data), aad)


def _decrypt_into(aead: AESGCM, nonce: bytes, data: memoryview, aad: bytes,
                  out: memoryview) -> None:
    if _INTO:
        aead.decrypt_into(nonce, data, aad, out)
    else:
        out[:] = aead.decrypt(nonce, bytes(data), aad)
_DIAGNOSE_WINDOW = 2048


@dataclass(frozen=True)
class SealInfo:
    """What :func:`verify_sealed` learned about a sealed file (no key material)."""

    path: Path
    version: int
    algorithm: str
    key_id: str
    chunk_size: int
    length: int  # plaintext bytes
    chunks: int
    sha256: str  # of the plaintext


# --- atomic output ---------------------------------------------------------------------------
@contextlib.contextmanager
def _atomic_fd(dst: Path, perms: int = 0o600) -> Iterator[int]:
    """A raw fd on a temporary file next to ``dst``; renamed over ``dst`` on success only.

    The name carries the pid so a later run can recognise leftovers of a killed one.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f".{dst.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), perms)
    try:
        try:
            yield fd
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, dst)
        fsync_dir(dst.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def clean_stale_temps(dst: Path) -> list[Path]:
    """Remove temporary files of ``dst`` left by killed runs (whose process is gone)."""
    removed = []
    for p in dst.parent.glob(f".{glob.escape(dst.name)}.*.tmp"):
        parts = p.name[len(dst.name) + 2:].split(".")
        if len(parts) == 3 and parts[0].isdigit() and not _alive(int(parts[0])):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed




def _write_all(fd: int, data: memoryview | bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fill(read_into: Callable[[memoryview], int | None], buf: memoryview) -> int:
    got = 0
    while got < len(buf):
        n = read_into(buf[got:])
        if not n:
            break
        got += n
    return got


# --- sealing ---------------------------------------------------------------------------------
class _Sealer:
    """Encrypts chunks in order into ``fd``; ``finish`` writes the final header."""

    def __init__(self, fd: int, keyring: Keyring, chunk_size: int) -> None:
        if not fmt.MIN_CHUNK <= chunk_size <= fmt.MAX_CHUNK:
            raise ValueError(f"chunk_size must be between {fmt.MIN_CHUNK} and {fmt.MAX_CHUNK}")
        data_key = fmt.random_bytes(fmt.DATA_KEY_SIZE)
        key_id, wrapped = keyring.wrap_data_key(data_key)
        self.header = fmt.Header(chunk_size=chunk_size,
                                 nonce_prefix=fmt.random_bytes(fmt.NONCE_PREFIX_SIZE),
                                 length=0, key_id=key_id, wrapped_key=wrapped)
        payload_key, self._header_key = fmt.subkeys(data_key, self.header.prefix)
        self._aead = AESGCM(payload_key)
        self._prefix = self.header.prefix
        self._fd = fd
        self._out = memoryview(bytearray(chunk_size + fmt.TAG_SIZE))
        self.index = 0
        self.length = 0
        _write_all(fd, self.header.encode())  # placeholder: length 0, zero tag (never verifies)

    def emit(self, plain: memoryview | bytes, last: bool) -> None:
        if self.index >= fmt.MAX_CHUNKS:
            raise SealError(Reason.MALFORMED_HEADER, "too many chunks for one sealed file")
        n = len(plain)
        out = self._out[: n + fmt.TAG_SIZE]
        _encrypt_into(self._aead, fmt.nonce(self.header.nonce_prefix, self.index, last), plain,
                      self._prefix, out)
        _write_all(self._fd, out)
        self.index += 1
        self.length += n

    def finish(self) -> fmt.Header:
        header = replace(self.header, length=self.length)
        header = replace(header, tag=fmt.header_tag(self._header_key, header.body()))
        os.pwrite(self._fd, header.encode(), 0)
        return header


def _seal_reader(read_into: Callable[[memoryview], int | None], dst: Path, keyring: Keyring,
                 chunk_size: int, progress: Progress | None) -> fmt.Header:
    with _atomic_fd(dst) as fd:
        sealer = _Sealer(fd, keyring, chunk_size)
        a = memoryview(bytearray(chunk_size))
        b = memoryview(bytearray(chunk_size))
        n_a = _fill(read_into, a)
        while True:
            n_b = _fill(read_into, b) if n_a == chunk_size else 0
            sealer.emit(a[:n_a], last=n_b == 0)
            if progress:
                progress(n_a)
            if n_b == 0:
                break
            a, b, n_a = b, a, n_b
        return sealer.finish()


def seal_stream(src: BinaryIO, dst: str | Path, keyring: Keyring, *,
                chunk_size: int | None = None, progress: Progress | None = None) -> Path:
    """Seal everything readable from ``src`` into ``dst`` (atomically)."""
    dst = Path(dst)
    cs = chunk_size or fmt.DEFAULT_CHUNK_SIZE
    read_into = getattr(src, "readinto", None)
    if read_into is None:
        def read_into(view: memoryview) -> int:
            data = src.read(len(view))
            view[: len(data)] = data
            return len(data)
    _seal_reader(read_into, dst, keyring, cs, progress)
    return dst


def seal_file(src: str | Path, dst: str | Path, keyring: Keyring, *,
              chunk_size: int | None = None, remove_original: bool = False,
              progress: Progress | None = None) -> Path:
    """Seal ``src`` into ``dst``. With ``remove_original``, ``src`` is shredded only after
    ``dst`` has been read back, authenticated, and its plaintext matched ``src``'s sha256."""
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise InputError("source and sealed output are the same file", Location(src))
    if not src.is_file():
        raise InputError("not a regular file", Location(src))
    clean_stale_temps(dst)
    with open(src, "rb", buffering=0) as fh:
        before = os.fstat(fh.fileno())
        seal_stream(fh, dst, keyring, chunk_size=chunk_size, progress=progress)
    if remove_original:
        remove_verified_original(src, dst, keyring, before=before)
    return dst


def remove_verified_original(src: Path, dst: Path, keyring: Keyring, *,
                             before: os.stat_result | None = None) -> None:
    """Shred ``src`` after checking that ``dst`` opens and decrypts to exactly ``src``."""
    from privtune.seal.shred import shred

    info = verify_sealed(dst, keyring)
    h = hashlib.sha256()
    with open(src, "rb", buffering=0) as fh:
        now = os.fstat(fh.fileno())
        buf = memoryview(bytearray(1 << 20))
        while n := fh.readinto(buf):
            h.update(buf[:n])
    changed = before is not None and (before.st_size, before.st_mtime_ns, before.st_ino) != (
        now.st_size, now.st_mtime_ns, now.st_ino)
    if changed or h.hexdigest() != info.sha256:
        raise SealError(Reason.ROUNDTRIP_MISMATCH,
                        "the original changed while it was sealed, or its sealed copy does not "
                        "match it: the original was kept", src)
    shred(src)


def seal_bytes(data: bytes, dst: str | Path, keyring: Keyring, *,
               chunk_size: int | None = None) -> Path:
    """Seal in-memory plaintext straight into ``dst`` (atomically)."""
    dst = Path(dst)
    cs = chunk_size or fmt.DEFAULT_CHUNK_SIZE
    view = memoryview(data).cast("B")
    with _atomic_fd(dst) as fd:
        sealer = _Sealer(fd, keyring, cs)
        n = fmt.n_chunks(len(view), cs)
        for i in range(n):
            sealer.emit(view[i * cs:(i + 1) * cs], last=i == n - 1)
        sealer.finish()
    return dst


# --- opening ---------------------------------------------------------------------------------
def _authenticate_header(header: fmt.Header, keyring: Keyring, path: Path) -> AESGCM:
    if header.destroyed:
        raise SealError(Reason.KEY_DESTROYED,
                        "this file's data key was destroyed (crypto-shredded): unreadable", path)
    data_key = keyring.unwrap_data_key(header.key_id, header.wrapped_key, path)
    payload_key, header_key = fmt.subkeys(data_key, header.prefix)
    if not fmt.check_tag(header_key, header):
        raise SealError(Reason.HEADER_TAMPERED,
                        "header authentication failed: the header was edited", path)
    return AESGCM(payload_key)


class SealedReader(io.RawIOBase):
    """A read-only, seekable view of a sealed file's plaintext, decrypted chunk by chunk in
    memory. Every byte returned belongs to a chunk that authenticated."""

    def __init__(self, path: str | Path, keyring: Keyring) -> None:
        super().__init__()
        self.path = Path(path)
        self._fh = open(self.path, "rb", buffering=0)  # noqa: SIM115
        try:
            self.header = fmt.read_header(self._fh, self.path)
            self._aead = _authenticate_header(self.header, keyring, self.path)
            h = self.header
            self._fd = self._fh.fileno()
            self._cs = h.chunk_size
            self._n = h.n_chunks
            self._hsize = h.size
            self._prefix = h.prefix
            self._ct = memoryview(bytearray(h.chunk_size + fmt.TAG_SIZE))
            self._plain = memoryview(bytearray(h.chunk_size))
            self._cached = -1
            self._pos = 0
            size = os.fstat(self._fd).st_size
            if size < h.file_size:
                raise SealError(Reason.TRUNCATED,
                                f"sealed file is truncated: {h.file_size - size} byte(s) missing",
                                self.path)
            if size > h.file_size:
                self._diagnose_extended(size)
        except BaseException:
            self._fh.close()
            raise

    # chunk access ----------------------------------------------------------------------------
    @property
    def length(self) -> int:
        return self.header.length

    @property
    def chunks(self) -> int:
        return self._n

    def _plain_len(self, i: int) -> int:
        return self._cs if i < self._n - 1 else self.header.length - self._cs * (self._n - 1)

    def _read_ct(self, i: int, size: int) -> memoryview:
        view = self._ct[:size]
        off = self._hsize + i * (self._cs + fmt.TAG_SIZE)
        got = 0
        while got < size:
            n = os.preadv(self._fd, [view[got:]], off + got)
            if n == 0:
                raise SealError(Reason.TRUNCATED, f"sealed file is truncated in chunk {i}",
                                self.path)
            got += n
        return view

    def _decrypt(self, i: int, out: memoryview) -> None:
        """Authenticate and decrypt chunk ``i`` into ``out`` (exactly its plaintext length)."""
        ct = self._read_ct(i, len(out) + fmt.TAG_SIZE)
        try:
            _decrypt_into(self._aead, fmt.nonce(self.header.nonce_prefix, i, i == self._n - 1),
                          ct, self._prefix, out)
        except InvalidTag:
            self._cached = -1
            out[:] = bytes(len(out))  # never leave unauthenticated plaintext behind
            self._diagnose(i, bytes(ct))

    def _try(self, ct: bytes, c: int, last: bool) -> bool:
        try:
            self._aead.decrypt(fmt.nonce(self.header.nonce_prefix, c, last), ct, self._prefix)
        except InvalidTag:
            return False
        return True

    def _holds_own(self, c: int) -> bool:
        if c >= self._n:
            return False
        ct = bytes(self._read_ct(c, self._plain_len(c) + fmt.TAG_SIZE))
        return self._try(ct, c, c == self._n - 1)

    def _diagnose(self, i: int, ct: bytes, limit: int | None = None) -> None:
        """Chunk ``i`` failed: say whether it is another chunk (moved or copied) or damaged."""
        top = limit if limit is not None else self._n
        lo, hi = max(0, i - _DIAGNOSE_WINDOW), min(top, i + _DIAGNOSE_WINDOW)
        for c in range(lo, hi):
            for last in (False, True):
                if (c, last) == (i, i == self._n - 1) or not self._try(ct, c, last):
                    continue
                if self._holds_own(c) and c != i:
                    raise SealError(Reason.CHUNK_DUPLICATED,
                                    f"chunk {i} is a duplicate of chunk {c}", self.path)
                if c == i:
                    raise SealError(Reason.TRUNCATED,
                                    f"chunk {i} is not the final chunk: the file was cut short",
                                    self.path)
                raise SealError(Reason.CHUNK_REORDERED,
                                f"chunk {i} holds chunk {c}: chunks were reordered", self.path)
        raise SealError(Reason.CHUNK_TAMPERED,
                        f"chunk {i} failed authentication: the data was modified", self.path)

    def _diagnose_extended(self, size: int) -> None:
        full = self._cs + fmt.TAG_SIZE
        positions = min(-(-(size - self._hsize) // full), self._n + _DIAGNOSE_WINDOW)
        for p in range(min(positions, self._n)):
            want = self._plain_len(p) + fmt.TAG_SIZE
            ct = bytes(self._read_ct(p, min(full if p < positions - 1 else want, full)))
            ct = ct[:want] if p == self._n - 1 else ct
            if not self._try(ct, p, p == self._n - 1):
                self._diagnose(p, ct, limit=positions)
        raise SealError(Reason.TRAILING_DATA,
                        f"{size - self.header.file_size} unexpected byte(s) after the last chunk",
                        self.path)

    def _chunk(self, i: int) -> memoryview:
        if self._cached != i:
            out = self._plain[: self._plain_len(i)]
            self._decrypt(i, out)
            self._cached = i
        return self._plain[: self._plain_len(i)]

    def read_chunk(self, i: int) -> bytes:
        """Plaintext of chunk ``i`` alone (random access)."""
        if not 0 <= i < self._n:
            raise IndexError(i)
        return bytes(self._chunk(i))

    # io interface ----------------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.header.length + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, b) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        out = memoryview(b).cast("B")
        done = 0
        length = self.header.length
        while done < len(out) and self._pos < length:
            i, off = divmod(self._pos, self._cs)
            plen = self._plain_len(i)
            if off == 0 and len(out) - done >= plen and self._cached != i:
                self._decrypt(i, out[done:done + plen])  # straight into the caller's buffer
                n = plen
            else:
                chunk = self._chunk(i)
                n = min(plen - off, len(out) - done)
                out[done:done + n] = chunk[off:off + n]
            done += n
            self._pos += n
        return done

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        buf = bytearray(max(0, min(size, self.header.length - self._pos)))
        n = self.readinto(buf)
        del buf[n:]
        return bytes(buf)

    def readall(self) -> bytes:
        buf = bytearray(max(0, self.header.length - self._pos))
        self.readinto(buf)
        return bytes(buf)

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
            with contextlib.suppress(AttributeError):
                self._plain[:] = bytes(len(self._plain))  # drop plaintext from the buffer
        super().close()


def open_sealed(path: str | Path, keyring: Keyring) -> SealedReader:
    """A streaming, seekable, authenticated reader of a sealed file (plaintext in memory)."""
    return SealedReader(path, keyring)


def read_sealed(path: str | Path, keyring: Keyring) -> bytes:
    """The whole plaintext, in memory (for large files prefer :func:`open_sealed`)."""
    with open_sealed(path, keyring) as r:
        return r.readall()


def read_sealed_buffer(path: str | Path, keyring: Keyring) -> bytearray:
    """Like :func:`read_sealed` without the final copy (peak memory 1x the plaintext)."""
    with open_sealed(path, keyring) as r:
        buf = bytearray(r.length)
        r.readinto(buf)
        return buf


def verify_sealed(path: str | Path, keyring: Keyring, *,
                  progress: Progress | None = None) -> SealInfo:
    """Authenticate every chunk of ``path``; raise SealError (with a distinct ``reason``) on
    any problem, else return what was verified, with the plaintext's sha256."""
    h = hashlib.sha256()
    with open_sealed(path, keyring) as r:
        for i in range(r.chunks):
            chunk = r._chunk(i)
            h.update(chunk)
            if progress:
                progress(len(chunk))
        hd = r.header
    return SealInfo(path=Path(path), version=hd.version, algorithm=fmt.ALGORITHMS[hd.algorithm],
                    key_id=hd.key_id, chunk_size=hd.chunk_size, length=hd.length,
                    chunks=hd.n_chunks, sha256=h.hexdigest())


def inspect_sealed(path: str | Path) -> fmt.Header:
    """The (unauthenticated) header of a sealed file: key id, sizes. Needs no key."""
    with open(path, "rb") as fh:
        return fmt.read_header(fh, Path(path))


def unseal_file(path: str | Path, dst: str | Path, keyring: Keyring, *,
                progress: Progress | None = None, perms: int = 0o600) -> Path:
    """Decrypt ``path`` into ``dst`` atomically: ``dst`` appears only if every chunk
    authenticated (a failure leaves nothing behind)."""
    dst = Path(dst)
    with open_sealed(path, keyring) as r, _atomic_fd(dst, perms) as fd:
        for i in range(r.chunks):
            chunk = r._chunk(i)
            _write_all(fd, chunk)
            if progress:
                progress(len(chunk))
    return dst


# --- key management on sealed files ----------------------------------------------------------
def rewrap_file(path: str | Path, keyring: Keyring) -> bool:
    """Move ``path``'s data key to the current KEK version without touching the payload.

    Atomic (new header + the payload bytes copied unchanged into a temporary file, renamed
    over ``path``). Returns False when the file already uses the current version.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        header = fmt.read_header(fh, path)
        if header.key_id == keyring.key_id:
            return False
        if header.destroyed:
            raise SealError(Reason.KEY_DESTROYED, "this file's data key was destroyed", path)
        data_key = keyring.unwrap_data_key(header.key_id, header.wrapped_key, path)
        _, header_key = fmt.subkeys(data_key, header.prefix)
        if not fmt.check_tag(header_key, header):
            raise SealError(Reason.HEADER_TAMPERED,
                            "header authentication failed: the header was edited", path)
        size = os.fstat(fh.fileno()).st_size
        if size != header.file_size:
            raise SealError(Reason.TRUNCATED if size < header.file_size else
                            Reason.TRAILING_DATA, "file size does not match its header", path)
        key_id, wrapped = keyring.wrap_data_key(data_key)
        new = replace(header, key_id=key_id, wrapped_key=wrapped)
        new = replace(new, tag=fmt.header_tag(header_key, new.body()))
        mode = os.fstat(fh.fileno()).st_mode & 0o777
        with _atomic_fd(path, mode) as fd:
            _write_all(fd, new.encode())
            _copy_range(fh.fileno(), fd, header.size, header.file_size - header.size, path)
    return True


def _copy_range(src: int, dst: int, offset: int, count: int, path: Path) -> None:
    """Copy ``count`` bytes of ``src`` from ``offset`` to ``dst``'s current position (kernel
    copy where available, reflinks on filesystems that support them)."""
    fast = hasattr(os, "copy_file_range")
    while count:
        n = 0
        if fast:
            try:
                n = os.copy_file_range(src, dst, count, offset)
            except OSError:
                fast = False
        if n <= 0:
            data = os.pread(src, min(count, 1 << 20), offset)
            if not data:
                raise SealError(Reason.TRUNCATED, "file shrank during rewrap", path)
            _write_all(dst, data)
            n = len(data)
        offset += n
        count -= n


def crypto_shred(path: str | Path, *, unlink: bool = True) -> None:
    """Destroy ``path``'s wrapped data key in place (fsync'd): the payload becomes
    undecryptable by anyone, whatever copies of the payload blocks remain. Then unlink."""
    path = Path(path)
    with open(path, "r+b", buffering=0) as fh:
        header = fmt.read_header(fh, path)
        os.pwrite(fh.fileno(), bytes(len(header.wrapped_key)), header.wrapped_key_offset)
        os.fsync(fh.fileno())
    if unlink:
        os.unlink(path)
        fsync_dir(path.parent)
