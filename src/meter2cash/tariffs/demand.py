"""Billing demand (计费需量) for two-part tariffs: pure functions over Decimal.

The rules that turn a measured maximum demand into the demand billed — contract demand with
its excess (发改办价格〔2016〕1583号), the 90 % demand price for high use (发改价格〔2023〕
526号) and ratchets on earlier months — and the demand history a ratchet reads. The bill
lines are composed by :func:`meter2cash.tariffs.rating.rate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Final

from meter2cash.core.errors import TariffError
from meter2cash.tariffs.schema import HighUseDiscount

ZERO: Final = Decimal(0)


@dataclass(frozen=True)
class DemandHistory:
    """Actual maximum demands [kW] of earlier bill months, for demand ratchets.

    ``max_demand_kw_by_month`` is keyed by the first day of each earlier bill month (the month
    its billing period ended in); months without a bill are simply absent.
    """

    max_demand_kw_by_month: Mapping[date, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for month, kw in self.max_demand_kw_by_month.items():
            if month.day != 1:
                raise TariffError(
                    f"max_demand_kw_by_month key {month} is not the first of a month",
                    "key each bill month by its first day",
                )
            if kw < 0:
                raise TariffError(
                    f"max_demand_kw_by_month[{month}] is negative ({kw})", "pass demands ≥ 0"
                )


def percent_of(value: Decimal, percent: Decimal) -> Decimal:
    """``percent`` [%] of ``value``, exact. Example: 40 % of 1000 kVA → 400."""
    return value * percent / 100


def high_use_demand_price(
    price: Decimal, kwh: Decimal, capacity_kva: Decimal, rule: HighUseDiscount
) -> Decimal:
    """Demand price [yuan/kW·month] after 发改价格〔2023〕526号: ``rule.price_percent`` of
    ``price`` when ``kwh`` [kWh] ÷ ``capacity_kva`` [kVA] reaches ``rule.kwh_per_kva``.

    Example: 300,000 kWh on 1000 kVA = 300 kWh/kVA ≥ 260 → 38 × 90 % = 34.20.
    """
    if capacity_kva and kwh >= rule.kwh_per_kva * capacity_kva:
        return percent_of(price, rule.price_percent)
    return price


def peak_demand_before(history: DemandHistory, bill_month: date, months: int) -> Decimal:
    """Highest actual maximum demand [kW] of the ``months`` bill months before ``bill_month``
    (any day of it); 0 without history. A ratchet bills at least a share of it.

    Example: 900 kW in January, 1000 kW the July before; billing July over 11 months → 900.
    """
    current = bill_month.year * 12 + bill_month.month - 1
    window = [
        kw
        for month, kw in history.max_demand_kw_by_month.items()
        if 1 <= current - (month.year * 12 + month.month - 1) <= months
    ]
    return max(window, default=ZERO)


def contract_demand_split(
    actual_kw: Decimal, contract_kw: Decimal, above_percent: Decimal
) -> tuple[Decimal, Decimal]:
    """(demand at the price, excess at the multiplied price) [kW] under contract demand.

    Up to ``above_percent`` of the contract the contract demand is billed; above it, that
    share of the contract at the price and the rest as excess (发改办价格〔2016〕1583号).
    Example: contract 500 kW, 105 %, actual 600 kW → (525, 75); actual 520 kW → (500, 0).
    """
    tolerance = percent_of(contract_kw, above_percent)
    if actual_kw <= tolerance:
        return contract_kw, ZERO
    return tolerance, actual_kw - tolerance
