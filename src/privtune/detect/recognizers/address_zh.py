"""Chinese addresses: an administrative-division gazetteer plus a suffix grammar.

Place names (provinces, cities, districts, countries from Faker's zh_CN provider and place
words that jieba's dictionary tags ``ns``) are found with one Aho-Corasick pass, longest match
first. Adjacent place names are chained (北京市 + 东城区), then the suffix grammar extends the
chain over street-level parts: a name ending in 路/街/大街/大道/巷/弄/胡同/村/镇/乡/街道/小区/
花园/大厦/广场..., house numbers (218号, 3栋, 2单元, 501室, 12楼). A street-level address
without a known place (文汇路, 中关村大街92号) is found by the grammar alone.

Score: two chained parts 0.7, anything with a street part or number 0.85. A bare place name
depends on its context (see ``_bare_score``): 0.5-0.6 where it is used as a location (在香港,
来自四川, 纽约、东京), below the 0.5 threshold where it modifies a noun (美国国务院, 中国企业,
广州一家银行); bare countries and suffix-less location names (zh_locations.txt: 纽约, 西山)
need that context.
"""

from __future__ import annotations

import re

import ahocorasick

from privtune.detect.lexicons import load
from privtune.detect.recognizer import Candidate

_CJK = r"\u4e00-\u9fff"
_STREET_SUFFIX = (r"(?:大街|大道|街道|胡同|小区|花园|大厦|广场|公寓|新村|社区|园区|开发区|工业园|"
                  r"路|街|巷|弄|村|镇|乡|屯|苑)")
_NUMBER_PART = (r"(?:[0-9一二三四五六七八九十百零〇]{1,5}(?:号楼|号院|号|栋|幢|座|单元|室|楼|层|弄|"
                r"巷|组|排|户)|[A-Za-z]座|-?[0-9]{1,5}室?)")
_EXT = re.compile(r"(?:[" + _CJK + r"]{1,8}" + _STREET_SUFFIX + r")?(?:" + _NUMBER_PART + r")*")
_STREET_ONLY = re.compile(r"(?<![" + _CJK + r"])?([" + _CJK + r"]{2,6}?(?:大街|大道|路|街|巷|胡同))"
                          r"(" + _NUMBER_PART + r"+)?")
_POI_SUFFIX = re.compile(r"(?:会展中心|购物中心|商务区|博物馆|体育馆|体育场|美术馆|纪念馆|图书馆|"
                         r"广场|中心|公园|山庄|花园|会所|别墅|大厦|球场|酒店|宾馆|机场|火车站|"
                         r"车站|码头|景区|风景区|商城|小区|新村|家园|公寓|渔村|大学|学院|医院|"
                         r"村|湾畔|寺|庙|宫|塔|桥|城堡|苑|网吧|书店|保护区|球馆|商场|超市|自然保护区|"
                         r"风景区|度假村|地铁站|河|江|湖|水库|山脉|峡谷|海域|街区|步行街|古镇)")
_POI_STOP = set("的了在到于从往至去和与及是为把被对向这那一个们我你他她它有就都也还将要会能可由必须"
                "说让给以之而其或等着过来上下中里外前后等、，。：；！？“”《》（）·")
_STREET_SUFFIX_RE = re.compile(r"(?:大街|大道|胡同|路|街|巷)")
_NUMBERS = re.compile("(?:" + _NUMBER_PART + ")+")
_BAD_STREET = re.compile(r"^(?:[这那一二三四五六七八九十几每各某本该其在就先到才从向往于为是的了和与及把被对给"
                         r"上下去来走]|.*(?:道路|马路|公路|铁路|"
                         r"网路|思路|线路|电路|出路|走路|上路|道路|一路|半路|后路|前路|退路|销路|"
                         r"套路|门路|新路|老路|大街小巷))")


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
              "女排", "男篮", "国家队", "队长", "赛区", "站", "方面", "官方", "本土", "共产党",
              "致公党", "社会党", "法学会", "家", "特区", "终审", "使馆", "省委", "市委", "区委",
              "县委", "代表", "人民", "队")


BARE_PLACE = 0.5
LOCATION_PENALTY = 0.1
MODIFIER_PENALTY = 0.15
#: a bare place right after one of these is a location ("在香港", "来自四川", "到崇礼")
_LOC_BEFORE = ("在", "到", "自", "于", "从", "去", "往", "赴", "至", "抵", "住", "位于", "来自",
               "前往", "飞往", "回到", "途经", "经过", "离开", "访问", "去了", "到了", "来到",
               "游览", "、", "和", "与", "及")
#: ... or right before one of these (a list, the end of a clause)
_LOC_AFTER = ("，", "。", "、", "；", "！", "？", ",", ";", "和", "与", "及", "等", "）", ")",
              "”", "」", "》", "人", "籍")
_SENT_START = "。！？!?\n\r；;"


class ChineseAddress:
    name = "zh_address"
    types = ("ADDRESS",)
    max_len = 64

    def __init__(self) -> None:
        self._ac = ahocorasick.Automaton()
        for p in load("zh_places.txt"):
            if re.search("[" + _CJK + "]", p):
                self._ac.add_word(p, len(p))
        for p in load("zh_locations.txt"):
            if p not in self._ac:
                self._ac.add_word(p, len(p))
        self._ac.make_automaton()
        self._cjk = re.compile("[" + _CJK + "]")
        self.words2 = frozenset(load("zh_words2.txt"))
        self.places = frozenset(load("zh_places.txt"))
        self.countries = frozenset(load("zh_countries.txt"))
        self.modifier_next = frozenset(load("zh_modifier_next.txt"))
        #: bare location names without a division suffix (纽约, 西山): less certain
        self.locations = frozenset(load("zh_locations.txt")) - self.places

    def _bare_score(self, folded: str, s: int, e: int) -> float:
        """A lone place name: a location when a preposition or verb of motion precedes it or a
        clause/list boundary follows it; a modifier (中国企业, 美国国务院) otherwise. A bare
        country name locates nobody and needs that context."""
        name = folded[s:e]
        score = BARE_PLACE - (0.1 if name in self.countries else
                              LOCATION_PENALTY if name in self.locations else 0.0)
        if folded[e:e + 2] in self.modifier_next:
            score -= MODIFIER_PENALTY  # 广州一家银行, 欧洲三大杯, 北京国华置业
        before = folded[max(0, s - 2):s]
        if before.endswith(_LOC_BEFORE):
            return score + 0.1
        if e >= len(folded) or folded.startswith(_LOC_AFTER, e):
            return score + 0.05
        if s == 0 or folded[s - 1] in _SENT_START:
            return score - 0.1  # 中国CS界..., 美国国务院... at the start of a sentence
        return score

    def _places(self, text: str) -> list[tuple[int, int]]:
        """Longest non-overlapping gazetteer matches, left to right (pyahocorasick's
        ``iter_long``: one C pass, no Python work per overlapping hit)."""
        return [(end - n + 1, end + 1) for end, n in self._ac.iter_long(text)]

    def _name_start(self, folded: str, ps: int) -> int:
        """Start of the proper name before a suffix at ``ps``: at most 4 CJK characters that
        are not function words, minus leading ordinary words (借鉴清华大学 -> 清华大学,
        贫困村 -> nothing)."""
        k = ps
        while k > 0 and ps - k < 4 and "\u4e00" <= folded[k - 1] <= "\u9fff" \
                and folded[k - 1] not in _POI_STOP:
            k -= 1
        while ps - k >= 2 and folded[k:k + 2] in self.words2 and folded[k:ps] not in self.places:
            k += 2
        return k

    def find(self, folded: str) -> list[Candidate]:
        if self._cjk.search(folded) is None:
            return []
        out: list[Candidate] = []
        places = self._places(folded)
        i = 0
        while i < len(places):
            s, e = places[i]
            parts = 1
            while i + 1 < len(places) and places[i + 1][0] == e:
                i += 1
                e = places[i][1]
                parts += 1
            m = _EXT.match(folded, e)
            street = m is not None and m.end() > e
            if street:
                e = m.end()  # type: ignore[union-attr]
            if street:
                score = 0.85
            elif parts > 1:
                score = 0.7
            else:
                score = self._bare_score(folded, s, e)
            if not street and folded.startswith(_ORG_AFTER, e):
                score -= 0.3
            if e - s > 64:
                e = s + 64
            out.append((s, e, "ADDRESS", score, self.name, 70))
            i += 1
        taken = [(c[0], c[1]) for c in out]
        for m in _POI_SUFFIX.finditer(folded):
            ps, pe = m.span()
            if any(a <= ps < b for a, b in taken):
                continue
            k = self._name_start(folded, ps)
            if ps - k < 2:
                continue
            score = 0.6
            if any(b == k for _, b in taken):
                score = 0.75
            out.append((k, pe, "ADDRESS", score, self.name + ":poi", 72))
        for m in _STREET_SUFFIX_RE.finditer(folded):
            ps, pe = m.span()
            if any(a <= ps < b for a, b in taken):
                continue
            k = self._name_start(folded, ps)
            if ps - k < 2 or (folded[ps - 1:pe] in self.words2 and folded[k:pe] not in self.places):
                continue
            if folded[pe - 1:pe + 1] in self.words2:
                continue  # 路线, 街头: the suffix character starts another word
            if _BAD_STREET.match(folded[k:pe]):
                continue
            num = _NUMBERS.match(folded, pe)
            e = num.end() if num else pe
            score = 0.8 if e > pe else 0.6
            out.append((k, e, "ADDRESS", score, self.name, 71))
        return out
