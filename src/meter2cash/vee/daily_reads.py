"""Estimating missing daily register reads for billing — pure, vectorised over all series.

A batch is a matrix of daily freezes: one row per series (a meter's register channel), one
column per freeze (local midnight) in time order, values as the register shows them [kWh,
meter side], NaN where there is nothing to go on. The freeze in column ``j`` closes the
local day before it, so the step from column ``j − 1`` to ``j`` is that day's energy.

Methods, tried in this order for each missing read:

- ``interval_sum``: the last known read plus the meter's kWh intervals of the days between,
  where every one of those days is complete (intervals are meter-side, like the register);
  in a gap closed by a later read, only when the intervals agree with the register delta
  within the ``interval_vs_register`` tolerance.
- ``profile``: the delta between two reads spread over the gap by the series' mean daily use
  per day type (workday, weekend, holiday).
- ``linear``: the delta spread evenly per day, where the series has no usage history.
- ``usage_history``: past the last read (nothing later yet — the billing case), that read
  plus the expected use per day type, up to ``max_open_days`` after the last real read.

Reads are computed in store units (0.0001 kWh) as rounded cumulative shares of the delta, so
a gap's increments are never negative, stay between the reads around it and add up to the
delta exactly. A register with N integer digits wraps at 10^N: a delta across a rollover is
the wrap plus the later read less the earlier, and estimates past the wrap start again at 0.
Every cumulative register is estimated alike — A+ and its rate registers [kWh], A−, and the
reactive-energy register R+ [kvarh] (``interval_sum`` and the meter's running-mean prior
apply to A+ alone, so R+ goes by its own profile, else linear, else ``usage_history``). The
maximum-demand register (:data:`NOT_ESTIMATED`) is not cumulative and is never estimated:
billing takes the largest freeze there is and flags the bill when the closing one is missing.
Nothing here touches a database or a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from meter2cash.core.calendar import DAY_TYPES
from meter2cash.measurements.schema import DEMAND_REGISTER, REACTIVE_REGISTER

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

UNITS_PER_KWH: Final = 10_000
"""The store keeps register values to 0.0001 kWh."""
NOT_ESTIMATED: Final = (DEMAND_REGISTER,)
"""Register channels that are not cumulative energy (maximum demand [kW]): not estimated."""

ACTUAL: Final = "actual"
INTERVAL_SUM: Final = "interval_sum"
PROFILE: Final = "profile"
USAGE_HISTORY: Final = "usage_history"
LINEAR: Final = "linear"
MISSING: Final = "missing"
METHODS: Final = (ACTUAL, INTERVAL_SUM, PROFILE, USAGE_HISTORY, LINEAR, MISSING)
_INTERVAL_SUM, _PROFILE, _USAGE_HISTORY, _LINEAR, _MISSING = 1, 2, 3, 4, 5

REASONS: Final = (
    "",
    "no read before it",
    "no read after it and no usage history",
    "more than {max_open_days} days after the last real read",
    "the reads around it decrease",
)
"""Why a read was left ``missing`` (format with the limits' fields)."""
_NO_READ_BEFORE, _NO_HISTORY, _TOO_FAR, _DECREASE = 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class DailyReadLimits:
    """How far estimation of daily reads may go."""

    max_open_days: int = 7
    """Days after the last real read that ``usage_history`` may fill [days]; later reads
    wait for a person."""
    min_history_days: int = 3
    """Measured days a series needs before its own usage counts as history [days]."""
    interval_tolerance_kwh: float = 0.05
    """Intervals may miss a gap's register delta by max(this, share × delta) [kWh]."""
    interval_tolerance_share: float = 0.005
    """… or by this share of the delta [-] (as the ``interval_vs_register`` rule)."""


LIMITS: Final = DailyReadLimits()


@dataclass(frozen=True, slots=True)
class DailyReadEstimates:
    """One row per read that was asked for (NaN in the input), in row-major order."""

    series: IntArray
    column: IntArray
    value: FloatArray
    """The estimate [kWh, as the register shows it, 4 decimals]; NaN when ``missing``."""
    method: npt.NDArray[np.int8]
    """Index into :data:`METHODS`."""
    reason: npt.NDArray[np.int8]
    """Index into :data:`REASONS` (0 unless ``missing``)."""
    before: IntArray
    """Column of the read the estimate starts from (−1: none)."""
    after: IntArray
    """Column of the later read that closes the gap (−1: none)."""
    added_kwh: FloatArray
    """Energy from the read ``before`` to the estimate [kWh]."""

    def method_names(self) -> npt.NDArray[np.str_]:
        return np.asarray(METHODS)[self.method]


def unit_of(channel: str) -> str:
    """The unit of a cumulative register channel's values: kvarh for R+, else kWh."""
    return "kvarh" if channel == REACTIVE_REGISTER else "kWh"


def register_steps(values: FloatArray, wrap: FloatArray) -> FloatArray:
    """Energy between consecutive freezes [kWh], shape (series, freezes − 1): later minus
    earlier, plus ``wrap`` [kWh, 10^digits; inf when unknown] where the register fell by at
    least half its range (a rollover). NaN where either read is missing; a fall short of
    that stays negative (a decrease)."""
    steps = np.diff(values, axis=1)
    return np.where(steps <= -wrap[:, None] / 2, steps + wrap[:, None], steps)


def falls(values: FloatArray, wrap: FloatArray) -> BoolArray:
    """True where a read is below the last earlier read of its series and not a rollover
    (``wrap`` as in :func:`register_steps`)."""
    last = _last_at_or_before(~np.isnan(values))
    previous = np.full(values.shape, -1, dtype=np.int64)
    previous[:, 1:] = last[:, :-1]
    rows = np.arange(values.shape[0])[:, None]
    earlier = np.where(previous >= 0, values[rows, np.maximum(previous, 0)], np.nan)
    fall = earlier - values
    with np.errstate(invalid="ignore"):
        falling: BoolArray = (fall > 0) & (fall < wrap[:, None] / 2)
    return falling


def usage_by_day_type(
    values: FloatArray,
    wrap: FloatArray,
    day_type: IntArray,
    *,
    prior: FloatArray | None = None,
    limits: DailyReadLimits = LIMITS,
) -> FloatArray:
    """Mean daily use per day type [kWh/day], shape (series, 3), from the steps between
    consecutive real reads in ``values`` (rollovers unwrapped, falls left out).

    A day type the series has no measured day of takes the mean of all its days. A series
    with fewer than ``limits.min_history_days`` measured days takes ``prior`` [kWh/day per
    series, e.g. the meter's running mean from ``vee/history.py``; NaN: none] for every type.
    """
    steps = register_steps(values, wrap)
    with np.errstate(invalid="ignore"):
        measured = np.isfinite(steps) & (steps >= 0)
    used = np.where(measured, steps, 0.0)
    days = measured.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        overall = used.sum(axis=1) / days
        out = np.empty((values.shape[0], len(DAY_TYPES)))
        for t in range(len(DAY_TYPES)):
            of_type = measured & (day_type[1:] == t)[None, :]
            n = of_type.sum(axis=1)
            out[:, t] = np.where(n > 0, np.where(of_type, used, 0.0).sum(axis=1) / n, overall)
    fallback = np.full(values.shape[0], np.nan) if prior is None else prior
    return np.where((days >= limits.min_history_days)[:, None], out, fallback[:, None])


def estimate_daily_reads(
    values: FloatArray,
    wrap: FloatArray,
    day_type: IntArray,
    usage: FloatArray,
    *,
    real: BoolArray | None = None,
    interval_kwh: FloatArray | None = None,
    limits: DailyReadLimits = LIMITS,
) -> DailyReadEstimates:
    """Estimate every NaN of ``values`` (series, freezes) [kWh] that can be.

    ``wrap`` [kWh, per series]: 10^register digits, inf when unknown. ``day_type`` (freezes,):
    the type of the day each freeze closes, an index into
    :data:`~meter2cash.core.calendar.DAY_TYPES` (workday, weekend, holiday). ``usage`` (series, 3):
    expected daily use per day type [kWh/day] (:func:`usage_by_day_type`), NaN unknown.
    ``real`` marks reads the meter or a person gave (default: every known value); other known
    values are earlier estimates, which anchor like reads but do not restart the
    ``max_open_days`` count. ``interval_kwh`` (series, freezes): the energy of the day each
    freeze closes from that day's complete intervals [kWh, meter side], NaN where incomplete.

    >>> est = estimate_daily_reads(
    ...     np.array([[100.0, np.nan, np.nan, 130.0]]), np.array([1e6]),
    ...     np.zeros(4, dtype=np.int64), np.full((1, 3), np.nan))
    >>> est.value.tolist(), est.method_names().tolist()
    ([110.0, 120.0], ['linear', 'linear'])
    """
    busy = np.flatnonzero(np.isnan(values).any(axis=1))  # only rows with a gap cost anything
    values, wrap, usage = values[busy], wrap[busy], usage[busy]
    n_cols = values.shape[1]
    known = ~np.isnan(values)
    real = known if real is None else real[busy] & known
    interval_kwh = np.full(values.shape, np.nan) if interval_kwh is None else interval_kwh[busy]
    cells = np.nonzero(~known)
    s, j = cells[0].astype(np.int64), cells[1].astype(np.int64)

    last_known, next_known = _last_at_or_before(known), _first_at_or_after(known)
    last_real = _last_at_or_before(real)
    b, a = last_known[s, j], next_known[s, j]
    has_b, closed = b >= 0, (a < n_cols) & (b >= 0)
    b0, a0 = np.maximum(b, 0), np.where(a < n_cols, a, 0)

    units = np.floor(values * UNITS_PER_KWH + 0.5)
    wrap_units = wrap * UNITS_PER_KWH
    start = units[s, b0]
    delta = units[s, a0] - start
    delta = np.where(delta <= -wrap_units[s] / 2, delta + wrap_units[s], delta)
    rising = closed & (delta >= 0)

    # cumulative weights along each row; a gap's share is a difference of two of them
    weights = usage[:, day_type] * UNITS_PER_KWH
    cum_usage = np.cumsum(np.where(np.isnan(weights), 0.0, weights), axis=1)
    usage_known = ~np.isnan(weights)
    n_usage = np.cumsum(usage_known, axis=1)
    with np.errstate(invalid="ignore"):
        complete = np.isfinite(interval_kwh) & (interval_kwh >= 0)
    cum_interval = np.cumsum(
        np.floor(np.where(complete, interval_kwh, 0.0) * UNITS_PER_KWH + 0.5), axis=1
    )
    n_complete = np.cumsum(complete, axis=1)
    first_incomplete = _first_at_or_after(~complete)

    method = np.full(len(s), _MISSING, dtype=np.int8)
    reason = np.zeros(len(s), dtype=np.int8)
    added = np.full(len(s), np.nan)

    # a gap between two reads
    done_to_a: BoolArray = (n_complete[s, a0] - n_complete[s, b0]) == (a0 - b0)
    interval_total = cum_interval[s, a0] - cum_interval[s, b0]
    allowed = np.maximum(
        limits.interval_tolerance_kwh * UNITS_PER_KWH, limits.interval_tolerance_share * delta
    )
    by_intervals = rising & done_to_a & (np.abs(interval_total - delta) <= allowed)
    to_j = cum_interval[s, j] - cum_interval[s, b0]
    added = np.where(by_intervals, np.minimum(to_j, delta), added)
    method[by_intervals] = _INTERVAL_SUM

    usage_span = cum_usage[s, a0] - cum_usage[s, b0]
    usage_whole = (n_usage[s, a0] - n_usage[s, b0]) == (a0 - b0)
    by_profile = rising & ~by_intervals & usage_whole & (usage_span > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = (cum_usage[s, j] - cum_usage[s, b0]) / usage_span
        added = np.where(by_profile, np.floor(delta * share + 0.5), added)
    method[by_profile] = _PROFILE

    by_line = rising & ~by_intervals & ~by_profile
    line = np.floor(delta * ((j - b0) / np.maximum(a0 - b0, 1)) + 0.5)
    added = np.where(by_line, line, added)
    method[by_line] = _LINEAR
    reason[closed & ~rising] = _DECREASE

    # past the last read: intervals while every day is complete, then expected use
    open_end = has_b & ~closed
    next_incomplete = first_incomplete[s, np.minimum(b0 + 1, n_cols - 1)]
    prefix_end = np.maximum(np.minimum(j, next_incomplete - 1), b0)
    by_prefix = open_end & (prefix_end == j)
    prefix_units = cum_interval[s, prefix_end] - cum_interval[s, b0]
    added = np.where(by_prefix, prefix_units, added)
    method[by_prefix] = _INTERVAL_SUM

    from_real = j - last_real[s, j]
    expected_whole = (n_usage[s, j] - n_usage[s, prefix_end]) == (j - prefix_end)
    beyond = open_end & ~by_prefix
    by_usage = beyond & expected_whole & (last_real[s, j] >= 0)
    by_usage &= from_real <= limits.max_open_days
    expected = np.floor(cum_usage[s, j] - cum_usage[s, prefix_end] + 0.5)
    added = np.where(by_usage, prefix_units + expected, added)
    method[by_usage] = _USAGE_HISTORY
    reason[beyond & ~by_usage] = np.where(expected_whole[beyond & ~by_usage], _TOO_FAR, _NO_HISTORY)
    reason[~has_b] = _NO_READ_BEFORE

    filled = method != _MISSING
    reading = np.where(filled, start + np.where(filled, added, 0.0), np.nan)
    reading = np.mod(reading, wrap_units[s])
    return DailyReadEstimates(
        series=busy[s],
        column=j,
        value=np.round(reading / UNITS_PER_KWH, 4),
        method=method,
        reason=reason,
        before=np.where(has_b, b, -1),
        after=np.where(a < n_cols, a, -1),
        added_kwh=np.where(filled, added / UNITS_PER_KWH, np.nan),
    )


def stale_estimates(real: BoolArray, estimated: BoolArray, open_end: BoolArray) -> BoolArray:
    """Estimates to redo, shape (series, freezes): those in a gap that a later real read
    closes and that still holds a missing read (neither ``real`` nor ``estimated``) or an
    estimate made past the last read (``open_end``), which that read may contradict."""
    n_cols = real.shape[1]
    rows = np.arange(real.shape[0])[:, None]
    unsettled = np.cumsum(~real & (~estimated | open_end), axis=1)
    before, after = _last_at_or_before(real), _first_at_or_after(real)
    upto_before = np.where(before >= 0, unsettled[rows, np.maximum(before, 0)], 0)
    upto_after = unsettled[rows, np.minimum(after, n_cols - 1)]
    stale: BoolArray = estimated & ~real & (after < n_cols) & (upto_after > upto_before)
    return stale


def _last_at_or_before(mask: BoolArray) -> IntArray:
    """Per cell, the column of the last True at or before it in its row (−1: none)."""
    columns = np.arange(mask.shape[1])
    found: IntArray = np.maximum.accumulate(np.where(mask, columns, -1), axis=1)
    return found


def _first_at_or_after(mask: BoolArray) -> IntArray:
    """Per cell, the column of the first True at or after it in its row (columns: none)."""
    columns = np.arange(mask.shape[1])
    flipped = np.where(mask, columns, mask.shape[1])[:, ::-1]
    found: IntArray = np.minimum.accumulate(flipped, axis=1)[:, ::-1]
    return found
