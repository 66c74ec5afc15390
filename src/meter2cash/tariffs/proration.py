"""Proration of part months (供电营业规则): the share of a month's charges and of its tier
bounds that part of a billing cycle bills — a move-in or move-out, or the parts of a cycle
split at a tariff change. Pure."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from meter2cash.core.money import KWH_PLACES

DAYS_PER_MONTH_CHARGE: Final = 30
"""A month's basic charge per day is 1/30 of it (《供电营业规则》第八十四条)."""


def monthly_share(days: int, supplied_days: int, cycle_days: int) -> tuple[int, int]:
    """Share (numerator, denominator) of a month's charges — per-month fixed and minimum
    charges, the basic charge (基本电费) — that ``days`` [d] of a billing cycle of
    ``cycle_days`` [d] bill, the account supplied ``supplied_days`` [d] of it.

    An account supplied only part of the cycle (moved in or out) pays 1/30 of the month
    per day, at most the whole month: 《供电营业规则》(1996) 第八十四条, "新装、增容、变更与终止
    用电当月的基本电费，可按实用天数（日用电不足24小时的，按一天计算）每日按全月基本电费三十分之一
    计算". A cycle split at a tariff change shares what was supplied by days, so the parts add
    up to it. Examples: 16 days supplied of 31 → 16/30; 10 + 21 days of 31 at a tariff
    change → 10/31 and 21/31; supplied 30 of 31 → the whole month.

    >>> monthly_share(16, 16, 31), monthly_share(10, 31, 31), monthly_share(30, 30, 31)
    ((16, 30), (10, 31), (30, 30))
    """
    if supplied_days >= cycle_days:
        return days, cycle_days
    used = min(supplied_days, DAYS_PER_MONTH_CHARGE)
    if days == supplied_days:
        return used, DAYS_PER_MONTH_CHARGE
    return used * days, DAYS_PER_MONTH_CHARGE * supplied_days


def share_text(days: int, supplied_days: int, cycle_days: int) -> str:
    """How a prorated line says its :func:`monthly_share`: ``按 16/30 天``, ``按 10/31 天``,
    ``按 16/30 × 10/16 天``; "" for the whole month."""
    if supplied_days >= cycle_days:
        return "" if days == cycle_days else f"按 {days}/{cycle_days} 天"
    used = min(supplied_days, DAYS_PER_MONTH_CHARGE)
    whole = f"{used}/{DAYS_PER_MONTH_CHARGE}"
    if days == supplied_days:
        return "" if used == DAYS_PER_MONTH_CHARGE else f"按 {whole} 天"
    return f"按 {whole} × {days}/{supplied_days} 天"


def tier_share(days: int, cycle_days: int) -> tuple[int, int]:
    """Share (numerator, denominator) of a monthly tier bound that ``days`` [d] of a cycle
    of ``cycle_days`` [d] get: days ÷ cycle days, so parts split at a tariff change add up
    to the month's bound. Annual tier bounds are not prorated by the bill's days."""
    return days, cycle_days


def prorated_bound(bound: Decimal, numerator: int, denominator: int) -> Decimal:
    """``bound`` [kWh] × numerator ÷ denominator, half-up to 0.0001 kWh — the bound a
    prorated bill uses and prints (:func:`shown_bound`): 1380 × 16/31 → 712.2581."""
    exact = bound * numerator / denominator
    rounded = exact.quantize(KWH_PLACES, ROUND_HALF_UP)
    return exact if exact == rounded else rounded


def shown_bound(bound: Decimal | None) -> Decimal | None:
    """A prorated tier bound [kWh] as a bill prints it: trailing zeros dropped."""
    if bound is None:
        return None
    text = f"{bound:f}"
    return Decimal(text.rstrip("0").rstrip(".") if "." in text else text)
