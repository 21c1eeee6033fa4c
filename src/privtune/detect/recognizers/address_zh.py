"""Chinese addresses: an administrative-division gazetteer plus a suffix grammar.

Place names (provinces, cities, districts, countries from Faker's zh_CN provider, place words
that jieba's dictionary tags ``ns``, every division to county level from cpca's table with its
short form, world capitals and big cities) are found with one Aho-Corasick pass, longest match
first. A short form (崇礼 for 崇礼区) is a common character pair: it is dropped where it cuts
a word or follows a surname, joins no chain and scores like a suffix-less location. Adjacent place names are chained (北京市 + 东城区), then the suffix grammar extends the
chain over street-level parts: a name ending in 路/街/大街/大道/巷/弄/胡同/村/镇/乡/街道/小区/
花园/大厦/广场..., house numbers (218号, 3栋, 2单元, 501室, 12楼); a place followed directly by
路/街 is a street named after it (南京东路); a place followed by an area word is a location
(德国北部, 台儿庄地区). A street-level address without a known place (文汇路,
中关村大街92号) and named residential or commercial sites (天通苑, 乐成中心, 恒晟超市) are found
by the grammar alone.

After a house number the estate and building follow (…829号碧桂园28栋1203室); an estate name
before a building and unit number (万科城14栋302室), a family village (王家庄) and a station
named after a street (南京东路站) are found alone too.

Score: two chained parts 0.7, anything with a street part or number 0.85. A bare place name
depends on its context (see ``_bare_score``): 0.5-0.6 where it is used as a location (在香港,
来自四川, 纽约、东京), below the 0.5 threshold where it modifies a noun (美国国务院, 中国企业,
广州一家银行, 北京人), names an organisation (香港电影资料馆, 广州乾朗珠宝有限公司) or sits in
a title (《北京市公共租赁住房管理办法》). Landmarks (博物馆, 公园, 寺, 湖) locate nobody and are
kept only after a location cue (在/到/位于...).

Cost: the gazetteer pass runs over the UTF-8 bytes of the text (decoded as Latin-1, so that
every character is one byte): pyahocorasick looks a node's children up one by one, and the
root of a Chinese gazetteer has thousands of children, while in byte form it has a handful;
measured ~5x faster, the matches are the same. Each further regex runs only where a cheap
test (a character class within a few characters, a substring in the text) says it can match.

Streaming: ``hold`` keeps back only the text after the last clause boundary.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate

import ahocorasick

from privtune.detect.lexicons import load
from privtune.detect.recognizer import Candidate

_CJK = r"\u4e00-\u9fff"
_STREET_SUFFIX = (r"(?:大街|大道|街道|胡同|小区|花园|大厦|广场|公寓|新村|社区|园区|开发区|工业园|"
                  r"路|街|巷|弄|村|镇|乡|屯|苑)")
#: a house number: a numeral with a unit (218号, 3栋, 2单元, 501室; not a metro line: 3号线), a
#: block letter (A座), or digits that are no count, date, time or score (2573个, 16:05, 6胜)
_NUMBER_PART = (r"(?:[0-9一二三四五六七八九十百零〇]{1,5}(?:号楼|号院|号(?!线)|栋|幢|座|单元|室|楼|层|弄|"
                r"巷|组|排|户)|[A-Za-z]座|-?[0-9]{1,5}"
                r"(?:室|(?![0-9年月日时点秒个人家元万亿岁多余名次天届期%.:胜负平比分])))")
#: after a place: a street name, or a short estate name straight before its house number
#: (夏威夷水岸1号), then house numbers
_EXT = re.compile(r"([" + _CJK + r"]{1,8}" + _STREET_SUFFIX + r"|[" + _CJK + r"]{1,4}"
                  r"(?=[0-9一二三四五六七八九十]{1,5}(?:号楼|号院|号(?!线)|栋|幢)))?"
                  r"(?:" + _NUMBER_PART + r")*")
#: digits straight after a place name, without a unit, are no house number (漳州110, 北京2008)
_BARE_DIGITS = re.compile(r"[-0-9]+")
_DIVISION = re.compile("[市县州]")
#: the suffix that makes a division's short form its full name again (崇礼 + 县)
_DIVISION_CHARS = frozenset("市县区旗州")
#: a building number (28栋, 3号楼, 2单元): after a house number, the estate and building
#: (…路92号阳光花园8栋1005室) are part of the address
_BUILDING = "[0-9一二三四五六七八九十]{1,4}(?:号楼|栋|幢|单元)"
_ESTATE_TAIL = re.compile(r"([" + _CJK + r"]{1,6}?)" + _BUILDING + "(?:" + _NUMBER_PART + ")*")
#: alone, the estate's name before a building number is an address when a second number
#: follows (万科城14栋302室; 15栋住宅 is a count). The pattern opens with the unit word so that
#: ``re`` can skip ahead to it; the digits before it are read back by hand.
_BUILDING_UNIT = re.compile("(?:号楼|栋|幢|单元)(?=" + _NUMBER_PART + ")")
#: a village named after a family (吴家堡, 李家沟, 王家庄): surname + 家 + settlement word
#: (the pattern opens with the literal 家 so that ``re`` can skip ahead to it; the surname is
#: the character before the match)
_FAMILY_VILLAGE = re.compile(r"家[堡庄沟湾屯坝坪寨营村集窑岭峪塘]")
#: every street part after a place has one of these within 12 characters: the last character
#: of a street suffix, or the first of a number (a cheap test before the regexes)
_EXT_HINT = re.compile("[0-9A-Za-z一二三四五六七八九十百零〇街道同区园厦场寓村路巷弄镇乡屯苑]")
#: a street part after a place holds no function word (中国有企业振兴之路, 大城市如何通过加强社区)
_EXT_STOP = re.compile("[的了是在到从往对向这那与及把被们我你他她它就都也还将要会能说让给之而其或着过]")
#: ... and does not end in a generic word (农村, 道路)
_GENERIC_END = re.compile(r"(?:道路|马路|公路|铁路|网路|思路|线路|电路|出路|走路|上路|一路|半路|后路|"
                          r"前路|退路|销路|套路|门路|新路|老路|大街小巷|农村|乡村|山村|城乡)$")
#: a place name followed directly by a street word is a street named after it (南京东路)
_PLACE_STREET = re.compile(r"[东西南北中]?(?:大街|大道|路|街)(?:" + _NUMBER_PART + r")*")
#: a place followed by an area word is a location, never a modifier (德国北部, 三里河地区)
_AREA = re.compile(r"(?:中北部|东北部|东南部|西北部|西南部|北部|南部|东部|西部|中部|地区|市区|城区|"
                   r"郊区|境内|一带)")
#: named residential, commercial, transport and sports sites, bridges (city addresses are
#: given by them: 四惠桥东): they locate a person
_POI_SITE = ("会展中心|购物中心|商务区|广场|中心|花园|山庄|会所|别墅|大厦|酒店|宾馆|机场|火车站|"
             "地铁站|车站|码头|商城|商场|超市|小区|新村|家园|公寓|渔村|村|苑|网吧|书店|街区|步行街|"
             "湾畔|体育馆|体育场|球场|球馆|桥|站")
#: landmarks and institutions: a museum, a temple or a lake locates nobody by itself
_POI_LANDMARK = ("博物馆|美术馆|纪念馆|图书馆|公园|自然保护区|保护区|风景区|景区|度假村|古镇|大学|"
                 "学院|医院|城堡|寺|庙|宫|塔|河|江|湖|水库|山脉|峡谷|海域")
_POI_SUFFIX = re.compile("(?:" + _POI_SITE + "|" + _POI_LANDMARK + ")")
_LANDMARKS = frozenset(_POI_LANDMARK.split("|"))
_POI_STOP = set("的了在到于从往至去和与及是为把被对向这那一个们我你他她它有就都也还将要会能可由必须"
                "说让给以之而其或等着过来上下中里外前后等当、，。：；！？“”《》（）·号线")
_STREET_SUFFIX_RE = re.compile(r"(?:大街|大道|胡同|路|街|巷)")
_NUMBERS = re.compile("(?:" + _NUMBER_PART + ")+")
_BAD_STREET = re.compile(r"^(?:[这那一二三四五六七八九十几每各某本该其在就先到才从向往于为是的了和与及把被对给"
                         r"上下去来走]|.*(?:道路|马路|公路|铁路|"
                         r"网路|思路|线路|电路|出路|走路|上路|道路|一路|半路|后路|前路|退路|销路|"
                         r"套路|门路|新路|老路|大街小巷))")
#: a street name ends in one of these
_STREET_ENDS = ("路", "街", "大道", "巷", "胡同")
#: a station's name ends in one of these (南京东路站, 公益西桥站, 西直门站, 人民广场站)
_STATION_NAMED_AFTER = frozenset("路街道桥门场")
#: after a street or site: on it, at its mouth, beside it
_LOCATIVES = frozenset("上口边旁内外里")
#: the direction words of street names (中山东路, 长安西街): not a word with the suffix
_DIRECTIONS = frozenset("东西南北中")
#: a street named by an ordinary word (文汇路, 人民路) is a street after these ...
_STREET_CUE_BEFORE = ("在", "到", "于", "往", "沿", "住", "近", "临", "至", "经", "和", "与", "、",
                      "位于", "来到", "前往", "地址", "住址", "地处")
#: ... or before these (on it, at its corner, next to it, in a list of streets)
_STREET_CUE_AFTER = ("口", "边", "旁", "附近", "一带", "以东", "以西", "以南", "以北",
                     "东侧", "西侧", "南侧", "北侧", "交叉", "交汇", "交会", "与", "和", "、",
                     "站", "区域", "沿线", "两侧")

#: a place name right before one of these is a modifier of an organisation, not a location
_ORG_AFTER = ("银行", "政府", "集团", "公司", "法院", "大学", "学院", "医院", "邮政", "证监会",
              "财政部", "国际", "空军", "海军", "陆军", "军", "人民", "电视", "日报", "晚报",
              "时报", "国土", "规划", "体育", "美术", "博物", "足球", "俱乐部", "航空", "电信",
              "移动", "联通", "证券", "保险", "信托", "商会", "协会", "委员会", "部", "局", "厅",
              "队", "住房", "市政", "警方", "当局", "央行", "队员", "卫视", "新闻", "大观园",
              "分行", "支行", "代表处", "消防", "住建", "中级", "高级", "人大", "有关", "教育",
              "建设", "文化", "国防", "摄影", "艺术", "馆", "方块", "总行", "办事处", "分公司",
              "商业", "工商", "农业", "交通", "电力", "石油", "企业", "市场", "经济", "政策",
              "股市", "楼市", "房价", "球迷", "媒体", "网友", "选手", "球员", "公安", "检察",
              "法院", "财政", "税务", "海关", "卫生", "代表团", "大使馆", "领事馆", "总领事",
              "政协", "市委", "省委", "县委", "区委", "人民政府", "日报", "电视台", "广播",
              "女排", "男篮", "国家队", "队长", "站", "方面", "官方", "本土", "共产党",
              "致公党", "社会党", "法学会", "家", "特区", "终审", "使馆", "省委", "市委", "区委",
              "县委", "代表", "人民", "队", "时间", "人", "分会", "总部", "联社", "电影", "委", "厂")
_ORG_AFTER_SET = frozenset(_ORG_AFTER)
#: an organisation's name ends in one of these: a place a few characters before it (in the
#: same phrase) is part of that name (广州乾朗珠宝有限公司, 中国房地产协会, 北京市福利彩票发行中心)
_ORG_TAIL = re.compile(r"[^，。！？；：、,.!?;:\s“”《》()（）的和与及在是了将从到对把被]{0,8}?"
                       r"(?:公司|集团|银行|协会|学会|商会|委员会|政府|法院|检察院|研究院|研究所|"
                       r"管理局|公安局|税务局|管理处|办公室|发行中心|资料馆|图书馆|博物馆|美术馆|"
                       r"电视台|电台|日报|商报|晚报|时报|周刊|杂志|出版社|电影节|艺术节|俱乐部|"
                       r"联社|总部|使馆|领事馆|机构|策划院|设计院|事务所|有限|股份|研究会|促进会|基金会|"
                       r"联合会|委会|大学|中学|小学|工厂|厂|派出所|部(?![分位]))")

#: the last characters of those words: one must lie within 13 characters (a cheap test first)
_ORG_HINT = re.compile("[司团行会府院所局处室心馆台报刊志社节部构限份学厂]")
_AREA_FIRST = frozenset("中东西南北地市城郊境一")

BARE_PLACE = 0.5
LOCATION_PENALTY = 0.1
MODIFIER_PENALTY = 0.15
ORG_PENALTY = 0.3
#: a division name the gazetteer lacks is less certain than a known one
DIVISION_PENALTY = 0.1
POI_SCORE = 0.6
#: chained place names one of which is an official division name (cpca's table)
CHAIN_OFFICIAL = 0.75
LANDMARK_SCORE = 0.45
#: a bare place or a landmark right after one of these is a location ("在香港", "来自四川")
_LOC_CUE = ("在", "到", "自", "于", "从", "去", "往", "赴", "至", "抵", "住", "位于", "来自",
            "前往", "飞往", "回到", "途经", "经过", "离开", "访问", "去了", "到了", "来到", "游览",
            "址", "址：", "址:", "籍：", "籍:", "号线",
            # verbs of travel, settling and war: their object is a place
            "抵达", "飞抵", "赶往", "奔赴", "逃往", "返回", "返抵", "留在", "身处",
            "定居", "落户", "扎根", "驻扎", "登陆", "进军", "入侵", "出兵", "云集", "遍布",
            "走进", "走遍", "出生", "生于", "长于", "移居", "迁往", "移民", "旅居", "客居",
            "坐落", "地处", "毗邻", "紧邻", "靠近", "途径", "路过", "穿越", "横跨", "遍及")
#: ... and so is a bare place in a list ("纽约、东京")
_LOC_CUE_SET = frozenset(_LOC_CUE)
_LOC_BEFORE = frozenset((*_LOC_CUE, "、", "和", "与", "及"))
#: ... or right before one of these (a list, the end of a clause)
#: the words that join a list (纽约、东京; 德国和俄罗斯): a place before another is a location
_LIST_JOIN = frozenset("、和与及")
_LOC_AFTER = frozenset("，。、；！？,;和与及等）)”」》籍")
#: a sentence starts after these: a bare place there is usually a modifier (美国国务院...)
_SENT_START = "。！？!?\n\r；;"
#: a place before a date is where something happened (a dateline: 新华社孟买12月5日电)
_DATE_FIRST = frozenset("0123456789一二三四五六七八九十")
_DATE = re.compile(r"[0-9一二三四五六七八九十]{1,3}月[0-9一二三四五六七八九十]{1,3}[日号]")
#: no span contains one of these and no rule looks past one (see ``hold``)
_BARRIER = "，。！？；：、,!?;:\n\r"


def _after_cue(folded: str, k: int) -> bool:
    """Does a location cue (``_LOC_CUE``, one or two characters) end at ``k``?"""
    return folded[k - 1:k] in _LOC_CUE_SET or folded[max(0, k - 2):k] in _LOC_CUE_SET


def _has_building(folded: str) -> bool:
    """Any building unit word in the text at all? (a cheap test before the regexes)"""
    return "栋" in folded or "单元" in folded or "号楼" in folded or "幢" in folded


#: the kinds of gazetteer match: a known place, an official division name, a short form
#: (an official name that no other lexicon has is _NEW: it is checked like a short form)
_KNOWN, _OFFICIAL, _SHORT, _NEW = 0, 1, 2, 3


def _divisions_lexicon() -> dict[str, str]:
    """Every division to county level (name -> "full") and its short form (崇礼 for 崇礼区,
    name -> "short"; less certain, scored like a bare location): zh_divisions.txt."""
    out: dict[str, str] = {}
    for line in load("zh_divisions.txt"):
        name, _, kind = line.partition("\t")
        out[name] = kind
    return out


def gazetteer() -> tuple[str, ...]:
    """Every name of the gazetteer pass: divisions and countries (Faker), jieba's place words,
    world cities, and the official divisions with their short forms (cpca)."""
    return (*load("zh_places.txt"), *load("zh_locations.txt"), *load("zh_world_cities.txt"),
            *_divisions_lexicon())


class _Taken:
    """The spans of the gazetteer pass over one text (sorted by start), for quick look-ups
    by the grammar."""

    __slots__ = ("ends", "start_of", "starts")

    def __init__(self, cands: list[Candidate]) -> None:
        self.starts = [c[0] for c in cands]
        #: the furthest end of the spans up to each one (spans may overlap)
        self.ends = list(accumulate((c[1] for c in cands), max))
        #: span end -> span start
        self.start_of: dict[int, int] = {}
        for c in cands:
            self.start_of.setdefault(c[1], c[0])

    def covers(self, p: int) -> bool:
        """Does a span cover position ``p``?"""
        i = bisect_right(self.starts, p) - 1
        return i >= 0 and p < self.ends[i]

    def inside(self, p: int) -> int | None:
        """The end of a span that ``p`` lies strictly inside, else None."""
        i = bisect_right(self.starts, p) - 1
        if i >= 0 and self.starts[i] < p < self.ends[i]:
            return self.ends[i]
        return None


class ChineseAddress:
    name = "zh_address"
    types = ("ADDRESS",)
    max_len = 64

    def __init__(self) -> None:
        divisions = _divisions_lexicon()
        #: the official division names to county level (崇礼区, 乌审旗)
        self.official = frozenset(n for n, kind in divisions.items() if kind == "full")
        self.places = frozenset(load("zh_places.txt")) | self.official
        #: their short forms (崇礼, 乌审) that are no ordinary word, and no place name already
        #: known from the other lexicons (石景山: jieba ns)
        self.short_forms = frozenset(n for n, kind in divisions.items() if kind == "short") \
            - self.places - frozenset(load("zh_locations.txt"))
        known = frozenset(load("zh_places.txt")) | frozenset(load("zh_locations.txt"))
        self._ac = ahocorasick.Automaton()
        for p in gazetteer():
            key = p.encode("utf-8").decode("latin-1")
            if re.search("[" + _CJK + "]", p) and key not in self._ac:
                kind = _SHORT if p in self.short_forms else _KNOWN if p not in self.official \
                    else _OFFICIAL if p in known else _NEW
                self._ac.add_word(key, (len(key), len(p), kind))
        self._ac.make_automaton()
        self._cjk = re.compile("[" + _CJK + "]")
        self.words2 = frozenset(load("zh_words2.txt"))
        self.countries = frozenset(load("zh_countries.txt"))
        self.modifier_next = frozenset(load("zh_modifier_next.txt"))
        self.surnames = frozenset(x for x in load("zh_surnames.txt") if len(x) == 1)
        #: bare location names without a division suffix (纽约, 西山): less certain
        self.locations = (frozenset(load("zh_locations.txt")) | frozenset(
            load("zh_world_cities.txt")) | self.short_forms) - self.places

    def _bare_score(self, folded: str, s: int, e: int, next_place: int = -1) -> float:
        """A lone place name: a location when a preposition or verb of motion precedes it, a
        clause boundary follows it, or it heads a list of places (纽约、东京; ``next_place``:
        where the next gazetteer match begins); a modifier (中国企业, 美国国务院) otherwise. A bare country
        name locates nobody and needs that context."""
        name = folded[s:e]
        score = BARE_PLACE - (0.1 if name in self.countries else
                              LOCATION_PENALTY if name in self.locations else 0.0)
        if folded[e:e + 2] in self.modifier_next:
            score -= MODIFIER_PENALTY  # 广州一家银行, 欧洲三大杯, 北京国华置业
        before = folded[max(0, s - 2):s]
        if before[-1:] in _LOC_BEFORE or before in _LOC_BEFORE \
                or (folded[e:e + 1] in _DATE_FIRST and _DATE.match(folded, e)) \
                or (next_place == e + 1 and folded[e] in _LIST_JOIN):
            return score + 0.1
        if e >= len(folded) or folded[e] in _LOC_AFTER:
            return score + 0.05
        if folded.startswith("的", e) and name not in self.countries:
            return score + 0.1  # 京都的抹茶: a possessor is a place; a bare modifier is not
        if s == 0 or folded[s - 1] in _SENT_START:
            return score - 0.1  # 中国CS界..., 美国国务院... at the start of a sentence
        return score

    def _places(self, text: str) -> list[tuple[int, int]]:
        """Longest non-overlapping gazetteer matches, left to right, as character offsets."""
        return [(s, e) for s, e, _ in self._matches(text)]

    def _matches(self, text: str) -> list[tuple[int, int, int]]:
        """``_places`` with each match's kind (_KNOWN, _OFFICIAL, _SHORT): pyahocorasick's
        ``iter_long`` over the UTF-8 bytes (see the module docstring)."""
        raw = text.encode("utf-8", "surrogatepass")  # a lone surrogate stays one character
        out: list[tuple[int, int, int]] = []
        bpos = cpos = 0
        for end, (nb, nc, kind) in self._ac.iter_long(raw.decode("latin-1")):
            start = end - nb + 1
            cpos += len(raw[bpos:start].decode("utf-8", "surrogatepass"))
            out.append((cpos, cpos + nc, kind))
            cpos += nc
            bpos = end + 1
        return out

    def _name_start(self, folded: str, ps: int) -> int:
        """Start of the proper name before a suffix at ``ps``: at most 4 CJK characters that
        are not function words, moved off a word it would cut (北[京大学 -> 北京大学, 那[么海渔
        广场 -> 海渔广场), minus leading ordinary words (借鉴清华大学 -> 清华大学, 贫困村 ->
        nothing)."""
        return self._strip_words(folded, self._raw_start(folded, ps), ps)

    def _strip_words(self, folded: str, k: int, ps: int) -> int:
        """Drop ordinary two-character words from the front of the name ``k:ps``."""
        while ps - k >= 2 and folded[k:k + 2] in self.words2 and folded[k:ps] not in self.places:
            k += 2
        return k

    def _raw_start(self, folded: str, ps: int) -> int:
        """Walk back from ``ps`` over at most 4 name characters; a start that cuts a word in
        two moves onto that word's start (a place: 上海经贸学院) or past it (anything else)."""
        k = ps
        while k > 0 and ps - k < 4 and "\u4e00" <= folded[k - 1] <= "\u9fff" \
                and folded[k - 1] not in _POI_STOP:
            k -= 1
        if 0 < k < ps and folded[k - 1:k + 1] in self.words2:
            k = k - 1 if folded[k - 1:k + 1] in self.places else k + 1
        return k

    def _starts_word(self, folded: str, pe: int) -> bool:
        """Does the suffix ending at ``pe`` start another word (路线, 街头, 宫殿)? A locative
        after it (路上, 广场上, 路口) leaves the suffix a suffix."""
        return folded[pe - 1:pe + 1] in self.words2 and folded[pe:pe + 1] not in _LOCATIVES

    def _cuts_word(self, folded: str, s: int, e: int, kind: int) -> bool:
        """Is the match ``s:e`` a division's short form that cuts a word in two (建[成安]全:
        成安 for 成安县) or follows a surname (林[金凤]: a given name), or a division name
        from cpca alone whose suffix starts a word (合作[市场])? Short forms are common
        character pairs; the other lexicons' names were checked when they were built."""
        if kind == _SHORT:
            return folded[s - 1:s + 1] in self.words2 or folded[e - 1:e + 1] in self.words2 \
                or (folded[s - 1:s] in self.surnames and folded[s - 1:s] not in _LOC_BEFORE)
        return kind == _NEW and folded[e - 1:e + 1] in self.words2

    def _gazetteer(self, folded: str) -> list[tuple[int, int, int]]:
        """The gazetteer matches, less those that cut a word (``_cuts_word``). A dropped match
        may have hidden a place that starts inside it (更[新北]京 hides 北京): the pass is run
        again over a short window after its first character (rare)."""
        matches = self._matches(folded)
        if not matches or max(m[2] for m in matches) < _SHORT:
            return matches
        out: list[tuple[int, int, int]] = []
        hidden_end = -1
        for m in matches:
            if m[0] < hidden_end:
                continue  # overlaps a place that the dropped match hid
            if m[2] < _SHORT or not self._cuts_word(folded, *m):
                out.append(m)
                continue
            s = m[0] + 1
            for h in self._matches(folded[s:s + 16]):
                if h[0] + s >= m[1]:
                    break
                if h[2] < _SHORT or not self._cuts_word(folded, h[0] + s, h[1] + s, h[2]):
                    out.append((h[0] + s, h[1] + s, h[2]))
                    hidden_end = h[1] + s
                    break
        return out

    def _is_org(self, folded: str, s: int, e: int) -> bool:
        """Is the place at ``s:e`` part of an organisation's name or a title? (an organisation
        word right after it or a few characters later in the same phrase; inside 《...》)"""
        if folded[e:e + 1] in _ORG_AFTER_SET or folded[e:e + 2] in _ORG_AFTER_SET \
                or folded[e:e + 3] in _ORG_AFTER_SET or folded[e:e + 4] in _ORG_AFTER_SET \
                or (_ORG_HINT.search(folded, e, e + 13) is not None
                    and _ORG_TAIL.match(folded, e) is not None):
            return True
        j = folded.rfind("《", max(0, s - 40), s)
        return j >= 0 and folded.find("》", j, s) < 0

    def find(self, folded: str) -> list[Candidate]:
        # isascii: a flag on the string, no scan (an ASCII text holds no ideograph)
        if folded.isascii() or self._cjk.search(folded) is None:
            return []
        out: list[Candidate] = []
        places = self._gazetteer(folded)
        weak = False  # a lone short form among the candidates?
        i = 0
        while i < len(places):
            s, e, kind = places[i]
            parts = 1
            official = kind in (_OFFICIAL, _NEW)
            # a short form joins no chain (香港 + 南华早报, 崇礼 + 中国的雪都)
            while i + 1 < len(places) and places[i + 1][0] == e and kind != _SHORT \
                    and places[i + 1][2] != _SHORT:
                i += 1
                official = official or places[i][2] in (_OFFICIAL, _NEW)
                e = places[i][1]
                parts += 1
            if kind == _SHORT and folded[e:e + 1] in _DIVISION_CHARS \
                    and folded[e - 1:e + 1] not in self.words2:
                e += 1  # a short form with a division suffix: an old or other name (崇礼县)
                official = True
            end = self._street_end(folded, e)
            street = end > e
            area = None if street or folded[e:e + 1] not in _AREA_FIRST else _AREA.match(folded, e)
            if street:
                e = self._estate_end(folded, end)
                score = 0.85
            elif area is not None:
                e = area.end()
                score = 0.6
            elif parts > 1:
                # a chain that names an official division (内蒙古乌审旗) is surely a place
                score = CHAIN_OFFICIAL if official else 0.7
            elif folded.endswith(_STREET_ENDS, s, e):
                score = 0.6  # a known street (中山路, 长安街): street level by itself
            else:
                weak = weak or (kind == _SHORT and not official)
                score = self._bare_score(folded, s, e,
                                         places[i + 1][0] if i + 1 < len(places) else -1)
            if not street and self._is_org(folded, s, e):
                score -= ORG_PENALTY
            if e - s > 64:
                e = s + 64
            out.append((s, e, "ADDRESS", score, self.name, 70))
            i += 1
        # a lone short form (清苑 in 雅清苑) is too weak to keep the grammar off its characters
        taken = _Taken([c for c in out if folded[c[0]:c[1]] not in self.short_forms]
                       if weak else out)
        for m in _FAMILY_VILLAGE.finditer(folded, 1):
            s = m.start() - 1
            if folded[s] in self.surnames and not taken.covers(s):
                num = _NUMBERS.match(folded, m.end())
                e = self._estate_end(folded, num.end()) if num else m.end()
                out.append((s, e, "ADDRESS", 0.85 if num else 0.6, self.name, 71))
        self._divisions(folded, taken, out)
        self._pois(folded, taken, out)
        self._streets(folded, taken, out)
        self._buildings(folded, out)
        return out

    def _estate_end(self, folded: str, e: int) -> int:
        """After a house number at ``e``: the estate and building that follow (碧桂园28栋1203室)."""
        if not _has_building(folded):
            return e
        m = _ESTATE_TAIL.match(folded, e)
        if m is None or _EXT_STOP.search(m.group(1)):
            return e
        return m.end()

    def _buildings(self, folded: str, out: list[Candidate]) -> None:
        """An estate's name right before a building and a unit number (住在万科城14栋302室),
        where no other candidate covers it."""
        if not _has_building(folded):
            return
        covered: set[int] | None = None
        for m in _BUILDING_UNIT.finditer(folded):
            p = m.start()
            while p > 0 and m.start() - p < 4 and "0" <= folded[p - 1] <= "9":
                p -= 1
            if p == m.start() or (p and "0" <= folded[p - 1] <= "9"):
                continue  # no digits, or more than 4
            if covered is None:
                covered = {i for c in out for i in range(c[0], c[1])}
            if p in covered:
                continue
            k = self._raw_start(folded, p)
            if p - k < 2:
                continue
            e = _NUMBERS.match(folded, p).end()  # type: ignore[union-attr]
            out.append((k, e, "ADDRESS", 0.75, self.name + ":poi", 72))

    def _street_end(self, folded: str, e: int) -> int:
        """End of the street-level part after a place name ending at ``e`` (``e``: none): a
        street name (no function word in it, not a generic word: 农村, 坐镇), then house
        numbers (bare digits alone are none); or 路/街 right after the place (南京东路)."""
        if not folded[e:e + 1].isalnum() or _EXT_HINT.search(folded, e, e + 12) is None:
            return e  # nothing that can start or end a street part follows (the common case)
        m = _EXT.match(folded, e)
        st = m.group(1)
        if st and not (_EXT_STOP.search(st) or _GENERIC_END.search(st)
                       or (len(st) == 2 and st in self.words2 and st not in self.places)):
            return m.end()
        num = _NUMBERS.match(folded, e)
        if num is not None and _BARE_DIGITS.fullmatch(folded, e, num.end()) is None:
            return num.end()
        m = _PLACE_STREET.match(folded, e)
        if m is not None and not self._starts_word(folded, m.end()):
            return m.end()
        return e

    def _divisions(self, folded: str, taken: _Taken, out: list[Candidate]) -> None:
        """A name the gazetteer lacks with a division suffix (室兰市, 达塔州): scored like a
        bare place; an ordinary word ending in the suffix (城市, 股市, 全县) is none."""
        for m in _DIVISION.finditer(folded):
            ps, pe = m.span()
            if taken.covers(ps) or folded[ps - 1:pe] in self.words2 \
                    or self._starts_word(folded, pe):
                continue
            k = self._name_start(folded, ps)
            if ps - k < 2:
                continue
            score = self._bare_score(folded, k, pe) - DIVISION_PENALTY
            if self._is_org(folded, k, pe):
                score -= ORG_PENALTY
            out.append((k, pe, "ADDRESS", score, self.name, 70))

    def _pois(self, folded: str, taken: _Taken, out: list[Candidate]) -> None:
        """Named sites (天通苑, 乐成中心 + numbers: 3号楼501室); a landmark needs a location cue
        before it or a place right before it."""
        for m in _POI_SUFFIX.finditer(folded):
            ps, pe = m.span()
            if taken.covers(ps):
                continue
            landmark = m.group() in _LANDMARKS
            if m.group() == "站" and folded[ps - 1:ps] not in _STATION_NAMED_AFTER:
                continue  # a station is named after a street, bridge, gate or square
            if self._starts_word(folded, pe) and folded[pe - 1:pe + 1] not in self.places:
                continue  # 宫殿, 江湖, 村民: the suffix character starts another word
            if pe - ps == 1 and folded[ps - 1:pe] in self.words2 \
                    and folded[ps - 1:pe] not in self.places:
                continue  # 农村, 寺庙: the suffix ends an ordinary word
            k0 = self._raw_start(folded, ps)
            end = taken.inside(k0)
            if end is not None:
                k0 = end  # never start inside a place (山东省农村 -> 农村)
            if ps - k0 < 2:
                place = taken.start_of.get(ps)
                if place is not None and not landmark:
                    # a site named after its place (王府井书店, 上海广场)
                    out.append((place, pe, "ADDRESS", POI_SCORE, self.name + ":poi", 72))
                continue
            k = self._strip_words(folded, k0, ps)
            plain = ps - k < 2
            if plain and landmark:
                continue
            num = _NUMBERS.match(folded, pe)
            e = num.end() if num else pe
            if plain:
                # a name made of ordinary words (阳光花园, 世纪广场) is a site's name only
                # where an address is plainly meant: numbers after it, a location cue before
                if not (num or _after_cue(folded, k0)):
                    continue
                k = k0
            cue = _after_cue(folded, k)
            after_place = k in taken.start_of
            if num:
                score = 0.85
            elif landmark:
                score = LANDMARK_SCORE + (0.1 if after_place or cue else 0.0)
            elif plain:
                score = 0.55
            else:
                score = 0.75 if after_place else POI_SCORE
            out.append((k, e, "ADDRESS", score, self.name + ":poi", 72))

    def _streets(self, folded: str, taken: _Taken, out: list[Candidate]) -> None:
        """Street names without a known place (中关村大街92号); a name that is an ordinary
        word (文汇路, 人民路) needs a number or a street cue around it."""
        for m in _STREET_SUFFIX_RE.finditer(folded):
            ps, pe = m.span()
            if taken.covers(ps):
                continue
            if self._starts_word(folded, pe):
                continue  # 路线, 街头: the suffix character starts another word
            k0 = self._raw_start(folded, ps)
            if ps - k0 < 2:
                continue
            if folded[ps - 1] not in _DIRECTIONS and folded[ps - 1:pe] in self.words2 \
                    and folded[k0:pe] not in self.places:
                continue  # 马路, 出路: the suffix is the end of an ordinary word
            if _BAD_STREET.match(folded[k0:pe]):
                continue
            k = self._name_start(folded, ps)
            num = _NUMBERS.match(folded, pe)
            e = self._estate_end(folded, num.end()) if num else pe
            if ps - k >= 2:
                score = 0.8 if num else 0.6
            elif num or folded[max(0, k0 - 2):k0].endswith(_STREET_CUE_BEFORE) \
                    or folded.startswith(_STREET_CUE_AFTER, pe):
                k = k0
                score = 0.8 if num else 0.55
            else:
                continue
            out.append((k, e, "ADDRESS", score, self.name, 71))

    def hold(self, folded: str) -> int:
        """How many trailing characters could still become part of, or change, a span once
        more text arrives: those after the last clause boundary. No span contains a boundary
        character (，。、；...) and every look-ahead stops at one, so spans before it are
        final."""
        last = max(folded.rfind(c) for c in _BARRIER)
        return len(folded) - last - 1
