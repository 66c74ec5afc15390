"""Pure rating: billing determinants × a tariff version → rated bill lines.

No database, files or clocks: Decimal in, Decimal out. Each function computes one charge,
unrounded; :func:`rate` composes them into lines, quantises each line with
:func:`~meter2cash.core.money.quantize_money` per the version's rounding rule, and sums the
quantised lines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Final

from meter2cash.core.errors import TariffError
from meter2cash.core.money import KWH_PLACES, quantize_money
from meter2cash.tariffs.demand import (
    DemandHistory,
    contract_demand_split,
    high_use_demand_price,
    peak_demand_before,
    percent_of,
)
from meter2cash.tariffs.net_metering import export_credit, net_energy
from meter2cash.tariffs.power_factor import (
    PF_BASE_KINDS,
    pf_adjustment_rate,
    pf_description,
    power_factor,
)
from meter2cash.tariffs.proration import (
    monthly_share,
    prorated_bound,
    share_text,
    shown_bound,
    tier_share,
)
from meter2cash.tariffs.schema import (
    TOU_PERIODS,
    BlockTier,
    DemandCharge,
    FixedCharge,
    FundItem,
    Funds,
    MinimumCharge,
    MonthlyDemand,
    NetMetering,
    PeriodEnergy,
    PfAdjustment,
    TariffVersion,
    Tax,
    TieredEnergy,
    TierIncrement,
    TierTable,
    TouDemand,
    TouEnergy,
)
from meter2cash.tariffs.tax import RATE_PLACES, tax_amount, tax_rates
from meter2cash.tariffs.tiers import (
    DEMAND_SOURCE,
    kwh_by_period_tier,
    kwh_by_tier,
    tier_bound_scale,
    tier_bounds,
)

ZERO: Final = Decimal(0)


@dataclass(frozen=True)
class Determinants:
    """What a billing period measured, multiplier applied.

    ``kwh_by_period`` keys are TOU periods (``sharp``, ``peak``, ``flat``, ``valley``,
    ``deep_valley``); it may be empty for a tariff without TOU prices. The numbered periods of
    an hourly schedule (``energy_periods``, ``demand_tou``) key ``kwh_by_schedule_period`` and
    ``max_demand_kw_by_period``; a period absent from the billing period is absent there.
    ``contracted_kva`` is the contracted capacity (变压器容量 plus high-voltage motors);
    ``contract_demand_kw`` the contract demand (合同最大需量) declared for the period;
    ``kwh_export_total`` the export register's delta (A−, 反向有功), ``None`` when not read.
    ``cycle_days`` and ``supplied_days`` say that the period is part of a billing cycle of
    ``cycle_days`` in which the account was supplied ``supplied_days`` (moved in or out, or
    the cycle split at a tariff change): per-month charges and monthly tier bounds are then
    prorated (:func:`monthly_share`, :func:`tier_share`); ``None`` = the whole cycle.
    """

    period_start: date  # local date, inclusive
    period_end: date  # local date, inclusive
    kwh_total: Decimal  # [kWh]
    kwh_by_period: Mapping[str, Decimal] = field(default_factory=dict)  # [kWh]
    kvarh_total: Decimal | None = None  # [kvarh]
    max_demand_kw: Decimal | None = None  # [kW]
    contracted_kva: Decimal | None = None  # [kVA]
    estimated: bool = False
    kwh_by_schedule_period: Mapping[int, Decimal] = field(default_factory=dict)  # [kWh]
    max_demand_kw_by_period: Mapping[int, Decimal] = field(default_factory=dict)  # [kW]
    contract_demand_kw: Decimal | None = None  # [kW] 合同最大需量 for the period
    kwh_export_total: Decimal | None = None  # [kWh] A−
    cycle_days: int | None = None  # [d] the billing cycle this period is part of
    supplied_days: int | None = None  # [d] supplied in that cycle (default: this period's)

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
            "contract_demand_kw": self.contract_demand_kw,
            "kwh_export_total": self.kwh_export_total,
        } | {f"kwh_by_period[{p}]": kwh for p, kwh in self.kwh_by_period.items()}
        quantities |= {
            f"kwh_by_schedule_period[{p}]": kwh for p, kwh in self.kwh_by_schedule_period.items()
        } | {f"max_demand_kw_by_period[{p}]": kw for p, kw in self.max_demand_kw_by_period.items()}
        for name, value in quantities.items():
            if value is not None and value < 0:
                raise TariffError(f"{name} is negative ({value})", "rate import energy only")
        supplied = self.days if self.supplied_days is None else self.supplied_days
        if self.cycle_days is not None and not self.days <= supplied <= self.cycle_days:
            raise TariffError(
                f"a part period of {self.days} days, {supplied} supplied, in a cycle of "
                f"{self.cycle_days} days",
                "pass days ≤ supplied_days ≤ cycle_days",
            )

    @property
    def days(self) -> int:
        """Local days billed, both ends included."""
        return (self.period_end - self.period_start).days + 1


def _tier_share(det: Determinants) -> tuple[int, int]:
    return (1, 1) if det.cycle_days is None else tier_share(det.days, det.cycle_days)


def _monthly_share(det: Determinants) -> tuple[int, int, str]:
    """The share of a month's charges ``det`` bills, with its text."""
    if det.cycle_days is None:
        return 1, 1, ""
    supplied = det.days if det.supplied_days is None else det.supplied_days
    numerator, denominator = monthly_share(det.days, supplied, det.cycle_days)
    return numerator, denominator, share_text(det.days, supplied, det.cycle_days)


@dataclass(frozen=True)
class TierContext:
    """Where the period sits in its tier year, and the household tiers are sized for.

    ``kwh_before_in_tier_year`` [kWh] was billed earlier in the tier year (annual tiers only);
    ``tier_year_fraction`` [1] scales every tier bound (proration; 1 for a whole tier year);
    ``household_persons`` [persons] is the registered household size, ``None`` when none is
    on file (the tariff's base bounds apply, as for a household that has not applied).
    """

    kwh_before_in_tier_year: Decimal = ZERO
    tier_year_fraction: Decimal = Decimal(1)
    household_persons: int | None = None

    def __post_init__(self) -> None:
        if self.kwh_before_in_tier_year < 0:
            raise TariffError("kwh_before_in_tier_year is negative", "pass the kWh billed so far")
        if self.household_persons is not None and self.household_persons < 1:
            raise TariffError(
                f"household_persons is {self.household_persons}",
                "pass the registered household size (at least 1) or None",
            )
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
    """The rated lines of one billing period; ``total`` [yuan] is the sum of the lines.

    ``kwh_total`` [kWh] is the energy billed (net of export under net metering);
    ``carried_export_kwh`` [kWh] the export credit carried to the next period.
    """

    lines: tuple[RatedLine, ...]
    total: Decimal
    kwh_total: Decimal
    carried_export_kwh: Decimal = ZERO


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
# The composer

TOU_NAMES: Final = {
    "sharp": "尖峰",
    "peak": "高峰",
    "flat": "平段",
    "valley": "低谷",
    "deep_valley": "深谷",
}


def bound_text(lower: Decimal | None, upper: Decimal | None, period: str) -> str:
    """How a tier's bounds [kWh] read on a bill line, e.g. ``2761–4800 kWh/年``."""
    per = "年" if period == "annual" else "月"
    if upper is None:
        return "不分档" if lower is None else f">{lower} kWh/{per}"
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
    share: tuple[int, int] = (1, 1),
) -> list[RatedLine]:
    """Tier lines; bounds × the tier-year fraction × ``share`` (monthly tiers of a part
    period, :func:`tier_share`), half-up to 0.0001 kWh — as used, so as printed."""
    before = ctx.kwh_before_in_tier_year if period == "annual" else ZERO
    fraction = ctx.tier_year_fraction
    numerator, denominator = share if period == "monthly" else (1, 1)
    used: Sequence[Decimal | None] = bounds
    shown = bounds
    if fraction != 1 or numerator != denominator:
        used = [
            None if b is None else prorated_bound(b * fraction, numerator, denominator)
            for b in bounds
        ]
        shown = [shown_bound(b) for b in used]
    split = kwh_by_tier(kwh, used, before)
    lines: list[RatedLine] = []
    for index, (quantity, price) in enumerate(zip(split, prices, strict=True)):
        if quantity and (price or kind == "energy_tiered"):
            lower = shown[index - 1] if index else None
            text = bound_text(lower, shown[index], period)
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


def rate(
    version: TariffVersion,
    det: Determinants,
    ctx: TierContext,
    demand_history: DemandHistory | None = None,
    carried_export_kwh: Decimal = ZERO,
) -> RatedBill:
    """Rate one billing period's determinants under a tariff version.

    Lines follow the order of the version's components; each is quantised per the version's
    rounding rule and ``total`` [yuan] is their sum. In this order: the charge lines (net
    metering's ``net`` option bills the energy components on import − export − the
    ``carried_export_kwh`` [kWh] credit; ``buy_sell`` adds a negative export line); the PF
    adjustment on the quantised energy and demand lines (funds and fixed charges excluded); a
    minimum charge topping every other line but the export credit up to the minimum (a fixed
    charge counts toward it, as in NREL SAM); last, taxes on the quantised taxable lines, the
    minimum included. ``demand_history`` is needed only by a demand ratchet (an empty history
    for an account without earlier bills).
    """

    def money(amount: Decimal) -> Decimal:
        return quantize_money(amount, version.rounding.step, version.rounding.mode)

    energy_det, carried_out = _net_energy(version, det, carried_export_kwh)
    sections: list[list[RatedLine]] = []
    adjustment: tuple[int, PfAdjustment] | None = None
    minimum: tuple[int, MinimumCharge] | None = None
    tax: tuple[int, Tax] | None = None
    for component in version.components:
        match component:
            case PfAdjustment():
                adjustment = (len(sections), component)
                sections.append([])
            case MinimumCharge():
                minimum = (len(sections), component)
                sections.append([])
            case Tax():
                tax = (len(sections), component)
                sections.append([])
            case TieredEnergy() | TierIncrement():
                sections.append(_component_lines(component, energy_det, ctx, demand_history, money))
            case _:
                sections.append(_component_lines(component, det, ctx, demand_history, money))
    if adjustment is not None:
        index, pf_component = adjustment
        base = sum((ln.amount for s in sections for ln in s if ln.kind in PF_BASE_KINDS), ZERO)
        sections[index] = _pf_lines(pf_component, det, base, money)
    if minimum is not None:
        index, minimum_component = minimum
        billed = sum((ln.amount for s in sections for ln in s if ln.kind != "export_credit"), ZERO)
        sections[index] = _minimum_lines(minimum_component, det, billed, money)
    if tax is not None:
        index, tax_component = tax
        taxable = set(tax_component.taxable)
        base = sum((ln.amount for s in sections for ln in s if ln.kind in taxable), ZERO)
        sections[index] = _tax_lines(tax_component, base, money)
    lines = tuple(line for section in sections for line in section)
    total = sum((ln.amount for ln in lines), ZERO)
    return RatedBill(lines, total, energy_det.kwh_total, carried_out)


def _net_energy(
    version: TariffVersion, det: Determinants, carried_in: Decimal
) -> tuple[Determinants, Decimal]:
    """The determinants the energy components bill, and the export credit carried out [kWh]."""
    metering = version.component("net_metering")
    carries = isinstance(metering, NetMetering) and metering.carry_over
    if carried_in < 0 or (carried_in and not carries):
        raise TariffError(
            f"carried_export_kwh is {carried_in}",
            "pass a credit ≥ 0, and only for a tariff whose net metering carries credit over",
        )
    if not isinstance(metering, NetMetering) or metering.option != "net":
        return det, ZERO
    export = _required(det.kwh_export_total, "kwh_export_total", "the tariff nets export")
    billed, excess = net_energy(det.kwh_total, export, carried_in)
    return replace(det, kwh_total=billed), excess if carries else ZERO


def _tax_lines(
    component: Tax, base: Decimal, money: Callable[[Decimal], Decimal]
) -> list[RatedLine]:
    """One line per tax on ``base`` [yuan]; with tax-inclusive prices a negative
    ``tax_included`` line takes the tax shown back out of the total."""
    if not base:
        return []
    inclusive = component.prices_include_tax
    rates = tax_rates([item.percent for item in component.items], inclusive)
    lines = [
        RatedLine(
            "tax",
            f"{item.name} {item.percent}%{' (价内含税)' if inclusive else ''}",
            base,
            "yuan",
            rate.quantize(RATE_PLACES),
            money(tax_amount(base, rate)),
        )
        for item, rate in zip(component.items, rates, strict=True)
    ]
    if inclusive:
        contained = sum((line.amount for line in lines), ZERO)
        lines.append(
            RatedLine(
                "tax_included", "减: 电价所含税额", contained, "yuan", Decimal(-1), -contained
            )
        )
    return lines


def _export_lines(
    component: NetMetering, det: Determinants, money: Callable[[Decimal], Decimal]
) -> list[RatedLine]:
    if component.sell_price is None:  # option net: export is netted, not credited
        return []
    export = _required(det.kwh_export_total, "kwh_export_total", "the tariff credits export")
    if not export:
        return []
    price = component.sell_price
    credit = money(export_credit(export, price))
    return [RatedLine("export_credit", component.name, export, "kWh", -price, credit)]


def _component_lines(
    component: FixedCharge
    | TieredEnergy
    | TouEnergy
    | TierIncrement
    | PeriodEnergy
    | DemandCharge
    | MonthlyDemand
    | TouDemand
    | Funds
    | NetMetering,
    det: Determinants,
    ctx: TierContext,
    history: DemandHistory | None,
    money: Callable[[Decimal], Decimal],
) -> list[RatedLine]:
    match component:
        case FixedCharge(per="month"):
            numerator, denominator, text = _monthly_share(det)
            return [
                RatedLine(
                    "fixed",
                    f"{component.name} ({text})" if text else component.name,
                    Decimal(1),
                    "month",
                    component.amount,
                    money(component.amount * numerator / denominator),
                )
            ]
        case FixedCharge():
            days = Decimal(det.days)
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
            bounds = _bounds_in_force(component, det, ctx)
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
                _tier_share(det),
            )
        case TierIncrement():
            bounds = _bounds_in_force(component, det, ctx)
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
                _tier_share(det),
            )
        case TouEnergy():
            if det.kwh_total == 0 and not any(det.kwh_by_period.values()):
                return []  # no energy in the period: nothing to price by TOU period
            prices_by_period: dict[str, Decimal] = {p: v for p, v in component.prices.items()}
            _require_priced_periods(det.kwh_by_period, prices_by_period)
            return [
                RatedLine(
                    "energy_tou",
                    f"电度电费 {TOU_NAMES[p]}",
                    det.kwh_by_period[p],
                    "kWh",
                    prices_by_period[p],
                    money(det.kwh_by_period[p] * prices_by_period[p]),
                )
                for p in TOU_PERIODS
                if det.kwh_by_period.get(p)
            ]
        case PeriodEnergy():
            return _period_energy_lines(component, det, money)
        case MonthlyDemand():
            if det.max_demand_kw is None:
                raise TariffError(
                    "the tariff bills monthly maximum demand but the determinants have none",
                    DEMAND_SOURCE,
                )
            season = component.months[det.period_end.month - 1]
            return _block_lines(
                "demand_monthly",
                f"demand (season {season})",
                det.max_demand_kw,
                "kW",
                component.seasons[season - 1],
                money,
            )
        case TouDemand():
            return [
                line
                for period, kw in sorted(det.max_demand_kw_by_period.items())
                for line in _block_lines(
                    "demand_tou",
                    f"demand period {period}",
                    kw,
                    "kW",
                    component.periods[period - 1],
                    money,
                )
            ]
        case DemandCharge():
            numerator, denominator, text = _monthly_share(det)
            if not text:
                return _demand_lines(component, det, history, money)
            lines = _demand_lines(
                component, det, history, lambda yuan: money(yuan * numerator / denominator)
            )
            return [replace(ln, description=f"{ln.description[:-1]}; {text})") for ln in lines]
        case NetMetering():
            return _export_lines(component, det, money)
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


def _block_text(tiers: Sequence[BlockTier], index: int, unit: str) -> str:
    lower = tiers[index - 1].up_to if index else None
    upper = tiers[index].up_to
    if upper is None:
        return "" if lower is None else f" (>{lower} {unit})"
    return f" (≤{upper} {unit})" if lower is None else f" ({lower}–{upper} {unit})"


def _block_lines(
    kind: str,
    label: str,
    quantity: Decimal,
    unit: str,
    table: TierTable,
    money: Callable[[Decimal], Decimal],
) -> list[RatedLine]:
    split = kwh_by_tier(quantity, [t.up_to for t in table.tiers])
    several = len(table.tiers) > 1
    return [
        RatedLine(
            kind,
            f"{label}{f' tier {i + 1}' if several else ''}{_block_text(table.tiers, i, unit)}",
            q,
            unit,
            tier.price,
            money(q * tier.price),
        )
        for i, (q, tier) in enumerate(zip(split, table.tiers, strict=True))
        if q
    ]


def _period_energy_lines(
    component: PeriodEnergy, det: Determinants, money: Callable[[Decimal], Decimal]
) -> list[RatedLine]:
    unpriced = sorted(p for p in det.kwh_by_schedule_period if p > len(component.periods))
    if unpriced:
        raise TariffError(
            f"energy in period {unpriced[0]} that the tariff does not price",
            "check the schedule used to build the determinants",
        )
    scale = tier_bound_scale(component.tier_unit, det.max_demand_kw, det.days)
    bounds = {
        p: [None if t.up_to is None else t.up_to * scale for t in component.periods[p - 1].tiers]
        for p in det.kwh_by_schedule_period
    }
    split = kwh_by_period_tier(det.kwh_by_schedule_period, bounds)
    lines: list[RatedLine] = []
    for (period, index), kwh in sorted(split.items()):
        if not kwh:
            continue
        tiers = component.periods[period - 1].tiers
        several = len(tiers) > 1
        tier = f" tier {index + 1}{_block_text(tiers, index, component.tier_unit)}"
        price = tiers[index].price
        lines.append(
            RatedLine(
                "energy_periods",
                f"energy period {period}{tier if several else ''}",
                kwh.quantize(KWH_PLACES),
                "kWh",
                price,
                money(kwh * price),
            )
        )
    return lines


def _minimum_lines(
    component: MinimumCharge,
    det: Determinants,
    billed: Decimal,
    money: Callable[[Decimal], Decimal],
) -> list[RatedLine]:
    days = Decimal(1) if component.per == "month" else Decimal(det.days)
    numerator, denominator = _monthly_share(det)[:2] if component.per == "month" else (1, 1)
    shortfall = money(days * component.amount * numerator / denominator) - billed
    if shortfall <= 0:
        return []
    return [RatedLine("minimum", component.name, days, component.per, component.amount, shortfall)]


def _bounds_in_force(
    component: TieredEnergy | TierIncrement, det: Determinants, ctx: TierContext
) -> list[Decimal | None]:
    return tier_bounds(
        [t.up_to_kwh for t in component.tiers],
        det.period_end.month,
        component.seasonal_bounds,
        component.household,
        ctx.household_persons,
    )


def _required(value: Decimal | None, name: str, why: str) -> Decimal:
    if value is None:
        hint = DEMAND_SOURCE if name == "max_demand_kw" else f"supply {name}"
        raise TariffError(f"{why} but the determinants have no {name}", hint)
    return value


def _demand_lines(
    component: DemandCharge,
    det: Determinants,
    history: DemandHistory | None,
    money: Callable[[Decimal], Decimal],
) -> list[RatedLine]:
    """The basic-charge lines: billing demand (floor, ratchet, contract excess) × price."""
    why = f"the tariff bills demand by {component.basis}"
    if component.basis == "contracted_kva":
        kva = _required(det.contracted_kva, "contracted_kva", why)
        amount = money(demand_charge(kva, component.price))
        return [RatedLine("demand", "基本电费 (合同容量)", kva, "kVA", component.price, amount)]
    actual = _required(det.max_demand_kw, "max_demand_kw", why)
    floors: list[tuple[Decimal, str]] = []
    if component.floor_percent_of_capacity is not None:
        kva = _required(det.contracted_kva, "contracted_kva", "the tariff has a demand floor")
        percent = component.floor_percent_of_capacity
        floors.append((percent_of(kva, percent), f"容量 {kva} kVA × {percent}%"))
    if component.ratchet is not None:
        if history is None:
            raise TariffError(
                "the tariff has a demand ratchet but no demand history was passed",
                "pass DemandHistory with the earlier months' maximum demands (empty if none)",
            )
        rule = component.ratchet
        peak = peak_demand_before(history, det.period_end, rule.months)
        floors.append(
            (percent_of(peak, rule.percent), f"前 {rule.months} 月最高 {peak} kW × {rule.percent}%")
        )
    price, notes = component.price, []
    if component.high_use_discount is not None:
        discount = component.high_use_discount
        kva = _required(det.contracted_kva, "contracted_kva", "the tariff has the 526 discount")
        price = high_use_demand_price(price, det.kwh_total, kva, discount)
        if price != component.price:
            notes.append(f"≥ {discount.kwh_per_kva} kWh/kVA, 电价 × {discount.price_percent}%")
    if component.excess is None:
        billed, reason = max([(actual, ""), *floors], key=lambda floor: floor[0])
        label = f"最大需量 {actual} kW, 按{reason}" if reason else "最大需量"
        return [_demand_line(billed, [label, *notes], price, money)]
    declared = _required(det.contract_demand_kw, "contract_demand_kw", why)
    contract, reason = max([(declared, ""), *floors], key=lambda floor: floor[0])
    label = f"合同最大需量 {declared} kW, 按{reason}" if reason else "合同最大需量"
    above = component.excess.above_percent
    billed, excess = contract_demand_split(actual, contract, above)
    if not excess:
        return [_demand_line(billed, [label, *notes], price, money)]
    excess_price = price * component.excess.multiplier
    return [
        _demand_line(billed, [label, f"{above}% 以内", *notes], price, money),
        _demand_line(
            excess, [f"实际 {actual} kW 超过合同 {above}% 部分", *notes], excess_price, money
        ),
    ]


def _demand_line(
    demand: Decimal, notes: Sequence[str], price: Decimal, money: Callable[[Decimal], Decimal]
) -> RatedLine:
    text = "; ".join(notes)
    return RatedLine("demand", f"基本电费 ({text})", demand, "kW", price, money(demand * price))


def _pf_lines(
    component: PfAdjustment,
    det: Determinants,
    base: Decimal,
    money: Callable[[Decimal], Decimal],
) -> list[RatedLine]:
    if det.kvarh_total is None:
        raise TariffError(
            "the tariff has a power-factor adjustment but the determinants have no kvarh",
            "read the meter's reactive-energy register (R+, kvarh) or its 15-minute kvarh curve",
        )
    if det.kwh_total == 0 and det.kvarh_total == 0:
        return []
    pf = power_factor(det.kwh_total, det.kvarh_total)
    adjustment_rate = pf_adjustment_rate(pf, component.standard)
    description = pf_description(pf, component.standard)
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
