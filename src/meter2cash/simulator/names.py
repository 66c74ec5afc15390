"""Believable Chinese names for people, businesses, zones and transformer areas."""

from __future__ import annotations

from typing import Final

import numpy as np

SURNAMES: Final = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁沈任姚卢钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤"
)
GIVEN_CHARACTERS: Final = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建国文辉鹏飞浩宇欣怡佳琪子涵梓轩雨桐思博晨一诺家豪志俊嘉慧海燕晓东春梅永亮金凤立新卫宏斌雪晶婷雯琳颖"
)
ZONE_NAMES: Final = (
    "城东供电所",
    "城西供电所",
    "城南供电所",
    "城北供电所",
    "滨江供电所",
    "萧山供电所",
    "余杭供电所",
    "临平供电所",
    "富阳供电所",
    "临安供电所",
    "西湖供电所",
    "拱墅供电所",
)
STREETS: Final = (
    "解放路",
    "庆春路",
    "凤起路",
    "文三路",
    "文二路",
    "天目山路",
    "莫干山路",
    "延安路",
    "中河路",
    "秋涛路",
    "钱江路",
    "滨盛路",
    "江南大道",
    "金城路",
    "人民路",
    "古墩路",
    "学院路",
    "德胜路",
    "石桥路",
    "东新路",
)
_BRAND_WORDS: Final = tuple(
    "华鑫瑞恒盛泰宏达东方德信安隆兴远通腾飞顺昌金源海天正元永康新宇明辉嘉禾利民"
)
_SHOPS: Final = (
    "超市",
    "餐饮店",
    "酒店",
    "便利店",
    "宾馆",
    "茶楼",
    "药房",
    "商贸有限公司",
    "物业管理有限公司",
    "健身中心",
)
_INDUSTRIES: Final = (
    "纺织",
    "化纤",
    "机械",
    "电子",
    "食品",
    "塑业",
    "印染",
    "五金",
    "新材料",
    "汽车配件",
)


def _pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> list[str]:
    return [options[i] for i in rng.integers(0, len(options), n)]


def person_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` names: a common surname and a one- or two-character given name."""
    surnames = _pick(rng, SURNAMES, n)
    first = _pick(rng, GIVEN_CHARACTERS, n)
    second = _pick(rng, GIVEN_CHARACTERS, n)
    two = rng.random(n) < 0.7
    return [
        s + f + (t if w else "") for s, f, t, w in zip(surnames, first, second, two, strict=True)
    ]


def business_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` shop and service-business names, e.g. 杭州华鑫超市."""
    a, b = _pick(rng, _BRAND_WORDS, n), _pick(rng, _BRAND_WORDS, n)
    shops = _pick(rng, _SHOPS, n)
    return [f"杭州{x}{y}{s}" for x, y, s in zip(a, b, shops, strict=True)]


def company_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` manufacturing-company names, e.g. 浙江恒泰纺织有限公司."""
    a, b = _pick(rng, _BRAND_WORDS, n), _pick(rng, _BRAND_WORDS, n)
    kinds = _pick(rng, _INDUSTRIES, n)
    return [f"浙江{x}{y}{k}有限公司" for x, y, k in zip(a, b, kinds, strict=True)]


def zone_name(index: int) -> str:
    """Name of the ``index``-th zone (0-based); numbered once the list runs out."""
    base = ZONE_NAMES[index % len(ZONE_NAMES)]
    rounds = index // len(ZONE_NAMES)
    return base if rounds == 0 else base.replace("供电所", f"第{rounds + 1}供电所")
