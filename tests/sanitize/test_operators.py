import datetime as dt
import os
import random

import pytest

from privtune.anonymize import Keys, Policy, RestoreError, restore_text
from privtune.anonymize.fakes import (
    MOBILE_PREFIXES,
    REGION_CODES,
    fake_value,
    iban_check_digits,
    org_check_char,
)
from privtune.detect.validators import id_check_digit, luhn_valid

KEYS = Keys(b"f" * 32, b"p" * 32, b"e" * 32)


def policy(**kw):
    return Policy(KEYS, **kw)


def test_tags_follow_the_text_language_and_config():
    p = policy()
    assert p.replace("PERSON", "张三", True) == ("tag", "[姓名]")
    assert p.replace("PHONE", "13812345678", True) == ("tag", "[手机号]")
    assert p.replace("ID_CARD", "x", True) == ("tag", "[身份证号]")
    assert p.replace("PERSON", "John", False) == ("tag", "<PERSON>")
    assert policy(tags={"PHONE": "[电话]"}).replace("PHONE", "1", True) == ("tag", "[电话]")
    assert policy(tag_style="en").replace("PHONE", "1", True) == ("tag", "<PHONE>")


def test_mask_keeps_last_n_and_separators():
    p = policy(default_action="mask")
    assert p.replace("PHONE", "138-1234-5678", True) == ("mask", "***-****-5678")
    assert p.mask("张三") == "*三"  # at least half is always hidden


def test_hash_is_keyed_and_consistent():
    p = policy(default_action="hash")
    a = p.replace("PHONE", "13812345678", True)[1]
    assert a == p.replace("PHONE", "138 1234 5678", True)[1]
    assert a.startswith("<PHONE#") and len(a) == len("<PHONE#>") + 16
    assert (
        a
        != Policy(Keys(b"f" * 32, b"q" * 32, b"e" * 32), default_action="hash").replace(
            "PHONE", "13812345678", True
        )[1]
    )


def test_encrypt_is_deterministic_and_restorable_only_with_the_key():
    p = policy(default_action="encrypt")
    tok = p.replace("ID_CARD", "11010519491231002X", True)[1]
    assert tok == p.replace("ID_CARD", "11010519491231002X", True)[1]
    assert "11010519491231002X" not in tok
    text = f"身份证 {tok}，好的"
    assert restore_text(text, KEYS.encrypt) == "身份证 11010519491231002X，好的"
    with pytest.raises(RestoreError):
        restore_text(text, b"z" * 32)
    with pytest.raises(RestoreError):  # tampered
        bad = tok[:-3] + ("A" if tok[-3] != "A" else "B") + tok[-2:]
        restore_text(text.replace(tok, bad), KEYS.encrypt)


def test_unknown_action_is_rejected():
    with pytest.raises(ValueError):
        policy(actions={"PHONE": "shred"})


def test_pseudonyms_are_consistent_and_keyed():
    p = policy(default_action="pseudonym")
    assert p.pseudonym("PERSON", "张三") == p.pseudonym("PERSON", "张三")
    assert p.pseudonym("PHONE", "13812345678") == p.pseudonym("PHONE", "138 1234 5678").replace(
        " ", ""
    )
    other = Policy(Keys(b"f" * 32, b"o" * 32, b"e" * 32))
    assert p.pseudonym("PERSON", "张三") != other.pseudonym("PERSON", "张三")
    zh = p.pseudonym("PERSON", "张三")
    assert all("\u4e00" <= c <= "\u9fff" for c in zh) and 2 <= len(zh) <= 4
    en = p.pseudonym("PERSON", "John Smith")
    assert en.count(" ") == 1 and en.replace(" ", "").isalpha()


@pytest.mark.parametrize("i", range(200))
def test_fake_ids_phones_cards_are_format_valid(i):
    seed = random.Random(i).randbytes(32)
    idc = fake_value(seed, "ID_CARD", "11010519491231002X")
    assert len(idc) == 18 and idc[:6] in REGION_CODES
    assert id_check_digit(idc[:17]) == idc[17]
    born = dt.datetime.strptime(idc[6:14], "%Y%m%d").date()
    assert dt.date(1950, 1, 1) <= born <= dt.date(2005, 12, 31)
    phone = fake_value(seed, "PHONE", "13812345678")
    assert len(phone) == 11 and phone[:3] in MOBILE_PREFIXES
    laid_out = fake_value(seed, "PHONE", "+86 138-1234-5678")
    assert laid_out.startswith("+86 1") and laid_out[4:7] in MOBILE_PREFIXES
    card = fake_value(seed, "BANK_CARD", "6222021234567890128")
    assert len(card) == 19 and card.startswith("62") and luhn_valid(card)
    org = fake_value(seed, "ORG_CODE", "91350100M000100Y43")
    assert org_check_char(org[:17]) == org[17]
    iban = fake_value(seed, "IBAN", "DE89370400440532013000")
    assert iban[2:4] == iban_check_digits(iban[:2], iban[4:])
    ssn = fake_value(seed, "US_SSN", "123-45-6789")
    assert ssn[:3] not in ("000", "666") and ssn[3] == "-"


def test_fakes_never_equal_the_value():
    for _ in range(50):
        assert fake_value(os.urandom(32), "PERSON", "张三") != "张三"
