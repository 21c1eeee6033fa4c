import hashlib
import hmac

import pytest

from privtune.anonymize import fingerprint
from privtune.detect.normalize import normalize_value

KEY = b"k" * 32


def test_fingerprint_is_hmac_of_type_and_normalized_value():
    want = hmac.new(
        KEY, f"EMAIL\0{normalize_value('EMAIL', 'A@B.com')}".encode(), hashlib.sha256
    ).hexdigest()
    assert fingerprint(KEY, "EMAIL", "A@B.com") == want
    assert len(want) == 64


def test_fingerprint_normalizes_spelling_and_depends_on_key_and_type():
    assert fingerprint(KEY, "EMAIL", "A@B.COM") == fingerprint(KEY, "EMAIL", "a@b.com")
    assert fingerprint(KEY, "PHONE", "138 1234 5678") == fingerprint(KEY, "PHONE", "13812345678")
    assert fingerprint(KEY, "PHONE", "13812345678") != fingerprint(
        b"x" * 32, "PHONE", "13812345678"
    )
    assert fingerprint(KEY, "PHONE", "13812345678") != fingerprint(KEY, "IM_ID", "13812345678")


def test_fingerprint_rejects_short_keys():
    with pytest.raises(ValueError):
        fingerprint(b"short", "EMAIL", "a@b.com")
