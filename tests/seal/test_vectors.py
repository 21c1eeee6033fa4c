"""The test vectors of docs/seal-format.md: fixed key and nonces -> exact bytes.

Regenerate (only on a deliberate format change): ``python tests/seal/test_vectors.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from privtune.seal import format as fmt
from privtune.seal import inspect_sealed, open_sealed, seal_bytes
from privtune.seal._vectors import StaticKeyring, fixed_randomness

HERE = Path(__file__).parent
VECTORS = HERE / "vectors.json"
DOC = HERE.parents[1] / "docs" / "seal-format.md"

KEK = bytes(range(0x00, 0x20))
KEYRING_ID = "kr-0001020304050607"
DATA_KEY = bytes(range(0x40, 0x60))
WRAP_NONCE = bytes(range(0xB0, 0xBC))
NONCE_PREFIX = bytes(range(0xA0, 0xA7))
CASES = [
    {"name": "empty", "plaintext": "", "chunk_size": 16},
    {"name": "three-chunks", "plaintext": "privtune seal test vector, 40 bytes.....", "chunk_size": 16},
    {"name": "exact-chunks", "plaintext": "0123456789abcdef0123456789abcdef", "chunk_size": 16},
]


def generate(tmp: Path) -> list[dict]:
    kr = StaticKeyring(KEK, KEYRING_ID)
    out = []
    for case in CASES:
        pt = case["plaintext"].encode()
        with fixed_randomness({32: DATA_KEY, 12: WRAP_NONCE, 7: NONCE_PREFIX}):
            path = seal_bytes(pt, tmp / f"{case['name']}.sealed", kr,
                              chunk_size=case["chunk_size"])
        raw = path.read_bytes()
        h = inspect_sealed(path)
        payload_key, header_key = fmt.subkeys(DATA_KEY, h.prefix)
        out.append({**case, "kek": KEK.hex(), "keyring_id": KEYRING_ID,
                    "data_key": DATA_KEY.hex(), "wrap_nonce": WRAP_NONCE.hex(),
                    "nonce_prefix": NONCE_PREFIX.hex(), "payload_key": payload_key.hex(),
                    "header_key": header_key.hex(), "header": raw[:h.size].hex(),
                    "sealed": raw.hex()})
    return out


def test_vectors_match(tmp_path):
    expected = json.loads(VECTORS.read_text())
    assert generate(tmp_path) == expected
    doc = DOC.read_text()
    kr = StaticKeyring(KEK, KEYRING_ID)
    for v in expected:
        assert v["sealed"] in doc.replace("\n", "").replace(" ", ""), v["name"]
        p = tmp_path / "check.sealed"
        p.write_bytes(bytes.fromhex(v["sealed"]))
        with open_sealed(p, kr) as r:  # type: ignore[arg-type]
            assert r.read() == v["plaintext"].encode()


def test_vector_layout_by_hand():
    """Recompute the three-chunk vector from the primitives alone (the spec, not the code)."""
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    v = next(c for c in json.loads(VECTORS.read_text()) if c["name"] == "three-chunks")
    raw = bytes.fromhex(v["sealed"])
    prefix = b"\x89PTSEAL\n" + bytes([1, 1]) + (16).to_bytes(4, "big") + NONCE_PREFIX
    assert raw[:21] == prefix
    key_id = f"{KEYRING_ID}/v1".encode()
    assert raw[21:29] == (40).to_bytes(8, "big") and raw[29] == len(key_id)
    assert raw[30:30 + len(key_id)] == key_id
    off = 30 + len(key_id)
    wlen = int.from_bytes(raw[off:off + 2], "big")
    wrapped = raw[off + 2:off + 2 + wlen]
    wrap_aad = b"privtune-seal v1 data-key\x00" + key_id + (1).to_bytes(4, "big")
    assert wrapped == b"\x01" + WRAP_NONCE + AESGCM(KEK).encrypt(WRAP_NONCE, DATA_KEY, wrap_aad)
    okm = HKDF(hashes.SHA256(), 64, prefix, b"privtune-seal v1 keys").derive(DATA_KEY)
    hsize = off + 2 + wlen + 32
    mac = hmac.HMAC(okm[32:], hashes.SHA256())
    mac.update(raw[:hsize - 32])
    assert raw[hsize - 32:hsize] == mac.finalize()
    pt = v["plaintext"].encode()
    body = b""
    for i, chunk in enumerate([pt[0:16], pt[16:32], pt[32:40]]):
        nonce = NONCE_PREFIX + i.to_bytes(4, "big") + bytes([1 if i == 2 else 0])
        body += AESGCM(okm[:32]).encrypt(nonce, chunk, prefix)
    assert raw[hsize:] == body


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        VECTORS.write_text(json.dumps(generate(Path(d)), indent=2) + "\n")
    print(f"wrote {VECTORS}", file=sys.stderr)
