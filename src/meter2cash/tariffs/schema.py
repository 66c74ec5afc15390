"""The tariff document: a versioned, effective-dated price structure read from YAML.

A tariff (电价) has versions; each version is a list of *components* — fixed charge, tiered
energy, TOU energy, tier increments, demand (基本电费), power-factor adjustment (力调电费) and
funds (政府性基金及附加) — so a new kind of charge is a new component, not a new tariff shape.
US-style components (from OpenEI URDB) price numbered periods on 12×24 hourly schedules:
``energy_periods``, ``demand_monthly``, ``demand_tou`` and ``minimum``. Prices are
:class:`~decimal.Decimal` in the tariff's currency (yuan by default); energies are kWh.

A TOU schedule gives each period its local hours as half-open ``[start, end)`` ranges (whole
hours ``0``–``24`` or quoted ``"HH:MM"`` on the quarter hour). The base ``periods`` apply to
every month and day type and must cover each hour of the day exactly once; ``overrides``
reassign hours for some months and/or day types, later overrides winning::

    tou_schedule:
      periods: {valley: [[0, 8]], peak: [[8, 11], [13, 22]], flat: [[11, 13], [22, 24]]}
      overrides:
        - months: [7, 8]                 # 尖峰 only in July and August
          periods: {sharp: [[19, 21]]}

Semantic checks raise :class:`FieldProblem`, which carries the path below the field being
validated so the loader can name the exact field (``versions[0].components[1].tiers[2]``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from meter2cash.core.errors import TariffError
from meter2cash.core.money import RoundingMode

TouPeriod = Literal["sharp", "peak", "flat", "valley", "deep_valley"]
TOU_PERIODS: Final[tuple[TouPeriod, ...]] = ("sharp", "peak", "flat", "valley", "deep_valley")
"""TOU periods in bill order: 尖峰, 高峰, 平段, 低谷, 深谷."""

DayType = Literal["workday", "weekend", "holiday"]
DAY_TYPES: Final[tuple[DayType, ...]] = ("workday", "weekend", "holiday")
MONTHS: Final = tuple(range(1, 13))
SLOTS_PER_DAY: Final = 96
"""Quarter-hour slots of a local day; slot ``s`` starts at ``s × 15`` minutes."""

TierPeriod = Literal["annual", "monthly"]
Path = tuple[str | int, ...]


class FieldProblem(ValueError):
    """A semantic error at ``path`` below the field being validated, with a fix."""

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        self.path = path
        self.problem = problem
        self.fix = fix
        super().__init__(problem)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


NonNegative = Annotated[Decimal, Field(ge=0)]
Positive = Annotated[Decimal, Field(gt=0)]
Month = Annotated[int, Field(ge=1, le=12)]

# ---------------------------------------------------------------------------------------------
# Time of use

_CLOCK = re.compile(r"^([01]\d|2[0-4]):(00|15|30|45)$")


def _check_clock(value: int | str) -> int | str:
    if isinstance(value, int):
        if not 0 <= value <= 24:
            raise FieldProblem(
                (), f"hour {value} is outside 0–24", "write whole hours 0–24 or quoted 'HH:MM'"
            )
    elif not _CLOCK.match(value) or (value.startswith("24") and value != "24:00"):
        raise FieldProblem(
            (), f"time {value!r} is not 'HH:MM' on a quarter hour", "write e.g. '08:30'"
        )
    return value


ClockTime = Annotated[int | str, AfterValidator(_check_clock)]


def clock_slot(value: int | str) -> int:
    """Quarter-hour slot [0–96] at which a clock time (hour or ``"HH:MM"``) falls."""
    if isinstance(value, int):
        return value * 4
    hours, minutes = value.split(":")
    return int(hours) * 4 + int(minutes) // 15


def _slot_clock(slot: int) -> str:
    return f"{slot // 4:02d}:{slot % 4 * 15:02d}"


def _check_range(value: tuple[int | str, int | str]) -> tuple[int | str, int | str]:
    start, end = value
    if clock_slot(start) >= clock_slot(end):
        raise FieldProblem(
            (),
            f"range [{start}, {end}) is empty or wraps midnight",
            "give start < end; split a range over midnight as [22, 24] and [0, 8]",
        )
    return value


HourRange = Annotated[tuple[ClockTime, ClockTime], AfterValidator(_check_range)]
PeriodHours = dict[TouPeriod, tuple[HourRange, ...]]


def _assign(periods: PeriodHours, prefix: Path) -> dict[int, TouPeriod]:
    """Slot → period for ``periods``, refusing a slot named twice."""
    owner: dict[int, tuple[TouPeriod, int]] = {}
    for period, ranges in periods.items():
        for index, (start, end) in enumerate(ranges):
            for slot in range(clock_slot(start), clock_slot(end)):
                if slot in owner:
                    other, other_index = owner[slot]
                    raise FieldProblem(
                        (*prefix, period, index),
                        f"{period} [{start}, {end}) overlaps {other}[{other_index}] "
                        f"at {_slot_clock(slot)}",
                        "give every hour of the day to exactly one period",
                    )
                owner[slot] = (period, index)
    return {slot: period for slot, (period, _) in owner.items()}


class TouOverride(_Frozen):
    """Hours reassigned to other periods in some months and/or day types."""

    months: tuple[Month, ...] = MONTHS
    day_types: tuple[DayType, ...] = DAY_TYPES
    periods: PeriodHours = Field(min_length=1)

    @model_validator(mode="after")
    def _no_overlap(self) -> TouOverride:
        _assign(self.periods, ("periods",))
        return self


class TouSchedule(_Frozen):
    """Local TOU periods for every month × day type × quarter-hour slot."""

    periods: PeriodHours
    overrides: tuple[TouOverride, ...] = ()
    _grid: dict[tuple[int, str], tuple[TouPeriod, ...]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _build_grid(self) -> TouSchedule:
        base = _assign(self.periods, ("periods",))
        missing = [slot for slot in range(SLOTS_PER_DAY) if slot not in base]
        if missing:
            raise FieldProblem(
                ("periods",),
                f"{_slot_clock(missing[0])}–{_slot_clock(missing[0] + 1)} "
                f"and {len(missing) - 1} more quarter hours belong to no period",
                "give every hour 0–24 to exactly one period",
            )
        for month in MONTHS:
            for day_type in DAY_TYPES:
                day = dict(base)
                for override in self.overrides:
                    if month in override.months and day_type in override.day_types:
                        day.update(_assign(override.periods, ()))
                self._grid[month, day_type] = tuple(day[s] for s in range(SLOTS_PER_DAY))
        return self

    @property
    def periods_used(self) -> frozenset[TouPeriod]:
        """Every period that some slot of some month and day type falls in."""
        return frozenset(p for day in self._grid.values() for p in day)


def period_of(schedule: TouSchedule, month: int, day_type: str, slot: int) -> TouPeriod:
    """TOU period of local quarter-hour ``slot`` [0–95] on a ``day_type`` day of ``month``.

    >>> period_of(schedule, 7, "workday", 19 * 4)   # 19:00 in July
    'sharp'
    """
    day = schedule._grid.get((month, day_type))
    if day is None or not 0 <= slot < SLOTS_PER_DAY:
        raise TariffError(
            f"no TOU period for month {month}, day type {day_type!r}, slot {slot}",
            "use months 1–12, day types workday/weekend/holiday and slots 0–95",
        )
    return day[slot]


def tou_slot_table(schedule: TouSchedule) -> list[tuple[int, str, int, str]]:
    """``(month, day_type, slot, period)`` for 12 months × 3 day types × 96 slots.

    The billing engine joins 15-minute intervals (local month, day type, slot) on this table.
    """
    return [
        (month, day_type, slot, period)
        for (month, day_type), day in sorted(schedule._grid.items())
        for slot, period in enumerate(day)
    ]


# ---------------------------------------------------------------------------------------------
# Components


def _check_bounds(bounds: Sequence[Decimal | None], field: str) -> None:
    """Tier bounds rise strictly and only the last tier is open-ended (``null``)."""
    for index, bound in enumerate(bounds):
        last = index == len(bounds) - 1
        if bound is None and not last:
            raise FieldProblem(
                ("tiers", index, field),
                "only the last tier may be open-ended",
                "give this tier an upper bound in kWh",
            )
        if bound is not None and last:
            raise FieldProblem(
                ("tiers", index, field),
                f"the last tier ends at {bound} kWh, leaving higher use unpriced",
                f"set the last tier's {field} to null",
            )
        previous = bounds[index - 1] if index else None
        if bound is not None and previous is not None and bound <= previous:
            raise FieldProblem(
                ("tiers", index, field),
                f"tier bound {bound} kWh is not above the previous tier's {previous} kWh",
                "list tiers in rising order of up_to_kwh",
            )


class EnergyTier(_Frozen):
    """A consumption block (阶梯): energy up to ``up_to_kwh`` [kWh] at ``price`` [yuan/kWh]."""

    up_to_kwh: Positive | None
    price: NonNegative


class IncrementTier(_Frozen):
    """A block of total energy up to ``up_to_kwh`` [kWh] adding ``increment`` [yuan/kWh]."""

    up_to_kwh: Positive | None
    increment: NonNegative


class FixedCharge(_Frozen):
    """A fixed charge of ``amount`` [yuan] per month (once per monthly bill) or per day."""

    kind: Literal["fixed"]
    per: Literal["month", "day"]
    amount: NonNegative
    name: str = "固定费"


class SeasonalBounds(_Frozen):
    """Tier bounds [kWh per month] that replace the tiers' own in some ``months`` (e.g. a
    larger summer block); one bound per tier but the open-ended last."""

    months: tuple[Month, ...] = Field(min_length=1)
    up_to_kwh: tuple[Positive, ...] = Field(min_length=1)


class HouseholdSize(_Frozen):
    """Tier bounds raised for large households (多人口家庭).

    Every bound rises by ``kwh_per_extra_person`` [kWh per tier period] for each person above
    ``base_persons``, counting at most ``max_extra_persons`` (1 gives the usual step rule:
    households of ``base_persons + 1`` or more get one raise).
    """

    base_persons: int = Field(ge=1)
    kwh_per_extra_person: Positive
    max_extra_persons: int | None = Field(default=None, ge=1)


def _check_tier_rules(
    bounds: Sequence[Decimal | None], period: TierPeriod, seasons: Sequence[SeasonalBounds]
) -> None:
    """Seasonal bounds: monthly tiers only, one bound per closed tier, rising, each month once."""
    claimed: dict[int, int] = {}
    for index, season in enumerate(seasons):
        path: Path = ("seasonal_bounds", index)
        if period != "monthly":
            raise FieldProblem(
                path, "seasonal bounds need monthly tiers", "set period: monthly or drop them"
            )
        if len(season.up_to_kwh) != len(bounds) - 1:
            raise FieldProblem(
                (*path, "up_to_kwh"),
                f"gives {len(season.up_to_kwh)} bounds for {len(bounds)} tiers",
                f"give {len(bounds) - 1} bounds, one per tier but the open-ended last",
            )
        for position in range(1, len(season.up_to_kwh)):
            if season.up_to_kwh[position] <= season.up_to_kwh[position - 1]:
                raise FieldProblem(
                    (*path, "up_to_kwh", position),
                    f"bound {season.up_to_kwh[position]} kWh is not above the previous one",
                    "list the bounds in rising order",
                )
        for month in season.months:
            if month in claimed:
                raise FieldProblem(
                    (*path, "months"),
                    f"month {month} is already in seasonal_bounds[{claimed[month]}]",
                    "give each month to one season",
                )
            claimed[month] = index


class TieredEnergy(_Frozen):
    """Energy priced in blocks (阶梯电价) counted over a tier year or a month, the bounds
    optionally seasonal (monthly tiers) and raised for large households."""

    kind: Literal["energy_tiered"]
    period: TierPeriod
    tiers: tuple[EnergyTier, ...] = Field(min_length=1)
    seasonal_bounds: tuple[SeasonalBounds, ...] = ()
    household: HouseholdSize | None = None

    @model_validator(mode="after")
    def _tiers_rise(self) -> TieredEnergy:
        bounds = [t.up_to_kwh for t in self.tiers]
        _check_bounds(bounds, "up_to_kwh")
        _check_tier_rules(bounds, self.period, self.seasonal_bounds)
        return self


class TouEnergy(_Frozen):
    """Energy priced by TOU period [yuan/kWh] (分时电价)."""

    kind: Literal["energy_tou"]
    prices: dict[TouPeriod, NonNegative] = Field(min_length=1)


class TierIncrement(_Frozen):
    """Chinese TOU + tier: an increment [yuan/kWh] per block of the *total* energy."""

    kind: Literal["tier_increment"]
    period: TierPeriod
    tiers: tuple[IncrementTier, ...] = Field(min_length=1)
    seasonal_bounds: tuple[SeasonalBounds, ...] = ()
    household: HouseholdSize | None = None

    @model_validator(mode="after")
    def _tiers_rise(self) -> TierIncrement:
        bounds = [t.up_to_kwh for t in self.tiers]
        _check_bounds(bounds, "up_to_kwh")
        _check_tier_rules(bounds, self.period, self.seasonal_bounds)
        return self


def _check_percent(value: Decimal) -> Decimal:
    if not 0 <= value <= 100:
        raise FieldProblem((), f"{value} % is outside 0–100", "give a percentage from 0 to 100")
    return value


Percent = Annotated[Decimal, AfterValidator(_check_percent)]


def _check_tolerance(value: Decimal) -> Decimal:
    if value < 100:
        raise FieldProblem(
            (), f"{value} % is below the contract itself", 'give 100 or more, e.g. "105"'
        )
    return value


def _check_multiplier(value: Decimal) -> Decimal:
    if value < 1:
        raise FieldProblem(
            (), f"multiplier {value} would discount the excess", 'give ≥ 1, e.g. "2"'
        )
    return value


class ContractExcess(_Frozen):
    """Billing by contract demand (按合同最大需量): the contract demand is billed in full; actual
    demand above ``above_percent`` [%] of it is billed at ``multiplier`` × the price.

    发改办价格〔2016〕1583号: 105 %, double (超过 105% 部分的基本电费加一倍收取).
    """

    above_percent: Annotated[Decimal, AfterValidator(_check_tolerance)]
    multiplier: Annotated[Decimal, AfterValidator(_check_multiplier)]


class HighUseDiscount(_Frozen):
    """The demand price at ``price_percent`` [%] in a month whose kWh per kVA of contracted
    capacity reaches ``kwh_per_kva`` [kWh/kVA] (发改价格〔2023〕526号: 260, 90 %)."""

    kwh_per_kva: Positive
    price_percent: Percent


class DemandRatchet(_Frozen):
    """Billing demand at least ``percent`` [%] of the highest actual maximum demand [kW] of the
    ``months`` bill months before this one."""

    percent: Percent
    months: int = Field(ge=1, le=36)


DemandBasis = Literal["max_demand_kw", "contract_demand_kw", "contracted_kva"]


class DemandCharge(_Frozen):
    """Two-part basic charge (基本电费) [yuan/kW-month or yuan/kVA-month].

    ``basis``: actual maximum demand (按实际最大需量), contract demand (按合同最大需量, needs
    ``excess``) or contracted capacity (按变压器容量). Demand bases may add a floor at
    ``floor_percent_of_capacity`` [%] of the contracted kVA (read as kW) and the
    ``high_use_discount``; the actual-demand basis may add a ``ratchet``.
    """

    kind: Literal["demand"]
    basis: DemandBasis
    price: NonNegative
    excess: ContractExcess | None = None
    floor_percent_of_capacity: Percent | None = None
    high_use_discount: HighUseDiscount | None = None
    ratchet: DemandRatchet | None = None

    @model_validator(mode="after")
    def _rules_fit_basis(self) -> DemandCharge:
        contract = self.basis == "contract_demand_kw"
        if contract and self.excess is None:
            raise FieldProblem(
                ("excess",),
                "contract-demand billing needs its excess rule",
                'add excess: {above_percent: "105", multiplier: "2"}',
            )
        if not contract and self.excess is not None:
            raise FieldProblem(
                ("excess",), f"an excess rule with basis {self.basis}", "use contract_demand_kw"
            )
        if self.basis == "contracted_kva":
            for name in ("floor_percent_of_capacity", "high_use_discount"):
                if getattr(self, name) is not None:
                    raise FieldProblem(
                        (name,),
                        "applies to demand billing, not to billing by capacity",
                        "use basis max_demand_kw or contract_demand_kw, or drop it",
                    )
        if self.ratchet is not None and self.basis != "max_demand_kw":
            raise FieldProblem(
                ("ratchet",),
                f"a ratchet with basis {self.basis}",
                "ratchets apply to actual maximum demand: use basis max_demand_kw",
            )
        return self

    @property
    def has_rules(self) -> bool:
        """Whether any billing-demand or price rule beyond demand × price applies."""
        rules = (self.excess, self.floor_percent_of_capacity, self.high_use_discount)
        return any(rule is not None for rule in (*rules, self.ratchet))


PF_STANDARDS: Final = (Decimal("0.90"), Decimal("0.85"), Decimal("0.80"))


def _check_standard(value: Decimal) -> Decimal:
    if value not in PF_STANDARDS:
        raise FieldProblem(
            (), f"power-factor standard {value} is not published", 'use "0.90", "0.85" or "0.80"'
        )
    return value.quantize(Decimal("0.01"))


class PfAdjustment(_Frozen):
    """Power-factor adjustment (力调电费) on energy + demand charges, funds excluded."""

    kind: Literal["pf_adjustment"]
    standard: Annotated[Decimal, AfterValidator(_check_standard)]


class FundItem(_Frozen):
    """One government fund or surcharge (政府性基金及附加) [yuan/kWh]."""

    name: str = Field(min_length=1)
    price_per_kwh: NonNegative


class Funds(_Frozen):
    """Per-kWh funds itemised on the bill; empty when prices already include them."""

    kind: Literal["funds"]
    items: tuple[FundItem, ...] = ()
    note: str | None = None

    @model_validator(mode="after")
    def _names_unique(self) -> Funds:
        seen: set[str] = set()
        for index, item in enumerate(self.items):
            if item.name in seen:
                raise FieldProblem(
                    ("items", index, "name"), f"fund {item.name!r} is listed twice", "list it once"
                )
            seen.add(item.name)
        return self


# ---------------------------------------------------------------------------------------------
# Numbered periods on an hourly schedule (OpenEI URDB, NREL SAM)

PeriodNumber = Annotated[int, Field(ge=1)]
HOURS_PER_DAY: Final = 24


def _check_matrix(rows: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
    if len(rows) != len(MONTHS):
        raise FieldProblem((), f"has {len(rows)} rows", "give 12 rows, one per month Jan–Dec")
    for month, hours in enumerate(rows):
        if len(hours) != HOURS_PER_DAY:
            raise FieldProblem(
                (month,), f"has {len(hours)} hours", "give 24 period numbers, hours 0–23"
            )
    return rows


PeriodMatrix = Annotated[tuple[tuple[PeriodNumber, ...], ...], AfterValidator(_check_matrix)]


class HourlySchedule(_Frozen):
    """Numbered periods by month [12 rows] × local hour [24 columns], weekdays and weekends.

    The shape of OpenEI URDB's ``energyweekdayschedule`` and friends (numbered from 1 here);
    holidays take the weekend matrix. ``weekday[6][14] == 2``: July 14:00–15:00 is period 2.
    """

    weekday: PeriodMatrix
    weekend: PeriodMatrix

    @property
    def periods_used(self) -> frozenset[int]:
        """Every period number some hour of some month falls in."""
        return frozenset(p for m in (self.weekday, self.weekend) for row in m for p in row)


class BlockTier(_Frozen):
    """A block up to ``up_to`` (cumulative, in the component's tier unit) at ``price``."""

    up_to: Positive | None
    price: NonNegative


class TierTable(_Frozen):
    """The blocks of one period (or one season), lowest first; the last is open-ended."""

    tiers: tuple[BlockTier, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _tiers_rise(self) -> TierTable:
        _check_bounds([t.up_to for t in self.tiers], "up_to")
        return self


def _check_numbers_priced(used: frozenset[int], count: int, path: Path, what: str) -> None:
    unpriced = sorted(n for n in used if n > count)
    if unpriced:
        raise FieldProblem(
            path,
            f"{what} uses period {unpriced[0]} but only {count} are priced",
            f"add {what} periods up to {max(unpriced)} or correct the schedule",
        )


EnergyTierUnit = Literal["kWh", "kWh/kW", "kWh/day", "kWh/kW/day"]


class PeriodEnergy(_Frozen):
    """Energy by numbered period with blocks on the month's total — the URDB/SAM way.

    Each period's blocks bound the *month's total* energy; a period's kWh is spread over the
    blocks by its share of that total. ``tier_unit`` scales the bounds: ``kWh/kW`` (hours use)
    by the month's maximum demand [kW], ``…/day`` by the days billed. Periods are numbered
    from 1 in list order. (The Chinese TOU + tier way is ``energy_tou`` + ``tier_increment``.)
    """

    kind: Literal["energy_periods"]
    schedule: HourlySchedule
    tier_unit: EnergyTierUnit = "kWh"
    periods: tuple[TierTable, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _every_period_priced(self) -> PeriodEnergy:
        _check_numbers_priced(
            self.schedule.periods_used, len(self.periods), ("schedule",), "energy"
        )
        return self


class MonthlyDemand(_Frozen):
    """Maximum-demand charge [per kW-month] in kW blocks, the block table chosen by month.

    ``months[m - 1]`` numbers the entry of ``seasons`` that prices month ``m`` (URDB's
    ``flatdemandstructure`` with ``flatdemandmonths``).
    """

    kind: Literal["demand_monthly"]
    months: tuple[PeriodNumber, ...] = Field(min_length=12, max_length=12)
    seasons: tuple[TierTable, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _every_month_priced(self) -> MonthlyDemand:
        _check_numbers_priced(frozenset(self.months), len(self.seasons), ("months",), "demand")
        return self


class TouDemand(_Frozen):
    """Demand charge per numbered period [per kW-month] on each period's maximum demand."""

    kind: Literal["demand_tou"]
    schedule: HourlySchedule
    periods: tuple[TierTable, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _every_period_priced(self) -> TouDemand:
        _check_numbers_priced(
            self.schedule.periods_used, len(self.periods), ("schedule",), "demand"
        )
        return self


class MinimumCharge(_Frozen):
    """A minimum bill of ``amount`` per month or per day billed; every other line counts."""

    kind: Literal["minimum"]
    per: Literal["month", "day"]
    amount: NonNegative
    name: str = "minimum charge"


# ---------------------------------------------------------------------------------------------
# Export energy and taxes

LineKind = Literal[
    "fixed",
    "energy_tiered",
    "energy_tou",
    "tier_increment",
    "energy_periods",
    "demand",
    "demand_monthly",
    "demand_tou",
    "pf_adjustment",
    "funds",
    "minimum",
    "export_credit",
]
"""The kinds of rated line a tax may apply to (every kind but the tax lines themselves)."""


class NetMetering(_Frozen):
    """Export energy (A−, 反向有功) against import (A+).

    ``net``: the energy components bill max(import − export − credit carried in, 0) [kWh];
    with ``carry_over`` an excess of export is carried to the next period as a credit [kWh],
    else it lapses. ``buy_sell`` (余电上网): import is billed as usual and export is credited
    at ``sell_price`` [yuan/kWh] as a negative line.
    """

    kind: Literal["net_metering"]
    option: Literal["net", "buy_sell"]
    sell_price: NonNegative | None = None
    carry_over: bool = False
    name: str = "上网电量"

    @model_validator(mode="after")
    def _fields_fit_option(self) -> NetMetering:
        if self.option == "buy_sell" and self.sell_price is None:
            raise FieldProblem(
                ("sell_price",), "buy_sell needs the sell price", 'add sell_price, e.g. "0.3913"'
            )
        if self.option == "net" and self.sell_price is not None:
            raise FieldProblem(
                ("sell_price",), "net metering credits kWh, not yuan", "drop sell_price"
            )
        if self.option == "buy_sell" and self.carry_over:
            raise FieldProblem(
                ("carry_over",), "buy_sell credits export in yuan each period", "drop carry_over"
            )
        return self


class TaxItem(_Frozen):
    """One tax, e.g. VAT (增值税) at 13 % or a state sales tax, at ``percent`` [%]."""

    name: str = Field(min_length=1)
    percent: Percent


class Tax(_Frozen):
    """Taxes on the sum of the ``taxable`` lines, each tax one line, after the minimum charge.

    With ``prices_include_tax`` (Chinese retail prices) a line shows the tax contained in the
    taxable lines — base × p ÷ (100 + Σp) — and a negative ``tax_included`` line takes it back
    out, so the total is unchanged; otherwise each tax adds base × p ÷ 100.
    """

    kind: Literal["tax"]
    items: tuple[TaxItem, ...] = Field(min_length=1)
    taxable: tuple[LineKind, ...] = Field(min_length=1)
    prices_include_tax: bool = False

    @model_validator(mode="after")
    def _names_unique(self) -> Tax:
        names = [item.name for item in self.items]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise FieldProblem(
                    ("items", index, "name"), f"tax {name!r} is listed twice", "list it once"
                )
        return self


Component = Annotated[
    FixedCharge
    | TieredEnergy
    | TouEnergy
    | TierIncrement
    | PeriodEnergy
    | DemandCharge
    | MonthlyDemand
    | TouDemand
    | PfAdjustment
    | Funds
    | MinimumCharge
    | NetMetering
    | Tax,
    Field(discriminator="kind"),
]
COMPONENT_KINDS: Final = (
    "fixed",
    "energy_tiered",
    "energy_tou",
    "tier_increment",
    "energy_periods",
    "demand",
    "demand_monthly",
    "demand_tou",
    "pf_adjustment",
    "funds",
    "minimum",
    "net_metering",
    "tax",
)
ENERGY_KINDS: Final = frozenset({"energy_tiered", "energy_tou", "energy_periods"})

# ---------------------------------------------------------------------------------------------
# Versions and the document


class Rounding(_Frozen):
    """How each bill line is quantised: to ``step`` [yuan] with ``mode``."""

    step: Positive = Decimal("0.01")
    mode: RoundingMode = "half_up"


class TariffVersion(_Frozen):
    """One version of a tariff, in force from ``effective_from`` until the next version."""

    version: int = Field(ge=1)
    effective_from: date
    rounding: Rounding = Rounding()
    tou_schedule: TouSchedule | None = None
    components: tuple[Component, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _components_fit(self) -> TariffVersion:
        seen: set[str] = set()
        for index, component in enumerate(self.components):
            if component.kind in seen:
                raise FieldProblem(
                    ("components", index, "kind"),
                    f"a second {component.kind} component",
                    "merge it into the first; a version has one component of each kind",
                )
            seen.add(component.kind)
        energy = sorted(seen & ENERGY_KINDS)
        if not energy:
            raise FieldProblem(
                ("components",),
                "no energy component",
                "add energy_tiered, energy_tou or energy_periods",
            )
        if len(energy) > 1:
            raise FieldProblem(
                ("components",),
                f"energy is priced twice ({' and '.join(energy)})",
                "for TOU + tier use energy_tou with tier_increment (the Chinese way) or "
                "energy_periods with blocks per period (the URDB way)",
            )
        if {"energy_periods", "tier_increment"} <= seen:
            raise FieldProblem(
                ("components",),
                "tier_increment with energy_periods",
                "energy_periods carries its own blocks; drop tier_increment",
            )
        if isinstance(metering := self.component("net_metering"), NetMetering):
            by_period = sorted(seen & {"energy_tou", "energy_periods"})
            if metering.option == "net" and by_period:
                raise FieldProblem(
                    ("components",),
                    f"net metering nets the total, but {by_period[0]} prices energy by period",
                    "use option buy_sell, or a tiered energy component",
                )
        for index, component in enumerate(self.components):
            if isinstance(component, TouEnergy):
                if self.tou_schedule is None:
                    raise FieldProblem(
                        ("tou_schedule",), "energy_tou needs a TOU schedule", "add tou_schedule"
                    )
                unpriced = self.tou_schedule.periods_used - component.prices.keys()
                if unpriced:
                    raise FieldProblem(
                        ("components", index, "prices"),
                        f"no price for {', '.join(sorted(unpriced))} used by tou_schedule",
                        "price every period the schedule uses",
                    )
        return self

    def component(self, kind: str) -> Component | None:
        """This version's component of ``kind``, if any."""
        return next((c for c in self.components if c.kind == kind), None)


class TariffDocument(_Frozen):
    """A tariff (电价) and its versions, as written in a catalogue YAML file."""

    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,63}$")
    name: str = Field(min_length=1, max_length=200)
    customer_class: Literal["residential", "commercial", "industrial", "agricultural"]
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    source: str | None = None
    versions: tuple[TariffVersion, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _versions_in_order(self) -> TariffDocument:
        for index in range(1, len(self.versions)):
            previous, current = self.versions[index - 1], self.versions[index]
            if current.version <= previous.version:
                raise FieldProblem(
                    ("versions", index, "version"),
                    f"version {current.version} does not follow version {previous.version}",
                    "number versions in rising order",
                )
            if current.effective_from <= previous.effective_from:
                raise FieldProblem(
                    ("versions", index, "effective_from"),
                    f"effective {current.effective_from}, not after the previous version's "
                    f"{previous.effective_from}",
                    "list versions in order of effective_from",
                )
        return self

    def version_on(self, day: date) -> TariffVersion:
        """The version in force on local ``day``."""
        in_force = [v for v in self.versions if v.effective_from <= day]
        if not in_force:
            raise TariffError(
                f"tariff {self.code} has no version in force on {day}",
                f"its first version starts {self.versions[0].effective_from}",
            )
        return in_force[-1]


def tariff_json_schema() -> dict[str, Any]:
    """JSON Schema of a tariff document (what ``m2c`` publishes for editors)."""
    return TariffDocument.model_json_schema()
