"""Chinese structured identifiers: resident ID, mobiles, landlines, UnionPay cards, passports
and travel permits, unified social credit code, licence plates, QQ / WeChat ids."""

from __future__ import annotations

import re

from privtune.detect import validators as v
from privtune.detect.recognizer import FB, NA, NB, PatternRecognizer

#: MIIT mobile number segments in use (13x, 145-149, 15x but 154, 162/165-167, 170-178, 18x,
#: 19x but 194)
MOBILE_PREFIX = r"1(?:3\d|4[5-9]|5[0-35-9]|6[25-7]|7[0-8]|8\d|9[0-35-9])"

_ID_CONTEXT = ("身份证", "证件", "公民身份", "id card", "id no", "identity")
_PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_LETTERS = "A-HJ-NP-Z"


def _id18(value: str) -> float | bool:
    return 0.95 if v.cn_id18(value) else False


def _id15(value: str) -> float | bool:
    return 0.6 if v.cn_id15(value) else False


def _unionpay(value: str) -> float | bool:
    d = v.digits_only(value)
    if not 16 <= len(d) <= 19 or v.luhn(d):
        return False  # Luhn-valid numbers are the credit_card recognizer's
    return 0.4  # only with context (some UnionPay debit cards are not Luhn-valid)


def _uscc(value: str) -> float | bool:
    return 0.95 if v.uscc(value) else False


def recognizers() -> list[PatternRecognizer]:
    return [
        PatternRecognizer(
            "cn_id18", "ID_CARD", trigger=("\\d",),
            pattern=r"(?P<v>[1-9]" + FB + r"\d{5}[ ]?(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
            r"[ ]?\d{3}[0-9Xx])" + NA,
            validator=_id18, context=_ID_CONTEXT, context_boost=0.05, max_len=20, priority=5),
        PatternRecognizer(
            "cn_id15", "ID_CARD", trigger=("\\d",),
            pattern=r"(?P<v>[1-9]" + FB + r"\d{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})" + NA,
            validator=_id15, context=_ID_CONTEXT, context_boost=0.3, max_len=15, priority=6),
        PatternRecognizer(
            "cn_mobile", "PHONE", trigger=("\\d",),
            pattern=r"(?<![0-9A-Za-z+])(?P<v>(?:(?:\+|00)86[ \-]?|\(\+?86\)[ ]?|86[ \-])?"
            + MOBILE_PREFIX + r"(?:\d{8}|-\d{4}-\d{4}| \d{4} \d{4}|\d{4}-\d{4}|\d{4} \d{4}))" + NA,
            score=0.9, context=("电话", "手机", "联系", "phone", "mobile", "tel"),
            context_boost=0.08, max_len=20, priority=8),
        PatternRecognizer(
            "cn_landline", "PHONE", trigger=("\\d",),
            pattern=r"(?<![0-9A-Za-z+\-])(?P<v>(?:(?:\+|00)86[ \-]?)?(?:[(（]0\d{2,3}[)）][ \-]?|0\d{2,3}-)"
            r"[2-9]\d{6,7}(?:-\d{1,5})?)" + NA,
            score=0.8, context=("电话", "座机", "传真", "联系", "tel", "phone", "fax"),
            context_boost=0.1, max_len=26, priority=9),
        PatternRecognizer(
            "cn_unionpay", "BANK_CARD", trigger=("卡号", "银行卡", "借记卡", "储蓄卡", "card", "账号"), trigger_lower=True, window=(40, 60),
            pattern=NB + r"(?P<v>62\d{2}(?:[ \-]?\d{4}){3}(?:[ \-]?\d{1,3})?)" + NA,
            validator=_unionpay, context=("卡号", "银行卡", "借记卡", "储蓄卡", "card", "账号"),
            context_boost=0.4, context_required=True, max_len=23, priority=21),
        PatternRecognizer(
            "cn_passport", "PASSPORT", trigger=("护照", "passport", "证件"), trigger_lower=True, window=(40, 60),
            pattern=NB + r"(?P<v>[EeGgDdSsPp]\d{8}|E[A-HJ-NP-Z]\d{7})" + NA,
            score=0.6, context=("护照", "passport", "证件"), context_boost=0.3,
            context_required=True, max_len=9, priority=40),
        PatternRecognizer(
            "cn_travel_permit", "PASSPORT", trigger=("通行证", "回乡证", "台胞证", "港澳", "往来台湾", "入台证", "permit"), trigger_lower=True, window=(24, 40),
            pattern=NB + r"(?P<v>[CcWwTtLlHhMm]\d{8,10}|C[A-HJ-NP-Z]\d{7}|\d{8}|[HM]\d{10})" + NA,
            score=0.55, context=("通行证", "回乡证", "台胞证", "港澳", "往来台湾", "入台证",
                                 "permit"),
            context_boost=0.3, context_required=True, context_window=24, max_len=11,
            priority=41),
        PatternRecognizer(
            "cn_uscc", "ORG_CODE", trigger=("\\d",),
            pattern=r"(?P<v>[0-9A-HJ-NPQRTUWXY]" + FB + r"[0-9A-HJ-NPQRTUWXY]\d{6}[0-9A-HJ-NPQRTUWXY]{10})" + NA,
            validator=_uscc, context=("信用代码", "统一社会", "税号", "纳税人识别号"),
            context_boost=0.05, max_len=18, priority=7),
        PatternRecognizer(
            "cn_plate", "LICENSE_PLATE", trigger=("\\d",),
            pattern=r"(?P<v>[" + _PLATE_PROVINCES + "]" + FB + "[" + _PLATE_LETTERS + r"][ ·•]?"
            r"(?:[" + _PLATE_LETTERS + r"0-9]{5,6}|[" + _PLATE_LETTERS + r"0-9]{4}[挂学警港澳领]))"
            + NA,
            validator=lambda s: sum(c.isdigit() for c in s) >= 1 or 0.6,
            score=0.85, context=("车牌", "牌照", "plate", "车辆"), max_len=9, priority=45),
        PatternRecognizer(
            "qq", "IM_ID", trigger=("qq", "扣扣"), trigger_lower=True, window=(0, 30),
            pattern=r"(?:QQ|qq|Qq|扣扣)(?:号码|号)?(?:是|为)?[:： ]{0,3}(?P<v>[1-9]\d{4,10})" + NA,
            score=0.85, max_len=11, priority=42),
        PatternRecognizer(
            "wechat", "IM_ID", trigger=("微信", "wechat", "weixin", "vx", "wx"), trigger_lower=True, window=(0, 40),
            pattern=r"(?i)(?:微信|wechat|weixin|vx|wx)(?:号|id)?(?:是|为)?[:： ]{0,3}"
            r"(?P<v>[a-zA-Z][-_a-zA-Z0-9]{5,19})" + NA,
            score=0.8, max_len=20, priority=43),
    ]


__all__ = ["MOBILE_PREFIX", "recognizers"]
_ = re
