"""KEK providers: env, key file (0600 enforced), passphrase (scrypt), external command."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path

import pytest

from privtune.config import KeysConfig
from privtune.seal import Keyring, Reason, SealError, read_sealed, rewrap_file, seal_bytes

KMS = Path(__file__).with_name("kms_example.py")


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _roundtrip(kr: Keyring, tmp_path: Path) -> Path:
    p = seal_bytes(b"hello sealed world", tmp_path / "f.sealed", kr)
    assert read_sealed(p, kr) == b"hello sealed world"
    return p


def test_env_provider(tmp_path, monkeypatch):
    cfg = KeysConfig(provider="env", env_var="TEST_KEK", keyring_dir="k")
    monkeypatch.delenv("TEST_KEK", raising=False)
    with pytest.raises(SealError) as e:
        Keyring.init(cfg, tmp_path)
    assert e.value.reason == Reason.KEK_UNAVAILABLE and "TEST_KEK" in str(e.value)
    k1 = _key()
    monkeypatch.setenv("TEST_KEK", k1)
    kr = Keyring.init(cfg, tmp_path)
    path = _roundtrip(kr, tmp_path)
    assert not (tmp_path / "k" / "kek.key").exists()  # nothing secret on disk
    fp = kr.derive_key("fingerprint")
    with pytest.raises(SealError) as e:  # the operator must supply v2 first
        kr.rotate()
    assert e.value.reason == Reason.KEK_UNAVAILABLE and "v2" in str(e.value)
    monkeypatch.setenv("TEST_KEK", f"v1:{k1},v2:{_key()}")
    kr = Keyring.from_config(cfg, tmp_path)
    assert kr.rotate().endswith("/v2")
    assert rewrap_file(path, kr)
    monkeypatch.setenv("TEST_KEK", f"v2:{os.environ['TEST_KEK'].split(',')[1][3:]}")
    kr = Keyring.from_config(cfg, tmp_path)  # v1 gone from the environment: still opens
    assert read_sealed(path, kr) == b"hello sealed world"
    assert kr.derive_key("fingerprint") == fp
    monkeypatch.setenv("TEST_KEK", _key())  # a wrong key (as v1) for a v2 keyring
    with pytest.raises(SealError) as e:
        Keyring.from_config(cfg, tmp_path)
    assert e.value.reason == Reason.KEK_UNAVAILABLE


def test_env_provider_wrong_key_and_malformed(tmp_path, monkeypatch):
    cfg = KeysConfig(provider="env", env_var="TEST_KEK", keyring_dir="k")
    monkeypatch.setenv("TEST_KEK", os.urandom(32).hex())
    Keyring.init(cfg, tmp_path)
    monkeypatch.setenv("TEST_KEK", _key())
    with pytest.raises(SealError) as e:
        Keyring.from_config(cfg, tmp_path)
    assert e.value.reason == Reason.WRONG_KEK
    secret = "not-a-key-but-secret-looking-value"
    monkeypatch.setenv("TEST_KEK", secret)
    with pytest.raises(SealError) as e:
        Keyring.from_config(cfg, tmp_path)
    assert e.value.reason == Reason.KEK_UNAVAILABLE and secret not in str(e.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_permissions_enforced(tmp_path, mode):
    kr = Keyring.ephemeral(tmp_path / "k")
    key_file = tmp_path / "k" / "kek.key"
    key_file.chmod(mode)
    with pytest.raises(SealError) as e:
        Keyring.from_config(KeysConfig(keyring_dir=str(tmp_path / "k")))
    assert e.value.reason == Reason.INSECURE_KEY_FILE
    assert "chmod 600" in str(e.value) and f"{mode:04o}" in str(e.value)
    key_file.chmod(0o600)
    assert Keyring.from_config(KeysConfig(keyring_dir=str(tmp_path / "k"))).key_id == kr.key_id


def test_explicit_key_file(tmp_path):
    cfg = KeysConfig(provider="file", keyring_dir="k", key_file="secrets/kek")
    kr = Keyring.init(cfg, tmp_path)
    assert (tmp_path / "secrets" / "kek").stat().st_mode & 0o777 == 0o600
    _roundtrip(kr, tmp_path)
    kr.rotate()
    assert "v2 " in (tmp_path / "secrets" / "kek").read_text()
    kr.retire(1)
    assert "v1 " not in (tmp_path / "secrets" / "kek").read_text()


def test_passphrase_provider(tmp_path, monkeypatch):
    cfg = KeysConfig(provider="passphrase", passphrase_env="TEST_PASS", keyring_dir="k")
    monkeypatch.setenv("TEST_PASS", "correct horse battery staple")
    kr = Keyring.init(cfg, tmp_path)
    path = _roundtrip(kr, tmp_path)
    meta = (tmp_path / "k" / "keyring.json").read_text()
    assert '"kdf": "scrypt"' in meta and "correct horse" not in meta
    kr.rotate()
    assert rewrap_file(path, kr)
    kr = Keyring.from_config(cfg, tmp_path)
    assert read_sealed(path, kr) == b"hello sealed world"
    monkeypatch.setenv("TEST_PASS", "wrong")
    with pytest.raises(SealError) as e:
        Keyring.from_config(cfg, tmp_path)
    assert e.value.reason == Reason.WRONG_KEK
    monkeypatch.delenv("TEST_PASS")
    assert Keyring.from_config(cfg, tmp_path,
                               passphrase="correct horse battery staple").key_id == kr.key_id


def test_command_provider(tmp_path, monkeypatch):
    kms_dir = tmp_path / "kms"
    kms_dir.mkdir()
    cfg = KeysConfig(provider="command", keyring_dir="k",
                     kms_command=f"{sys.executable} {KMS} {kms_dir}")
    kr = Keyring.init(cfg, tmp_path)
    path = _roundtrip(kr, tmp_path)
    assert sorted(p.name for p in kms_dir.iterdir()) == ["kek-v1"]
    kr.rotate()
    assert sorted(p.name for p in kms_dir.iterdir()) == ["kek-v1", "kek-v2"]
    assert rewrap_file(path, kr)
    kr = Keyring.from_config(cfg, tmp_path)
    assert read_sealed(path, kr) == b"hello sealed world"
    monkeypatch.setenv("KMS_EXAMPLE_FAIL", "1")
    with pytest.raises(SealError) as e:
        Keyring.from_config(cfg, tmp_path)
    assert e.value.reason == Reason.KMS_ERROR and "service unavailable" in str(e.value)


def test_command_provider_missing_program(tmp_path):
    cfg = KeysConfig(provider="command", keyring_dir="k",
                     kms_command=str(tmp_path / "no-such-kms"))
    with pytest.raises(SealError) as e:
        Keyring.init(cfg, tmp_path)
    assert e.value.reason == Reason.KMS_ERROR


def test_provider_mismatch_and_existing(tmp_path, monkeypatch):
    Keyring.init(KeysConfig(keyring_dir="k"), tmp_path)
    with pytest.raises(SealError) as e:
        Keyring.init(KeysConfig(keyring_dir="k"), tmp_path)
    assert e.value.reason == Reason.KEYRING_EXISTS
    monkeypatch.setenv("PRIVTUNE_KEK", _key())
    with pytest.raises(SealError) as e:
        Keyring.from_config(KeysConfig(provider="env", keyring_dir="k"), tmp_path)
    assert e.value.reason == Reason.BAD_KEYRING


def test_kek_wrapping_is_authenticated_per_version(tmp_path, keyring):
    from privtune.seal.format import wrap_aad

    key_id, blob = keyring.wrap_data_key(b"k" * 32)
    assert keyring.unwrap_data_key(key_id, blob) == b"k" * 32
    keyring.rotate()
    with pytest.raises(SealError) as e:
        keyring.unwrap_data_key(keyring.key_id, blob)  # a v1 blob presented as v2
    assert e.value.reason == Reason.KEY_ID_MISMATCH
    assert wrap_aad(key_id).endswith(key_id.encode())


def test_plugin_provider(tmp_path):
    """A cloud-KMS plug-in only implements create_version / wrap / unwrap."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from privtune.seal import KekProvider, UnwrapFailed

    class FakeCloudKms(KekProvider):
        name = "fake-cloud"

        def __init__(self) -> None:
            self.keys: dict[int, bytes] = {}

        def create_version(self, version):
            self.keys.setdefault(version, AESGCM.generate_key(256))
            return {"arn": f"arn:fake:key/{version}"}

        def wrap(self, version, key, aad):
            return b"N" * 12 + AESGCM(self.keys[version]).encrypt(b"N" * 12, key, aad)

        def unwrap(self, version, blob, aad):
            try:
                return AESGCM(self.keys[version]).decrypt(blob[:12], blob[12:], aad)
            except InvalidTag:
                raise UnwrapFailed from None

    kms = FakeCloudKms()
    cfg = KeysConfig(keyring_dir="k")
    kr = Keyring.init(cfg, tmp_path, provider=kms)
    path = _roundtrip(kr, tmp_path)
    kr.rotate()
    assert rewrap_file(path, kr)
    again = Keyring.from_config(cfg, tmp_path, provider=kms)
    assert read_sealed(path, again) == b"hello sealed world"
    assert '"arn:fake:key/2"' in (tmp_path / "k" / "keyring.json").read_text()
    with pytest.raises(SealError) as e:  # the config's own provider is not this keyring's
        Keyring.from_config(cfg, tmp_path)
    assert e.value.reason == Reason.BAD_KEYRING
