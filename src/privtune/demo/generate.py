"""Generate the bundled synthetic customer-service dataset (``data/support_chats.jsonl``).

Every person, number and address in it is invented, but shaped like the real thing so the
detector and the rest of the pipeline have something to do: Chinese and English customers,
mobiles in several layouts, 18-digit resident ID numbers with a valid GB 11643 check digit,
Luhn-valid bank cards, e-mail and postal addresses, order numbers. Most records are alpaca
(``instruction``/``input``/``output``), about a quarter are sharegpt ``conversations``; each
also carries metadata a training set does not need (``customer_id``, ``agent_email``,
``created_at``, ``channel``), which minimization should drop.

Reproducible: fixed seeds, no clock. ``python -m privtune.demo.generate`` rewrites the shipped
file; a test regenerates it and compares bytes (with the Faker version recorded in
:data:`FAKER_VERSION`; Faker's word lists change between releases).
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from privtune.detect.validators import id_check_digit, luhn_check_digit

SEED = 20240601
N_RECORDS = 2000
#: Faker release the shipped file was generated with.
FAKER_VERSION = "40.63.0"
DEFAULT_OUT = Path(__file__).parent / "data" / "support_chats.jsonl"

# (province, city, districts) - real administrative names, invented streets and numbers
_ZH_PLACES = [
    ("北京市", "", ["朝阳区", "海淀区", "东城区", "西城区", "丰台区"]),
    ("上海市", "", ["浦东新区", "徐汇区", "静安区", "黄浦区", "闵行区"]),
    ("广东省", "深圳市", ["南山区", "福田区", "宝安区", "龙岗区"]),
    ("广东省", "广州市", ["天河区", "越秀区", "海珠区", "番禺区"]),
    ("浙江省", "杭州市", ["西湖区", "拱墅区", "滨江区", "余杭区"]),
    ("江苏省", "南京市", ["鼓楼区", "玄武区", "建邺区"]),
    ("四川省", "成都市", ["武侯区", "锦江区", "高新区"]),
    ("湖北省", "武汉市", ["洪山区", "江汉区", "武昌区"]),
    ("陕西省", "西安市", ["雁塔区", "碑林区", "未央区"]),
    ("天津市", "", ["和平区", "南开区", "河西区"]),
]
_ZH_ROADS = ["建国路", "人民路", "解放大道", "科技园路", "中山北路", "文一西路", "天府大道",
             "长安街", "南京西路", "珞喻路", "朝阳北路", "学院路", "滨江大道", "友谊路"]
_ZH_ESTATES = ["阳光花园", "锦绣华庭", "翠湖小区", "万科城", "碧桂园", "金地名苑", "世纪新城"]
# region codes of real districts (the first six digits of a resident ID number)
_REGION_CODES = ["110105", "110108", "310104", "310115", "440305", "440106", "330106",
                 "320106", "510107", "420111", "610113", "120101", "500103", "370102"]
_ZH_MOBILE_PREFIXES = ["130", "131", "132", "135", "136", "137", "138", "139", "150", "151",
                       "152", "155", "157", "158", "159", "166", "176", "177", "180", "181",
                       "182", "185", "186", "187", "188", "189", "191", "193", "198", "199"]
_CN_BANK_BINS = [("622202", 19), ("622848", 19), ("621700", 19), ("622588", 16),
                 ("621661", 19), ("622262", 19), ("625911", 16)]
_EN_CARD_BINS = [("4111", 16), ("4532", 16), ("5425", 16), ("5105", 16), ("3782", 15)]
_PRODUCTS_ZH = ["蓝牙耳机", "空气炸锅", "扫地机器人", "运动手表", "电动牙刷", "羽绒服",
                "咖啡机", "机械键盘", "儿童安全座椅", "投影仪"]
_PRODUCTS_EN = ["wireless earbuds", "air fryer", "robot vacuum", "smart watch",
                "electric toothbrush", "down jacket", "espresso machine", "mechanical keyboard",
                "car seat", "projector"]
_US_STATES = [("CA", "San Jose"), ("NY", "Albany"), ("TX", "Austin"), ("WA", "Seattle"),
              ("IL", "Chicago"), ("MA", "Boston"), ("OR", "Portland"), ("CO", "Denver")]
_CHANNELS = ["app", "web", "wechat", "email", "phone"]
_BASE_TIME = datetime(2024, 3, 1, 8, 0, 0)


# --- numbers with valid checksums ------------------------------------------------------------


class _Gen:
    def __init__(self, seed: int = SEED) -> None:
        from faker import Faker

        self.rng = random.Random(seed)
        self.zh = Faker("zh_CN")
        self.en = Faker("en_US")
        self.zh.seed_instance(seed)
        self.en.seed_instance(seed + 1)

    # -- PII ----------------------------------------------------------------------------------
    def id_card(self) -> str:
        r = self.rng
        born = datetime(1960, 1, 1) + timedelta(days=r.randrange(0, 365 * 44))
        first17 = f"{r.choice(_REGION_CODES)}{born:%Y%m%d}{r.randrange(0, 1000):03d}"
        return first17 + id_check_digit(first17)

    def bank_card(self, bins: list[tuple[str, int]] = _CN_BANK_BINS) -> str:
        prefix, length = self.rng.choice(bins)
        body = prefix + "".join(str(self.rng.randrange(10)) for _ in range(length - len(prefix) - 1))
        return body + luhn_check_digit(body)

    def grouped(self, number: str) -> str:
        return " ".join(number[i:i + 4] for i in range(0, len(number), 4))

    def mobile(self) -> str:
        r = self.rng
        num = r.choice(_ZH_MOBILE_PREFIXES) + "".join(str(r.randrange(10)) for _ in range(8))
        style = r.random()
        if style < 0.55:
            return num
        if style < 0.7:
            return f"{num[:3]}-{num[3:7]}-{num[7:]}"
        if style < 0.85:
            return f"{num[:3]} {num[3:7]} {num[7:]}"
        return f"+86 {num}"

    def us_phone(self) -> str:
        r = self.rng
        area = r.choice(["206", "312", "415", "512", "617", "720", "503", "646"])
        line = f"{r.randrange(200, 999)}-{r.randrange(1000, 9999)}"
        return r.choice([f"({area}) {line}", f"{area}-{line}", f"+1 {area}-{line}"])

    def zh_address(self) -> str:
        r = self.rng
        prov, city, districts = r.choice(_ZH_PLACES)
        addr = f"{prov}{city}{r.choice(districts)}{r.choice(_ZH_ROADS)}{r.randrange(1, 999)}号"
        if r.random() < 0.6:
            addr += f"{r.choice(_ZH_ESTATES)}{r.randrange(1, 30)}栋{r.randrange(1, 33)}0{r.randrange(1, 6)}室"
        return addr

    def en_address(self) -> str:
        state, city = self.rng.choice(_US_STATES)
        return (f"{self.en.building_number()} {self.en.street_name()}, {city}, {state} "
                f"{self.en.postcode()}")

    def order_no(self) -> str:
        r = self.rng
        day = _BASE_TIME + timedelta(days=r.randrange(0, 200))
        return f"{day:%Y%m%d}{r.randrange(10**9, 10**10)}"

    def created_at(self) -> str:
        t = _BASE_TIME + timedelta(seconds=self.rng.randrange(0, 200 * 86400))
        return t.strftime("%Y-%m-%dT%H:%M:%S+08:00")

    def customer_id(self) -> str:
        return f"C{self.rng.randrange(10**7, 10**8)}"

    def agent_email(self, lang: str) -> str:
        f = self.zh if lang == "zh" else self.en
        return f"{f.user_name()}@support.example.com"

    # -- records ------------------------------------------------------------------------------
    def zh_person(self) -> dict[str, str]:
        z = self.zh
        return {"name": z.name(), "phone": self.mobile(), "email": z.free_email(),
                "id": self.id_card(), "card": self.bank_card(), "addr": self.zh_address(),
                "order": self.order_no(), "product": self.rng.choice(_PRODUCTS_ZH)}

    def en_person(self) -> dict[str, str]:
        e = self.en
        return {"name": e.name(), "phone": self.us_phone(), "email": e.free_email(),
                "card": self.bank_card(_EN_CARD_BINS), "addr": self.en_address(),
                "order": self.order_no(), "product": self.rng.choice(_PRODUCTS_EN)}

    def zh_alpaca(self) -> dict[str, str]:
        p, r = self.zh_person(), self.rng
        card = p["card"] if r.random() < 0.5 else self.grouped(p["card"])
        scenes = [
            (f"你好，我是{p['name']}，订单号{p['order']}买的{p['product']}到现在还没发货，"
             f"麻烦帮我查一下，电话{p['phone']}。",
             f"{p['name']}您好，已查询到订单{p['order']}，{p['product']}预计明天发出，"
             f"发货后会短信通知到{p['phone']}。"),
            (f"我要改收货地址，新地址是{p['addr']}，收件人{p['name']}，手机{p['phone']}。",
             f"好的{p['name'][0]}先生/女士，订单{p['order']}的收货地址已改为{p['addr']}。"),
            (f"{p['product']}有质量问题申请退款，退到我的银行卡{card}，"
             f"持卡人{p['name']}，身份证号{p['id']}。",
             f"您好，退款申请已受理，款项将在3-5个工作日退回尾号{p['card'][-4:]}的银行卡。"),
            (f"实名认证一直失败，姓名{p['name']}，身份证{p['id']}，绑定手机{p['phone']}，"
             "帮忙看看怎么回事？",
             f"{p['name']}您好，系统显示身份证{p['id']}与姓名信息不一致，请核对后重新提交。"),
            (f"请把发票发到我的邮箱{p['email']}，订单{p['order']}，抬头写{self.zh.company()}。",
             f"已将订单{p['order']}的电子发票发送至{p['email']}，请注意查收。"),
            (f"快递员说地址找不到，我住在{p['addr']}，有事打{p['phone']}，我叫{p['name']}。",
             f"{p['name']}您好，已把详细地址{p['addr']}和电话{p['phone']}转给配送员。"),
        ]
        inp, out = r.choice(scenes)
        instruction = r.choice(["根据客户留言，写一段专业、礼貌的客服回复。",
                                "你是电商平台的客服，请回复下面的客户消息。",
                                "请处理以下客户咨询并给出答复。"])
        return {"instruction": instruction, "input": inp, "output": out}

    def en_alpaca(self) -> dict[str, str]:
        p, r = self.en_person(), self.rng
        first = p["name"].split()[0]
        scenes = [
            (f"Hi, this is {p['name']}. My order {p['order']} ({p['product']}) hasn't shipped "
             f"yet. Please call me at {p['phone']}.",
             f"Hi {first}, order {p['order']} ships tomorrow; we will text {p['phone']} with "
             "the tracking number."),
            (f"Please change my shipping address to {p['addr']}. Name: {p['name']}, "
             f"email {p['email']}.",
             f"Done, {first}. Order {p['order']} will now ship to {p['addr']}; a confirmation "
             f"was sent to {p['email']}."),
            (f"I was charged twice on my card {p['card']} for the {p['product']}. "
             f"I'm {p['name']}, phone {p['phone']}.",
             f"Sorry about that, {first}. The duplicate charge on the card ending in "
             f"{p['card'][-4:]} has been refunded."),
            (f"Can you send the invoice for order {p['order']} to {p['email']}? Thanks, "
             f"{p['name']}",
             f"Hi {first}, the invoice for {p['order']} is on its way to {p['email']}."),
        ]
        inp, out = r.choice(scenes)
        instruction = r.choice(["Reply to the customer message as a helpful support agent.",
                                "Write a polite customer-service response.",
                                "You are a support agent for an online store. Answer the "
                                "customer."])
        return {"instruction": instruction, "input": inp, "output": out}

    def zh_sharegpt(self) -> dict[str, Any]:
        p = self.zh_person()
        turns = [
            ("human", f"你好，我的{p['product']}坏了，想换货。"),
            ("gpt", "您好，请提供订单号和下单手机号，我帮您查询。"),
            ("human", f"订单号{p['order']}，手机{p['phone']}，名字是{p['name']}。"),
            ("gpt", f"{p['name']}您好，已查到订单。请问换货寄回后新货寄到哪里？"),
            ("human", f"寄到{p['addr']}。"),
            ("gpt", f"好的，换货已登记，新货将寄往{p['addr']}，物流信息会发到{p['phone']}。"),
        ]
        return {"conversations": [{"from": f, "value": v} for f, v in turns],
                "system": "你是一个电商平台的客服助手。"}

    def en_sharegpt(self) -> dict[str, Any]:
        p = self.en_person()
        first = p["name"].split()[0]
        turns = [
            ("human", f"Hello, I need help with my {p['product']}."),
            ("gpt", "Of course. Could you give me your order number and e-mail address?"),
            ("human", f"Order {p['order']}, e-mail {p['email']}. My name is {p['name']}."),
            ("gpt", f"Thanks {first}. What seems to be the problem?"),
            ("human", f"It arrived broken. Send the replacement to {p['addr']}, or call "
                      f"{p['phone']}."),
            ("gpt", f"A replacement is on its way to {p['addr']}."),
        ]
        return {"conversations": [{"from": f, "value": v} for f, v in turns],
                "system": "You are a customer-support assistant for an online store."}

    def records(self, n: int) -> Iterator[dict[str, Any]]:
        for i in range(n):
            lang = "zh" if self.rng.random() < 0.6 else "en"
            sharegpt = self.rng.random() < 0.25
            if lang == "zh":
                body = self.zh_sharegpt() if sharegpt else self.zh_alpaca()
            else:
                body = self.en_sharegpt() if sharegpt else self.en_alpaca()
            yield {
                "id": f"demo-{i:05d}",
                **body,
                "lang": lang,
                "customer_id": self.customer_id(),
                "agent_email": self.agent_email(lang),
                "channel": self.rng.choice(_CHANNELS),
                "created_at": self.created_at(),
            }


def generate(n: int = N_RECORDS, seed: int = SEED) -> bytes:
    """The dataset as JSONL bytes (UTF-8, one record a line)."""
    lines = (json.dumps(rec, ensure_ascii=False) for rec in _Gen(seed).records(n))
    return ("\n".join(lines) + "\n").encode("utf-8")


def main(argv: list[str] | None = None) -> None:
    from privtune.fsutil import atomic_write_bytes

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("-n", type=int, default=N_RECORDS)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    data = generate(args.n, args.seed)
    atomic_write_bytes(args.out, data)
    print(f"wrote {args.out} ({args.n} records, {len(data):,} bytes)")


if __name__ == "__main__":
    main()
