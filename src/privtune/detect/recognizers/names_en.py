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
#: a capitalised word or an initial ("J."), not inside a longer word. The pattern opens with
#: ONE character class and checks the character before with a look-behind after it: a
#: leading look-behind or alternation would disable ``re``'s fast first-character scan.
_CAP = ("[" + _UP + "](?<![A-Za-z0-9À-ɏ'][\\s\\S])"
        "(?:(?<=[" + _UP + "])[" + _LO + r"]+(?:['’\-][" + _UP + _LO + "][" + _LO + r"]+)?"
        r"|(?<=[A-Z])\.)"
        r"(?![A-Za-z0-9À-ɏ]|['’](?:t|ll|re|ve|m|d)\b)")
_CAP_TOKEN = re.compile(_CAP)
#: a run: up to five capitalised words one blank apart, in one match (a text without
#: particles needs no token-by-token grouping in Python; the greedy repeat stops at five
#: and the next match starts at the sixth, as the grouping does)
_CAP_RUN = re.compile(_CAP + "(?: " + _CAP + "){0,4}")
_PARTICLE_WORDS = ("van", "der", "den", "de", "del", "della", "di", "da", "dos", "das", "du",
                   "von", "le", "la", "ten", "ter", "bin", "al", "el", "mc", "st.")
#: a name particle (van, de, al ...) before a blank and a capital, not inside a longer word.
#: Found from the capital (rare) with one look-behind per particle length, each holding
#: the particle as a group: scanning for the particles' own first letters (v, d, a, l, t ...
#: the most frequent ones) cost as much as all capitalised words together.
_PARTICLE = re.compile(
    "[A-Z](?:" + "|".join(
        f"(?<=(?<![A-Za-z0-9À-ɏ'])({'|'.join(re.escape(w) for w in _PARTICLE_WORDS if len(w) == n)})"
        " [A-Z])" for n in sorted({len(w) for w in _PARTICLE_WORDS})) + ")")
#: cue words before a lower-case "first last" pair ("my name is jane doe"), by length
_CUES = {2: ("by", "to"), 3: ("and",), 4: ("says", "said", "with", "from"), 5: ("name:",),
         6: ("called",), 7: ("name is", "call me"), 8: ("calls me", "name are"),
         9: ("names are",), 14: ("partner's name",)}
#: a cue (any case) then blanks and two words of letters. The match starts at the blank
#: after the cue, which one class test finds (a blank after one of the cues' last letters)
#: and the fixed-width look-behinds confirm; each look-behind holds an empty group that tells
#: the cue's length. Starting at a cue letter instead costs twice as much (14 -> 8 ms/MB):
#: the cue letters are the most frequent ones. Groups ``_CUE_WORDS`` and +1: the two words.
def _caseless_class(chars: set[str]) -> str:
    """A case-sensitive class of every character that ``(?i)`` matches to one of ``chars``
    (the ASCII letters' case pair plus İ, ı, ſ and the Kelvin sign where they fold)."""
    pool = "".join(map(chr, range(32, 127))) + "İıſK"
    return "[" + "".join(sorted({re.escape(x) for c in chars for x in pool
                                 if re.fullmatch("(?i)" + re.escape(c), x)})) + "]"


#: the cues' second-to-last characters, before their last ones: a second class test after
#: the first rejects most remaining blanks ("the", "was", "had") before the look-behinds
_CUE_TAIL2 = _caseless_class({w[-2] for ws in _CUES.values() for w in ws})
_LOWER_CUE = re.compile(
    r"\s(?<=[sSſ:eEdDyYoOhHmM]\s)(?<=" + _CUE_TAIL2 + r"[\s\S]\s)(?i:"
    + "|".join(f"(?<=(?:{'|'.join(map(re.escape, ws))})\\s)()" for ws in _CUES.values())
    + r")(?i:\s*([a-zß-ÿĀ-ɏ]{2,20}) ([a-zß-ÿĀ-ɏ]{2,20})(?![A-Za-z]))")
_CUE_LENGTHS = tuple(enumerate(_CUES, start=1))
_CUE_WORDS = len(_CUES) + 1
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


#: every character a token, particle or cue can start with (``(?i)`` adds the Kelvin sign)
_LATIN = re.compile("[A-Za-zÀ-ɏK]")
_HAS_UPPER = re.compile("[A-ZÀ-Þ]")
_HAS_LOWER = re.compile("[a-z]")
_CAPITALISE = re.compile(r"[a-z](?<![A-Za-zÀ-ɏ'][a-z])")  # class first: re skips ahead


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

    def _runs(self, text: str, skip: frozenset[str] = frozenset()
              ) -> list[list[tuple[int, int]]]:
        """Token spans (capitalised words, initials, particles) grouped into runs: neighbours
        one blank apart, at most five per run. Without particles in the text, a one-token run
        whose lower-cased word is in ``skip`` is left out (most runs: "The", "Some" at a
        sentence start; :meth:`_find` would drop them first thing)."""
        runs: list[list[tuple[int, int]]] = []
        if _PARTICLE.search(text) is None:  # the common case: one match per run
            for m in _CAP_RUN.finditer(text):
                g = m.group()
                if " " not in g:
                    if g.lower() not in skip:
                        runs.append([m.span()])
                    continue
                s = m.start()
                run = []
                for w in g.split(" "):
                    run.append((s, s + len(w)))
                    s += len(w) + 1
                runs.append(run)
            return runs
        cur: list[tuple[int, int]] = []
        end = -2
        for m in _tokens(text):
            if m.start() != end + 1 or text[end] != " " or len(cur) >= 5:
                cur = [(m.start(), m.end())]
                runs.append(cur)
            else:
                cur.append((m.start(), m.end()))
            end = m.end()
        return runs

    def find(self, folded: str) -> list[Candidate]:
        if _LATIN.search(folded) is None:
            return []  # no token, particle or cue without a Latin letter (most Chinese text)
        cues = _cue_pairs(folded)
        out = self._find(folded, 0.0) + self._cued(folded, cues)
        if not _HAS_UPPER.search(folded) and _HAS_LOWER.search(folded):
            # all-lower-case text ("ask jillian capon"): read it as if capitalised, less sure
            cap = _CAPITALISE.sub(lambda m: m.group().upper(), folded)
            # _LOWER_CUE ignores case and capitalising changes only the case of ASCII
            # letters, so its matches in ``cap`` are the same spans: no second scan
            out += self._find(cap, -0.05) + self._cued(cap, cues)
        return out

    def _cued(self, text: str, cues: list[tuple[int, int, int, int]]) -> list[Candidate]:
        """A known first and last name, lower-case, after a cue ("my name is jane doe");
        ``cues``: the word pairs of :func:`_cue_pairs`, spans into ``text``."""
        out: list[Candidate] = []
        first, last, common = self.first, self.last, self.common
        for s1, e1, s2, e2 in cues:
            a, b = text[s1:e1], text[s2:e2]
            if a in first and b in last and a not in common and b not in common:
                out.append((s1, e2, "PERSON", 0.7, self.name, 66))
        return out

    def _find(self, folded: str, adjust: float) -> list[Candidate]:
        """Names in runs of capitalised words."""
        out: list[Candidate] = []
        first, last, common = self.first, self.last, self.common
        for run in self._runs(folded, common):
            if len(run) == 1 and folded[run[0][0]:run[0][1]].lower() in common:
                continue  # most runs: one common capitalised word ("The"), trimmed to nothing
            words = [folded[ts:te].lower() for ts, te in run]
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
                s0 = run[0][0]
                if (words[0] not in common and len(words[0]) > 2
                        and _STRONG_TITLES.search(folded[max(0, s0 - 12):s0])):
                    out.append((s0, run[-1][1], "PERSON", 0.6, self.name, 66))
                continue
            # a known first name followed by unknown capitalised words: take them as surname
            while (j < len(words) and words[j - 1] in first and words[j] not in common
                   and words[j] not in _PARTICLES and len(words[j]) > 1):
                j += 1
            s, e = run[i][0], run[j - 1][1]
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
        return out


def _cue_pairs(text: str) -> list[tuple[int, int, int, int]]:
    """Spans (first word, second word) of the pairs after a cue, exactly as a left-to-right
    scan for "cue, blanks, two words" finds them: a match whose cue starts inside the pair
    found before it does not count ("by bob name is jane doe" -> only "bob name"), and the
    scan goes on from the blank after that cue."""
    out: list[tuple[int, int, int, int]] = []
    pos = resume = 0
    search = _LOWER_CUE.search
    w = _CUE_WORDS
    while (m := search(text, pos)) is not None:
        blank = m.start()
        length = next(n for g, n in _CUE_LENGTHS if m.start(g) >= 0)
        if blank - length < resume:
            pos = blank + 1
            continue
        out.append((m.start(w), m.end(w), m.start(w + 1), m.end(w + 1)))
        pos = resume = m.end()
    return out


class _Particle:
    """A particle token, with the three methods of the ``re.Match`` tokens it joins."""

    __slots__ = ("_e", "_s", "_text")

    def __init__(self, text: str, s: int, e: int) -> None:
        self._text, self._s, self._e = text, s, e

    def start(self) -> int:
        return self._s

    def end(self) -> int:
        return self._e

    def group(self) -> str:
        return self._text[self._s:self._e]


def _tokens(text: str) -> list[re.Match[str] | _Particle]:
    """The capitalised words and the particles, in text order: what one scan for either
    would find. A particle can only overlap a capitalised word as the part after its hyphen
    ("Van-mc"), and the word, starting first, wins."""
    caps = list(_CAP_TOKEN.finditer(text))
    parts: list[re.Match[str] | _Particle] = []
    for m in _PARTICLE.finditer(text):
        g = m.lastindex  # the group of the particle's length
        parts.append(_Particle(text, m.start(g), m.end(g)))  # type: ignore[arg-type]
    if not parts:
        return caps
    parts += caps
    parts.sort(key=lambda t: t.start())
    out: list[re.Match[str] | _Particle] = []
    end = 0
    for t in parts:
        if t.start() >= end:
            out.append(t)
            end = t.end()
    return out
