"""The tariff document: a versioned, effective-dated price structure read from YAML.

A tariff (电价) has versions; each version is a list of *components* — fixed charge, tiered
energy, TOU energy, tier increments, demand (基本电费), power-factor adjustment (力调电费) and
funds (政府性基金及附加) — so a new kind of charge is a new component, not a new tariff shape.
Prices are :class:`~decimal.Decimal` yuan; energies are kWh.

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


class TieredEnergy(_Frozen):
    """Energy priced in blocks (阶梯电价) counted over a tier year or a month."""

    kind: Literal["energy_tiered"]
    period: TierPeriod
    tiers: tuple[EnergyTier, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _tiers_rise(self) -> TieredEnergy:
        _check_bounds([t.up_to_kwh for t in self.tiers], "up_to_kwh")
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

    @model_validator(mode="after")
    def _tiers_rise(self) -> TierIncrement:
        _check_bounds([t.up_to_kwh for t in self.tiers], "up_to_kwh")
        return self


class DemandCharge(_Frozen):
    """Two-part basic charge (基本电费) [yuan/kW-month or yuan/kVA-month]."""

    kind: Literal["demand"]
    basis: Literal["max_demand_kw", "contracted_kva"]
    price: NonNegative


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


Component = Annotated[
    FixedCharge | TieredEnergy | TouEnergy | TierIncrement | DemandCharge | PfAdjustment | Funds,
    Field(discriminator="kind"),
]
COMPONENT_KINDS: Final = (
    "fixed",
    "energy_tiered",
    "energy_tou",
    "tier_increment",
    "demand",
    "pf_adjustment",
    "funds",
)

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
        if not seen & {"energy_tiered", "energy_tou"}:
            raise FieldProblem(
                ("components",), "no energy component", "add energy_tiered or energy_tou"
            )
        if {"energy_tiered", "energy_tou"} <= seen:
            raise FieldProblem(
                ("components",),
                "energy is priced twice (energy_tiered and energy_tou)",
                "for TOU + tier use energy_tou with a tier_increment component",
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
