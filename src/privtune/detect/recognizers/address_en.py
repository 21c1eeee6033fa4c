"""Street addresses in Latin-script text (English and other European forms).

Rules: a house number followed by up to five words ending in a street type (Street, Ave., Rd,
Lane, Strasse, straat, gatan ...), optionally continued by a unit (Apt. 12, Suite 300) and a
city / state / postcode tail on the same line; a number placed after the street name
(Vesturgata 66, Via Roma 12); military addresses (PSC 1234, Box 5678, APO AE 09123); a bare
unit (Apt. 870). Only texts holding a digit are looked at.
"""

from __future__ import annotations

import re

from privtune.detect.recognizer import Candidate

_W = r"[A-Za-zÀ-ɏ][A-Za-zÀ-ɏ'.\-]*"
#: every character that ``(?i)`` lets match each ASCII letter (Python's case folding adds
#: the long s, the Kelvin sign and the dotted/dotless i)
_FOLDS = {"i": "Iiİı", "k": "KkK", "s": "Ssſ"}


def _first_letter_alternation(words: tuple[str, ...]) -> str:
    """``(?:w1|w2|...)`` for a ``(?i)`` pattern, grouped by first letter, each group opened by
    an explicit case-sensitive class ``(?-i:[sSſ])``. ``re`` tries the alternatives of a group
    one by one and, under ``(?i)``, cannot skip a literal that does not match cheaply; a plain
    class can, so a word start that begins no street type costs a few class tests instead
    of ~70 failed literals (alt 2: 17 -> 4 ms/MB). Within a group the words keep their
    order, and words that start differently never match at the same position, so the
    matches are the ones of the plain alternation."""
    groups: dict[str, list[str]] = {}
    for w in words:
        groups.setdefault(w[0], []).append(re.escape(w[1:]))
    return "(?:" + "|".join(
        f"(?-i:[{_FOLDS.get(c, c + c.upper())}])(?:{'|'.join(rest)})"
        for c, rest in groups.items()) + ")"


_TYPE_WORDS = (
    "street", "st", "avenue", "ave", "road", "rd", "lane", "ln", "drive", "dr", "court", "ct",
    "boulevard", "blvd", "way", "place", "pl", "square", "sq", "terrace", "ter", "parkway",
    "pkwy", "circle", "cir", "highway", "hwy", "trail", "trl", "plaza", "row", "crescent",
    "close", "gardens", "park", "walk", "alley", "loop", "path", "pike", "ridge", "route", "rte",
    "mews", "strasse", "straße", "str", "gasse", "weg", "allee", "platz", "plein", "laan",
    "straat", "gracht", "kade", "gade", "vej", "gatan", "vägen", "gata", "katu", "tie", "utca",
    "ulica", "rue", "avenida", "calle", "rua", "via", "viale", "piazza", "corso", "strada")
#: street-name endings written as one word with the name (Hauptstraße, Storgatan)
_SUFFIX_WORDS = ("straße", "strasse", "gasse", "weg", "gatan", "vägen", "gata", "katu", "utca",
                 "straat", "vej", "gade")
_TYPES = _first_letter_alternation(_TYPE_WORDS)
_UNIT = r"(?:,?\s*(?:apt\.?|apartment|suite|ste\.?|unit|room|floor|fl\.?|#)\s*\d+[A-Za-z]?)"
_TAIL = r"(?:,?[ \t]*\n?[ \t]*(?:" + _W + r"[ \t]){0,3}" + _W + r",?[ \t]+(?:[A-Z]{2}[ \t]+)?\d{4,5})?"
_ADDRESS = re.compile(
    r"(?i)(?<![0-9A-Za-z])(?:"
    r"\d{1,5}[A-Za-z]?,?\s+(?:" + _W + r"\s+){0,4}" + _TYPES + r"\.?(?![A-Za-z])"
    r"(?:\s+\d{1,5}[A-Za-z]?(?![0-9A-Za-z]))?" + _UNIT + r"?"
    r"|(?:" + _TYPES + r"\s+)(?:" + _W + r"\s+){0,3}" + _W + r"\s+\d{1,5}[A-Za-z]?"
    + _UNIT + r"?"
    # the look-ahead (implied by what follows it) drops a word start unless a number comes
    # after the word, before W backtracks through it trying each ending
    r"|(?=[A-Za-zÀ-ɏ'.\-]+\s+\d)(?:" + _W + _first_letter_alternation(_SUFFIX_WORDS) + ")"
    r"\s+\d{1,5}[A-Za-z]?" + _UNIT + r"?"
    r"|(?:psc|unit|cmr)\s+\d{4},?\s*box\s+\d{4}(?:\s+(?:apo|fpo|dpo)\s+(?:aa|ae|ap)\s+\d{5})?"
    r"|(?:uss|usns|usnv|uscgc)\s+" + _W + r"(?:\s+" + _W + r")?(?:\s+(?:fpo|apo)\s+(?:aa|ae|ap)"
    r"\s+\d{5})?"
    r"|(?:apt\.?|suite)\s+\d{1,5}"
    r")" + _TAIL)


_BLANK = re.compile(r"\s")
_NO_IDEOGRAPH = re.compile("[^\u4e00-\u9fff]+")
#: ``[0-9][0-9]*`` rather than ``[0-9]+``: a leading class lets ``re`` skip ahead (3x faster)
_DIGIT_CLUSTER = re.compile(r"[0-9][0-9]*(?:[^0-9]{1,96}[0-9]+)*")


class EnglishAddress:
    name = "en_address"
    types = ("ADDRESS",)
    max_len = 160

    def find(self, folded: str) -> list[Candidate]:
        out: list[Candidate] = []
        n = len(folded)
        # street names come at most ~48 chars before a number: one window per cluster of
        # digit runs less than 2 x 48 apart (one C-level pass instead of a loop per run)
        for d in _DIGIT_CLUSTER.finditer(folded):
            ws, we = max(0, d.start() - 48), min(n, d.end() + 48)
            while ws > 0 and folded[ws - 1].isalnum():
                ws -= 1
            while we < n and folded[we].isalnum():
                we += 1
            # no form holds a CJK ideograph and every form holds a blank (number and street,
            # PSC and box ...): only the ideograph-free stretches of the window that hold a
            # blank can match, and scanning them alone finds the same matches (look-behinds
            # see the whole text; at a stretch's end the look-aheads see the end where they
            # saw an ideograph, which no class here contains). An English window is one
            # stretch; a Chinese one is mostly ideographs, tried position by position before.
            for seg in _NO_IDEOGRAPH.finditer(folded, ws, we):
                ss, se = seg.span()
                if _BLANK.search(folded, ss, se) is not None:
                    out.extend(self._scan(folded, ss, se))
        return out

    def _scan(self, folded: str, ws: int, we: int) -> list[Candidate]:
        out: list[Candidate] = []
        for m in _ADDRESS.finditer(folded, ws, we):
            s, e = m.span()
            score = 0.7 if e - s > 12 else 0.55
            out.append((s, min(e, s + self.max_len), "ADDRESS", score, self.name, 72))
        return out
