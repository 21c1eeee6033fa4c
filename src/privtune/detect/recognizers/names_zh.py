"""Chinese person names, offline.

Candidates start at a surname (ranked lexicon, compound surnames first) followed by one or two
CJK characters. Each candidate gets an additive evidence score:

* surname rank (common surnames weigh more, rare ones less);
* given-name character log-probabilities, estimated from Faker's name lists and the names that
  jieba's dictionary tags ``nr``/``nrfg`` (the offline statistical signal);
* a known-name lexicon (jieba ``nr``/``nrfg`` entries such as historical figures);
* context triggers before (我叫, 记者, 主任, a list separator 、 ...) and after (先生, 女士,
  说, 表示, 等 ...);
* a penalty when the candidate is an ordinary word in jieba's dictionary (高兴, 王国, 金融).

Evidence above a threshold becomes a PERSON span; the score reported grows with the evidence.
Work happens only at surname positions (one regex prefilter), so the cost is a few dictionary
look-ups per candidate.
"""

from __future__ import annotations

import re

from privtune.detect.lexicons import load, load_weights
from privtune.detect.recognizer import Candidate

_CJK = re.compile(r"[\u4e00-\u9fff]")

# characters that practically never appear in a given name in running text
_STOP = set("的了是在和有不这我他她它们个也就都而及与或被把对从向给让到说着过吗呢吧啊呀"
            "年月日时分秒号元人中上下里外前后来去为以于之其所又但却等将已很更最并再该每"
            "此那哪些什么怎样如何一二三四五六七八九十百千万亿两几第省市县区镇乡村路街")
_LEFT_STRONG = ("我叫", "名叫", "叫做", "姓名", "名字", "记者", "通讯员", "作者", "编辑", "主任",
                "书记", "总理", "主席", "部长", "市长", "省长", "县长", "局长", "教授", "同志",
                "联系人", "负责人", "对接人", "经理", "老师", "医生", "导演", "演员", "歌手",
                "球员", "教练", "队长", "总统", "总裁", "董事长", "委员", "院长", "校长", "处长",
                "厂长", "主持人", "代表", "先生", "女士", "收件人", "申请人", "患者", "客户",
                "专家", "选手", "州长", "议长", "委员长", "总书记", "外长", "大使", "秘书长",
                "会长", "社长", "行长", "理事长", "副总理", "司令", "军长", "师长", "团长",
                "作家", "画家", "诗人", "学者", "研究员", "分析师", "工程师", "律师", "法官",
                "检察官", "警官", "护士", "司机", "网友", "粉丝", "妻子", "丈夫", "儿子", "女儿",
                "父亲", "母亲", "朋友", "同学", "夫人", "原名", "本名", "笔名", "艺名",
                "总监", "助理", "副总", "主管", "顾问", "秘书", "董事", "发言人", "主编", "老伴",
                "执行官", "创始人", "合伙人", "经纪人", "制片人", "制片", "监制", "编剧", "作者",
                "实习生", "摄影", "嘉宾", "冠军", "得主", "老板", "店主", "车主", "业主", "房东",
                "村民", "市民", "居民", "男子", "女子", "男孩", "女孩", "嫌疑人", "被告", "原告",
                "是", "、", "：", ":")
_LEFT_WEAK = ("，", ",", "和", "与", "及", "对", "向", "给", "被", "让", "请", "由", "将", "把",
              "跟", "找", "问", "“", "（", "(", " ", "。", "！", "？", "；", "》", "」")
_RIGHT_STRONG = ("先生", "女士", "小姐", "老师", "教授", "博士", "经理", "主任", "同志", "总理",
                 "主席", "书记", "说", "表示", "认为", "指出", "告诉", "介绍", "称", "透露",
                 "强调", "、", "等人", "夫妇", "院士", "总经理", "董事长", "律师", "医生",
                 "回忆", "笑", "问", "答", "曾", "也", "则", "却", "就", "还", "又", "已", "在",
                 "和", "与", "（", "(", "，", ":", "：", "会见", "访问", "出席", "主持", "率领",
                 "视察", "接见", "来到", "参加", "提出", "宣布", "发表", "获得", "担任", "当选",
                 "出任", "带领", "委员长", "总统", "大使", "部长", "局长", "省长", "市长",
                 "书记", "代表", "看", "的妻子", "的丈夫", "的父亲", "的母亲", "的儿子",
                 "的女儿", "夫人", "本人", "他们", "她们", "曾经", "目前", "现在", "）", ")",
                 "估计", "导演", "执导", "主演", "逝世", "去世", "病逝", "先生", "作品", "原作",
                 "著", "摄", "报道", "发自", "透露", "坦言", "直言", "解释", "补充", "承认",
                 "证实", "回答", "声称", "宣称", "感叹", "坦承", "接受", "对记者", "向记者",
                 "告诉记者", "同时", "一家", "夫妻", "母子", "父子", "母女", "父女", "本人",
                 "微笑", "点头", "摇头", "哭", "想", "觉得", "决定", "打算", "希望", "写道")
_RIGHT_WEAK = ("的", "是", "将", "被", "对", "向", "把", "从", "为", "。", "”", "！")


_TITLES = ("先生", "女士", "小姐", "老师", "教授", "博士", "同志", "总", "局", "某", "氏", "家",
           "姓", "阿姨", "大爷", "师傅", "老板", "医生", "经理", "主任", "书记", "队")
# surname characters that are far more often function words
_RISKY_SURNAMES = set("于但和向将过从与及在对把被为以之其所又也就都而是有不上下中时成才常万文金"
                      "高明安全方白石东西南北红黄云明")
#: after a candidate: it names an organisation, team, prize or place rather than a person
_NOT_PERSON_AFTER = ("vs", "VS", "队", "主场", "客场", "城", "集团", "公司", "银行", "大学", "学院",
                     "医院", "奖", "国", "岛", "州", "市", "省", "县", "河", "湖", "山", "港", "湾",
                     "俱乐部", "酒店", "广场", "大街", "路", "街", "宫", "寺", "记》", "传》", "》",
                     "足球", "球队", "联赛", "杯", "体育", "牌", "品牌", "公园", "机场", "大桥",
                     "研究会", "纪念馆", "故居", "基金会", "中学", "小学", "旗", "盘", "水位",
                     "指数", "地震", "号")
_RIGHT_STRONG_12 = _RIGHT_STRONG[:12]
_CHAIN_BONUS = 1.2
_MISSING = object()
FOREIGN_MIN = 0.8
FOREIGN_CTX = 0.2
GIVEN_WORD_PENALTY = 1.2
NAME_MIN = 1.25
KNOWN2_BASE = 1.0
FAMILIAR_EV = 0.3
_FAMILIAR = re.compile(r"[老小阿][\u4e00-\u9fff]")
#: given-name character weights by log-probability band (> -6, > -7, > -8.5, rarer)
G2, G3, G4 = 0.6, 0.2, -0.5
FRAGMENT_PENALTY = 2.0
SPORTS_PENALTY = 1.0
#: a text about a match or betting odds: transliterated words there are mostly clubs
_SPORTS = re.compile(r"vs|VS|主场|客场|联赛|英超|意甲|西甲|德甲|法甲|欧冠|联盟杯|足彩|让球|盘口|"
                     r"赔率|球队|德比|积分榜|升班马")
LAC_SCORE = 0.85
LAC_RULE_MIN = 0.7  # with zh_ner="lac": rule names kept where LAC saw no entity
SURNAME_TITLE_EV = 1.3
#: a surname alone before one of these is how news text names leaders (江主席, 周总理); before
#: 先生/老师/经理 it is a form of address, not a name
_SURNAME_TITLES = ("主席", "总理", "总书记", "委员长", "副主席", "副总理")


def _of_len(words: tuple[str, ...], k: int) -> frozenset[str]:
    return frozenset(w for w in words if len(w) == k)


# the context word lists by length: three set look-ups replace a str.endswith/startswith over
# a tuple of ~140 words (2.8 -> 0.4 us per call, same answers; tests/detect check this)
_LS1, _LS2, _LS3 = (_of_len(_LEFT_STRONG, k) for k in (1, 2, 3))
_LW1 = _of_len(_LEFT_WEAK, 1)
_RS1, _RS2, _RS3 = (_of_len(_RIGHT_STRONG, k) for k in (1, 2, 3))
_RW1 = _of_len(_RIGHT_WEAK, 1)
#: the last characters of the left cues: any other character before a start means no left
#: context
_LEFT_LAST = frozenset(w[-1] for w in _LEFT_STRONG + _LEFT_WEAK)
_RS_FIRST = frozenset(w[0] for w in _RIGHT_STRONG if len(w) <= 3)
if max(map(len, _LEFT_STRONG + _LEFT_WEAK)) > 3 or max(map(len, _RIGHT_WEAK)) > 1 \
        or max(map(len, _LEFT_WEAK)) > 1:  # pragma: no cover - guards the fast forms
    raise AssertionError("context words longer than the fast look-ups handle")


def _left(text: str, s: int) -> float:
    """Context evidence before ``s``: a strong cue (我叫, 记者, 、) ending at ``s``, a weak one
    (，, 和), or the start of the text. (A slice that would start before 0 comes out shorter
    than its set's word length, so it never matches.)"""
    if s == 0:
        return 0.5
    c = text[s - 1]
    if c in _LS1 or text[s - 2:s] in _LS2 or text[s - 3:s] in _LS3:
        return 1.6
    if c in _LW1:
        return 0.5
    return 0.0


def _right(text: str, e: int) -> float:
    """Context evidence after ``e``: a strong cue (先生, 说, 表示) or a weak one (的, 是)
    starting at ``e``, or the end of the text. Only the next three characters are read (a
    four-character cue never matches, as before)."""
    if e == len(text):
        return 0.3
    c = text[e]
    if c in _RS1 or text[e:e + 2] in _RS2 or text[e:e + 3] in _RS3:
        return 1.4
    if c in _RW1:
        return 0.4
    return 0.0


_NPA1, _NPA2, _NPA3 = (_of_len(_NOT_PERSON_AFTER, k) for k in (1, 2, 3))
_T1, _T2 = _of_len(_TITLES, 1), _of_len(_TITLES, 2)
_ST2, _ST3 = _of_len(_SURNAME_TITLES, 2), _of_len(_SURNAME_TITLES, 3)
_RS12 = _of_len(_RIGHT_STRONG_12, 2)
if max(map(len, _NOT_PERSON_AFTER + _SURNAME_TITLES)) > 3 or max(map(len, _TITLES)) > 2 \
        or {len(w) for w in _RIGHT_STRONG_12} != {2}:  # pragma: no cover
    raise AssertionError("cue words longer than the fast look-ups handle")


def _not_person_after(text: str, e: int) -> bool:
    """``text.startswith(_NOT_PERSON_AFTER, e)``, by set look-ups."""
    return text[e:e + 1] in _NPA1 or text[e:e + 2] in _NPA2 or text[e:e + 3] in _NPA3


_INF = float("inf")
#: the memo values that need no parts: no option at all / score exactly
_NOTHING = (-_INF, -_INF, -_INF)
_EXACT = (_INF, _INF, _INF)
#: the staged bound (see ``ChineseNames._find_rules``): a start is scored exactly only when
#: its evidence can reach ``_REACH_TARGET`` (a possible chain target, > 0.8) or, next to such
#: a target, ``_REACH_CHAINED`` (+ the 1.2 chain bonus >= NAME_MIN); the margins absorb float
#: rounding between the bound and the exact sum
_REACH_TARGET = 0.75
_REACH_CHAINED = 0.0
#: the context bonuses at most: _left 1.6, _right 1.4
_MAX_LEFT, _MAX_RIGHT = 1.6, 1.4
_MEMO_MAX = 1 << 16  # entries (~150 bytes each); cleared when full


class ChineseNames:
    name = "zh_person"
    types = ("PERSON",)
    max_len = 32  # foreign names: up to three dot-joined parts of at most 10 characters

    def __init__(self, ner: str = "rules") -> None:
        if ner not in ("rules", "lac"):
            raise ValueError(f"unknown zh_ner {ner!r} (rules, lac)")
        #: "lac": the LAC tagger (privtune.detect.ner.lac) finds the names, the rules add the
        #: confident candidates it missed; much slower, more accurate on social media
        self.ner = ner
        if ner == "lac":
            from privtune.detect.ner.lac import tagger

            self._lac = tagger()
        ranked = load("zh_surnames.txt")
        self.rank = {s: i for i, s in enumerate(ranked)}
        self.given = load_weights("zh_given_chars.txt")
        self.known = frozenset(load("zh_known_names.txt"))
        self.common = load_weights("zh_common_words.txt")
        compounds = sorted((s for s in ranked if len(s) == 2), key=len, reverse=True)
        singles = "".join(s for s in ranked if len(s) == 1)
        self.words2 = frozenset(load("zh_words2.txt"))
        self.places = frozenset(load("zh_places.txt")) | frozenset(load("zh_place_like.txt")) \
            | frozenset(load("zh_locations.txt"))
        self.places -= frozenset(compounds)  # jieba tags 欧阳 ns
        self.translit: dict[str, str] = {}
        for line in load("zh_translit_words.txt"):
            word, tag, _ = line.split("\t")
            self.translit[word] = tag
        from privtune.detect.lexicons.build import TRANSLIT

        self._translit_chars = frozenset(TRANSLIT)
        # one class first, then the rest of the run: a leading repeat ({2,10}) would keep
        # re from skipping ahead to the next transliteration character
        self._translit_re = re.compile(
            f"[{TRANSLIT}][{TRANSLIT}]{{1,9}}(?:[·•・][{TRANSLIT}]{{1,10}}){{0,2}}")
        self.gscore: dict[str, float | None] = {}
        for ch, lp in self.given.items():
            self.gscore[ch] = 1.0 if lp > -6.0 else G2 if lp > -7.0 else G3 if lp > -8.5 \
                else G4
        for ch in _STOP:
            self.gscore[ch] = None
        # ONE character class (a leading alternation of the compound surnames would disable
        # re's fast charset scan: 77 -> 6 ms/MB); compounds are checked per hit
        self._compounds = frozenset(compounds)
        self._singles = frozenset(singles)
        firsts = "".join(sorted(set(singles) | {c[0] for c in compounds}))
        self._re = re.compile("[" + firsts + r"](?=[\u4e00-\u9fff])")
        #: the hits of ``_re`` that can have an option at all (see :func:`_hit_pattern`): the
        #: scan in :meth:`_find_rules` uses it, ``_hit_at`` keeps ``_re``
        self._hits = re.compile(_hit_pattern(firsts, self._singles, self._compounds, self.known))
        self._memo: dict[str, tuple[float, float, float]] = {}
        #: place-name lengths (2..8, ascending) by first character, for _in_place
        lens: dict[str, set[int]] = {}
        for place in self.places:
            if 2 <= len(place) <= 8:
                lens.setdefault(place[0], set()).add(len(place))
        self._place_lens = {c: tuple(sorted(v)) for c, v in lens.items()}

    def _given_score(self, ch: str) -> float | None:
        g = self.gscore.get(ch, _MISSING)
        if g is not _MISSING:
            return g  # type: ignore[return-value]
        return -1.5 if "\u4e00" <= ch <= "\u9fff" else None

    def _context(self, text: str, s: int, e: int) -> float:
        return _left(text, s) + _right(text, e)

    _left = staticmethod(_left)
    _right = staticmethod(_right)

    def _options(self, folded: str, s: int, p: int, sur: str) -> list[tuple[float, int]]:
        if len(sur) == 1 and (folded[p:p + 2] in _ST2 or folded[p:p + 3] in _ST3):
            # a surname alone before a leader's title (江主席, 周总理)
            if self.rank.get(sur, 999) < 100 and sur not in _RISKY_SURNAMES \
                    and not (s > 0 and folded[s - 1:s + 1] in self.words2):
                return [(SURNAME_TITLE_EV + _left(folded, s), p)]
            return []
        if folded[p:p + 1] in _T1 or folded[p:p + 2] in _T2:
            return []
        g1 = self._given_score(folded[p])
        known = self.known
        if g1 is None and folded[s:p + 2] not in known and folded[s:p + 1] not in known:
            return []  # a function word follows the surname (most hits): nothing to score
        n = len(folded)
        common = self.common
        words2 = self.words2
        rank = self.rank.get(sur, 999)
        prior = 1.0 if len(sur) == 2 else 0.8 if rank < 30 else 0.4 if rank < 100 else \
            0.0 if rank < 400 else -0.6
        if sur in _RISKY_SURNAMES:
            prior -= 0.8
        left = _left(folded, s)
        pre_word = s > 0 and folded[s - 1:s + 1] in words2
        opts: list[tuple[float, int]] = []
        for glen in (2, 1):
            e = p + glen
            if e > n:
                continue
            cand = folded[s:e]
            if cand in self.known:
                if len(cand) >= 3:
                    ev = 3.0 + left + _right(folded, e) + (0.3 if glen == 2 else 0.0)
                    if _not_person_after(folded, e):
                        ev -= 1.5  # 斯托克城, 巴勒莫队: a club or place named after someone
                    opts.append((ev, e))
                    continue
                # 2-character names (李鹏, 乔石): the lexicon is filtered by LAC at build time
                # (明白, 王朝 are out), but they still must not sit inside a word
                ev = KNOWN2_BASE + left + _right(folded, e)
                ev -= _boundary_penalty(folded, e, n, pre_word, words2)
                opts.append((ev, e))
                continue
            if g1 is None or cand in self.places:
                continue
            if glen == 2:
                g2 = self._given_score(folded[p + 1])
                if g2 is None:
                    continue
                ev = prior + (g1 + g2) * 0.6
            else:
                ev = prior + g1
            ev += left + _right(folded, e)
            w = common.get(cand, 0)
            if w:
                ev -= 4.0 if w >= 30 else 3.0
            ev -= _boundary_penalty(folded, e, n, pre_word, words2)
            if glen == 2:
                w2 = common.get(folded[s:s + 2], 0)
                if w2:
                    ev -= 1.5 if w2 >= 300 else 0.8
                given = folded[p:p + 2]
                if common.get(given, 0) >= 300:
                    ev -= 1.0
                elif given in words2:
                    ev -= GIVEN_WORD_PENALTY
                if folded[p + 1:p + 3] in _RS12:
                    ev -= 1.0
            opts.append((ev, e))
        return opts

    def _in_place(self, folded: str, i: int) -> bool:
        """Is position ``i`` the start of a gazetteer place name, or inside one of 3+
        characters? (A name candidate there is usually the place: 阿富汗, 慕尼黑, 俄罗斯.)
        Checked only for candidates that passed scoring; only the lengths of the places that
        start with each character are tried."""
        places = self.places
        lens_of = self._place_lens
        n = len(folded)
        for start in range(max(0, i - 6), i + 1):
            lens = lens_of.get(folded[start])
            if lens is None:
                continue
            shortest = max(3 if start < i else 2, i - start + 1)
            for length in lens:
                end = start + length
                if end > n:
                    break
                if length >= shortest and folded[start:end] in places:
                    return True
        return False

    def _foreign(self, folded: str) -> list[Candidate]:
        """Transliterated foreign names: runs of transliteration characters (丹尼斯·霍珀)."""
        out: list[Candidate] = []
        for m in self._translit_re.finditer(folded):
            run = m.group()
            s, e = m.span()
            dotted = "·" in run or "•" in run or "・" in run
            tag = self.translit.get(run)
            # the cheap tests first; the gazetteer scan (_in_place) only for runs that pass
            if run in self.places or (tag is not None and tag not in ("nr", "nrt", "nrfg")):
                continue
            if not dotted and len(run) < 3 and tag is None:
                continue
            if _not_person_after(folded, e) or folded[max(0, s - 2):s].lower() == "vs":
                continue
            ev = 0.5 if tag is None else 0.75
            if dotted:
                ev += 0.3
            ctx = self._context(folded, s, e)
            ev += FOREIGN_CTX * ctx
            if ev < FOREIGN_MIN:
                continue
            if not dotted and (self._in_place(folded, s) or self._in_place(folded, e - 1)):
                continue
            out.append((s, e, "PERSON", min(ev, 0.9), self.name + ":foreign", 66))
        return out

    def find(self, folded: str) -> list[Candidate]:
        if folded.isascii() or _CJK.search(folded) is None:  # isascii: a flag, no scan
            return []
        if self.ner == "lac":
            return self._find_lac(folded)
        return self._find_rules(folded)

    def _find_lac(self, folded: str) -> list[Candidate]:
        ents = self._lac.entities(folded)
        out: list[Candidate] = [(s, e, "PERSON", LAC_SCORE, self.name + ":lac", 64)
                                for s, e, lab in ents if lab == "PER"]
        for c in self._find_rules(folded):
            if c[3] >= LAC_RULE_MIN and not any(s < c[1] and c[0] < e for s, e, _ in ents):
                out.append(c)
        return out

    def _bound_parts(self, key: str) -> tuple[float, float, float]:
        """The context-free part of the evidence at a single-surname start, from the three
        characters ``key`` = surname + the next two (fewer at the end of the text): returns
        (bound, glen-1 part, glen-2 part). ``bound`` is the most the evidence can reach with
        the best context (+3.0), -inf when no option exists, +inf when the start must be scored
        exactly (a compound surname, a known name, a leader's title). Every penalty that
        needs characters past ``key`` is left out, so the parts only over-estimate."""
        sur, c1 = key[0], key[1]
        if (key[:2] in self._compounds and len(key) == 3 and "\u4e00" <= key[2] <= "\u9fff") \
                or c1 in "主总委副" or key in self.known or key[:2] in self.known:
            return _EXACT
        if sur not in self._singles or key[1:].startswith(_TITLES):
            return _NOTHING
        g1 = self._given_score(c1)
        if g1 is None:
            return _NOTHING
        common = self.common
        rank = self.rank.get(sur, 999)
        prior = 0.8 if rank < 30 else 0.4 if rank < 100 else 0.0 if rank < 400 else -0.6
        if sur in _RISKY_SURNAMES:
            prior -= 0.8
        part1 = part2 = -_INF
        cand = key[:2]
        if cand not in self.places:
            w = common.get(cand, 0)
            part1 = prior + g1 - (4.0 if w >= 30 else 3.0 if w else 0.0)
        g2 = self._given_score(key[2]) if len(key) == 3 else None
        if g2 is not None and key not in self.places:
            part2 = prior + (g1 + g2) * 0.6
            w = common.get(key, 0)
            if w:
                part2 -= 4.0 if w >= 30 else 3.0
            w2 = common.get(cand, 0)
            if w2:
                part2 -= 1.5 if w2 >= 300 else 0.8
            given = key[1:]
            if common.get(given, 0) >= 300:
                part2 -= 1.0
            elif given in self.words2:
                part2 -= GIVEN_WORD_PENALTY
        # the glen-1 option ends at key[2]: its right context is known to be weak or none
        # unless key[2] opens a cue (or the text ends there: 0.3)
        right1 = 0.3 if len(key) < 3 else _MAX_RIGHT if key[2] in _RS_FIRST \
            else 0.4 if key[2] in _RW1 else 0.0
        return max(part1 + right1, part2 + _MAX_RIGHT) + _MAX_LEFT, part1, part2

    def _bound(self, key: str) -> tuple[float, float, float]:
        """:meth:`_bound_parts`, memoised: a pure function of three characters, asked once
        per surname hit (most hits are function-word bigrams such as 国家, 关于, 方法).
        Bounded; concurrent use is safe (a race only computes an entry twice)."""
        v = self._memo.get(key)
        if v is None:
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            v = self._memo[key] = self._bound_parts(key)
        return v

    def _reaches(self, folded: str, s: int, target: float) -> bool:
        """Can the best option at single-surname start ``s`` reach ``target``? (The staged
        bound: context-free parts, then the real left context, then the real right context.)
        True for the starts that :meth:`_bound` leaves to exact scoring."""
        bound, part1, part2 = self._bound(folded[s:s + 3])
        if bound < target:
            return False
        if bound == _INF:
            return True
        left = _left(folded, s)
        if s and folded[s - 1:s + 1] in self.words2:
            left -= 1.5
        if bound - _MAX_LEFT + left < target:
            return False
        best = part1 + _right(folded, s + 2)
        if part2 != -_INF:
            best = max(best, part2 + _right(folded, s + 3))
        return best + left >= target

    def _hit_at(self, folded: str, s: int, skipped: set[int]) -> int | None:
        """The given-name start ``p`` when ``s`` is a surname hit of the scan in
        :meth:`_find_rules` (``skipped``: the second characters of compound hits)."""
        n = len(folded)
        if s in skipped or s + 1 >= n or self._re.match(folded, s) is None:
            return None
        if folded[s:s + 2] in self._compounds and s + 2 < n \
                and "\u4e00" <= folded[s + 2] <= "\u9fff":
            return s + 2
        return s + 1 if folded[s] in self._singles else None

    def _find_rules(self, folded: str, *, exhaustive: bool = False) -> list[Candidate]:
        """Names at surname hits. Most hits can never become a name, so each is first bounded
        (:meth:`_reaches`) and only scored exactly (:meth:`_options`) when it can matter:

        * a start whose best evidence can exceed 0.8 may be accepted alone or give its
          predecessor the chain bonus;
        * a start with less needs the bonus to reach NAME_MIN, so it matters only just before
          such a start (up to 12 characters: a 3-4 character name plus a note);
        * the list rule re-scores the few starts right after an accepted name.

        ``exhaustive``: score every hit that has options at all (a bar below any finite
        evidence), the reference the tests compare the pruned scan with."""
        starts: dict[int, list[tuple[float, int]]] = {}
        compounds = self._compounds
        singles = self._singles
        n = len(folded)
        skip = 0
        skipped: set[int] = set()
        memo = self._memo
        words2 = self.words2
        options = self._options
        target = -1e9 if exhaustive else _REACH_TARGET
        ls1, ls2, ls3, lw1, left_last = _LS1, _LS2, _LS3, _LW1, _LEFT_LAST
        for m in self._hits.finditer(folded):
            s = m.start()
            if s < skip:
                continue  # inside a compound surname found just before (欧阳 -> not 阳)
            key = folded[s:s + 3]
            v = memo.get(key)
            if v is None:
                v = self._bound(key)
            bound = v[0]
            if bound < target:
                continue
            if bound == _INF:
                if folded[s:s + 2] in compounds and s + 2 < n \
                        and "\u4e00" <= folded[s + 2] <= "\u9fff":
                    p = s + 2
                    skip = p
                    skipped.add(s + 1)
                elif folded[s] in singles:
                    p = s + 1
                else:
                    continue
                opts = options(folded, s, p, folded[s:p])
                if opts:
                    starts[s] = opts
                continue
            if s:  # _left(folded, s), inlined: this runs for a third of all hits
                c = folded[s - 1]
                if c not in left_last:  # no context before: the bound alone may settle it
                    if bound - _MAX_LEFT < target:
                        continue
                    left = 0.0
                else:
                    left = 1.6 if c in ls1 or folded[s - 2:s] in ls2 or folded[s - 3:s] in ls3 \
                        else 0.5 if c in lw1 else 0.0
                if folded[s - 1:s + 1] in words2:
                    left -= 1.5
            else:
                left = 0.5
            if bound - _MAX_LEFT + left < target:
                continue
            best = v[1] + _right(folded, s + 2)
            if v[2] != -_INF:
                best = max(best, v[2] + _right(folded, s + 3))
            if best + left < target:
                continue
            opts = options(folded, s, s + 1, folded[s])
            if opts:
                starts[s] = opts
        # starts below the first bar that a chain target right after could lift: an option
        # ends 2 to 4 characters after its start, right at the target or at a note before it
        for t in [s for s, opts in starts.items() if max(o[0] for o in opts) > 0.8]:
            ends = [t]
            if t and folded[t - 1] in "）)":
                ends += [e for e in range(max(0, t - 8), t - 2) if folded[e] in "（("
                         and _skip_note(folded, e) == t]
            for e in ends:
                for s in range(max(0, e - 4), e - 1):
                    if s in starts:
                        continue
                    p = self._hit_at(folded, s, skipped)
                    if p is None or e - s > p - s + 2 or (
                            p == s + 1 and not self._reaches(folded, s, _REACH_CHAINED)):
                        continue
                    opts = options(folded, s, p, folded[s:p])
                    if opts:
                        starts[s] = opts
        out: list[Candidate] = self._foreign(folded)
        sporty: bool | None = None  # searched for only when a transliterated name needs it
        tl = self._translit_chars
        accepted: dict[int, int] = {}
        for s in sorted(starts):
            opts = starts[s]
            best: tuple[float, int] | None = None
            for ev, e in opts:
                nxt = starts.get(_skip_note(folded, e))
                if nxt and max(o[0] for o in nxt) > 0.8:
                    ev += _CHAIN_BONUS
                if best is None or ev > best[0]:
                    best = (ev, e)
            if best is not None and best[0] >= NAME_MIN and all(c in tl for c in folded[s:best[1]]):
                # looks transliterated: a fragment of a longer foreign word (梅塔[利斯特]),
                # or a club in a sports text (斯托克, 巴勒莫), unless the context says person
                b, e = best
                if folded[s:e] not in self.known and (
                        (s > 0 and folded[s - 1] in tl) or (e < len(folded) and folded[e] in tl)):
                    best = (b - FRAGMENT_PENALTY, e)
                else:
                    if sporty is None:
                        sporty = _SPORTS.search(folded) is not None
                    if sporty:
                        best = (b - SPORTS_PENALTY, e)
            if best is not None and best[0] >= NAME_MIN and not self._in_place(folded, s):
                ev, e = best
                accepted[s] = e
                out.append((s, e, "PERSON", min(0.95, 0.5 + (ev - NAME_MIN) * 0.1), self.name,
                            65))
        # familiar forms: 老侯, 小王, 阿陈 (老/小/阿 + a common surname), with some context
        for m in _FAMILIAR.finditer(folded):
            s, e = m.span()
            sur = folded[s + 1]
            if self.rank.get(sur, 999) >= 100 or sur in _RISKY_SURNAMES or s in accepted \
                    or folded[s:e] in self.words2 or folded[s:e] in self.common \
                    or (s > 0 and folded[s - 1:s + 1] in self.words2) \
                    or (e < len(folded) and folded[e - 1:e + 1] in self.words2):
                continue
            ev = FAMILIAR_EV + self._context(folded, s, e)
            if ev >= NAME_MIN:
                out.append((s, e, "PERSON", 0.55, self.name + ":familiar", 65))
        # lists of names written without separators (治丧委员会名单: 李鹏乔石李瑞环...): a
        # candidate squeezed between two accepted names, or between one and a separator, is
        # a name too
        ends = {_skip_note(folded, e) for e in accepted.values()}
        for s in sorted(ends):
            if s in accepted:
                continue
            found = starts.get(s)
            if found is None:
                p = self._hit_at(folded, s, skipped)
                if p is None:
                    continue
                found = options(folded, s, p, folded[s:p])
            for ev, e in sorted(found, key=lambda o: -o[0]):
                after = _skip_note(folded, e)
                if ev > -1.0 and (after in accepted or after >= len(folded)
                                  or folded[after] in "、，。；：,;"):
                    out.append((s, e, "PERSON", 0.55, self.name + ":list", 65))
                    break
        return out


def _class(chars: set[str] | frozenset[str]) -> str:
    return "[" + "".join(sorted(re.escape(c) for c in chars)) + "]"


def _hit_pattern(firsts: str, singles: frozenset[str], compounds: frozenset[str],
                 known: frozenset[str]) -> str:
    """The surname hits that :meth:`ChineseNames._bound_parts` does not rule out at once.

    A fifth of all hits is a surname character before a stop character (的, 是, 在 ...) or a
    one-character title (家, 局, 氏): no option exists, so the bound is -inf and the scan
    skips them, but only after a Python-level step each. Reporting only the rest from the
    C-level scan gives the same names: a hit is kept when the next character is one of
    主总委副 (scored exactly), or the hit is a single surname before a CJK character that
    is neither, or the two characters may open a compound surname or a known name (a class
    pair, a superset). Every hit dropped has the bound -inf (tests/detect/test_fast_paths.py
    compares with the plain scan). The pattern opens with one class, so ``re`` still skips
    ahead on its own."""
    titles1 = {t for t in _TITLES if len(t) == 1}
    bad = (set(_STOP) | titles1) - set("主总委副")
    pairs = set(compounds) | {k[:2] for k in known if len(k) in (2, 3)}
    pairs = {p for p in pairs if p[0] in firsts and "\u4e00" <= p[1] <= "\u9fff"
             and (p[1] in bad or p[0] not in singles)}
    alts = ["(?=[主总委副])",
            "(?<=" + _class(singles) + ")(?!" + _class(bad) + r")(?=[\u4e00-\u9fff])"]
    if pairs:
        alts.append("(?=" + _class({p[1] for p in pairs}) + ")(?<="
                    + _class({p[0] for p in pairs}) + ")")
    return "[" + firsts + "](?:" + "|".join(alts) + ")"


_NOTE = re.compile(r"（[^（）]{1,6}）|\([^()]{1,6}\)")


def _boundary_penalty(folded: str, e: int, n: int, pre_word: bool,
                      words2: frozenset[str]) -> float:
    """Evidence against a name candidate ending at ``e`` from the words around it: the surname
    closes a word that started before it (公司 -> 司, 历史 -> 史), the last character opens a
    word that continues (背景 after 史背), or what follows names a club or place."""
    penalty = 1.5 if pre_word else 0.0
    if e < n and folded[e - 1:e + 1] in words2:
        penalty += 1.0
    if _not_person_after(folded, e):
        penalty += 1.5
    return penalty


def _skip_note(text: str, pos: int) -> int:
    """Position after a parenthesised note such as （女） or （藏族） at ``pos``."""
    if pos >= len(text) or text[pos] not in "（(":
        return pos
    m = _NOTE.match(text, pos)
    return m.end() if m else pos
