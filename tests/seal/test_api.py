"""The contract other parts consume: round trips, random access, keys that survive rotation."""

from __future__ import annotations

import io
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from privtune.config import KeysConfig
from privtune.seal import (
    PURPOSES,
    Keyring,
    Reason,
    SealError,
    inspect_sealed,
    open_sealed,
    read_sealed,
    rewrap_file,
    seal_bytes,
    seal_file,
    unseal_file,
    verify_sealed,
)
from privtune.seal import format as fmt


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 64 * 5, 64 * 5 + 17])
def test_round_trip_sizes(tmp_path, keyring, size):
    data = os.urandom(size)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    out = seal_file(src, tmp_path / "a.sealed", keyring, chunk_size=64)
    assert read_sealed(out, keyring) == data
    seal_bytes(data, tmp_path / "b.sealed", keyring, chunk_size=64)
    info = verify_sealed(tmp_path / "b.sealed", keyring)
    assert info.length == size and info.chunks == max(1, -(-size // 64))
    assert read_sealed(tmp_path / "b.sealed", keyring) == data
    assert (tmp_path / "a.sealed").stat().st_size == fmt.Header(
        64, b"\0" * 7, size, keyring.key_id, b"\0" * 61).file_size


def test_sealed_file_holds_no_plaintext_and_is_0600(tmp_path, keyring):
    data = b"customer secret 13800138000 " * 100
    out = seal_bytes(data, tmp_path / "x.sealed", keyring)
    raw = out.read_bytes()
    assert b"customer secret" not in raw and b"13800138000" not in raw
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_random_access_by_chunk(tmp_path, keyring):
    data = os.urandom(64 * 10 + 5)
    path = seal_bytes(data, tmp_path / "x.sealed", keyring, chunk_size=64)
    with open_sealed(path, keyring) as r:
        assert r.seekable() and r.readable()
        assert r.chunks == 11 and r.length == len(data)
        assert r.read_chunk(7) == data[7 * 64:8 * 64]
        r.seek(100)
        assert r.read(200) == data[100:300] and r.tell() == 300
        r.seek(-5, io.SEEK_END)
        assert r.read() == data[-5:]
        r.seek(0)
        buf = bytearray(len(data))
        assert r.readinto(buf) == len(data) and bytes(buf) == data
        assert r.read(10) == b""
        r.seek(3)
        assert io.BufferedReader(r).read() == data[3:]


def test_random_access_decrypts_only_the_chunk_asked_for(tmp_path, keyring, monkeypatch):
    data = os.urandom(64 * 50)
    path = seal_bytes(data, tmp_path / "x.sealed", keyring, chunk_size=64)
    with open_sealed(path, keyring) as r:
        calls = []
        real = r._decrypt
        monkeypatch.setattr(r, "_decrypt", lambda i, out: (calls.append(i), real(i, out)))
        r.seek(64 * 40 + 3)
        assert r.read(10) == data[64 * 40 + 3:64 * 40 + 13]
        assert calls == [40]


def test_unseal_file_and_inspect(tmp_path, keyring):
    data = os.urandom(1000)
    path = seal_bytes(data, tmp_path / "x.sealed", keyring, chunk_size=128)
    out = unseal_file(path, tmp_path / "plain.bin", keyring)
    assert out.read_bytes() == data
    h = inspect_sealed(path)
    assert h.key_id == keyring.key_id and h.chunk_size == 128 and h.length == 1000


def test_keyring_from_config_and_derived_keys(tmp_path):
    cfg = KeysConfig(provider="file", keyring_dir="keys")
    with pytest.raises(SealError) as e:
        Keyring.from_config(cfg, tmp_path)
    assert e.value.reason == Reason.NO_KEYRING
    kr = Keyring.from_config(cfg, tmp_path, create=True)
    key_file = tmp_path / "keys" / "kek.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    derived = {p: kr.derive_key(p) for p in PURPOSES}
    assert len(set(derived.values())) == len(PURPOSES)
    assert all(len(k) == 32 for k in derived.values())
    sig = kr.signing_key()
    assert isinstance(sig, Ed25519PrivateKey)
    again = Keyring.from_config(cfg, tmp_path)
    assert again.key_id == kr.key_id
    assert {p: again.derive_key(p) for p in PURPOSES} == derived
    new_id = again.rotate()
    assert new_id.endswith("/v2") and new_id != kr.key_id
    rotated = Keyring.from_config(cfg, tmp_path)
    assert rotated.key_id == new_id
    assert {p: rotated.derive_key(p) for p in PURPOSES} == derived
    pub = rotated.signing_key().public_key()
    pub.verify(sig.sign(b"manifest"), b"manifest")
    with pytest.raises(ValueError):
        kr.derive_key("Not A Purpose!")


def test_rotation_then_rewrap_keeps_payload_bytes(tmp_path, keyring):
    data = os.urandom(64 * 20)
    path = seal_bytes(data, tmp_path / "x.sealed", keyring, chunk_size=64)
    old = inspect_sealed(path)
    before = path.read_bytes()
    keyring.rotate()
    assert read_sealed(path, keyring) == data  # old version still readable
    assert rewrap_file(path, keyring) is True
    assert rewrap_file(path, keyring) is False
    new = inspect_sealed(path)
    assert new.key_id == keyring.key_id != old.key_id
    assert path.read_bytes()[new.size:] == before[old.size:]  # payload not re-encrypted
    assert read_sealed(path, keyring) == data
    keyring.retire(1)
    assert read_sealed(path, keyring) == data


def test_rewrap_large_file_copies_payload_exactly(tmp_path, keyring):
    data = os.urandom(3 << 20)  # larger than any read buffer: exercises the kernel copy
    path = seal_bytes(data, tmp_path / "x.sealed", keyring, chunk_size=64 << 10)
    old = inspect_sealed(path)
    before = path.read_bytes()[old.size:]
    keyring.rotate()
    assert rewrap_file(path, keyring)
    new = inspect_sealed(path)
    assert path.read_bytes()[new.size:] == before
    assert verify_sealed(path, keyring).length == len(data)


def test_retired_version_makes_unrewrapped_files_unreadable(tmp_path, keyring):
    path = seal_bytes(b"old", tmp_path / "x.sealed", keyring)
    keyring.rotate()
    keyring.retire(1)
    with pytest.raises(SealError) as e:
        read_sealed(path, keyring)
    assert e.value.reason == Reason.UNKNOWN_KEY_VERSION


def test_keyring_is_not_picklable_and_repr_has_no_key(keyring):
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(keyring)
    assert "kek" not in repr(keyring).lower() or "kr-" in repr(keyring)


def test_ephemeral_keyrings_are_independent(keyring, other_keyring):
    assert keyring.key_id != other_keyring.key_id
    assert keyring.derive_key("pseudonym") != other_keyring.derive_key("pseudonym")


def test_seal_file_refuses_same_path(tmp_path, keyring):
    from privtune.errors import InputError

    p = tmp_path / "a"
    p.write_bytes(b"x")
    with pytest.raises(InputError):
        seal_file(p, p, keyring)
    assert p.read_bytes() == b"x"


def test_remove_original_after_verified_round_trip(tmp_path, keyring):
    src = tmp_path / "data.jsonl"
    src.write_bytes(b'{"a": 1}\n' * 1000)
    out = seal_file(src, tmp_path / "data.jsonl.sealed", keyring, chunk_size=256,
                    remove_original=True)
    assert not src.exists()
    assert read_sealed(out, keyring) == b'{"a": 1}\n' * 1000
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_remove_original_keeps_original_when_round_trip_fails(tmp_path, keyring, monkeypatch):
    from privtune.seal import stream

    src = tmp_path / "data.bin"
    src.write_bytes(b"original")
    real = stream.verify_sealed

    def corrupt_verify(path, kr, **kw):
        info = real(path, kr, **kw)
        return stream.SealInfo(**{**info.__dict__, "sha256": "0" * 64})

    monkeypatch.setattr(stream, "verify_sealed", corrupt_verify)
    with pytest.raises(SealError) as e:
        seal_file(src, tmp_path / "data.bin.sealed", keyring, remove_original=True)
    assert e.value.reason == Reason.ROUNDTRIP_MISMATCH
    assert src.read_bytes() == b"original"


def test_progress_callbacks_cover_the_file(tmp_path, keyring):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(64 * 7 + 3))
    seen: list[int] = []
    out = seal_file(src, tmp_path / "s.sealed", keyring, chunk_size=64, progress=seen.append)
    assert sum(seen) == 64 * 7 + 3 and len(seen) == 8
    seen.clear()
    verify_sealed(out, keyring, progress=seen.append)
    assert sum(seen) == 64 * 7 + 3


def test_seal_stream_from_a_pipe_like_source(tmp_path, keyring):
    from privtune.seal import seal_stream

    class Trickle(io.RawIOBase):  # short reads, no size known in advance
        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:
            n = min(len(b), 7, len(self.data))
            b[:n] = self.data[:n]
            self.data = self.data[n:]
            return n

    data = os.urandom(1000)
    out = seal_stream(Trickle(data), tmp_path / "t.sealed", keyring, chunk_size=64)
    assert read_sealed(out, keyring) == data


def test_works_without_encrypt_into(tmp_path, keyring, monkeypatch):
    """cryptography before encrypt_into/decrypt_into: same bytes, same checks."""
    from privtune.seal import stream

    data = os.urandom(64 * 3 + 1)
    monkeypatch.setattr(stream, "_INTO", False)
    path = seal_bytes(data, tmp_path / "old.sealed", keyring, chunk_size=64)
    assert read_sealed(path, keyring) == data
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(SealError) as e:
        read_sealed(path, keyring)
    assert e.value.reason == Reason.CHUNK_TAMPERED


def test_read_one_tensor_of_a_sealed_safetensors_checkpoint(tmp_path, keyring, monkeypatch):
    """safetensors layout: u64 header length, JSON header, raw tensors. Reading one tensor
    decrypts the header's chunk and that tensor's chunks only."""
    import json
    import struct

    tensors = {f"layer{i}.weight": os.urandom(4096) for i in range(32)}
    header, offset = {}, 0
    for name in tensors:
        header[name] = {"dtype": "U8", "shape": [4096], "data_offsets": [offset, offset + 4096]}
        offset += 4096
    hjson = json.dumps(header).encode()
    blob = struct.pack("<Q", len(hjson)) + hjson + b"".join(tensors.values())
    path = seal_bytes(blob, tmp_path / "model.safetensors.sealed", keyring, chunk_size=4096)
    with open_sealed(path, keyring) as r:
        calls: list[int] = []
        real = r._decrypt
        monkeypatch.setattr(r, "_decrypt", lambda i, out: (calls.append(i), real(i, out)))
        (n,) = struct.unpack("<Q", r.read(8))
        meta = json.loads(r.read(n))
        start, end = meta["layer20.weight"]["data_offsets"]
        r.seek(8 + n + start)
        assert r.read(end - start) == tensors["layer20.weight"]
        assert len(set(calls)) <= 3 + 2 and r.chunks > 30  # header chunk(s) + <= 2 tensor chunks
