"""What meters record and report: TOU registers, faults, theft and clock drift.

A meter registers secondary-side energy (primary energy / (CT × PT)); a thief's meter registers
only ``factor`` of the true energy; a dead meter registers nothing and reports nothing; a meter in
a communication-loss stretch keeps registering but is not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
import numpy.typing as npt

from meter2cash.tariffs.loader import load_catalogue
from meter2cash.tariffs.schema import period_of

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NEVER: Final = np.iinfo(np.int64).max // 2
"""Day index standing for "does not happen"."""

# Zhejiang-like TOU periods of the rate registers: (first hour, end hour, rate, months or None).
# Rates: 0 = A+1 尖 sharp, 1 = A+2 峰 peak, 2 = A+3 平 flat, 3 = A+4 谷 valley.
TOU_PERIODS: Final[tuple[tuple[int, int, int, frozenset[int] | None], ...]] = (
    (0, 8, 3, None),
    (8, 11, 1, None),
    (11, 13, 3, None),
    (13, 19, 1, None),
    (19, 21, 0, frozenset({7, 8})),
    (21, 22, 1, None),
    (22, 24, 3, None),
)
FLAT_RATE: Final = 2
"""Rate of every hour no period claims (平)."""

THEFT_SHARE: Final = 0.01
DEAD_SHARE: Final = 0.003
COMM_LOSS_SHARE: Final = 0.015
DRIFT_SHARE: Final = 0.02
TAMPER_EVENT_SHARE: Final = 0.6
DRIFT_EVENT_THRESHOLD_S: Final = 60.0
THEFT_KINDS: Final = ("partial_bypass", "meter_slowed", "reversed_wiring")
_FACTOR_RANGE: Final = ((0.30, 0.70), (0.60, 0.85), (0.30, 0.36))
_TAMPER_CODES: Final = (
    ("cover_open", "terminal_box_open"),
    ("magnetic_tamper", "cover_open"),
    ("terminal_box_open", "terminal_box_open"),
)


_RATE_OF_PERIOD: Final = {"sharp": 0, "peak": 1, "flat": 2, "valley": 3, "deep_valley": 3}
"""Register of each tariff TOU period: A+1 尖, A+2 峰, A+3 平, A+4 谷 (深谷 counts as 谷)."""


def _default_rates(month: int) -> IntArray:
    rate = np.full(24, FLAT_RATE)
    for first, end, which, months in TOU_PERIODS:
        if months is None or month in months:
            rate[first:end] = which
    return np.repeat(rate, 4).astype(np.int64)


@lru_cache(maxsize=512)
def rate_onehot(month: int, day_type: str, tariff_code: str) -> FloatArray:
    """Slot-to-rate matrix [-], shape (96, 4): energy @ onehot = rate-register energy.

    Meters are programmed with their tariff's TOU schedule (so the rate registers bill
    exactly); a tariff without one, and supply meters (``tariff_code`` ""), use the
    Zhejiang-like default of :data:`TOU_PERIODS`.
    """
    schedule = None
    if tariff_code:
        schedule = load_catalogue()[tariff_code].versions[-1].tou_schedule
    if schedule is None:
        slots = _default_rates(month)
    else:
        slots = np.array(
            [_RATE_OF_PERIOD[period_of(schedule, month, day_type, s)] for s in range(96)],
            dtype=np.int64,
        )
    onehot: FloatArray = np.eye(4)[slots]
    return onehot


@dataclass(frozen=True)
class FaultPlan:
    """Everything that goes wrong with each meter, by day index from the simulation start."""

    theft_kind: IntArray
    """Index into THEFT_KINDS, −1 for honest meters."""
    theft_start: IntArray
    theft_factor: FloatArray
    """Fraction of true energy the A+ register records once the theft starts [-]."""
    tamper_day: IntArray
    tamper_code: npt.NDArray[np.str_]
    dead_from: IntArray
    comm_loss_first: IntArray
    comm_loss_last: IntArray
    """Last day (inclusive) without communication."""
    drift_s_per_day: FloatArray
    drift_offset_s: FloatArray
    """Clock error at the start of the simulation [s]."""

    def forward_factor(self, day: int) -> FloatArray:
        """Fraction of true energy each meter adds to A+ on ``day`` [-]."""
        factor = np.where(day >= self.theft_start, self.theft_factor, 1.0)
        return np.where(day >= self.dead_from, 0.0, factor)

    def reverse_factor(self, day: int) -> FloatArray:
        """Fraction of true energy each meter adds to A− on ``day`` [-] (reversed phases)."""
        reversed_now = (self.theft_kind == 2) & (day >= self.theft_start) & (day < self.dead_from)
        return np.where(reversed_now, 1.0 - self.theft_factor, 0.0)

    def silent(self, day: int) -> BoolArray:
        """Meters that cannot be read on ``day``: dead or out of communication."""
        lost = (self.comm_loss_first <= day) & (day <= self.comm_loss_last)
        return lost | (day >= self.dead_from)

    def clock_offset_s(self, day: int) -> FloatArray:
        """Clock error at the end of ``day`` [s]; positive = meter runs fast."""
        return self.drift_offset_s + self.drift_s_per_day * (day + 1)


def _count(share: float, population: int) -> int:
    return min(population, max(1, round(share * population)))


def draw_faults(
    rng: np.random.Generator, meters: int, customers: int, three_phase: BoolArray, days: int
) -> FaultPlan:
    """Theft and death strike customer meters only; comm loss and drift strike any meter.

    ``three_phase`` marks the customer meters (C&I) whose wiring can be reversed.
    """
    last_day = max(1, days - 1)
    victims = rng.permutation(customers)
    thieves = victims[: _count(THEFT_SHARE, customers)]
    dead = victims[len(thieves) : len(thieves) + _count(DEAD_SHARE, customers)]

    kind = np.full(meters, -1, dtype=np.int64)
    reverse_wired = three_phase[thieves] & (rng.random(len(thieves)) < 0.4)
    kind[thieves] = np.where(reverse_wired, 2, (rng.random(len(thieves)) < 0.4).astype(np.int64))
    low, high = np.array(_FACTOR_RANGE).T
    factor = np.ones(meters)
    factor[thieves] = np.round(rng.uniform(low[kind[thieves]], high[kind[thieves]]), 3)
    theft_start = np.full(meters, NEVER, dtype=np.int64)
    theft_start[thieves] = rng.integers(1, last_day + 1, len(thieves))
    tamper_day = np.full(meters, NEVER, dtype=np.int64)
    tampered = thieves[rng.random(len(thieves)) < TAMPER_EVENT_SHARE]
    tamper_day[tampered] = np.maximum(0, theft_start[tampered] + rng.integers(-1, 2, len(tampered)))
    tamper_code = np.full(meters, "", dtype="<U20")
    tamper_code[tampered] = np.array(_TAMPER_CODES)[
        kind[tampered], rng.integers(0, 2, len(tampered))
    ]

    dead_from = np.full(meters, NEVER, dtype=np.int64)
    dead_from[dead] = rng.integers(1, last_day + 1, len(dead))

    alive = np.setdiff1d(np.arange(meters), dead)
    lost = rng.choice(alive, _count(COMM_LOSS_SHARE, meters), replace=False)
    first = np.full(meters, NEVER, dtype=np.int64)
    last = np.full(meters, -1, dtype=np.int64)
    first[lost] = rng.integers(0, last_day + 1, len(lost))
    last[lost] = first[lost] + rng.integers(2, 11, len(lost)) - 1

    drifting = rng.choice(meters, _count(DRIFT_SHARE, meters), replace=False)
    drift = np.zeros(meters)
    drift[drifting] = np.round(
        rng.choice([-1.0, 1.0], len(drifting)) * rng.uniform(3, 25, len(drifting)), 2
    )
    offset = np.zeros(meters)
    offset[drifting] = rng.uniform(-20, 20, len(drifting))
    return FaultPlan(
        theft_kind=kind,
        theft_start=theft_start,
        theft_factor=factor,
        tamper_day=tamper_day,
        tamper_code=tamper_code,
        dead_from=dead_from,
        comm_loss_first=first,
        comm_loss_last=last,
        drift_s_per_day=drift,
        drift_offset_s=offset,
    )
