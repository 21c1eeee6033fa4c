"""Invariant 6: every kind of damage is rejected with its own reason, and nothing is written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from privtune.config import KeysConfig
from privtune.seal import (
    Keyring,
    Reason,
    SealError,
    crypto_shred,
    inspect_sealed,
    open_sealed,
    read_sealed,
    seal_bytes,
    unseal_file,
    verify_sealed,
)
from privtune.seal import format as fmt

CS = 64
N = 6
CT = CS + fmt.TAG_SIZE


@pytest.fixture
def sealed(tmp_path: Path, keyring: Keyring) -> tuple[Path, bytes, fmt.Header]:
    data = os.urandom(CS * N)  # six full chunks: every chunk is the same size
    path = seal_bytes(data, tmp_path / "work" / "x.sealed", keyring, chunk_size=CS)
    return path, data, inspect_sealed(path)


def _chunk_range(h: fmt.Header, i: int) -> slice:
    return slice(h.size + i * CT, h.size + (i + 1) * CT)


def expect(reason: str, path: Path, keyring: Keyring, tmp_path: Path) -> SealError:
    """verify, read and unseal all fail with ``reason``; unseal leaves no output behind."""
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    for call in (lambda: verify_sealed(path, keyring), lambda: read_sealed(path, keyring),
                 lambda: unseal_file(path, out_dir / "plain", keyring)):
        with pytest.raises(SealError) as e:
            call()
        assert e.value.reason == reason, str(e.value)
        assert e.value.exit_code == 1
    assert list(out_dir.iterdir()) == []
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    return e.value


def _edit(path: Path, fn) -> None:
    raw = bytearray(path.read_bytes())
    raw = fn(raw)
    path.write_bytes(bytes(raw))


def _flip(offset: int, bit: int = 0):
    def fn(raw: bytearray) -> bytearray:
        raw[offset] ^= 1 << bit
        return raw
    return fn


# --- header ----------------------------------------------------------------------------------
def test_bad_magic(sealed, keyring, tmp_path):
    path, _, _ = sealed
    _edit(path, _flip(1))
    expect(Reason.NOT_SEALED, path, keyring, tmp_path)


def test_plain_file_is_not_sealed(tmp_path, keyring):
    p = tmp_path / "work" / "plain.json"
    p.parent.mkdir()
    p.write_text('{"a": 1}')
    expect(Reason.NOT_SEALED, p, keyring, tmp_path)


def test_unsupported_version(sealed, keyring, tmp_path):
    path, _, _ = sealed
    _edit(path, _flip(8, 1))
    expect(Reason.UNSUPPORTED_VERSION, path, keyring, tmp_path)


def test_unsupported_algorithm(sealed, keyring, tmp_path):
    path, _, _ = sealed
    _edit(path, _flip(9, 1))
    expect(Reason.UNSUPPORTED_ALGORITHM, path, keyring, tmp_path)


@pytest.mark.parametrize("field,offset", [("chunk_size", 13), ("nonce_prefix", 16),
                                          ("length", 28), ("tag", -1)])
def test_edited_header_field(sealed, keyring, tmp_path, field, offset):
    path, _, h = sealed
    _edit(path, _flip(offset if offset >= 0 else h.size - 1))
    err = expect(Reason.HEADER_TAMPERED, path, keyring, tmp_path)
    assert "header" in str(err)


def test_impossible_chunk_size_is_malformed(sealed, keyring, tmp_path):
    path, _, _ = sealed
    _edit(path, _flip(10, 7))
    expect(Reason.MALFORMED_HEADER, path, keyring, tmp_path)


def test_every_header_bit_flip_is_rejected(sealed, keyring, tmp_path):
    path, _, h = sealed
    original = path.read_bytes()
    seen = set()
    for offset in range(h.size):
        for bit in (0, 5):
            raw = bytearray(original)
            raw[offset] ^= 1 << bit
            path.write_bytes(bytes(raw))
            with pytest.raises(SealError) as e:
                verify_sealed(path, keyring)
            seen.add(e.value.reason)
    assert Reason.HEADER_TAMPERED in seen and Reason.KEY_ID_MISMATCH in seen
    assert seen <= {Reason.NOT_SEALED, Reason.UNSUPPORTED_VERSION, Reason.UNSUPPORTED_ALGORITHM,
                    Reason.MALFORMED_HEADER, Reason.HEADER_TAMPERED, Reason.KEY_ID_MISMATCH,
                    Reason.WRONG_KEY, Reason.UNKNOWN_KEY_VERSION, Reason.TRUNCATED}


# --- keys ------------------------------------------------------------------------------------
def test_wrong_key(sealed, other_keyring, tmp_path):
    path, _, _ = sealed
    err = expect(Reason.WRONG_KEY, path, other_keyring, tmp_path)
    assert "wrong key" in str(err)


def test_wrong_key_id_naming_another_version(sealed, keyring, tmp_path):
    path, _, h = sealed
    keyring.rotate()  # the keyring now holds v1 and v2
    assert h.key_id.endswith("/v1")
    _edit(path, lambda raw: raw.replace(h.key_id.encode(), keyring.key_id.encode()))
    expect(Reason.KEY_ID_MISMATCH, path, keyring, tmp_path)


def test_key_id_naming_a_version_not_held(sealed, keyring, tmp_path):
    path, _, h = sealed
    _edit(path, lambda raw: raw.replace(h.key_id.encode(), h.key_id[:-1].encode() + b"7"))
    expect(Reason.UNKNOWN_KEY_VERSION, path, keyring, tmp_path)


def test_edited_wrapped_key(sealed, keyring, tmp_path):
    path, _, h = sealed
    _edit(path, _flip(h.wrapped_key_offset + 20))
    expect(Reason.KEY_ID_MISMATCH, path, keyring, tmp_path)


def test_crypto_shred_makes_file_unreadable(sealed, keyring, tmp_path):
    path, _, _ = sealed
    copy = tmp_path / "copy.sealed"
    shutil.copy(path, copy)  # a copy made *after* shredding the key stays unreadable
    crypto_shred(path, unlink=False)
    expect(Reason.KEY_DESTROYED, path, keyring, tmp_path)
    crypto_shred(path)
    assert not path.exists()
    assert verify_sealed(copy, keyring).length == CS * N  # a copy taken before: see docs


def test_wrong_kek_for_keyring(tmp_path):
    kr = Keyring.ephemeral(tmp_path / "k")
    key_file = tmp_path / "k" / "kek.key"
    key_file.chmod(0o600)
    other = Keyring.ephemeral(tmp_path / "k2")
    shutil.copy(tmp_path / "k2" / "kek.key", key_file)
    key_file.chmod(0o600)
    with pytest.raises(SealError) as e:
        Keyring.from_config(KeysConfig(keyring_dir=str(tmp_path / "k")))
    assert e.value.reason == Reason.WRONG_KEK
    assert kr.key_id != other.key_id


# --- payload ---------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [0, 3, N - 1])
def test_payload_bit_flip(sealed, keyring, tmp_path, chunk):
    path, _, h = sealed
    _edit(path, _flip(_chunk_range(h, chunk).start + 7, 3))
    err = expect(Reason.CHUNK_TAMPERED, path, keyring, tmp_path)
    assert f"chunk {chunk}" in str(err)


def test_tag_bit_flip(sealed, keyring, tmp_path):
    path, _, h = sealed
    _edit(path, _flip(_chunk_range(h, 2).stop - 1))
    expect(Reason.CHUNK_TAMPERED, path, keyring, tmp_path)


@pytest.mark.parametrize("cut", ["last_chunk", "two_chunks", "mid_chunk", "one_byte",
                                 "header_only", "inside_header", "inside_magic"])
def test_truncation(sealed, keyring, tmp_path, cut):
    path, _, h = sealed
    size = path.stat().st_size
    new = {"last_chunk": size - CT, "two_chunks": size - 2 * CT, "mid_chunk": size - CT - 30,
           "one_byte": size - 1, "header_only": h.size, "inside_header": h.size - 10,
           "inside_magic": 4}[cut]
    with open(path, "r+b") as fh:
        fh.truncate(new)
    expect(Reason.TRUNCATED, path, keyring, tmp_path)


def test_empty_file(tmp_path, keyring):
    p = tmp_path / "work" / "empty.sealed"
    p.parent.mkdir()
    p.write_bytes(b"")
    expect(Reason.NOT_SEALED, p, keyring, tmp_path)


def test_swapped_chunks(sealed, keyring, tmp_path):
    path, _, h = sealed

    def swap(raw: bytearray) -> bytearray:
        a, b = _chunk_range(h, 1), _chunk_range(h, 3)
        raw[a], raw[b] = raw[b], raw[a]
        return raw

    _edit(path, swap)
    err = expect(Reason.CHUNK_REORDERED, path, keyring, tmp_path)
    assert "chunk 1 holds chunk 3" in str(err)


def test_last_chunk_swapped_in(sealed, keyring, tmp_path):
    path, _, h = sealed

    def swap(raw: bytearray) -> bytearray:
        a, b = _chunk_range(h, 2), _chunk_range(h, N - 1)
        raw[a], raw[b] = raw[b], raw[a]
        return raw

    _edit(path, swap)
    expect(Reason.CHUNK_REORDERED, path, keyring, tmp_path)


def test_duplicated_chunk_replacing_another(sealed, keyring, tmp_path):
    path, _, h = sealed

    def dup(raw: bytearray) -> bytearray:
        raw[_chunk_range(h, 4)] = raw[_chunk_range(h, 1)]
        return raw

    _edit(path, dup)
    err = expect(Reason.CHUNK_DUPLICATED, path, keyring, tmp_path)
    assert "duplicate of chunk 1" in str(err)


def test_duplicated_chunk_inserted(sealed, keyring, tmp_path):
    path, _, h = sealed

    def insert(raw: bytearray) -> bytearray:
        r = _chunk_range(h, 2)
        return raw[:r.stop] + raw[r] + raw[r.stop:]

    _edit(path, insert)
    expect(Reason.CHUNK_DUPLICATED, path, keyring, tmp_path)


def test_trailing_data(sealed, keyring, tmp_path):
    path, _, _ = sealed
    _edit(path, lambda raw: raw + b"\0" * 10)
    expect(Reason.TRAILING_DATA, path, keyring, tmp_path)


def test_chunk_from_another_file(tmp_path, keyring):
    a = seal_bytes(os.urandom(CS * 3), tmp_path / "work" / "a.sealed", keyring, chunk_size=CS)
    b = seal_bytes(os.urandom(CS * 3), tmp_path / "b.sealed", keyring, chunk_size=CS)
    h, hb = inspect_sealed(a), inspect_sealed(b)
    other = b.read_bytes()[_chunk_range(hb, 1)]
    _edit(a, lambda raw: raw[:_chunk_range(h, 1).start] + other + raw[_chunk_range(h, 1).stop:])
    expect(Reason.CHUNK_TAMPERED, a, keyring, tmp_path)


def test_distinct_reasons_overall():
    reasons = {Reason.NOT_SEALED, Reason.UNSUPPORTED_VERSION, Reason.UNSUPPORTED_ALGORITHM,
               Reason.MALFORMED_HEADER, Reason.WRONG_KEY, Reason.UNKNOWN_KEY_VERSION,
               Reason.KEY_ID_MISMATCH, Reason.KEY_DESTROYED, Reason.HEADER_TAMPERED,
               Reason.TRUNCATED, Reason.TRAILING_DATA, Reason.CHUNK_TAMPERED,
               Reason.CHUNK_REORDERED, Reason.CHUNK_DUPLICATED}
    assert len(reasons) == 14


def test_random_access_reads_intact_chunks_of_a_damaged_file(sealed, keyring, tmp_path):
    path, data, h = sealed
    _edit(path, _flip(_chunk_range(h, 4).start))
    with open_sealed(path, keyring) as r:
        assert r.read_chunk(1) == data[CS:2 * CS]
        with pytest.raises(SealError) as e:
            r.read_chunk(4)
        assert e.value.reason == Reason.CHUNK_TAMPERED
        r.seek(0)
        with pytest.raises(SealError):
            r.read()


def test_random_damage_never_yields_plaintext(tmp_path, keyring):
    """Property: any byte flip, cut or insertion anywhere is an error, never wrong data."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    data = os.urandom(CS * 4 + 9)
    path = seal_bytes(data, tmp_path / "p.sealed", keyring, chunk_size=CS)
    original = path.read_bytes()

    @settings(max_examples=100, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.integers(0, len(original) - 1), st.integers(1, 255),
           st.sampled_from(["flip", "cut", "insert"]))
    def damage(offset: int, value: int, how: str) -> None:
        raw = bytearray(original)
        if how == "flip":
            raw[offset] ^= value
        elif how == "cut":
            del raw[offset:offset + value]
        else:
            raw[offset:offset] = bytes([value])
        path.write_bytes(bytes(raw))
        with pytest.raises(SealError):
            verify_sealed(path, keyring)
        with pytest.raises(SealError):
            read_sealed(path, keyring)

    damage()
