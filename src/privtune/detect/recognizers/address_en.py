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
_TYPES = (r"(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|court|ct|boulevard|blvd|way|"
          r"place|pl|square|sq|terrace|ter|parkway|pkwy|circle|cir|highway|hwy|trail|trl|plaza|"
          r"row|crescent|close|gardens|park|walk|alley|loop|path|pike|ridge|route|rte|mews|"
          r"strasse|straße|str|gasse|weg|allee|platz|plein|laan|straat|gracht|kade|gade|vej|"
          r"gatan|vägen|gata|katu|tie|utca|ulica|rue|avenida|calle|rua|via|viale|piazza|"
          r"corso|strada)")
_UNIT = r"(?:,?\s*(?:apt\.?|apartment|suite|ste\.?|unit|room|floor|fl\.?|#)\s*\d+[A-Za-z]?)"
_TAIL = r"(?:,?[ \t]*\n?[ \t]*(?:" + _W + r"[ \t]){0,3}" + _W + r",?[ \t]+(?:[A-Z]{2}[ \t]+)?\d{4,5})?"
_ADDRESS = re.compile(
    r"(?i)(?<![0-9A-Za-z])(?:"
    r"\d{1,5}[A-Za-z]?,?\s+(?:" + _W + r"\s+){0,4}" + _TYPES + r"\.?(?![A-Za-z])"
    r"(?:\s+\d{1,5}[A-Za-z]?(?![0-9A-Za-z]))?" + _UNIT + r"?"
    r"|(?:" + _TYPES + r"\s+)(?:" + _W + r"\s+){0,3}" + _W + r"\s+\d{1,5}[A-Za-z]?"
    + _UNIT + r"?"
    r"|(?:" + _W + r"(?:straße|strasse|gasse|weg|gatan|vägen|gata|katu|utca|straat|vej|gade))"
    r"\s+\d{1,5}[A-Za-z]?" + _UNIT + r"?"
    r"|(?:psc|unit|cmr)\s+\d{4},?\s*box\s+\d{4}(?:\s+(?:apo|fpo|dpo)\s+(?:aa|ae|ap)\s+\d{5})?"
    r"|(?:uss|usns|usnv|uscgc)\s+" + _W + r"(?:\s+" + _W + r")?(?:\s+(?:fpo|apo)\s+(?:aa|ae|ap)"
    r"\s+\d{5})?"
    r"|(?:apt\.?|suite)\s+\d{1,5}"
    r")" + _TAIL)


_DIGIT = re.compile(r"[0-9]+")


class EnglishAddress:
    name = "en_address"
    types = ("ADDRESS",)
    max_len = 160

    def find(self, folded: str) -> list[Candidate]:
        out: list[Candidate] = []
        if _DIGIT.search(folded) is None:
            return out
        n = len(folded)
        windows: list[tuple[int, int]] = []
        for d in _DIGIT.finditer(folded):  # street names come at most ~48 chars before a number
            ws, we = max(0, d.start() - 48), min(n, d.end() + 48)
            if windows and ws <= windows[-1][1]:
                windows[-1] = (windows[-1][0], we)
            else:
                windows.append((ws, we))
        for ws, we in windows:
            while ws > 0 and folded[ws - 1].isalnum():
                ws -= 1
            while we < n and folded[we].isalnum():
                we += 1
            out.extend(self._scan(folded, ws, we))
        return out

    def _scan(self, folded: str, ws: int, we: int) -> list[Candidate]:
        out: list[Candidate] = []
        for m in _ADDRESS.finditer(folded, ws, we):
            s, e = m.span()
            text = m.group()
            score = 0.7 if len(text) > 12 else 0.55
            out.append((s, min(e, s + self.max_len), "ADDRESS", score, self.name, 72))
        return out
