"""Key-encryption-key (KEK) providers behind one small interface.

A provider holds KEK *versions* and does two things with them: wrap a data key and unwrap it.
Local providers (env, file, passphrase) hold the KEK bytes and wrap with AES-256-GCM; the
``command`` provider hands both operations to an external program (a KMS or Vault client),
so the KEK never enters this process. A cloud KMS plug-in implements :class:`KekProvider`.

Nothing here prints or logs key material, and no error message quotes it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shlex
import stat
import subprocess
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from privtune.fsutil import atomic_write_text
from privtune.seal import format as fmt
from privtune.seal.errors import Reason, SealError

KEK_SIZE = 32
_WRAP_FORMAT = 1


class UnwrapFailed(Exception):
    """The wrapped blob does not authenticate under this KEK version (internal signal)."""


class KekProvider(ABC):
    """What the keyring needs from a source of KEKs. Versions are integers from 1."""

    name: str = "abstract"

    def bind(self, params: dict[int, dict[str, Any]]) -> None:  # noqa: B027
        """Receive each version's public parameters (as returned by :meth:`create_version`)."""

    @abstractmethod
    def create_version(self, version: int) -> dict[str, Any]:
        """Make KEK ``version`` available; return public (non-secret) parameters to store."""

    @abstractmethod
    def wrap(self, version: int, key: bytes, aad: bytes) -> bytes:
        """Encrypt and authenticate ``key`` (with ``aad``) under KEK ``version``."""

    @abstractmethod
    def unwrap(self, version: int, blob: bytes, aad: bytes) -> bytes:
        """Inverse of :meth:`wrap`; raise :class:`UnwrapFailed` if ``blob`` does not authenticate."""

    def destroy_version(self, version: int) -> None:  # noqa: B027
        """Forget KEK ``version`` where the provider stores it (key file); default: nothing."""


def _decode_key(text: str) -> bytes | None:
    text = text.strip()
    if len(text) == 2 * KEK_SIZE:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    for decoder in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decoder(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            continue
        if len(raw) == KEK_SIZE:
            return raw
    return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class LocalKekProvider(KekProvider):
    """A provider that holds KEK bytes; wraps with AES-256-GCM and a random 96-bit nonce.

    Blob: ``01 ‖ nonce(12) ‖ ciphertext ‖ tag(16)``; associated data ``aad ‖ u32(version)``.
    """

    @abstractmethod
    def kek(self, version: int) -> bytes:
        """The KEK bytes of ``version`` (raise SealError when unavailable)."""

    def wrap(self, version: int, key: bytes, aad: bytes) -> bytes:
        n = fmt.random_bytes(12)
        ct = AESGCM(self.kek(version)).encrypt(n, key, aad + version.to_bytes(4, "big"))
        return bytes([_WRAP_FORMAT]) + n + ct

    def unwrap(self, version: int, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < 1 + 12 + 16 or blob[0] != _WRAP_FORMAT:
            raise UnwrapFailed
        try:
            return AESGCM(self.kek(version)).decrypt(
                blob[1:13], blob[13:], aad + version.to_bytes(4, "big"))
        except InvalidTag:
            raise UnwrapFailed from None


class EnvProvider(LocalKekProvider):
    """KEKs from an environment variable: one key (version 1) or ``v1:KEY,v2:KEY,...``.

    A key is 32 bytes as base64 or 64 hex digits (``openssl rand -base64 32``).
    """

    name = "env"

    def __init__(self, var: str) -> None:
        self.var = var

    def _keys(self) -> dict[int, bytes]:
        value = os.environ.get(self.var)
        if not value:
            raise SealError(Reason.KEK_UNAVAILABLE,
                            f"environment variable {self.var} is not set (expected a 32-byte "
                            "key as base64, e.g. from `openssl rand -base64 32`)")
        keys: dict[int, bytes] = {}
        entries = [e for e in value.replace(";", ",").split(",") if e.strip()]
        for entry in entries:
            label, sep, text = entry.strip().partition(":")
            if sep and label.lower().lstrip("v").isdigit():
                version = int(label.lower().lstrip("v"))
            elif len(entries) == 1:
                version, text = 1, entry
            else:
                version, text = 0, ""
            key = _decode_key(text)
            if version < 1 or key is None:
                raise SealError(Reason.KEK_UNAVAILABLE,
                                f"environment variable {self.var} is malformed: expected one "
                                "32-byte base64 key or entries `vN:KEY` separated by commas")
            keys[version] = key
        return keys

    def kek(self, version: int) -> bytes:
        keys = self._keys()
        if version not in keys:
            raise SealError(Reason.KEK_UNAVAILABLE,
                            f"environment variable {self.var} holds no key for KEK version "
                            f"{version} (add `v{version}:KEY`)")
        return keys[version]

    def create_version(self, version: int) -> dict[str, Any]:
        self.kek(version)  # the operator supplies new versions; we only check one is there
        return {}


class FileProvider(LocalKekProvider):
    """KEKs in a key file readable by its owner only (mode 0600, enforced).

    The file holds one line per version: ``v<N> <base64 key>``.
    """

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def _check_perms(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            raise SealError(Reason.KEK_UNAVAILABLE, "key file not found", self.path) from None
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise SealError(Reason.INSECURE_KEY_FILE,
                            f"key file has mode {mode:04o}; it must be readable by its owner "
                            f"only. Fix it with: chmod 600 {shlex.quote(str(self.path))}",
                            self.path)
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise SealError(Reason.INSECURE_KEY_FILE,
                            "key file is owned by another user; refusing to use it", self.path)

    def _read(self) -> dict[int, bytes]:
        self._check_perms()
        keys: dict[int, bytes] = {}
        for n, line in enumerate(self.path.read_text(encoding="ascii").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            label, _, text = line.strip().partition(" ")
            key = _decode_key(text)
            if not (label.startswith("v") and label[1:].isdigit()) or key is None:
                raise SealError(Reason.KEK_UNAVAILABLE,
                                f"key file line {n} is malformed (expected `vN BASE64KEY`)",
                                self.path)
            keys[int(label[1:])] = key
        return keys

    def _write(self, keys: dict[int, bytes]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = "# privtune KEK file: keep secret, mode 0600\n" + "".join(
            f"v{v} {_b64(k)}\n" for v, k in sorted(keys.items()))
        atomic_write_text(self.path, text, perms=0o600)

    def kek(self, version: int) -> bytes:
        keys = self._read()
        if version not in keys:
            raise SealError(Reason.KEK_UNAVAILABLE,
                            f"key file holds no key for KEK version {version}", self.path)
        return keys[version]

    def create_version(self, version: int) -> dict[str, Any]:
        keys = self._read() if self.path.exists() else {}
        if version not in keys:  # an unused version left by an interrupted rotate is reused
            keys[version] = os.urandom(KEK_SIZE)
            self._write(keys)
        return {}

    def destroy_version(self, version: int) -> None:
        keys = self._read()
        if keys.pop(version, None) is not None:
            self._write(keys)


class PassphraseProvider(LocalKekProvider):
    """KEK = scrypt(passphrase, per-version salt). The passphrase comes from an env variable
    (or, in the CLI, a hidden prompt); rotation draws a new salt, hence a new KEK."""

    name = "passphrase"
    N, R, P = 1 << 15, 8, 1

    def __init__(self, var: str, passphrase: str | None = None) -> None:
        self.var = var
        self._passphrase = passphrase
        self._params: dict[int, dict[str, Any]] = {}
        self._cache: dict[int, bytes] = {}

    def bind(self, params: dict[int, dict[str, Any]]) -> None:
        self._params = dict(params)

    def _secret(self) -> bytes:
        value = self._passphrase if self._passphrase is not None else os.environ.get(self.var)
        if not value:
            raise SealError(Reason.KEK_UNAVAILABLE,
                            f"no passphrase: set environment variable {self.var}")
        return value.encode("utf-8")

    def kek(self, version: int) -> bytes:
        if version not in self._cache:
            p = self._params.get(version)
            if not p:
                raise SealError(Reason.KEK_UNAVAILABLE, f"no scrypt salt for KEK version {version}")
            self._cache[version] = Scrypt(salt=base64.b64decode(p["salt"]), length=KEK_SIZE,
                                          n=p["n"], r=p["r"], p=p["p"]).derive(self._secret())
        return self._cache[version]

    def create_version(self, version: int) -> dict[str, Any]:
        self._secret()
        params = {"kdf": "scrypt", "salt": _b64(os.urandom(16)), "n": self.N, "r": self.R,
                  "p": self.P}
        self._params[version] = params
        return params


class CommandProvider(KekProvider):
    """An external program does the wrapping (KMS, Vault, HSM). Protocol (docs/keys.md):
    the program gets one JSON object on stdin and writes one JSON object to stdout.

    request:  {"op": "wrap"|"unwrap"|"create", "version": N, "keyring": ID,
               "data": base64, "aad": base64}
    response: {"data": base64}  or  {"error": "message", "code": "auth"|"other"}
    """

    name = "command"

    def __init__(self, command: str, keyring_id: str = "", timeout: float = 60.0) -> None:
        self.argv = shlex.split(command)
        self.keyring_id = keyring_id
        self.timeout = timeout

    def _call(self, op: str, version: int, data: bytes = b"", aad: bytes = b"") -> bytes:
        request = json.dumps({"op": op, "version": version, "keyring": self.keyring_id,
                              "data": _b64(data), "aad": _b64(aad)})
        try:
            proc = subprocess.run(self.argv, input=request.encode(), capture_output=True,
                                  timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SealError(Reason.KMS_ERROR,
                            f"kms_command could not run: {type(exc).__name__}") from None
        try:
            response = json.loads(proc.stdout.decode() or "{}")
        except (ValueError, UnicodeDecodeError):
            response = {}
        if proc.returncode != 0 or not isinstance(response, dict) or "error" in response \
                or "data" not in response:
            if isinstance(response, dict) and response.get("code") == "auth":
                raise UnwrapFailed
            msg = str(response.get("error", "")) if isinstance(response, dict) else ""
            raise SealError(Reason.KMS_ERROR,
                            f"kms_command failed on {op!r} (exit {proc.returncode})"
                            + (f": {msg[:200]}" if msg else ""))
        return base64.b64decode(response["data"])

    def create_version(self, version: int) -> dict[str, Any]:
        self._call("create", version)
        return {}

    def wrap(self, version: int, key: bytes, aad: bytes) -> bytes:
        return self._call("wrap", version, key, aad)

    def unwrap(self, version: int, blob: bytes, aad: bytes) -> bytes:
        return self._call("unwrap", version, blob, aad)
