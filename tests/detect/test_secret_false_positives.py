"""The high-entropy-near-key rule: hex digests (manifests, train summaries) and CamelCase
identifiers (``"tokenizer_class": "PreTrainedTokenizerFast"``) are not secrets; real secrets
next to the same key words still are."""

from __future__ import annotations

import pytest

from privtune.config import DetectConfig
from privtune.detect import Scanner, hsplan

SHA256 = "a1563c1fc721eede917a8d78bbe97f26194f081034cc8768cecd3e16fd21575a"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
MD5 = "9e107d9d372bb6826bd81d3542a419d6"
SHA512 = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce" * 2

ENGINES = ["passes", "combined"] + (["hyperscan"] if hsplan.AVAILABLE else [])


@pytest.fixture(params=ENGINES, scope="module")
def scanner(request):
    return Scanner(DetectConfig(names=False), engine=request.param)


def secrets(scanner, text):
    return [text[s.start:s.end] for s in scanner.scan(text) if s.type == "SECRET"]


@pytest.mark.parametrize("text", [
    '"tokenizer_class": "PreTrainedTokenizerFast"',
    "tokenizer_class: PreTrainedTokenizerFast",
    '{"tokenizer_class": "LlamaTokenizerFast", "auth_class": "XLMRobertaTokenizer"}',
    "token_classifier: GPT2LMHeadModel",
    '"key_model": "Qwen2-VL-Instruct"',
    f'"tokenizer.json": {{"sha256": "{SHA256}", "size": 3}}',
    f"tokenizer.json: {SHA256}",
    f"tokenizer_config.json sha256 {SHA256}",
    f"token digest: {SHA256}",
    f'"auth_log": {{"hash": "{SHA1}"}}',
    f"key hash md5 {MD5}",
    f"secret_scan_report.json: {SHA512}",
    f"key digest: {SHA256.upper()}",
])
def test_digests_and_identifiers_are_not_secrets(scanner, text):
    assert secrets(scanner, text) == []


@pytest.mark.parametrize(("text", "value"), [
    ("my key AKIAIOSFODNN7EXAMPLE ok", "AKIAIOSFODNN7EXAMPLE"),
    ("token ghp_" + "Ab12" * 9, "ghp_" + "Ab12" * 9),
    ('api_key = "Zx9Qw3Er5Ty7Ui1Op2As4Df6Gh8Jk0L"', "Zx9Qw3Er5Ty7Ui1Op2As4Df6Gh8Jk0L"),
    ("the key is  Zx9Qw3Er5Ty7Ui1Op2As4Df6Gh8Jk0L here", "Zx9Qw3Er5Ty7Ui1Op2As4Df6Gh8Jk0L"),
    ("aws secret key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("auth eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
     "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    # a hex value IS a secret when a secret key names it
    (f'api_key = "{SHA256}"', SHA256),
    (f'"client_secret": "{MD5}"', MD5),
    (f"access_token: {SHA1}", SHA1),
    (f"password={MD5}", MD5),
    (f"Authorization: Bearer {MD5}", MD5),
    # hex of a non-hash length, or mixed with other characters, is not a digest
    ("api token 9e107d9d372bb6826bd81d3542a4", "9e107d9d372bb6826bd81d3542a4"),
])
def test_real_secrets_still_detected(scanner, text, value):
    assert value in secrets(scanner, text)


def test_camelcase_rule_rejects_random_tokens():
    import random
    import string

    from privtune.detect.recognizers.secrets import _identifier

    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits
    hits = sum(_identifier("".join(rng.choice(alphabet) for _ in range(24)))
               for _ in range(20000))
    assert hits / 20000 < 0.001
