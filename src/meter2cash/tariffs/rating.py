"""Pure rating: billing determinants × a tariff version → rated bill lines.

No database, files or clocks: Decimal in, Decimal out. Each function computes one charge,
unrounded; :func:`rate` composes them into lines, quantises each line with
:func:`~meter2cash.core.money.quantize_money` per the version's rounding rule, and sums the
quantised lines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from meter2cash.core.errors import TariffError
from meter2cash.core.money import quantize_money
from meter2cash.tariffs.schema import (
    TOU_PERIODS,
    DemandCharge,
    EnergyTier,
    FixedCharge,
    FundItem,
    Funds,
    IncrementTier,
    PfAdjustment,
    TariffVersion,
    TieredEnergy,
    TierIncrement,
    TouEnergy,
)

ZERO: Final = Decimal(0)
PF_PLACES: Final = Decimal("0.01")


@dataclass(frozen=True)
class Determinants:
    """What a billing period measured, multiplier applied.

    ``kwh_by_period`` keys are TOU periods (``sharp``, ``peak``, ``flat``, ``valley``,
    ``deep_valley``); it may be empty for a tariff without TOU prices.
    """

    period_start: date  # local date, inclusive
    period_end: date  # local date, inclusive
    kwh_total: Decimal  # [kWh]
    kwh_by_period: Mapping[str, Decimal] = field(default_factory=dict)  # [kWh]
    kvarh_total: Decimal | None = None  # [kvarh]
    max_demand_kw: Decimal | None = None  # [kW]
    contracted_kva: Decimal | None = None  # [kVA]
    estimated: bool = False

    def __post_init__(self) -> None:
        if self.period_end < self.period_start:
            raise TariffError(
                f"billing period ends {self.period_end}, before it starts {self.period_start}",
                "pass inclusive local dates with start ≤ end",
            )
        quantities = {
            "kwh_total": self.kwh_total,
            "kvarh_total": self.kvarh_total,
            "max_demand_kw": self.max_demand_kw,
            "contracted_kva": self.contracted_kva,
        } | {f"kwh_by_period[{p}]": kwh for p, kwh in self.kwh_by_period.items()}
        for name, value in quantities.items():
            if value is not None and value < 0:
                raise TariffError(f"{name} is negative ({value})", "rate import energy only")


@dataclass(frozen=True)
class TierContext:
    """Where the period sits in its tier year.

    ``kwh_before_in_tier_year`` [kWh] was billed earlier in the tier year (annual tiers only);
    ``tier_year_fraction`` [1] scales every tier bound (proration; 1 for a whole tier year).
    """

    kwh_before_in_tier_year: Decimal = ZERO
    tier_year_fraction: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        if self.kwh_before_in_tier_year < 0:
            raise TariffError("kwh_before_in_tier_year is negative", "pass the kWh billed so far")
        if not 0 < self.tier_year_fraction <= 1:
            raise TariffError(
                f"tier_year_fraction {self.tier_year_fraction} is outside (0, 1]",
                "pass the fraction of the tier year the account was supplied",
            )


@dataclass(frozen=True)
class RatedLine:
    """One bill line: ``quantity`` [``unit``] × ``unit_price`` → ``amount`` [yuan, quantised]."""

    kind: str
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class RatedBill:
    """The rated lines of one billing period; ``total`` [yuan] is the sum of the lines."""

    lines: tuple[RatedLine, ...]
    total: Decimal
    kwh_total: Decimal


# ---------------------------------------------------------------------------------------------
# Tiers


def kwh_by_tier(
    kwh: Decimal,
    bounds: Sequence[Decimal | None],
    kwh_before: Decimal = ZERO,
    fraction: Decimal = Decimal(1),
) -> tuple[Decimal, ...]:
    """Split ``kwh`` [kWh] across tiers whose cumulative upper ``bounds`` [kWh] are given.

    ``kwh_before`` [kWh] was already counted earlier in the tier period; ``None`` bounds the
    last tier open; ``fraction`` [1] prorates every bound.

    >>> kwh_by_tier(Decimal(100), [Decimal(2760), Decimal(4800), None], Decimal(2700))
    (Decimal('60'), Decimal('40'), Decimal('0'))
    """
    start, end = kwh_before, kwh_before + kwh
    parts: list[Decimal] = []
    lower = ZERO
    for bound in bounds:
        upper = None if bound is None else bound * fraction
        low = max(start, lower)
        high = end if upper is None else min(end, upper)
        parts.append(max(high - low, ZERO))
        if upper is not None:
            lower = upper
    return tuple(parts)


def tiered_energy_charge(
    kwh: Decimal, tiers: Sequence[EnergyTier], kwh_before: Decimal = ZERO
) -> Decimal:
    """Energy charge [yuan, unrounded] of ``kwh`` [kWh] under block prices (阶梯电价).

    ``kwh_before`` [kWh] is the energy already billed in the tier year (annual tiers) or 0.
    Example, Zhejiang annual tiers with 2700 kWh billed so far: 100 kWh → 60 × 0.538 +
    40 × 0.588 = 55.80 yuan.
    """
    split = kwh_by_tier(kwh, [t.up_to_kwh for t in tiers], kwh_before)
    return sum((q * t.price for q, t in zip(split, tiers, strict=True)), ZERO)


def tier_increment_charge(
    kwh: Decimal, tiers: Sequence[IncrementTier], kwh_before: Decimal = ZERO
) -> Decimal:
    """Tier increments [yuan, unrounded] on *total* ``kwh`` [kWh] of a TOU + tier tariff.

    Example, increments 0 / 0.05 / 0.30 above 2760 / 4800 kWh/yr with 4700 kWh before:
    300 kWh → 100 × 0.05 + 200 × 0.30 = 65.00 yuan.
    """
    split = kwh_by_tier(kwh, [t.up_to_kwh for t in tiers], kwh_before)
    return sum((q * t.increment for q, t in zip(split, tiers, strict=True)), ZERO)


# ---------------------------------------------------------------------------------------------
# TOU, demand, funds


def _require_priced_periods(
    kwh_by_period: Mapping[str, Decimal], prices: Mapping[str, Decimal]
) -> None:
    if not kwh_by_period:
        raise TariffError(
            "cannot rate TOU prices without energy by TOU period",
            "supply kwh_by_period from the TOU registers or the interval data",
        )
    unpriced = sorted(p for p, kwh in kwh_by_period.items() if kwh and p not in prices)
    if unpriced:
        raise TariffError(
            f"energy in TOU period(s) {', '.join(unpriced)} that the tariff does not price",
            "check the TOU schedule used to build the determinants",
        )


def tou_energy_charge(
    kwh_by_period: Mapping[str, Decimal], prices: Mapping[str, Decimal]
) -> Decimal:
    """Energy charge [yuan, unrounded] of energy by TOU period [kWh] at ``prices`` [yuan/kWh].

    Refuses empty period data and energy in a period the tariff does not price.
    """
    _require_priced_periods(kwh_by_period, prices)
    return sum((kwh * prices[p] for p, kwh in kwh_by_period.items() if kwh), ZERO)


def demand_charge(demand: Decimal, price: Decimal) -> Decimal:
    """Basic charge (基本电费) [yuan]: ``demand`` [kW or kVA] × ``price`` [yuan/kW·month]."""
    return demand * price


def fund_charges(kwh: Decimal, items: Sequence[FundItem]) -> dict[str, Decimal]:
    """Each fund's charge [yuan, unrounded] on ``kwh`` [kWh], by fund name."""
    return {item.name: kwh * item.price_per_kwh for item in items}


# ---------------------------------------------------------------------------------------------
# Power factor


def power_factor(kwh: Decimal, kvarh: Decimal) -> Decimal:
    """Monthly average power factor [1] from active [kWh] and reactive [kvarh] energy.

    PF = kWh / √(kWh² + kvarh²), rounded half-up to two decimals, as 《功率因数调整电费办法》
    (83)水电财字第215号 prescribes. Example: 1000 kWh, 484 kvarh → 0.90.
    """
    if kwh == 0 and kvarh == 0:
        raise TariffError("power factor is undefined without energy", "skip the adjustment")
    return (kwh / (kwh * kwh + kvarh * kvarh).sqrt()).quantize(PF_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class _PfTable:
    """One table of 《功率因数调整电费办法》: adjustment [%] by PF, as published.

    PFs from ``best_from`` to 1.00 share its row; below ``floor`` each further 0.01 adds 2 %.
    """

    rows: Mapping[Decimal, Decimal]
    best_from: Decimal
    floor: Decimal


def _pf_rows(text: str) -> dict[Decimal, Decimal]:
    return {Decimal(pf): Decimal(pct) for pf, pct in (cell.split(":") for cell in text.split())}


PF_ADJUSTMENT_TABLES: Final[Mapping[Decimal, _PfTable]] = {
    # 表一 以 0.90 为标准值; 0.95–1.00 −0.75 %; 0.64 及以下每降低 0.01 增加 2 %.
    Decimal("0.90"): _PfTable(
        _pf_rows(
            "0.95:-0.75 0.94:-0.60 0.93:-0.45 0.92:-0.30 0.91:-0.15 0.90:0 "
            "0.89:0.5 0.88:1.0 0.87:1.5 0.86:2.0 0.85:2.5 0.84:3.0 0.83:3.5 0.82:4.0 "
            "0.81:4.5 0.80:5.0 0.79:5.5 0.78:6.0 0.77:6.5 0.76:7.0 0.75:7.5 0.74:8.0 "
            "0.73:8.5 0.72:9.0 0.71:9.5 0.70:10.0 0.69:11.0 0.68:12.0 0.67:13.0 "
            "0.66:14.0 0.65:15.0"
        ),
        best_from=Decimal("0.95"),
        floor=Decimal("0.65"),
    ),
    # 表二 以 0.85 为标准值; 0.94–1.00 −1.10 %; 0.59 及以下每降低 0.01 增加 2 %.
    Decimal("0.85"): _PfTable(
        _pf_rows(
            "0.94:-1.10 0.93:-0.95 0.92:-0.80 0.91:-0.65 0.90:-0.50 0.89:-0.40 0.88:-0.30 "
            "0.87:-0.20 0.86:-0.10 0.85:0 "
            "0.84:0.5 0.83:1.0 0.82:1.5 0.81:2.0 0.80:2.5 0.79:3.0 0.78:3.5 0.77:4.0 "
            "0.76:4.5 0.75:5.0 0.74:5.5 0.73:6.0 0.72:6.5 0.71:7.0 0.70:7.5 0.69:8.0 "
            "0.68:8.5 0.67:9.0 0.66:9.5 0.65:10.0 0.64:11.0 0.63:12.0 0.62:13.0 "
            "0.61:14.0 0.60:15.0"
        ),
        best_from=Decimal("0.94"),
        floor=Decimal("0.60"),
    ),
    # 表三 以 0.80 为标准值; 0.92–1.00 −1.30 %; 0.54 及以下每降低 0.01 增加 2 %.
    Decimal("0.80"): _PfTable(
        _pf_rows(
            "0.92:-1.30 0.91:-1.15 0.90:-1.00 0.89:-0.90 0.88:-0.80 0.87:-0.70 0.86:-0.60 "
            "0.85:-0.50 0.84:-0.40 0.83:-0.30 0.82:-0.20 0.81:-0.10 0.80:0 "
            "0.79:0.5 0.78:1.0 0.77:1.5 0.76:2.0 0.75:2.5 0.74:3.0 0.73:3.5 0.72:4.0 "
            "0.71:4.5 0.70:5.0 0.69:5.5 0.68:6.0 0.67:6.5 0.66:7.0 0.65:7.5 0.64:8.0 "
            "0.63:8.5 0.62:9.0 0.61:9.5 0.60:10.0 0.59:11.0 0.58:12.0 0.57:13.0 "
            "0.56:14.0 0.55:15.0"
        ),
        best_from=Decimal("0.92"),
        floor=Decimal("0.55"),
    ),
}
"""功率因数调整电费表, 《功率因数调整电费办法》(83)水电财字第215号, tables 1–3 [%]."""


def pf_adjustment_rate(pf: Decimal, standard: Decimal) -> Decimal:
    """Power-factor adjustment [fraction of energy + demand charges]; negative is a rebate.

    ``pf`` [1] is the monthly average power factor (rounded half-up to 0.01 here if finer);
    ``standard`` is 0.90, 0.85 or 0.80. Source: 《功率因数调整电费办法》(83)水电财字第215号.

    >>> pf_adjustment_rate(Decimal("0.85"), Decimal("0.90"))
    Decimal('0.025')
    """
    table = PF_ADJUSTMENT_TABLES.get(standard)
    if table is None:
        raise TariffError(f"no power-factor table for standard {standard}", "use 0.90/0.85/0.80")
    if not 0 <= pf <= 1:
        raise TariffError(f"power factor {pf} is outside 0–1", "compute it from kWh and kvarh")
    pf = pf.quantize(PF_PLACES, rounding=ROUND_HALF_UP)
    if pf >= table.best_from:
        percent = table.rows[table.best_from]
    elif pf < table.floor:
        percent = table.rows[table.floor] + 2 * (table.floor - pf) / PF_PLACES
    else:
        percent = table.rows[pf]
    return percent / 100


# ---------------------------------------------------------------------------------------------
# The composer

_PF_BASE_KINDS: Final = frozenset({"energy_tiered", "energy_tou", "tier_increment", "demand"})
_TOU_NAMES: Final = {
    "sharp": "尖峰",
    "peak": "高峰",
    "flat": "平段",
    "valley": "低谷",
    "deep_valley": "深谷",
}


def _bound_text(lower: Decimal | None, upper: Decimal | None, period: str) -> str:
    per = "年" if period == "annual" else "月"
    if upper is None:
        return f">{lower} kWh/{per}"
    return f"≤{upper} kWh/{per}" if lower is None else f"{lower}–{upper} kWh/{per}"


def _tier_lines(
    kind: str,
    label: str,
    kwh: Decimal,
    bounds: Sequence[Decimal | None],
    prices: Sequence[Decimal],
    period: str,
    ctx: TierContext,
    money: Callable[[Decimal], Decimal],
) -> list[RatedLine]:
    before = ctx.kwh_before_in_tier_year if period == "annual" else ZERO
    split = kwh_by_tier(kwh, bounds, before, ctx.tier_year_fraction)
    lines: list[RatedLine] = []
    for index, (quantity, price) in enumerate(zip(split, prices, strict=True)):
        if quantity and (price or kind == "energy_tiered"):
            lower = bounds[index - 1] if index else None
            text = _bound_text(lower, bounds[index], period)
            lines.append(
                RatedLine(
                    kind,
                    f"{label} 第{index + 1}档 ({text})",
                    quantity,
                    "kWh",
                    price,
                    money(quantity * price),
                )
            )
    return lines


def rate(version: TariffVersion, det: Determinants, ctx: TierContext) -> RatedBill:
    """Rate one billing period's determinants under a tariff version.

    Lines follow the order of the version's components; each is quantised per the version's
    rounding rule and ``total`` [yuan] is their sum. The PF adjustment applies to the quantised
    energy and demand lines (funds and fixed charges excluded) and is itself quantised.
    """

    def money(amount: Decimal) -> Decimal:
        return quantize_money(amount, version.rounding.step, version.rounding.mode)

    sections: list[list[RatedLine]] = []
    adjustment: tuple[int, PfAdjustment] | None = None
    for component in version.components:
        match component:
            case PfAdjustment():
                adjustment = (len(sections), component)
                sections.append([])
            case _:
                sections.append(_component_lines(component, det, ctx, money))
    if adjustment is not None:
        index, pf_component = adjustment
        base = sum((ln.amount for s in sections for ln in s if ln.kind in _PF_BASE_KINDS), ZERO)
        sections[index] = _pf_lines(pf_component, det, base, money)
    lines = tuple(line for section in sections for line in section)
    return RatedBill(lines, sum((ln.amount for ln in lines), ZERO), det.kwh_total)


def _component_lines(
    component: FixedCharge | TieredEnergy | TouEnergy | TierIncrement | DemandCharge | Funds,
    det: Determinants,
    ctx: TierContext,
    money: Callable[[Decimal], Decimal],
) -> list[RatedLine]:
    match component:
        case FixedCharge(per="month"):
            return [
                RatedLine(
                    "fixed",
                    component.name,
                    Decimal(1),
                    "month",
                    component.amount,
                    money(component.amount),
                )
            ]
        case FixedCharge():
            days = Decimal((det.period_end - det.period_start).days + 1)
            return [
                RatedLine(
                    "fixed",
                    component.name,
                    days,
                    "day",
                    component.amount,
                    money(days * component.amount),
                )
            ]
        case TieredEnergy():
            bounds = [t.up_to_kwh for t in component.tiers]
            prices = [t.price for t in component.tiers]
            return _tier_lines(
                "energy_tiered",
                "电度电费",
                det.kwh_total,
                bounds,
                prices,
                component.period,
                ctx,
                money,
            )
        case TierIncrement():
            bounds = [t.up_to_kwh for t in component.tiers]
            prices = [t.increment for t in component.tiers]
            return _tier_lines(
                "tier_increment",
                "阶梯加价",
                det.kwh_total,
                bounds,
                prices,
                component.period,
                ctx,
                money,
            )
        case TouEnergy():
            prices_by_period: dict[str, Decimal] = {p: v for p, v in component.prices.items()}
            _require_priced_periods(det.kwh_by_period, prices_by_period)
            return [
                RatedLine(
                    "energy_tou",
                    f"电度电费 {_TOU_NAMES[p]}",
                    det.kwh_by_period[p],
                    "kWh",
                    prices_by_period[p],
                    money(det.kwh_by_period[p] * prices_by_period[p]),
                )
                for p in TOU_PERIODS
                if det.kwh_by_period.get(p)
            ]
        case DemandCharge(basis="max_demand_kw"):
            return [_demand_line(det.max_demand_kw, "kW", "最大需量", component, money)]
        case DemandCharge():
            return [_demand_line(det.contracted_kva, "kVA", "合同容量", component, money)]
        case Funds():
            charges = fund_charges(det.kwh_total, component.items)
            return [
                RatedLine(
                    "funds",
                    item.name,
                    det.kwh_total,
                    "kWh",
                    item.price_per_kwh,
                    money(charges[item.name]),
                )
                for item in component.items
                if det.kwh_total
            ]


def _demand_line(
    demand: Decimal | None,
    unit: str,
    label: str,
    component: DemandCharge,
    money: Callable[[Decimal], Decimal],
) -> RatedLine:
    if demand is None:
        raise TariffError(
            f"the tariff bills demand by {component.basis} but the determinants have none",
            f"supply {component.basis} for this service point",
        )
    amount = money(demand_charge(demand, component.price))
    return RatedLine("demand", f"基本电费 ({label})", demand, unit, component.price, amount)


def _pf_lines(
    component: PfAdjustment,
    det: Determinants,
    base: Decimal,
    money: Callable[[Decimal], Decimal],
) -> list[RatedLine]:
    if det.kvarh_total is None:
        raise TariffError(
            "the tariff has a power-factor adjustment but the determinants have no kvarh",
            "read the reactive-energy register (kvarh) for this service point",
        )
    if det.kwh_total == 0 and det.kvarh_total == 0:
        return []
    pf = power_factor(det.kwh_total, det.kvarh_total)
    adjustment_rate = pf_adjustment_rate(pf, component.standard)
    description = f"力调电费 (功率因数 {pf}, 标准 {component.standard})"
    return [
        RatedLine(
            "pf_adjustment",
            description,
            base,
            "yuan",
            adjustment_rate,
            money(base * adjustment_rate),
        )
    ]
