"""Money and units.

Rating works in :class:`~decimal.Decimal` yuan; exactly one function, :func:`quantize_money`,
turns a rated amount into a billable amount (half-up to 0.01 yuan unless a tariff says
otherwise), and :func:`to_minor` turns that into the integer fen the ledger stores.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Final, Literal

CURRENCY: Final = "CNY"
MINOR_PER_MAJOR: Final = 100
CENT: Final = Decimal("0.01")

RoundingMode = Literal["half_up", "half_even"]
_MODES: Final = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}

KWH_PLACES: Final = Decimal("0.0001")
"""Stored precision of energy [kWh] and demand [kW]: four decimal places."""


def quantize_money(
    amount: Decimal, step: Decimal = CENT, mode: RoundingMode = "half_up"
) -> Decimal:
    """Round a rated amount [yuan] to ``step`` with ``mode`` (default half-up to 0.01)."""
    return amount.quantize(step, rounding=_MODES[mode])


def to_minor(amount: Decimal) -> int:
    """Integer fen of a quantised yuan amount; refuses amounts finer than a fen."""
    minor = amount * MINOR_PER_MAJOR
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount} yuan is not quantised to the fen; call quantize_money first")
    return int(minor)


def from_minor(minor: int) -> Decimal:
    """Yuan amount of ``minor`` fen."""
    return (Decimal(minor) / MINOR_PER_MAJOR).quantize(CENT)


def energy(value: float | int | str | Decimal) -> Decimal:
    """Energy [kWh] or demand [kW] as a Decimal at stored precision (4 dp, half-up).

    Floats from vectorised kernels become Decimals here, through their shortest repr.
    """
    return Decimal(str(value)).quantize(KWH_PLACES, rounding=ROUND_HALF_UP)


_DIGITS: Final = "零壹贰叁肆伍陆柒捌玖"
_PLACES: Final = ("", "拾", "佰", "仟")
_GROUPS: Final = ("", "万", "亿", "万亿")


def _group_text(group: int) -> str:
    """A group of four digits (1–9999) in capitals, inner zeros as one 零."""
    text, zero, started = "", False, False
    for place in range(3, -1, -1):
        digit = group // 10**place % 10
        if digit == 0:
            zero = zero or started
            continue
        text += ("零" if zero else "") + _DIGITS[digit] + _PLACES[place]
        zero, started = False, True
    return text


def capital_yuan(minor: int) -> str:
    """A non-negative amount [fen] in Chinese capital numerals (人民币大写), as written on
    receipts and cheques: 100,530 fen → 壹仟零伍元叁角."""
    if minor < 0:
        raise ValueError(f"capital numerals are for amounts of 0 and more, not {minor} fen")
    whole, jiao, fen = minor // 100, minor // 10 % 10, minor % 10
    groups = []
    rest = whole
    while rest:
        groups.append(rest % 10_000)
        rest //= 10_000
    text, gap = "", False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            gap = bool(text)
            continue
        if text and (gap or group < 1000):
            text += "零"
        text += _group_text(group) + _GROUPS[index]
        gap = False
    if jiao == 0 and fen == 0:
        return (text or "零") + "元整"
    cents = (_DIGITS[jiao] + "角" if jiao else ("零" if whole else "")) + (
        _DIGITS[fen] + "分" if fen else ""
    )
    return (text + "元" if whole else "") + cents
