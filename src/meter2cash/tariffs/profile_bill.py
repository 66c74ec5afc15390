"""Billing a load profile under a tariff, one calendar month at a time.

Intervals are grouped by the local calendar month of their start (in the utility's zone); each
month's determinants — total kWh and kvarh, maximum demand [kW] = the largest interval kWh ÷
interval hours, kWh by TOU period and by numbered schedule period, maximum demand by numbered
demand period — are aggregated with numpy, converted to Decimal at 4 decimal places, and rated
by :func:`~meter2cash.tariffs.rating.rate` under the version in force on the month's first day
with data. Day types: Saturday and Sunday are weekend, ``holidays`` are holidays (the weekend
matrix of an hourly schedule); an interval takes the period of the slot it starts in. Annual
tiers count from January, or from the profile's first month.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from meter2cash.core.money import energy
from meter2cash.tariffs.load_profile import LoadProfile
from meter2cash.tariffs.rating import ZERO, Determinants, RatedBill, TierContext, rate
from meter2cash.tariffs.schema import (
    DAY_TYPES,
    SLOTS_PER_DAY,
    TOU_PERIODS,
    HourlySchedule,
    PeriodEnergy,
    TariffDocument,
    TariffVersion,
    TouDemand,
    TouSchedule,
    tou_slot_table,
)

CHARGES: Final = ("energy", "demand", "fixed", "minimum", "pf_adjustment", "funds")
"""The charges a month's bill is summed into, in bill order."""

CHARGE_OF_LINE: Final[Mapping[str, str]] = {
    "energy_tiered": "energy",
    "energy_tou": "energy",
    "tier_increment": "energy",
    "energy_periods": "energy",
    "demand": "demand",
    "demand_monthly": "demand",
    "demand_tou": "demand",
    "fixed": "fixed",
    "minimum": "minimum",
    "pf_adjustment": "pf_adjustment",
    "funds": "funds",
}
"""Which charge each line kind adds to."""

_WEEKEND: Final = 5  # numpy/pandas weekday of Saturday


@dataclass(frozen=True)
class MonthBill:
    """One calendar month's determinants and rated bill under tariff version ``version``."""

    month: str  # "YYYY-MM", local
    version: int
    determinants: Determinants
    bill: RatedBill

    @property
    def charges(self) -> dict[str, Decimal]:
        """Each charge [currency], the sum of its lines; they add up to the bill total."""
        sums = dict.fromkeys(CHARGES, Decimal("0.00"))
        for line in self.bill.lines:
            sums[CHARGE_OF_LINE[line.kind]] += line.amount
        return sums

    def as_json(self) -> dict[str, Any]:
        """The month as ``m2c tariff bill --json`` prints it, amounts as decimal strings."""
        return {
            "month": self.month,
            **{name: str(amount) for name, amount in self.charges.items()},
            "total": str(self.bill.total),
            "kwh": str(self.determinants.kwh_total),
            "max_demand_kw": str(self.determinants.max_demand_kw),
            "lines": [
                {
                    "kind": line.kind,
                    "charge": CHARGE_OF_LINE[line.kind],
                    "description": line.description,
                    "quantity": str(line.quantity),
                    "unit": line.unit,
                    "unit_price": str(line.unit_price),
                    "amount": str(line.amount),
                }
                for line in self.bill.lines
            ],
        }


@dataclass(frozen=True)
class _Local:
    """Local calendar fields of every interval start, and its month group."""

    month: npt.NDArray[np.int64]  # 1–12
    day_type: npt.NDArray[np.int64]  # index into DAY_TYPES
    weekend: npt.NDArray[np.bool_]  # weekend or holiday
    hour: npt.NDArray[np.int64]
    slot: npt.NDArray[np.int64]  # quarter hour of the day
    group: npt.NDArray[np.int64]  # index of the interval's month in ``months``
    months: list[tuple[int, int]]  # (year, month), in order
    first_day: list[date]
    last_day: list[date]


def bill_profile(
    document: TariffDocument,
    profile: LoadProfile,
    tz: ZoneInfo,
    holidays: Iterable[date] = (),
    contracted_kva: Decimal | None = None,
) -> tuple[MonthBill, ...]:
    """Bill ``profile`` under ``document`` by local calendar month in zone ``tz``.

    ``contracted_kva`` [kVA] is needed only by a demand charge on contracted capacity.
    """
    local = _localise(profile, tz, frozenset(holidays))
    count = len(local.months)
    kwh_total = np.bincount(local.group, profile.kwh, minlength=count)
    kvarh_total = (
        None if profile.kvarh is None else np.bincount(local.group, profile.kvarh, minlength=count)
    )
    kw = profile.kwh / profile.interval_hours
    max_kw = np.zeros(count)
    np.maximum.at(max_kw, local.group, kw)
    versions = [document.version_on(day) for day in local.first_day]
    by_version = {v.version: _period_determinants(v, profile, kw, local) for v in versions}

    bills: list[MonthBill] = []
    kwh_before, tier_year = ZERO, None
    for i, ((year, month), version) in enumerate(zip(local.months, versions, strict=True)):
        if year != tier_year:
            kwh_before, tier_year = ZERO, year
        periods = by_version[version.version]
        det = Determinants(
            period_start=local.first_day[i],
            period_end=local.last_day[i],
            kwh_total=energy(kwh_total[i]),
            kwh_by_period=periods.named[i] if periods.named else {},
            kvarh_total=None if kvarh_total is None else energy(kvarh_total[i]),
            max_demand_kw=energy(max_kw[i]),
            contracted_kva=contracted_kva,
            kwh_by_schedule_period=periods.energy[i] if periods.energy else {},
            max_demand_kw_by_period=periods.demand[i] if periods.demand else {},
        )
        bill = rate(version, det, TierContext(kwh_before_in_tier_year=kwh_before))
        kwh_before += det.kwh_total
        bills.append(MonthBill(f"{year:04d}-{month:02d}", version.version, det, bill))
    return tuple(bills)


def _localise(profile: LoadProfile, tz: ZoneInfo, holidays: frozenset[date]) -> _Local:
    starts = pd.DatetimeIndex(profile.start, tz="UTC").tz_convert(tz)
    year = starts.year.to_numpy(np.int64)
    month = starts.month.to_numpy(np.int64)
    days = starts.tz_localize(None).normalize().to_numpy("datetime64[D]")
    holiday = np.isin(days, np.array(sorted(holidays), dtype="datetime64[D]"))
    weekend = starts.day_of_week.to_numpy(np.int64) >= _WEEKEND
    day_type = np.where(holiday, 2, np.where(weekend, 1, 0)).astype(np.int64)
    hour = starts.hour.to_numpy(np.int64)
    key = year * 12 + month - 1
    keys, first, group = np.unique(key, return_index=True, return_inverse=True)
    last = np.r_[first[1:], len(key)] - 1  # intervals are in time order
    return _Local(
        month=month,
        day_type=day_type,
        weekend=holiday | weekend,
        hour=hour,
        slot=hour * 4 + starts.minute.to_numpy(np.int64) // 15,
        group=group.astype(np.int64),
        months=[(int(k) // 12, int(k) % 12 + 1) for k in keys],
        first_day=[d.item() for d in days[first]],
        last_day=[d.item() for d in days[last]],
    )


@dataclass(frozen=True)
class _PeriodDeterminants:
    """Per month: kWh by TOU period, kWh by energy period, max kW by demand period."""

    named: list[dict[str, Decimal]] | None
    energy: list[dict[int, Decimal]] | None
    demand: list[dict[int, Decimal]] | None


def _period_determinants(
    version: TariffVersion,
    profile: LoadProfile,
    kw: npt.NDArray[np.float64],
    local: _Local,
) -> _PeriodDeterminants:
    count = len(local.months)
    named: list[dict[str, Decimal]] | None = None
    if version.tou_schedule is not None:
        index = _named_period_index(version.tou_schedule, local)
        sums, present = _by_group_period(local.group, index, profile.kwh, count, len(TOU_PERIODS))
        named = [
            {TOU_PERIODS[p]: energy(sums[g, p]) for p in range(len(TOU_PERIODS)) if present[g, p]}
            for g in range(count)
        ]
    energy_component = next((c for c in version.components if isinstance(c, PeriodEnergy)), None)
    energy_periods: list[dict[int, Decimal]] | None = None
    if energy_component is not None:
        numbers = _schedule_numbers(energy_component.schedule, local)
        width = len(energy_component.periods) + 1
        sums, present = _by_group_period(local.group, numbers, profile.kwh, count, width)
        energy_periods = [
            {p: energy(sums[g, p]) for p in range(1, width) if present[g, p]} for g in range(count)
        ]
    demand_component = next((c for c in version.components if isinstance(c, TouDemand)), None)
    demand_periods: list[dict[int, Decimal]] | None = None
    if demand_component is not None:
        numbers = _schedule_numbers(demand_component.schedule, local)
        width = len(demand_component.periods) + 1
        peaks = np.zeros((count, width))
        np.maximum.at(peaks, (local.group, numbers), kw)
        _, present = _by_group_period(local.group, numbers, kw, count, width)
        demand_periods = [
            {p: energy(peaks[g, p]) for p in range(1, width) if present[g, p]} for g in range(count)
        ]
    return _PeriodDeterminants(named, energy_periods, demand_periods)


def _by_group_period(
    group: npt.NDArray[np.int64],
    period: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    count: int,
    width: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Sum of ``values`` and whether any interval falls, per (month group, period)."""
    key = group * width + period
    sums = np.bincount(key, values, minlength=count * width).astype(np.float64)
    sums = sums.reshape(count, width)
    present = np.bincount(key, minlength=count * width).reshape(count, width) > 0
    return sums, present


def _named_period_index(schedule: TouSchedule, local: _Local) -> npt.NDArray[np.int64]:
    """Index into TOU_PERIODS of every interval, from a quarter-hour TOU schedule."""
    grid = np.zeros((12, len(DAY_TYPES), SLOTS_PER_DAY), dtype=np.int64)
    for month, day_type, slot, period in tou_slot_table(schedule):
        grid[month - 1, DAY_TYPES.index(day_type), slot] = TOU_PERIODS.index(period)
    index: npt.NDArray[np.int64] = grid[local.month - 1, local.day_type, local.slot]
    return index


def _schedule_numbers(schedule: HourlySchedule, local: _Local) -> npt.NDArray[np.int64]:
    """Period number of every interval from an hourly schedule's 12×24 matrices."""
    grid = np.array([schedule.weekday, schedule.weekend], dtype=np.int64)
    numbers: npt.NDArray[np.int64] = grid[
        local.weekend.astype(np.int64), local.month - 1, local.hour
    ]
    return numbers
