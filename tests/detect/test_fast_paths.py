"""The fast paths of the name and address recognizers must give exactly what the plain forms
they replace give: each is checked against a reference (the plain form, kept here as the
specification) on many generated texts. The texts are random mixes of lexicon entries, cue
words and punctuation, so they hit the corner cases (chains of names, notes, particles, case
variants) far more often than running text does."""

from __future__ import annotations

import random
import re

import pytest

from privtune.detect.lexicons import load
from privtune.detect.recognizers import address_en, names_en, names_zh
from privtune.detect.resolve import resolve

N_TEXTS = 1500


# --- Chinese names ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def zh() -> names_zh.ChineseNames:
    return names_zh.ChineseNames()


def _zh_pieces(zh: names_zh.ChineseNames) -> list[str]:
    surnames = list(load("zh_surnames.txt")[:120])
    given = [c for c, _ in sorted(zh.given.items(), key=lambda kv: -kv[1])[:150]]
    known = sorted(zh.known)[::60]
    common = sorted(zh.common)[::90]
    cues = [*names_zh._LEFT_STRONG, *names_zh._LEFT_WEAK, *names_zh._RIGHT_STRONG,
            *names_zh._RIGHT_WEAK, *names_zh._TITLES, *names_zh._SURNAME_TITLES,
            *names_zh._NOT_PERSON_AFTER]
    stop = sorted(names_zh._STOP)
    translit = list("斯特尔克利亚德罗马阿拉里达多维")
    notes = ["（女）", "（藏族）", "(男)", "（", "）"]
    return (surnames * 4 + given * 2 + known + common + cues + stop + translit + notes
            + ["、", "，", "。", " ", "vs", "欧阳", "司马", "老", "小", "阿"])


def _zh_texts(zh: names_zh.ChineseNames, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    pieces = _zh_pieces(zh)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(n)]


@pytest.fixture(scope="module")
def zh_plain() -> names_zh.ChineseNames:
    """The reference: every surname character before a CJK character is a hit."""
    ref = names_zh.ChineseNames()
    firsts = "".join(sorted(ref._singles | {c[0] for c in ref._compounds}))
    ref._re = re.compile("[" + firsts + r"](?=[\u4e00-\u9fff])")
    ref._hits = ref._re
    return ref


def test_zh_pruned_scan_equals_exhaustive_scoring(zh: names_zh.ChineseNames,
                                                  zh_plain: names_zh.ChineseNames) -> None:
    found = 0
    for text in _zh_texts(zh, N_TEXTS, 7):
        fast = sorted(zh._find_rules(text))
        assert fast == sorted(zh_plain._find_rules(text, exhaustive=True)), text
        found += len(fast)
    assert found > N_TEXTS  # the texts do hold names (chains, lists, notes)


def test_zh_chain_and_list_rules_survive_pruning(zh: names_zh.ChineseNames,
                                                 zh_plain: names_zh.ChineseNames) -> None:
    # names written back to back (a list without separators) and names before notes
    for text in ("治丧委员会名单：李鹏乔石李瑞环朱镕基", "出席的有王建华（女）、刘小燕（藏族）等人",
                 "江主席会见了代表团", "欧阳晓明说"):
        assert sorted(zh._find_rules(text)) == sorted(zh_plain._find_rules(text, exhaustive=True))


def test_zh_context_lookups_equal_the_tuple_forms() -> None:
    rng = random.Random(3)
    alphabet = [*"我叫名字记者主任先生女士说表示的是、，和在王李", " ", ":"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        for i in range(len(text) + 1):
            before = text[max(0, i - 4):i]
            want_left = 0.5 if i == 0 else 1.6 if before.endswith(names_zh._LEFT_STRONG) \
                else 0.5 if before.endswith(names_zh._LEFT_WEAK) else 0.0
            after = text[i:i + 3]
            want_right = 0.3 if i == len(text) else 1.4 \
                if after.startswith(names_zh._RIGHT_STRONG) else 0.4 \
                if after.startswith(names_zh._RIGHT_WEAK) else 0.0
            assert names_zh._left(text, i) == want_left
            assert names_zh._right(text, i) == want_right
            assert names_zh._not_person_after(text, i) == text.startswith(
                names_zh._NOT_PERSON_AFTER, i)


def test_zh_hit_filter_drops_only_hits_without_options(zh: names_zh.ChineseNames,
                                                       zh_plain: names_zh.ChineseNames) -> None:
    # the filtered scan reports a subset of the plain hits, and every hit it leaves out has
    # no option at all (bound -inf); some hits are left out, or the filter would be pointless
    dropped = 0
    for text in _zh_texts(zh, N_TEXTS, 5):
        plain = [m.start() for m in zh_plain._hits.finditer(text)]
        kept = {m.start() for m in zh._hits.finditer(text)}
        assert kept <= set(plain)
        for s in plain:
            if s not in kept:
                dropped += 1
                assert zh._bound_parts(text[s:s + 3])[0] == -float("inf"), text[s:s + 3]
    assert dropped > N_TEXTS // 10


def test_zh_memo_is_bounded(zh: names_zh.ChineseNames) -> None:
    zh._memo.clear()
    for text in _zh_texts(zh, 200, 11):
        zh._find_rules(text)
    assert 0 < len(zh._memo) <= names_zh._MEMO_MAX


# --- English names ---------------------------------------------------------------------------

_UP, _LO = names_en._UP, names_en._LO
#: the one-alternation token pattern the two scans of names_en._tokens replace
REF_TOKEN = re.compile(
    r"(?<![A-Za-z0-9À-ɏ'])([" + _UP + "][" + _LO + r"]+(?:['’\-][" + _UP + _LO + "][" + _LO
    + r"]+)?|[A-Z]\.|(?:van|der|den|de|del|della|di|da|dos|das|du|von|le|la|ten|ter|"
    r"bin|al|el|mc|st\.)(?= [A-Z]))(?![A-Za-z0-9À-ɏ]|['’](?:t|ll|re|ve|m|d)\b)")
#: the case-insensitive cue pattern that names_en._cue_pairs replaces (finditer semantics)
REF_CUE = re.compile(r"(?i)(?:name is|name:|names? are|calls? me|called|partner's name|"
                     r"says|said|by|to|with|from|and)\s+([a-zß-ÿĀ-ɏ]{2,20}) ([a-zß-ÿĀ-ɏ]{2,20})"
                     r"(?![A-Za-z])")


def _en_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    pieces = ["van", "de", "della", "del", "st.", "al", "el", "mc", "la", "Mc", "Van",
              " ", " ", " ", "  ", "\n", ",", ".", "-", "'", "’t", "'s", "2",
              "A", "J.", "John", "Jane", "Doe", "O'Neil", "Smith-Jones", "Xyzzy", "Ő", "ſ",
              "é", "K", "İ", "ı", "ẞ",
              "by", "to", "and", "with", "from", "says", "said", "called", "name is",
              "name:", "names are", "name are", "calls me", "call me", "partner's name",
              "toby", "xand", "jane", "doe", "bob", "jim", "smith", "NAME IS", "Said",
              "Dr.", "Mr", "dear", "The", "Victoria", "Lopez", "Austin", "Smith-de", "Van-mc",
              "Lee’van", "Ann-la"]
    seps = [" "] * 8 + ["", "  ", "\n", ", "]
    out = []
    for _ in range(n):
        parts = [rng.choice(pieces) for _ in range(rng.randint(1, 14))]
        out.append("".join(p + rng.choice(seps) for p in parts))
    return out


def test_en_token_scans_equal_one_alternation() -> None:
    for text in _en_texts(N_TEXTS * 4, 5):
        want = [m.span() for m in REF_TOKEN.finditer(text)]
        assert [(t.start(), t.end()) for t in names_en._tokens(text)] == want, text


def test_en_cue_pairs_equal_finditer_of_the_case_insensitive_pattern() -> None:
    pairs = 0
    for text in _en_texts(N_TEXTS * 4, 9):
        want = [(m.start(1), m.end(1), m.start(2), m.end(2)) for m in REF_CUE.finditer(text)]
        assert names_en._cue_pairs(text) == want, text
        pairs += len(want)
    assert pairs > N_TEXTS


def test_en_cue_inside_the_previous_pair_does_not_count() -> None:
    # "name is" starts inside the pair "bob name": a left-to-right scan never sees it
    assert names_en._cue_pairs("by bob name is jane doe") == [(3, 6, 7, 11)]


def test_en_capitalised_copy_gives_the_same_cue_spans() -> None:
    for text in _en_texts(500, 13):
        low = text.lower()
        cap = names_en._CAPITALISE.sub(lambda m: m.group().upper(), low)
        assert names_en._cue_pairs(cap) == names_en._cue_pairs(low)


# --- English addresses -----------------------------------------------------------------------

def test_en_street_types_equal_the_plain_alternation() -> None:
    plain = re.compile("(?i)(?:" + "|".join(address_en._TYPE_WORDS) + r")(?=\s|$)")
    fast = re.compile("(?i)" + address_en._TYPES + r"(?=\s|$)")
    rng = random.Random(2)
    words = [*address_en._TYPE_WORDS, "STRASSE", "Straße", "STRAẞE", "ſtreet", "Kade",
             "KATU", "Rd", "Ave", "main", "x"]
    for _ in range(3000):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
        for i in range(len(text)):
            a, b = plain.match(text, i), fast.match(text, i)
            assert (a and a.span()) == (b and b.span()), (text, i)


def _ref_address_find(folded: str) -> list[tuple]:
    """The plain form of EnglishAddress.find: a window per digit run, merged."""
    out: list[tuple] = []
    n = len(folded)
    windows: list[tuple[int, int]] = []
    for d in re.finditer(r"[0-9]+", folded):
        ws, we = max(0, d.start() - 48), min(n, d.end() + 48)
        if windows and ws <= windows[-1][1]:
            windows[-1] = (windows[-1][0], we)
        else:
            windows.append((ws, we))
    rec = address_en.EnglishAddress()
    for ws, we in windows:
        while ws > 0 and folded[ws - 1].isalnum():
            ws -= 1
        while we < n and folded[we].isalnum():
            we += 1
        out.extend(rec._scan(folded, ws, we))
    return out


def test_en_address_windows_equal_one_window_per_digit_run() -> None:
    rng = random.Random(4)
    pieces = ["12", "5", "221B", " ", " ", "\n", ",", "Baker", "Street", "St.", "Apt. 4",
              "Hauptstraße", "Via Roma", "PSC 1234, Box 5678", "USS Nimitz", "FPO AE 09123",
              "Suite 300", "Springfield, IL 62704", "住址", "北京市", "号", "x" * 60, "。"]
    rec = address_en.EnglishAddress()
    for _ in range(N_TEXTS):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        assert rec.find(text) == _ref_address_find(text), text


# --- overlap resolution ----------------------------------------------------------------------

def _ref_resolve(cands: list, min_score: float) -> list:
    from bisect import bisect_left

    ranked = sorted((c for c in cands if c[3] >= min_score and c[1] > c[0]),
                    key=lambda c: (-c[3], c[0] - c[1], c[0], c[5], c[2]))
    starts: list[int] = []
    kept: list = []
    for c in ranked:
        i = bisect_left(starts, c[0])
        if (i > 0 and kept[i - 1][1] > c[0]) or (i < len(kept) and kept[i][0] < c[1]):
            continue
        starts.insert(i, c[0])
        kept.insert(i, c)
    return [(c[2], c[0], c[1], round(c[3], 4), c[4]) for c in kept]


def test_resolve_fast_path_equals_the_ranking() -> None:
    rng = random.Random(8)
    for _ in range(20000):
        cands = []
        for _ in range(rng.randint(0, 6)):
            s = rng.randint(0, 30)
            cands.append((s, s + rng.randint(0, 8), rng.choice("AB"),
                          rng.choice([0.4, 0.5, 0.7, 0.9]), rng.choice("xyz"), rng.choice([1, 50])))
        got = [(sp.type, sp.start, sp.end, sp.score, sp.recognizer) for sp in resolve(cands, 0.5)]
        assert got == _ref_resolve(cands, 0.5), cands


def test_en_capitalise_and_latin_gate_equal_the_plain_forms() -> None:
    plain = re.compile(r"(?<![A-Za-zÀ-ɏ'])[a-z]")
    names = names_en.EnglishNames()
    texts = [*_en_texts(1000, 17), "这是一段中文。", "客户王建华", "ＡＢＣ１２３", "K", "ſays bob",
             "“引号”（括号）", "Ωμέγα δέλτα", ""]
    for text in texts:
        low = text.lower()
        assert [m.span() for m in names_en._CAPITALISE.finditer(low)] == \
            [m.span() for m in plain.finditer(low)]
        # find() without its Latin-letter gate
        want = names._find(text, 0.0) + names._cued(text, names_en._cue_pairs(text))
        if not names_en._HAS_UPPER.search(text) and names_en._HAS_LOWER.search(text):
            cap = names_en._CAPITALISE.sub(lambda m: m.group().upper(), text)
            want += names._find(cap, -0.05) + names._cued(cap, names_en._cue_pairs(text))
        assert names.find(text) == want, text


def _ref_runs(text: str) -> list[list[tuple[int, int]]]:
    runs: list[list[tuple[int, int]]] = []
    cur: list[tuple[int, int]] = []
    for m in REF_TOKEN.finditer(text):
        if cur and (m.start() - cur[-1][1] != 1 or text[cur[-1][1]] != " " or len(cur) >= 5):
            runs.append(cur)
            cur = []
        cur.append(m.span())
    if cur:
        runs.append(cur)
    return runs


def test_en_runs_equal_grouping_the_token_stream() -> None:
    names = names_en.EnglishNames()
    long_runs = 0
    for text in [*_en_texts(N_TEXTS * 4, 21), "Anna Bea Cleo Dora Emma Fay Gina", "A. B. C."]:
        runs = names._runs(text)
        assert runs == _ref_runs(text), text
        long_runs += sum(len(r) > 1 for r in runs)
    assert long_runs > N_TEXTS


def test_en_runs_skip_only_drops_single_common_words() -> None:
    # the skip form of _runs (used by _find) is the plain grouping less the one-token runs of
    # a common word, when the text holds no particle
    names = names_en.EnglishNames()
    dropped = 0
    for text in [*_en_texts(N_TEXTS, 23), "The cat. Some Anna Bea went. The John Smith"]:
        full = names._runs(text)
        want = full
        if names_en._PARTICLE.search(text) is None:
            want = [r for r in full
                    if not (len(r) == 1 and text[r[0][0]:r[0][1]].lower() in names.common)]
        assert names._runs(text, names.common) == want, text
        dropped += len(full) - len(want)
    assert dropped > 0
