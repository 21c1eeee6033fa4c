"""Operators that replace one detected value, and the per-type policy that picks them.

Operators: ``tag`` (``[手机号]`` in Chinese text, ``<PHONE>`` in English), ``mask`` (keep the
last N characters), ``hash`` (keyed HMAC token), ``pseudonym`` (consistent realistic fake, see
:mod:`privtune.anonymize.fakes`), ``encrypt`` (deterministic AES-SIV token that key holders can
restore with :func:`restore_text`) and ``drop`` (the whole record is left out).

Every token an operator writes (tags, hash and encryption tokens) is recognised by
:func:`protected_regions`, so scanning sanitized text again neither re-anonymizes nor reports
them: sanitizing sanitized data changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privtune.anonymize.fakes import fake_value
from privtune.anonymize.fingerprint import fingerprint, normalize

ACTIONS = ("tag", "mask", "hash", "pseudonym", "encrypt", "drop")

ZH_TAGS: dict[str, str] = {
    "PERSON": "[姓名]",
    "PHONE": "[手机号]",
    "EMAIL": "[邮箱]",
    "ID_CARD": "[身份证号]",
    "BANK_CARD": "[银行卡号]",
    "ADDRESS": "[地址]",
    "IP_ADDRESS": "[IP地址]",
    "PASSPORT": "[护照号]",
    "LICENSE_PLATE": "[车牌号]",
    "ORG_CODE": "[统一社会信用代码]",
    "US_SSN": "[社会安全号]",
    "IBAN": "[银行账号]",
    "URL": "[网址]",
    "DATE_OF_BIRTH": "[出生日期]",
    "SECRET": "[密钥]",
    "IM_ID": "[账号]",
    "CUSTOM": "[敏感信息]",
    "OTHER": "[敏感信息]",
}
_CJK = re.compile(r"[\u3400-\u9fff]")
_ENC_TOKEN = re.compile(r"⟦enc:([A-Z_]+):([A-Za-z0-9_-]+)⟧")
_HASH_TOKEN = re.compile(r"<[A-Z_]+#[0-9a-f]{8,64}>")
_EN_TAG = re.compile(r"<[A-Z][A-Z_]*>")


def en_tag(pii_type: str) -> str:
    return f"<{pii_type}>"


def is_chinese(text: str) -> bool:
    return _CJK.search(text) is not None


class RestoreError(ValueError):
    """An encryption token cannot be restored (wrong key or a tampered token)."""


@dataclass(frozen=True)
class Keys:
    """The three keys the operators need (derived from one keyring; never printed)."""

    fingerprint: bytes
    pseudonym: bytes
    encrypt: bytes

    @classmethod
    def from_keyring(cls, keyring) -> Keys:  # type: ignore[no-untyped-def]
        return cls(
            keyring.derive_key("fingerprint"),
            keyring.derive_key("pseudonym"),
            keyring.derive_key("encrypt"),
        )

    def __repr__(self) -> str:  # keys never end up in logs or tracebacks
        return "Keys(<redacted>)"


def _siv(key: bytes) -> AESSIV:
    wide = HKDF(hashes.SHA256(), 64, salt=None, info=b"privtune anonymize aes-siv").derive(key)
    return AESSIV(wide)


#: free-text types whose kept "last characters" would still identify (a surname, a street)
_MASK_ALL = frozenset({"PERSON", "ADDRESS", "ORG"})


@dataclass
class Policy:
    """Which operator each type gets, and the operators' settings."""

    keys: Keys
    actions: Mapping[str, str] = field(default_factory=dict)
    default_action: str = "tag"
    mask_keep_last: int = 4
    mask_char: str = "*"
    tags: Mapping[str, str] = field(default_factory=dict)  # overrides, e.g. {"PHONE": "[电话]"}
    tag_style: str = "auto"  # auto | zh | en
    hash_length: int = 16

    def __post_init__(self) -> None:
        for t, a in {**self.actions, "*": self.default_action}.items():
            if a not in ACTIONS:
                raise ValueError(
                    f"unknown action {a!r} for {t} (expected one of {', '.join(ACTIONS)})"
                )
        self._siv = _siv(self.keys.encrypt)

    @classmethod
    def from_config(cls, cfg, keys: Keys) -> Policy:  # type: ignore[no-untyped-def]
        return cls(
            keys=keys,
            actions={k.upper(): v for k, v in cfg.actions.items()},
            default_action=cfg.default_action,
            mask_keep_last=cfg.mask_keep_last,
            tags=dict(getattr(cfg, "tags", {}) or {}),
            tag_style=getattr(cfg, "tag_style", "auto"),
        )

    def action(self, pii_type: str) -> str:
        return self.actions.get(pii_type, self.default_action)

    # --- operators -------------------------------------------------------------------------
    def tag(self, pii_type: str, chinese: bool) -> str:
        if pii_type in self.tags:
            return self.tags[pii_type]
        zh = chinese if self.tag_style == "auto" else self.tag_style == "zh"
        return ZH_TAGS.get(pii_type, f"[{pii_type}]") if zh else en_tag(pii_type)

    def mask(self, value: str, pii_type: str = "") -> str:
        positions = [i for i, c in enumerate(value) if c.isalnum()]
        keep = min(self.mask_keep_last, len(positions) // 2)
        if pii_type in _MASK_ALL:  # the last characters of a name or address are its surname
            keep = 0  # or street: hide all of it
        if pii_type in ("EMAIL", "URL") and "." in value:  # keep only the top-level domain
            tld = value.rindex(".")
            positions = [i for i in positions if i < tld]
            keep = 0
        hidden = set(positions[: len(positions) - keep])
        return "".join(self.mask_char if i in hidden else c for i, c in enumerate(value))

    def hash(self, pii_type: str, value: str) -> str:
        msg = f"hash\0{pii_type}\0{normalize(pii_type, value)}".encode()
        digest = hmac.new(self.keys.pseudonym, msg, hashlib.sha256).hexdigest()
        return f"<{pii_type}#{digest[: self.hash_length]}>"

    def pseudonym(self, pii_type: str, value: str) -> str:
        msg = f"pseudonym\0{pii_type}\0{normalize(pii_type, value)}".encode()
        return fake_value(
            hmac.new(self.keys.pseudonym, msg, hashlib.sha256).digest(), pii_type, value
        )

    def encrypt(self, pii_type: str, value: str) -> str:
        ct = self._siv.encrypt(value.encode(), [pii_type.encode()])
        return f"⟦enc:{pii_type}:{base64.urlsafe_b64encode(ct).rstrip(b'=').decode()}⟧"

    def fingerprint(self, pii_type: str, value: str) -> str:
        return fingerprint(self.keys.fingerprint, pii_type, value)

    def replace(self, pii_type: str, value: str, chinese: bool) -> tuple[str, str]:
        """``(action, replacement)`` for one value; ``drop`` returns an empty replacement."""
        action = self.action(pii_type)
        if action == "tag":
            return action, self.tag(pii_type, chinese)
        if action == "mask":
            return action, self.mask(value, pii_type)
        if action == "hash":
            return action, self.hash(pii_type, value)
        if action == "pseudonym":
            return action, self.pseudonym(pii_type, value)
        if action == "encrypt":
            return action, self.encrypt(pii_type, value)
        return action, ""

    def known_tokens(self) -> list[str]:
        """Literal tags this policy can write (for :func:`protected_regions`)."""
        out = set(ZH_TAGS.values()) | set(self.tags.values())
        return sorted(out, key=len, reverse=True)


def protected_regions(
    text: str, literals: list[str] | tuple[str, ...] = ()
) -> list[tuple[int, int]]:
    """Spans of ``text`` that are privtune's own tokens (tags, hash and encryption tokens)."""
    regions = [m.span() for pat in (_ENC_TOKEN, _HASH_TOKEN, _EN_TAG) for m in pat.finditer(text)]
    for lit in literals:
        if lit and lit in text:
            start = text.find(lit)
            while start >= 0:
                regions.append((start, start + len(lit)))
                start = text.find(lit, start + len(lit))
    return sorted(regions)


def restore_text(text: str, encrypt_key: bytes) -> str:
    """Decrypt every encryption token in ``text`` (only key holders can do this)."""
    siv = _siv(encrypt_key)

    def one(m: re.Match[str]) -> str:
        raw = m[2] + "=" * (-len(m[2]) % 4)
        try:
            return siv.decrypt(base64.urlsafe_b64decode(raw), [m[1].encode()]).decode()
        except Exception as exc:  # InvalidTag, bad base64
            raise RestoreError(
                "an encryption token cannot be restored (wrong key or tampered token)"
            ) from exc

    return _ENC_TOKEN.sub(one, text)


def count_tokens(text: str) -> int:
    return len(_ENC_TOKEN.findall(text))
