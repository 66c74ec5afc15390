"""Tier arithmetic: energy split over cumulative blocks, the bounds in force, and the
charges of blocks and tier increments — pure functions, Decimal in and out [kWh, yuan]."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final

from meter2cash.core.errors import TariffError
from meter2cash.tariffs.schema import (
    EnergyTier,
    EnergyTierUnit,
    HouseholdSize,
    IncrementTier,
    SeasonalBounds,
)

ZERO: Final = Decimal(0)
DEMAND_SOURCE: Final = (
    "read the meter's maximum-demand register (MD+) or a complete 15-minute curve of it"
)
"""How to supply a missing maximum demand (the fix of the error a tariff gives without one)."""


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


def tier_bounds(
    bounds: Sequence[Decimal | None],
    month: int,
    seasons: Sequence[SeasonalBounds] = (),
    household: HouseholdSize | None = None,
    persons: int | None = None,
) -> list[Decimal | None]:
    """Cumulative tier bounds [kWh] in force in ``month`` for a household of ``persons``.

    A season naming ``month`` replaces the closed bounds; a household above the base size
    raises every closed bound by the allowance per extra person. Example: bounds 200 / 400,
    100 kWh per person above 4 counting at most 1, 6 persons → 300 / 500.
    """
    season = next((s for s in seasons if month in s.months), None)
    closed: Sequence[Decimal | None] = bounds[:-1] if season is None else season.up_to_kwh
    raise_kwh = ZERO
    if household is not None and persons is not None:
        extra = max(persons - household.base_persons, 0)
        if household.max_extra_persons is not None:
            extra = min(extra, household.max_extra_persons)
        raise_kwh = extra * household.kwh_per_extra_person
    return [None if b is None else b + raise_kwh for b in closed] + [bounds[-1]]


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
# Numbered periods: blocks on the month's total, spread by share (URDB / NREL SAM)


def tier_bound_scale(unit: EnergyTierUnit, max_demand_kw: Decimal | None, days: int) -> Decimal:
    """Factor turning block bounds in ``unit`` into kWh for one billing period.

    ``kWh/kW`` bounds (hours use) scale by the period's maximum demand [kW], ``…/day`` bounds
    by the ``days`` billed. Example: 300 kWh/kW at 120 kW → a 36,000 kWh block.
    """
    scale = Decimal(days) if unit.endswith("/day") else Decimal(1)
    if unit.startswith("kWh/kW"):
        if max_demand_kw is None:
            raise TariffError(
                f"the tariff's blocks are in {unit} but the determinants have no maximum demand",
                DEMAND_SOURCE,
            )
        scale *= max_demand_kw
    return scale


def kwh_by_period_tier(
    kwh_by_period: Mapping[int, Decimal],
    bounds_by_period: Mapping[int, Sequence[Decimal | None]],
) -> dict[tuple[int, int], Decimal]:
    """Energy [kWh] of each (period, block): blocks bound the total, each period takes its share.

    A period's bounds split the total energy of all periods; the period's kWh in block ``t``
    is that block's energy × the period's share of the total (NREL SAM Utilityrate5, OpenEI
    URDB). Example: 600 kWh total, block 1 ≤ 500; a period with 150 kWh gets 125 kWh in
    block 1 and 25 kWh in block 2.
    """
    total = sum(kwh_by_period.values(), ZERO)
    split: dict[tuple[int, int], Decimal] = {}
    if not total:
        return split
    for period, kwh in kwh_by_period.items():
        for tier, block in enumerate(kwh_by_tier(total, bounds_by_period[period])):
            split[period, tier] = kwh * block / total
    return split
