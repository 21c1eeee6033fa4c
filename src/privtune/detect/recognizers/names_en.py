"""English (Latin-script) person names, offline.

Runs of capitalised words (plus name particles such as van, der, de, von, al) are matched
against first- and last-name lexicons built from Faker's person providers for every locale.
A run whose first word is a known first name and whose last word is a known last name is a
name (score 0.85); a single known first name scores lower, and less when it is also a common
English word ("Will", "May") or starts a sentence. Titles and cue phrases before the run
(Mr., Dr., "my name is", Dear) raise the score and allow an unknown surname.
"""

from __future__ import annotations

import re

from privtune.detect.lexicons import load
from privtune.detect.recognizer import Candidate

_UP = "A-ZÀ-ÖØ-ÞĀ-ſ"
_LO = "a-zß-öø-ÿĀ-ɏ"
_TOKEN = re.compile(r"(?<![A-Za-z0-9À-ɏ'])([" + _UP + "][" + _LO + r"]+(?:['’\-][" + _UP + _LO
                    + "][" + _LO + r"]+)?"
                    r"|[A-Z]\.|(?:van|der|den|de|del|della|di|da|dos|das|du|von|le|la|ten|ter|"
                    r"bin|al|el|mc|st\.)(?= [A-Z]))(?![A-Za-z0-9À-ɏ]|['’](?:t|ll|re|ve|m|d)\b)")
_LOWER_CUE = re.compile(r"(?i)(?:name is|name:|names? are|calls? me|called|partner's name|"
                        r"says|said|by|to|with|from|and)\s+([a-zß-ÿĀ-ɏ]{2,20}) ([a-zß-ÿĀ-ɏ]{2,20})"
                        r"(?![A-Za-z])")
_STREET_BEFORE = re.compile(r"(?i)(?:\d+[a-z]?\s+|^|\s)(?:via|rue|rua|calle|avenida|av\.|"
                            r"san|santa|são|sao|st\.|saint|piazza|plaza|viale|corso|strada|"
                            r"largo|travessa|praça|boulevard|bd\.?|place)\s+$")
_PARTICLES = {"van", "der", "den", "de", "del", "della", "di", "da", "dos", "das", "du", "von",
              "le", "la", "ten", "ter", "bin", "al", "el", "mc", "st."}
_TITLES = re.compile(r"(?i)(?:mr|mrs|ms|miss|dr|prof|sir|madam|mx|dear|hi|hello|hey|"
                     r"name is|named|called|i am|i'm|this is|signed|regards,?|thanks,?|"
                     r"from|by|with|to|contact|ask|tell|for|and|or)\.?\s*$")
_STRONG_TITLES = re.compile(r"(?i)(?:mr|mrs|ms|miss|dr|prof|sir|dear|name is|named|called|"
                            r"i am|i'm)\.?\s*$")
_NOT_NAMES = {
    "the", "a", "an", "i", "it", "this", "that", "my", "your", "our", "his", "her", "their",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
    "february", "march", "april", "june", "july", "august", "september", "october",
    "november", "december", "street", "avenue", "road", "lane", "drive", "court", "suite",
    "apt", "box", "city", "north", "south", "east", "west", "new", "san", "saint", "lake",
    "mount", "port", "fort", "bank", "card", "visa", "please", "thanks", "thank", "hello",
    "dear", "yes", "no", "ok", "okay", "god", "christmas", "easter", "mr", "mrs", "ms", "dr",
    "english", "french", "german", "spanish", "chinese", "american", "british", "europe",
    "africa", "asia", "america", "china", "india", "japan", "england", "london", "paris",
    "what", "when", "where", "who", "why", "how", "can", "could", "would", "should", "will",
    "did", "does", "do", "is", "are", "was", "were", "has", "have", "had", "if", "so", "but",
    "and", "or", "as", "at", "on", "in", "of", "for", "from", "by", "with", "to", "up",
    "hi", "hey", "we", "you", "he", "she", "they", "me", "us", "them", "its", "all", "any",
    "some", "one", "two", "there", "here", "then", "than", "also", "just", "not", "only",
    "date", "name", "phone", "email", "address", "office", "fax", "mobile",
    "republic", "kingdom", "states", "united", "island", "islands", "county", "state",
    "federation", "university", "college", "school", "hospital", "company", "inc", "ltd",
    "llc", "group", "team", "club", "park", "square", "place", "hill", "center", "centre",
}


_HAS_UPPER = re.compile("[A-ZÀ-Þ]")
_HAS_LOWER = re.compile("[a-z]")
_CAPITALISE = re.compile(r"(?<![A-Za-zÀ-ɏ'])[a-z]")


class EnglishNames:
    name = "en_person"
    types = ("PERSON",)
    max_len = 64

    def __init__(self) -> None:
        self.first = frozenset(w.lower() for w in load("en_first_names.txt"))
        self.last = frozenset(w.lower() for w in load("en_last_names.txt"))
        words = frozenset(load("en_common_words.txt")) | _NOT_NAMES
        place_words = frozenset(p.lower() for p in load("en_places.txt") if " " not in p)
        self.common = words | place_words
        self.places = frozenset(p.lower() for p in load("en_places.txt"))
        #: first names that are also places (Victoria, Austin, Florence): a name only when a
        #: known surname follows ("Victoria Lopez"), never alone ("moved to Victoria")
        self.place_first = (self.first & place_words) - words

    def _runs(self, text: str) -> list[list[re.Match[str]]]:
        runs: list[list[re.Match[str]]] = []
        cur: list[re.Match[str]] = []
        for m in _TOKEN.finditer(text):
            if cur and (m.start() - cur[-1].end() != 1 or text[cur[-1].end()] != " "
                        or len(cur) >= 5):
                runs.append(cur)
                cur = []
            cur.append(m)
        if cur:
            runs.append(cur)
        return runs

    def find(self, folded: str) -> list[Candidate]:
        out = self._find(folded, 0.0)
        if not _HAS_UPPER.search(folded) and _HAS_LOWER.search(folded):
            # all-lower-case text ("ask jillian capon"): read it as if capitalised, less sure
            out += self._find(_CAPITALISE.sub(lambda m: m.group().upper(), folded), -0.05)
        return out

    def _find(self, folded: str, adjust: float) -> list[Candidate]:
        out: list[Candidate] = []
        first, last, common = self.first, self.last, self.common
        for run in self._runs(folded):
            words = [m.group().lower() for m in run]
            # trim tokens that are not name-like from both ends
            i, j = 0, len(words)
            while i < j and (words[i] in common or words[i] in _PARTICLES
                             or (words[i] not in first and words[i] not in last)):
                if (words[i] in self.place_first and i + 1 < j and words[i + 1] in last
                        and words[i + 1] not in common):
                    break
                i += 1
            while j > i and (words[j - 1] in _PARTICLES or words[j - 1] in common
                             or (words[j - 1] not in last and words[j - 1] not in first)):
                j -= 1
            if i >= j:
                # unknown capitalised word right after a strong title: "Dr. Xyzzy"
                m0 = run[0]
                if (words[0] not in common and len(words[0]) > 2
                        and _STRONG_TITLES.search(folded[max(0, m0.start() - 12):m0.start()])):
                    out.append((m0.start(), run[-1].end(), "PERSON", 0.6, self.name, 66))
                continue
            # a known first name followed by unknown capitalised words: take them as surname
            while (j < len(words) and words[j - 1] in first and words[j] not in common
                   and words[j] not in _PARTICLES and len(words[j]) > 1):
                j += 1
            s, e = run[i].start(), run[j - 1].end()
            span_words = words[i:j]
            if " ".join(span_words) in self.places:
                continue
            if _STREET_BEFORE.search(folded[max(0, s - 16):s]):
                continue
            before = folded[max(0, s - 16):s]
            sentence_start = s == 0 or re.search(r"[.!?\n]\s*$", folded[max(0, s - 3):s])
            if len(span_words) >= 2 and span_words[0] in first and span_words[-1] in last:
                score = 0.85
            elif len(span_words) >= 2:
                score = 0.7
            else:
                w = span_words[0]
                if w in first and w not in last:
                    score = 0.6
                elif w in first:
                    score = 0.55
                else:
                    score = 0.5  # a known surname alone, mid-sentence
                if sentence_start and not (w in first and folded[e:e + 1] == " "):
                    score -= 0.1
            if _STRONG_TITLES.search(before):
                score += 0.25
            elif _TITLES.search(before):
                score += 0.05
            score += adjust
            if score >= 0.5:
                out.append((s, e, "PERSON", min(score, 0.95), self.name, 66))
        for m in _LOWER_CUE.finditer(folded):
            a, b = m.group(1), m.group(2)
            if a in first and b in last and a not in common and b not in common:
                out.append((m.start(1), m.end(2), "PERSON", 0.7, self.name, 66))
        return out
