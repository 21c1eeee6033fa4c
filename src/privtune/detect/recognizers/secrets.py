"""Secrets, all reported as type SECRET: cloud and API tokens, JWTs, private-key blocks,
connection strings and URLs with passwords, high-entropy values next to key words.

Private-key blocks are unbounded, so they are reported line by line: the ``-----BEGIN ...
PRIVATE KEY-----`` marker line, every body line (base64, at most 76 characters in PEM, or a
header such as ``Proc-Type:``) and the END marker line are separate, adjacent SECRET spans.
That keeps ``Scanner.max_span_length`` bounded for the streaming gateway, and a body line seen
without its BEGIN marker (a stream chunk) is still caught by the ``base64_blob`` rule.
"""

from __future__ import annotations

import re

from privtune.detect import validators as v
from privtune.detect.recognizer import NA, NB, Candidate, PatternRecognizer

_KEY_WORDS = (r"(?:password|passwd|pwd|pass|secret|client[_\-]?secret|token|access[_\-]?token|"
              r"auth[_\-]?token|api[_\-]?key|apikey|access[_\-]?key(?:[_\-]?id)?|secret[_\-]?key|"
              r"private[_\-]?key|credentials?|密码|口令|密钥|秘钥|令牌)")
#: the same key words, written so that the pattern opens with a character class (re's fast
#: first-character scan; a case-insensitive alternation is tried at every position, ~5x
#: slower): first character, then the rest of the words starting with it, in the original
#: order (words with different first characters can never compete). ``ſ`` is the one
#: non-ASCII character that (?i) equates with one of p, s, c, t, a.
_KEY_WORDS_CLASS_FIRST = (
    r"[PpSs\u017fCcTtAa密口秘令]"
    r"(?:(?<=[Pp])(?i:assword|asswd|wd|ass|rivate[_\-]?key)"
    r"|(?<=[Ss\u017f])(?i:ecret|ecret[_\-]?key)"
    r"|(?<=[Cc])(?i:lient[_\-]?secret|redentials?)"
    r"|(?<=[Tt])(?i:oken)"
    r"|(?<=[Aa])(?i:ccess[_\-]?token|uth[_\-]?token|pi[_\-]?key|pikey|ccess[_\-]?key(?:[_\-]?id)?)"
    r"|(?<=密)(?:码|钥)|(?<=口)令|(?<=秘)钥|(?<=令)牌)")


def _keyword_value(value: str) -> float | bool:
    if len(value) < 4 or value.lower() in {"none", "null", "true", "false", "******", "xxxx",
                                             "<redacted>", "redacted", "changeme"}:
        return False
    return not set(value) <= {"*", "x", "X", "."}


#: runs of lower-case letters, of upper-case letters, of digits; any other character but _ -
_RUNS = re.compile(r"[a-z]+|[A-Z]+|[0-9]+|[^A-Za-z0-9_\-]")
_VOWELS = re.compile(r"[aeiouy]")


def _identifier(value: str) -> bool:
    """An identifier made of words: CamelCase (``PreTrainedTokenizerFast``,
    ``LlamaForCausalLM``, ``GPT2LMHeadModel``), optionally joined by ``_`` or ``-``. Every
    lower-case run is 2+ letters with a vowel (words are pronounceable), they average 3+
    letters and make 40%+ of the value, capital runs are 5 or shorter, and there are at most 2
    digits, not first: random tokens (a lone lower-case letter every few characters,
    consonant clusters, long capital runs, digits throughout) rarely fit.
    Linear: no regex backtracking on long values."""
    lower: list[int] = []
    digits = 0
    for m in _RUNS.finditer(value):
        r = m.group()
        if r.islower():
            if len(r) < 2 or not _VOWELS.search(r):
                return False
            lower.append(len(r))
        elif r.isupper():
            if len(r) > 5:  # acronyms are short (GPT, XLMR, LMHead)
                return False
        elif r.isdigit():
            digits += len(r)
            if digits > 2 or m.start() == 0:
                return False
        else:
            return False
    n = sum(lower)
    return bool(lower) and n >= 3 * len(lower) and 5 * n >= 2 * len(value)


#: a hex digest (md5, sha1, sha224, sha256, sha384, sha512 lengths)
_HASH_LENGTHS = frozenset({32, 40, 56, 64, 96, 128})
_HEX = re.compile(r"[0-9a-f]+|[0-9A-F]+")
#: what must come right before a hex digest for it to count as a secret: a secret key word
#: (``api_key=``, ``"secret": "``, ``token:``, ``password =``) or ``Bearer``; a digest under
#: ``sha256``, ``digest``, ``hash`` or a file name (a manifest) is not a secret.
_SECRET_KEY_BEFORE = re.compile(
    r"(?i)(?:" + _KEY_WORDS + r"[\"']?[ \t]{0,3}(?:[:=：]|=>)|bearer)[ \t]{0,3}[\"']?$")


def _entropy_value(value: str) -> float | bool:
    if len(value) < 16 or v.char_classes(value) < 2 or v.entropy(value) < 3.0:
        return False
    if _identifier(value):  # a class or model name, not a secret
        return False
    return 0.8


def _hex_digest_post(folded: str, s: int, e: int, score: float) -> float | None:
    """A pure-hex value of a hash length is a digest unless a secret key names it."""
    if e - s not in _HASH_LENGTHS or not _HEX.fullmatch(folded, s, e):
        return score
    return score if _SECRET_KEY_BEFORE.search(folded[max(0, s - 40):s]) else None


def _blob(value: str) -> float | bool:
    if v.char_classes(value) < 3 or v.entropy(value) < 4.0:
        return False
    return 0.6


class PemBlock:
    """Private-key blocks, reported line by line (see the module docstring)."""

    name = "private_key"
    types = ("SECRET",)
    max_len = 80
    _begin = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
    _end = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
    _line = re.compile(r"[^\r\n]{1,80}")

    def find(self, folded: str) -> list[Candidate]:
        out: list[Candidate] = []
        if "PRIVATE KEY" not in folded:
            return out
        for m in self._begin.finditer(folded):
            out.append((m.start(), m.end(), "SECRET", 0.99, self.name, 1))
            end = self._end.search(folded, m.end(), m.end() + 16384)
            stop = end.start() if end else min(len(folded), m.end() + 16384)
            for lm in self._line.finditer(folded, m.end(), stop):
                if lm.group().strip():
                    s = lm.start() + len(lm.group()) - len(lm.group().lstrip())
                    e = lm.end() - (len(lm.group()) - len(lm.group().rstrip()))
                    out.append((s, e, "SECRET", 0.99, self.name, 1))
            if end:
                out.append((end.start(), end.end(), "SECRET", 0.99, self.name, 1))
        return out


def recognizers() -> list[PatternRecognizer]:
    tok = r"(?![A-Za-z0-9_\-])"
    return [
        PatternRecognizer("aws_access_key", "SECRET", trigger=("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA"), window=(0, 20),
                          pattern=NB + r"(?P<v>(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA)[0-9A-Z]{16})" + NA,
                          score=0.95, max_len=20, priority=2),
        PatternRecognizer("gcp_api_key", "SECRET", trigger=("AIza",), window=(0, 39),
                          pattern=r"(?<![A-Za-z0-9_\-])(?P<v>AIza[0-9A-Za-z_\-]{35})" + tok,
                          score=0.95, max_len=39, priority=2),
        PatternRecognizer("github_token", "SECRET", trigger=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), window=(0, 255),
                          pattern=r"(?<![A-Za-z0-9_])(?P<v>gh[pousr]_[A-Za-z0-9]{36,255}|"
                          r"github_pat_[A-Za-z0-9_]{60,255})" + tok,
                          score=0.97, max_len=255, priority=2),
        PatternRecognizer("slack_token", "SECRET", trigger=("xox", "hooks.slack"), window=(8, 250),
                          pattern=r"(?<![A-Za-z0-9_\-])(?P<v>xox[abposr]-[A-Za-z0-9\-]{10,250}|"
                          r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]{20,120})" + tok,
                          score=0.95, max_len=250, priority=2),
        PatternRecognizer("openai_key", "SECRET", trigger=("sk-",), window=(0, 220),
                          pattern=r"(?<![A-Za-z0-9_\-])(?P<v>sk-(?:proj-|svcacct-|admin-|ant-[a-z0-9]+-)?"
                          r"[A-Za-z0-9_\-]{20,200})" + tok,
                          validator=lambda s: v.char_classes(s[3:]) >= 2,
                          score=0.9, max_len=220, priority=2),
        PatternRecognizer("stripe_key", "SECRET", trigger=("_live_", "_test_"), window=(3, 110),
                          pattern=r"(?<![A-Za-z0-9_])(?P<v>(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,99})"
                          + tok, score=0.9, max_len=110, priority=2),
        PatternRecognizer("jwt", "SECRET", trigger=("eyJ",), window=(0, 1810),
                          pattern=r"(?<![A-Za-z0-9_\-])(?P<v>eyJ[A-Za-z0-9_\-]{8,200}\.eyJ[A-Za-z0-9_\-]"
                          r"{4,1200}\.[A-Za-z0-9_\-]{0,400})" + tok,
                          score=0.95, max_len=1808, priority=2),
        PatternRecognizer("connection_string", "SECRET", trigger=("://",), window=(24, 512),
                          pattern=r"(?i)(?<![A-Za-z0-9+.\-])(?P<v>[a-z][a-z0-9+.\-]{1,20}://"
                          r"[^\s:@/<>\"']{1,128}:[^\s@/<>\"']{1,128}@[^\s<>\"'，。；、）」]{1,350})",
                          score=0.97, max_len=512, priority=3),
        PatternRecognizer("keyword_secret", "SECRET", trigger=("pass", "pwd", "secret", "token", "key", "credential", "密码", "口令", "密钥", "秘钥", "令牌"), trigger_lower=True, window=(0, 150),
                          pattern=_KEY_WORDS_CLASS_FIRST + r"[\"']?[ ]{0,3}(?:[:=：]|=>|(?i:is)|是|为)[ ]{0,3}"
                          r"[\"']?(?P<v>[^\s\"',;<>]{4,128})",
                          hs_pattern=r"(?i)" + _KEY_WORDS + r"[\"']?[ ]{0,3}(?:[:=：]|=>|is|是|为)[ ]{0,3}"
                          r"[\"']?(?P<v>[^\s\"',;<>]{4,128})",
                          validator=_keyword_value, score=0.8, max_len=128, priority=4),
        PatternRecognizer("high_entropy_near_key", "SECRET", trigger=("key", "secret", "token", "auth", "bearer", "credential", "密钥", "令牌"), trigger_lower=True, window=(40, 240),
                          pattern=r"(?<![A-Za-z0-9+/_\-])(?P<v>[A-Za-z0-9+/_\-]{16,200}={0,2})"
                          r"(?![A-Za-z0-9+/_\-])",
                          validator=_entropy_value, context=("key", "secret", "token", "auth",
                                                             "bearer", "credential", "密钥",
                                                             "令牌"),
                          context_required=True, context_window=32, context_boost=0.0,
                          post=_hex_digest_post, max_len=202, priority=6),
        PatternRecognizer("base64_blob", "SECRET",
                          r"(?<![A-Za-z0-9+/_\-])(?P<v>[A-Za-z0-9+/]{40,200}={0,2})"
                          r"(?![A-Za-z0-9+/_\-])",
                          validator=_blob, score=0.6, max_len=202, priority=90, trigger=("\\d",)),
    ]
