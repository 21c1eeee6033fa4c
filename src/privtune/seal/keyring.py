"""The keyring: KEK versions from a provider, a wrapped master secret, envelope encryption.

On disk (``keyring_dir``, mode 0700)::

    keyring.json   public metadata and the master secret wrapped by the current KEK (0600)
    kek.key        the file provider's KEKs (0600), unless ``key_file`` points elsewhere

Every file sealed gets a fresh data key wrapped by the current KEK; ``rotate`` adds a KEK
version and rewraps the master secret; :func:`privtune.seal.rewrap_file` moves a file's data
key to the current version. Keys derived for other parts (:meth:`Keyring.derive_key`) and the
signing key come from the master secret, so they survive rotation.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privtune.config import KeysConfig
from privtune.fsutil import atomic_write_text
from privtune.seal.errors import Reason, SealError
from privtune.seal.format import wrap_aad
from privtune.seal.providers import (
    CommandProvider,
    EnvProvider,
    FileProvider,
    KekProvider,
    PassphraseProvider,
    UnwrapFailed,
)

META_NAME = "keyring.json"
META_FORMAT = "privtune-keyring/1"
PURPOSES = ("fingerprint", "pseudonym", "encrypt", "request-log", "api-keys")
_PURPOSE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_MASTER_AAD = b"privtune keyring master v1\x00"
_CHECK_AAD = b"privtune keyring check v1\x00"
_KEY_ID_RE = re.compile(r"^(kr-[0-9a-f]{16})/v([0-9]{1,9})$")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def _resolve(base: Path, p: str) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() else base / q


def make_provider(cfg: KeysConfig, base_dir: Path, directory: Path,
                  keyring_id: str = "", passphrase: str | None = None) -> KekProvider:
    if cfg.provider == "env":
        return EnvProvider(cfg.env_var)
    if cfg.provider == "file":
        path = _resolve(base_dir, cfg.key_file) if cfg.key_file else directory / "kek.key"
        return FileProvider(path)
    if cfg.provider == "passphrase":
        return PassphraseProvider(cfg.passphrase_env, passphrase)
    if cfg.provider == "command":
        if not cfg.kms_command:
            raise SealError(Reason.KEK_UNAVAILABLE,
                            "keys.provider is 'command' but keys.kms_command is not set")
        return CommandProvider(cfg.kms_command, keyring_id)
    raise SealError(Reason.BAD_KEYRING, f"unknown KEK provider {cfg.provider!r}")


class Keyring:
    """Keys for everything privtune protects. Never prints, logs or pickles key material."""

    def __init__(self, directory: Path, meta: dict[str, Any], provider: KekProvider) -> None:
        self.directory = directory
        self._meta = meta
        self._provider = provider
        provider.bind({int(v): d.get("params", {}) for v, d in meta["versions"].items()})
        self._checked: set[int] = set()
        master = meta["master"]
        try:
            self.__master = provider.unwrap(int(master["version"]),
                                            _b64d(master["wrapped"]), self._master_aad())
        except UnwrapFailed:
            raise SealError(Reason.WRONG_KEK,
                            f"the KEK from the {provider.name!r} provider does not open this "
                            "keyring (wrong key, passphrase or key file?)", directory) from None
        self._checked.add(int(master["version"]))

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def from_config(cls, cfg: KeysConfig, base_dir: str | Path = ".", *, create: bool = False,
                    passphrase: str | None = None,
                    provider: KekProvider | None = None) -> Keyring:
        """Open the keyring ``cfg`` describes (``create``: initialise it when absent).

        ``provider`` plugs in a :class:`KekProvider` of your own (a cloud KMS client) in place
        of the one ``cfg.provider`` names; the keyring remembers the provider's ``name``.
        """
        base = Path(base_dir)
        directory = _resolve(base, cfg.keyring_dir)
        meta_path = directory / META_NAME
        if not meta_path.exists():
            if create:
                return cls.init(cfg, base, passphrase=passphrase, provider=provider)
            raise SealError(Reason.NO_KEYRING,
                            "no keyring here; create one with `privtune keys init`", directory)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("format") != META_FORMAT:
                raise ValueError(meta.get("format"))
        except (ValueError, OSError) as exc:
            raise SealError(Reason.BAD_KEYRING, f"keyring metadata is unreadable ({exc})",
                            meta_path) from None
        wanted = provider.name if provider is not None else cfg.provider
        if meta["provider"] != wanted:
            raise SealError(Reason.BAD_KEYRING,
                            f"this keyring uses the {meta['provider']!r} provider, not "
                            f"{wanted!r}", meta_path)
        if provider is None:
            provider = make_provider(cfg, base, directory, meta["id"], passphrase)
        return cls(directory, meta, provider)

    @classmethod
    def init(cls, cfg: KeysConfig, base_dir: str | Path = ".", *,
             passphrase: str | None = None, provider: KekProvider | None = None) -> Keyring:
        """Create a keyring: KEK version 1 and a fresh master secret."""
        base = Path(base_dir)
        directory = _resolve(base, cfg.keyring_dir)
        if (directory / META_NAME).exists():
            raise SealError(Reason.KEYRING_EXISTS, "a keyring already exists here", directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        keyring_id = f"kr-{secrets.token_hex(8)}"
        if provider is None:
            provider = make_provider(cfg, base, directory, keyring_id, passphrase)
        params = provider.create_version(1)
        provider.bind({1: params})
        master = os.urandom(32)
        meta = {
            "format": META_FORMAT, "id": keyring_id, "provider": provider.name, "current": 1,
            "created": _now(),
            "versions": {"1": {"created": _now(), "params": params,
                               "check": _b64e(provider.wrap(1, bytes(32), _check_aad(1)))}},
            "master": {"version": 1, "wrapped": ""},
        }
        meta["master"]["wrapped"] = _b64e(provider.wrap(1, master, _master_aad(keyring_id)))
        _write_meta(directory, meta)
        return cls(directory, meta, provider)

    @classmethod
    def ephemeral(cls, directory: Path) -> Keyring:
        """A new keyring with a random KEK in a 0600 key file under ``directory`` (tests, demo)."""
        cfg = KeysConfig(provider="file", keyring_dir=str(Path(directory).resolve()))
        return cls.init(cfg)

    # --- identity ----------------------------------------------------------------------------
    @property
    def keyring_id(self) -> str:
        return self._meta["id"]

    @property
    def current_version(self) -> int:
        return int(self._meta["current"])

    @property
    def key_id(self) -> str:
        """Id of the current KEK version: ``<keyring id>/v<N>``."""
        return f"{self.keyring_id}/v{self.current_version}"

    @property
    def versions(self) -> list[int]:
        return sorted(int(v) for v in self._meta["versions"])

    @property
    def provider_name(self) -> str:
        return self._provider.name

    def __repr__(self) -> str:
        return f"Keyring({self.key_id!r}, provider={self._provider.name!r})"

    def __reduce__(self):
        raise TypeError("a Keyring cannot be pickled")

    # --- keys for other parts ----------------------------------------------------------------
    def derive_key(self, purpose: str) -> bytes:
        """32 bytes for ``purpose`` (e.g. "fingerprint", "pseudonym", "encrypt",
        "request-log", "api-keys"), HKDF-SHA256 from the master secret: stable across rotation."""
        if not isinstance(purpose, str) or not _PURPOSE_RE.match(purpose):
            raise ValueError("purpose must be a short lower-case name such as 'fingerprint'")
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=self.keyring_id.encode(),
                    info=b"privtune derive v1\x00" + purpose.encode()).derive(self.__master)

    def signing_key(self) -> Ed25519PrivateKey:
        """The keyring's Ed25519 key (registry manifests, log chain heads): stable, derived
        from the wrapped master secret."""
        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=self.keyring_id.encode(),
                    info=b"privtune signing ed25519 v1").derive(self.__master)
        return Ed25519PrivateKey.from_private_bytes(seed)

    # --- envelope ----------------------------------------------------------------------------
    def wrap_data_key(self, data_key: bytes) -> tuple[str, bytes]:
        """Wrap a file's data key under the current KEK: (key id, wrapped blob)."""
        v = self.current_version
        key_id = f"{self.keyring_id}/v{v}"
        return key_id, self._provider.wrap(v, data_key, wrap_aad(key_id))

    def parse_key_id(self, key_id: str, path: str | Path | None = None) -> int:
        m = _KEY_ID_RE.match(key_id)
        if not m or m.group(1) != self.keyring_id:
            raise SealError(Reason.WRONG_KEY,
                            f"sealed under key {key_id!r}, which belongs to another keyring "
                            f"(this is {self.keyring_id}): wrong key", path)
        version = int(m.group(2))
        if str(version) not in self._meta["versions"]:
            raise SealError(Reason.UNKNOWN_KEY_VERSION,
                            f"sealed under KEK version {version}, which this keyring does not "
                            f"hold (versions: {self.versions})", path)
        return version

    def unwrap_data_key(self, key_id: str, blob: bytes,
                        path: str | Path | None = None) -> bytes:
        """Unwrap a data key sealed under ``key_id`` (distinct SealErrors for each failure)."""
        version = self.parse_key_id(key_id, path)
        try:
            return self._provider.unwrap(version, blob, wrap_aad(key_id))
        except UnwrapFailed:
            self._check_version(version)
            raise SealError(Reason.KEY_ID_MISMATCH,
                            f"the wrapped data key does not open under {key_id}: the key id or "
                            "the wrapped key in the header was altered", path) from None

    def _check_version(self, version: int) -> None:
        if version in self._checked:
            return
        check = self._meta["versions"][str(version)].get("check")
        try:
            if check:
                self._provider.unwrap(version, _b64d(check), _check_aad(version))
        except UnwrapFailed:
            raise SealError(Reason.WRONG_KEK,
                            f"the provider's KEK version {version} is not the one this keyring "
                            "was made with (wrong key?)", self.directory) from None
        self._checked.add(version)

    # --- lifecycle ---------------------------------------------------------------------------
    def rotate(self) -> str:
        """Add a KEK version, make it current and rewrap the master secret. Returns the key id."""
        v = max(self.versions) + 1
        params = self._provider.create_version(v)
        self._provider.bind({**{int(k): d.get("params", {})
                                for k, d in self._meta["versions"].items()}, v: params})
        meta = json.loads(json.dumps(self._meta))
        meta["versions"][str(v)] = {"created": _now(), "params": params,
                                    "check": _b64e(self._provider.wrap(v, bytes(32),
                                                                       _check_aad(v)))}
        meta["master"] = {"version": v, "wrapped": _b64e(
            self._provider.wrap(v, self.__master, self._master_aad()))}
        meta["current"] = v
        _write_meta(self.directory, meta)
        self._meta = meta
        self._checked.add(v)
        return self.key_id

    def retire(self, version: int) -> None:
        """Forget an old KEK version: every file still wrapped under it becomes unreadable."""
        if version == self.current_version:
            raise SealError(Reason.BAD_KEYRING, "the current KEK version cannot be retired")
        if str(version) not in self._meta["versions"]:
            raise SealError(Reason.UNKNOWN_KEY_VERSION, f"no KEK version {version}")
        meta = json.loads(json.dumps(self._meta))
        del meta["versions"][str(version)]
        _write_meta(self.directory, meta)
        self._meta = meta
        self._provider.destroy_version(version)

    def status(self) -> dict[str, Any]:
        """Public facts only (ids, provider, versions, dates): safe to print."""
        return {
            "keyring": self.keyring_id, "provider": self._provider.name,
            "directory": str(self.directory), "current": self.key_id,
            "versions": [{"key_id": f"{self.keyring_id}/v{v}",
                          "created": self._meta["versions"][str(v)].get("created")}
                         for v in self.versions],
        }

    def _master_aad(self) -> bytes:
        return _master_aad(self.keyring_id)


def _master_aad(keyring_id: str) -> bytes:
    return _MASTER_AAD + keyring_id.encode()


def _check_aad(version: int) -> bytes:
    return _CHECK_AAD + str(version).encode()


def _b64e(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def _b64d(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


def _write_meta(directory: Path, meta: dict[str, Any]) -> None:
    atomic_write_text(directory / META_NAME, json.dumps(meta, indent=2) + "\n", perms=0o600)
