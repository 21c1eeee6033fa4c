"""Customer rules from privtune.yaml (``detect.custom``): regexes and literal deny-lists.

All deny-list terms of all rules go into one Aho-Corasick automaton (pyahocorasick), so a
thousand customer names cost one pass. ASCII terms must stand alone (no ASCII letter or digit
right before or after); CJK terms match anywhere.
"""

from __future__ import annotations

import re

import ahocorasick

from privtune.config import CustomRule
from privtune.detect.recognizer import Candidate, PatternRecognizer


def lower_same_length(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class TermRecognizer:
    """Literal terms from every custom rule, matched in one Aho-Corasick pass."""

    name = "custom_terms"

    def __init__(self, rules: list[CustomRule]) -> None:
        self.types = tuple(sorted({r.type for r in rules if r.terms}))
        self._sensitive = ahocorasick.Automaton()
        self._insensitive = ahocorasick.Automaton()
        n_s = n_i = 0
        self.max_len = 0
        for idx, rule in enumerate(rules):
            for term in rule.terms:
                if not term:
                    continue
                self.max_len = max(self.max_len, len(term))
                if rule.case_sensitive:
                    self._sensitive.add_word(term, (len(term), rule.type, rule.score, idx))
                    n_s += 1
                else:
                    key = lower_same_length(term)
                    self._insensitive.add_word(key, (len(key), rule.type, rule.score, idx))
                    n_i += 1
        if n_s:
            self._sensitive.make_automaton()
        else:
            self._sensitive = None
        if n_i:
            self._insensitive.make_automaton()
        else:
            self._insensitive = None

    def find(self, folded: str) -> list[Candidate]:
        out: list[Candidate] = []
        for auto, hay in ((self._sensitive, folded),
                          (self._insensitive, lower_same_length(folded)
                           if self._insensitive is not None else "")):
            if auto is None:
                continue
            for end_idx, (n, typ, score, idx) in auto.iter(hay):
                s, e = end_idx - n + 1, end_idx + 1
                if _is_ascii_alnum(hay[s]) and s > 0 and _is_ascii_alnum(hay[s - 1]):
                    continue
                if _is_ascii_alnum(hay[e - 1]) and e < len(hay) and _is_ascii_alnum(hay[e]):
                    continue
                out.append((s, e, typ, score, f"custom:{idx}", 0))
        return out


def build(rules: list[CustomRule]) -> list[PatternRecognizer | TermRecognizer]:
    recs: list[PatternRecognizer | TermRecognizer] = []
    for idx, rule in enumerate(rules):
        if rule.pattern:
            flags = 0 if rule.case_sensitive else re.IGNORECASE
            recs.append(PatternRecognizer(f"custom:{idx}", rule.type, rule.pattern,
                                          score=rule.score, flags=flags, max_len=256,
                                          priority=0))
    if any(r.terms for r in rules):
        recs.append(TermRecognizer(rules))
    return recs
