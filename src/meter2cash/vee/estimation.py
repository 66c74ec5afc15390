"""Estimation of missing interval values — pure, vectorised over many series at once.

A batch is ``values`` [kWh per interval] of shape (points,) or (series, points) on one
regular grid of interval starts (:class:`Grid`), NaN where nothing was measured. A *gap* is
a run of NaN in one series; its *anchors* are the measured points just before and after it.
Every method returns an :class:`Estimate`: the values with the gaps it could fill, a method
label per point, what it used per gap (anchors, scale factors, register delta) and per
estimated day (the reference days and their weights). A method fills a gap whole or leaves
it NaN (label ``missing``). Estimates are never negative. Nothing here touches a database,
a file or an engine; loops run over methods and reference days, never over points.

Methods, by label:

- ``linear`` — :func:`estimate_linear`, a straight line between the anchors.
- ``like_day`` — :func:`estimate_like_day`, the weighted mean shape of like days (same day
  type, preferring the same weekday, nearby dates and similar temperature) scaled to join the
  data on both sides of the gap.
- ``register`` — :func:`estimate_register_anchored`, a known register delta spread over the
  missing intervals by the like-day shape, summing to the delta exactly.
- ``previous_day`` — :func:`estimate_previous_day`, the same interval of the last measured
  day (a baseline).
- ``nearest`` — the nearest measured value, used by :func:`estimate` only at the ends of a
  series that no other method can reach.

:func:`estimate` is the default: like-day for every gap it can fill (on the back-test it
beats linear interpolation at every gap length, even one missing interval), then the
fallbacks listed there. The choice and the like-day settings come from
``bench/vee_accuracy.py`` (figures in ``docs/vee.md``).

>>> import numpy as np, pandas as pd
>>> from zoneinfo import ZoneInfo
>>> ts = pd.date_range("2026-07-01", periods=6, freq="15min", tz="Asia/Shanghai")
>>> grid = make_grid(ts, ZoneInfo("Asia/Shanghai"))
>>> e = estimate(np.array([1.0, np.nan, np.nan, 4.0, np.nan, 2.0]), grid)
>>> e.values.tolist(), e.method.tolist()[:3]
([1.0, 2.0, 3.0, 4.0, 3.0, 2.0], ['actual', 'linear', 'linear'])
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from meter2cash.vee.gaps import (
    ACTUAL,
    LIKE_DAY,
    LINEAR,
    METHODS,
    MISSING,
    NEAREST,
    PREVIOUS_DAY,
    REGISTER,
    Estimate,
    Stage,
    all_gaps,
    as_2d,
    assemble,
    check_values,
    find_gaps,
)
from meter2cash.vee.grid import (
    DAY_TYPES,
    HOLIDAY,
    WEEKEND,
    WORKDAY,
    BoolArray,
    FloatArray,
    Grid,
    IntArray,
    StrArray,
    make_grid,
)
from meter2cash.vee.interpolation import fill_linear, fill_nearest
from meter2cash.vee.like_day import DEFAULT_SETTINGS, LikeDay, fill_like_day
from meter2cash.vee.previous_day import fill_previous_day
from meter2cash.vee.register_spread import RegisterSpans, fill_register

__all__ = [
    "ACTUAL",
    "DAY_TYPES",
    "HOLIDAY",
    "LIKE_DAY",
    "LINEAR",
    "LINEAR_UP_TO",
    "METHODS",
    "MISSING",
    "NEAREST",
    "PREVIOUS_DAY",
    "REGISTER",
    "WEEKEND",
    "WORKDAY",
    "BoolArray",
    "Estimate",
    "FloatArray",
    "Grid",
    "IntArray",
    "LikeDay",
    "RegisterSpans",
    "StrArray",
    "estimate",
    "estimate_like_day",
    "estimate_linear",
    "estimate_previous_day",
    "estimate_register_anchored",
    "make_grid",
]

LINEAR_UP_TO: Final = timedelta(0)
"""Gaps up to this long go to linear interpolation first in :func:`estimate`. Zero: on the
back-test like days beat a straight line at every length, even one missing interval
(``docs/vee.md``); linear stays the fallback where there are no like days."""


def estimate_linear(values: npt.ArrayLike, *, max_points: int | None = None) -> Estimate:
    """Linear interpolation between the measured points on both sides of each gap [kWh].

    Gaps longer than ``max_points`` [points] or open at an end of the series are left
    missing. Between two non-negative anchors the line is non-negative.
    """
    v, one = as_2d(values)
    check_values(v, None)
    gaps = find_gaps(np.isnan(v))
    return assemble(
        v, one, None, gaps, [(LINEAR, fill_linear(v, gaps, all_gaps(gaps), max_points))]
    )


def estimate_previous_day(values: npt.ArrayLike, grid: Grid, *, max_days: int = 28) -> Estimate:
    """Each missing interval copied from the same interval of the latest earlier day that was
    measured, up to ``max_days`` back [d] — the usual baseline. Gaps with no such day
    (at the start of a series) are left missing."""
    v, one = as_2d(values)
    check_values(v, grid)
    gaps = find_gaps(np.isnan(v))
    stage = fill_previous_day(v, grid, gaps, all_gaps(gaps), max_days)
    return assemble(v, one, grid, gaps, [(PREVIOUS_DAY, stage)])


def estimate_like_day(
    values: npt.ArrayLike,
    grid: Grid,
    *,
    temperature: npt.ArrayLike | None = None,
    settings: LikeDay = DEFAULT_SETTINGS,
) -> Estimate:
    """Like-day profile estimation, anchored to the data on both sides of each gap [kWh].

    For each local day with missing intervals, up to ``settings.reference_days`` measured
    days within ``settings.window_days`` are weighted by likeness — day type (workday,
    weekend, holiday; holidays and weekends count a little for each other), same weekday,
    closeness in time and, when ``temperature`` [°C, one per point] is given, daily mean
    temperature — and their weighted mean interval by interval is the *reference*. The
    reference is scaled so that it matches the measured energy over ``settings.anchor`` on
    each side of the gap (ratio of sums); the scale runs in a straight line from the left
    factor to the right one across the gap, so the estimate joins the data on both sides.
    A gap open at one end uses the other side's factor. Gaps with an interval that no
    reference day measured are left missing.

    This is the "comparable day" method of utility practice (e.g. the ERCOT / PJM
    customer-baseline "like day" methods and the estimation rules of Oracle Utilities MDM),
    here with a time-varying anchor scale.
    """
    v, one = as_2d(values)
    check_values(v, grid)
    gaps = find_gaps(np.isnan(v))
    t = None if temperature is None else np.asarray(temperature, dtype=np.float64)
    stage = fill_like_day(v, grid, gaps, all_gaps(gaps), t, settings)
    return assemble(v, one, grid, gaps, [(LIKE_DAY, stage)])


def estimate_register_anchored(
    values: npt.ArrayLike,
    grid: Grid,
    spans: RegisterSpans,
    *,
    temperature: npt.ArrayLike | None = None,
    settings: LikeDay = DEFAULT_SETTINGS,
    resolution: float = 1e-4,
) -> Estimate:
    """Spread each known register delta over the missing intervals of its span [kWh].

    What the span's measured intervals do not account for (delta − their sum) is shared out
    by the like-day estimate of the missing intervals (evenly if there is none), in units of
    ``resolution`` [kWh] by the largest-remainder method: the estimates plus the measured
    intervals add up to the delta exactly whenever the delta and the measured values are
    multiples of ``resolution`` (the store keeps kWh to 0.0001). A gap is filled only if it
    lies wholly inside one span, and a span is used only if every gap in it does and its
    remainder is not negative (a register that ran backwards or intervals that exceed it
    are a validation finding, not something to spread).
    """
    v, one = as_2d(values)
    check_values(v, grid)
    gaps = find_gaps(np.isnan(v))
    t = None if temperature is None else np.asarray(temperature, dtype=np.float64)
    stage = fill_register(v, grid, gaps, all_gaps(gaps), spans, t, settings, resolution)
    return assemble(v, one, grid, gaps, [(REGISTER, stage)])


def estimate(
    values: npt.ArrayLike,
    grid: Grid,
    *,
    temperature: npt.ArrayLike | None = None,
    spans: RegisterSpans | None = None,
    linear_up_to: timedelta = LINEAR_UP_TO,
    settings: LikeDay = DEFAULT_SETTINGS,
    max_days_back: int = 28,
    fill_from: int = 0,
) -> Estimate:
    """The default: each gap by the best method that can fill it whole.

    In order: ``register`` where a known delta covers the gap (``spans``); ``linear`` for
    gaps up to ``linear_up_to`` with data on both sides; ``like_day``; ``linear`` whatever
    the length (too little history for like days); ``previous_day``; ``nearest`` (a gap at
    an end of a short series). Only a series with no measured value at all stays missing.
    ``linear_up_to`` is zero by default: on the back-test (``docs/vee.md``) like-day beat
    linear from one missing interval up, on real transformer load and simulated meters.

    Gaps ending before position ``fill_from`` are history, used as it is and left missing
    (a job estimating one window reads the days before it for like days).
    """
    v, one = as_2d(values)
    check_values(v, grid)
    gaps = find_gaps(np.isnan(v))
    t = None if temperature is None else np.asarray(temperature, dtype=np.float64)
    stages: list[tuple[str, Stage]] = []
    todo = gaps.stop > fill_from

    def run(label: str, stage: Stage) -> None:
        stages.append((label, stage))
        todo[stage.gaps[stage.complete]] = False

    if spans is not None and len(spans.series):
        run(REGISTER, fill_register(v, grid, gaps, np.flatnonzero(todo), spans, t, settings, 1e-4))
    short = np.flatnonzero(todo & (gaps.length <= grid.points_in(linear_up_to)))
    run(LINEAR, fill_linear(v, gaps, short, None))
    run(LIKE_DAY, fill_like_day(v, grid, gaps, np.flatnonzero(todo), t, settings))
    run(LINEAR, fill_linear(v, gaps, np.flatnonzero(todo), None))
    run(PREVIOUS_DAY, fill_previous_day(v, grid, gaps, np.flatnonzero(todo), max_days_back))
    run(NEAREST, fill_nearest(v, gaps, np.flatnonzero(todo)))
    return assemble(v, one, grid, gaps, stages)
