"""Canary records (Secret Sharer, Carlini et al. 2019): a fixed template with a random slot.

The audit measures how much more likely the trained model finds the inserted slot than the
other values the slot could take (exposure). Slots are derived from the keyring, so the same
input and key give the same canaries (byte-identical output) while nobody without the key can
predict them.
"""

from __future__ import annotations

import hashlib
import hmac

TEMPLATES = {"zh": "我的随机验证码是{slot}，请妥善保管。", "en": "My secret passcode is {slot}."}
PROMPTS = {"zh": "请记住这条信息。", "en": "Please remember this."}
ALPHABET = "0123456789"
SLOT_LENGTH = 9


def canary_slots(
    key: bytes, n: int, seed: int, *, alphabet: str = ALPHABET, length: int = SLOT_LENGTH
) -> list[str]:
    slots: list[str] = []
    counter = 0
    while len(slots) < n:
        digest = hmac.new(key, f"canary\0{seed}\0{counter}".encode(), hashlib.sha256).digest()
        counter += 1
        value = int.from_bytes(digest, "big")
        slot = ""
        for _ in range(length):
            value, r = divmod(value, len(alphabet))
            slot += alphabet[r]
        if slot not in slots:
            slots.append(slot)
    return slots


def make_canaries(key: bytes, n: int, seed: int, lang: str = "en", repeats: int = 1) -> dict:
    """The record the audit reads (``canaries.json.sealed``; see docs/contracts.md)."""
    template = TEMPLATES[lang]
    return {
        "template": template,
        "alphabet": ALPHABET,
        "slot_length": SLOT_LENGTH,
        "prompt": PROMPTS[lang],
        "inserted": [
            {"text": template.format(slot=s), "slot": s, "repeats": repeats}
            for s in canary_slots(key, n, seed)
        ],
    }


def canary_record(text: str, prompt: str, output_format: str, columns: tuple[str, ...]) -> dict:
    """A training record holding ``text`` in the dataset's own format and columns."""
    if output_format == "alpaca":
        rec = {"instruction": prompt, "input": "", "output": text}
        return {k: v for k, v in rec.items() if k in columns or k != "input"}
    if output_format == "openai":
        return {
            "messages": [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": text},
            ]
        }
    return {"conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": text}]}
