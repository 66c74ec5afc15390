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

import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from meter2cash.core.errors import InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]

ACTUAL: Final = "actual"
LINEAR: Final = "linear"
LIKE_DAY: Final = "like_day"
REGISTER: Final = "register"
PREVIOUS_DAY: Final = "previous_day"
NEAREST: Final = "nearest"
MISSING: Final = "missing"
METHODS: Final = (ACTUAL, LINEAR, LIKE_DAY, REGISTER, PREVIOUS_DAY, NEAREST, MISSING)

LINEAR_UP_TO: Final = timedelta(0)
"""Gaps up to this long go to linear interpolation first in :func:`estimate`. Zero: on the
back-test like days beat a straight line at every length, even one missing interval
(``docs/vee.md``); linear stays the fallback where there are no like days."""

WORKDAY, WEEKEND, HOLIDAY = 0, 1, 2
DAY_TYPES: Final = ("workday", "weekend", "holiday")

# How alike two day types are as references (rows: the day estimated, columns: the reference).
_DAY_TYPE_LIKENESS: Final = np.array(
    [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.3],
        [0.0, 0.3, 1.0],
    ]
)
_GAP_COLUMNS: Final = (
    "series",
    "start",
    "stop",
    "points",
    "method",
    "left_anchor",
    "right_anchor",
    "left_scale",
    "right_scale",
    "delta_kwh",
)
_REFERENCE_COLUMNS: Final = ("series", "day", "reference_day", "weight")


# Grid --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Grid:
    """Where each point of a regular series falls in the local calendar."""

    step: timedelta
    first_day: date
    day: IntArray
    """Local day of each point, 0 = ``first_day``."""
    slot: IntArray
    """Interval of the local day of each point, 0 … points_per_day − 1 (wall clock)."""
    day_type: IntArray
    """Per local day: 0 workday, 1 weekend, 2 holiday (:data:`DAY_TYPES`)."""
    weekday: IntArray
    """Per local day: Monday 0 … Sunday 6."""

    @property
    def points(self) -> int:
        return len(self.day)

    @property
    def days(self) -> int:
        return len(self.day_type)

    @property
    def points_per_day(self) -> int:
        return timedelta(days=1) // self.step

    def points_in(self, span: timedelta) -> int:
        """How many whole intervals ``span`` holds [points]."""
        return span // self.step

    def dates(self, days: IntArray) -> npt.NDArray[np.datetime64]:
        """Local dates of day indices."""
        return np.datetime64(self.first_day, "D") + days.astype("timedelta64[D]")


def make_grid(
    ts: pd.DatetimeIndex | Sequence[datetime],
    tz: ZoneInfo,
    *,
    holidays: Collection[date] = (),
    workdays: Collection[date] = (),
) -> Grid:
    """The local calendar of interval starts ``ts`` (time-zone aware, regular, increasing).

    ``tz`` is the utility's zone: it decides local days and wall-clock slots. ``holidays``
    are local dates of public holidays; ``workdays`` are weekend days worked instead
    (调休上班). Naive, unsorted, duplicated or irregular stamps raise :class:`InputError`;
    the interval must divide a day.
    """
    index = pd.DatetimeIndex(ts)
    if index.tz is None:
        raise InputError("naive timestamps in the series", "give every timestamp a UTC offset")
    if len(index) < 2:
        raise InputError("a series needs at least two timestamps to have an interval")
    steps = np.diff(index.as_unit("ns").asi8)
    step_ns = int(steps[0])
    if step_ns <= 0 or bool((steps != step_ns).any()):
        bad = int(np.flatnonzero(steps != step_ns)[0]) + 1 if step_ns > 0 else 1
        raise InputError(
            f"timestamps are not regular and increasing at point {bad}",
            "give one row per interval, in order",
        )
    step = pd.Timedelta(step_ns, unit="ns").to_pytimedelta()
    if step > timedelta(days=1) or timedelta(days=1) % step:
        raise InputError(f"an interval of {step} does not divide a day", "use e.g. 15 min or 1 h")
    wall = index.tz_convert(tz).tz_localize(None)
    midnight = wall.normalize()
    first = midnight[0]
    day = np.asarray((midnight - first).days, dtype=np.int64)
    slot = np.asarray((wall - midnight) // pd.Timedelta(step), dtype=np.int64)
    days = int(day[-1]) + 1
    first_day = first.date()
    dates = np.datetime64(first_day, "D") + np.arange(days).astype("timedelta64[D]")
    weekday = (first_day.weekday() + np.arange(days, dtype=np.int64)) % 7
    day_type = np.where(weekday >= 5, WEEKEND, WORKDAY).astype(np.int64)
    day_type[np.isin(dates, _days64(workdays))] = WORKDAY
    day_type[np.isin(dates, _days64(holidays))] = HOLIDAY
    return Grid(step, first_day, day, slot, day_type, weekday)


def _days64(days: Collection[date]) -> npt.NDArray[np.datetime64]:
    return np.array(sorted(days), dtype="datetime64[D]")


# Results -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LikeDay:
    """Settings of the like-day method; defaults tuned by ``bench/vee_accuracy.py``."""

    window_days: int = 35
    """Reference days are looked for up to this many days before and after [d]."""
    reference_days: int = 14
    """At most this many reference days, the highest weighted, per estimated day."""
    other_weekday_weight: float = 0.5
    """Weight of a day of the same type but another weekday, relative to the same weekday [-]."""
    other_day_type_weight: float | None = None
    """Weight of a workday as reference for a weekend or holiday day and the other way round
    [-]; None: learned per series (see ``day_type_contrast``)."""
    day_type_contrast: float = 0.3
    """Learned weight = exp(−(D / V / this)²), D = mean |workday − weekend profile|, V = mean
    |day − the day before|, both over the series' own data: a series whose weekends look
    like its workdays takes both as references [-]."""
    decay_days: float = 7.0
    """Weight falls by e per this many days between a day and its reference [d]."""
    temperature_scale_c: float = 3.0
    """Weight falls as exp(−½ (ΔT / this)²) with the daily mean temperature difference [°C]."""
    anchor: timedelta = timedelta(hours=2)
    """Measured time on each side of a gap to which the shape is scaled."""
    anchor_decay: timedelta | None = timedelta(hours=24)
    """Each side's scale fades towards 1 (the like days' own level) by e per this distance
    into the gap, so an odd hour at a gap's edge does not bend a week; None: a straight
    line from one side's scale to the other's."""
    max_scale: float = 5.0
    """A scale factor is capped here, so a near-zero reference cannot blow up [-]."""
    min_coverage: float = 0.5
    """A reference day needs at least this share of its intervals measured [-]."""


@dataclass(frozen=True, slots=True)
class RegisterSpans:
    """Known register deltas: in series ``series`` the intervals ``start`` … ``stop`` − 1
    (positions, half-open) together used ``delta_kwh`` [kWh] (e.g. the difference of two
    daily freezes times the multiplier)."""

    series: IntArray
    start: IntArray
    stop: IntArray
    delta_kwh: FloatArray

    @classmethod
    def of(cls, rows: Sequence[tuple[int, int, int, float]]) -> RegisterSpans:
        """From (series, start, stop, delta_kwh) rows."""
        table = np.array(rows, dtype=np.float64).reshape(-1, 4)
        return cls(
            table[:, 0].astype(np.int64),
            table[:, 1].astype(np.int64),
            table[:, 2].astype(np.int64),
            table[:, 3],
        )


@dataclass(frozen=True, slots=True)
class Estimate:
    """Values with gaps filled, a method label per point, and each method's inputs.

    ``gaps`` has one row per gap: series, start, stop (positions, half-open), points, method,
    left_anchor / right_anchor (positions of the measured neighbours used, −1 if none),
    left_scale / right_scale (like-day factors at each side [-]), delta_kwh (register delta
    spread over the gap's span [kWh]). ``reference_days`` has one row per estimated day and
    reference day used by ``like_day``, ``register`` or ``previous_day``: series, day,
    reference_day, weight (normalised per day [-]).
    """

    values: FloatArray
    method: StrArray
    gaps: pd.DataFrame = field(repr=False)
    reference_days: pd.DataFrame = field(repr=False)


# Gaps ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Gaps:
    series: IntArray
    start: IntArray
    stop: IntArray

    @property
    def length(self) -> IntArray:
        return self.stop - self.start

    def points(self, idx: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """For the gaps ``idx``: each point's owner (index into ``idx``), series, position."""
        length = self.length[idx]
        owner = np.repeat(np.arange(len(idx), dtype=np.int64), length)
        offset = np.arange(int(length.sum()), dtype=np.int64) - np.repeat(
            np.cumsum(length) - length, length
        )
        return owner, self.series[idx][owner], self.start[idx][owner] + offset


def _find_gaps(missing: BoolArray) -> _Gaps:
    padded = np.zeros((missing.shape[0], missing.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = missing
    edge = np.diff(padded, axis=1)
    series, start = np.nonzero(edge == 1)
    _, stop = np.nonzero(edge == -1)
    return _Gaps(series.astype(np.int64), start.astype(np.int64), stop.astype(np.int64))


@dataclass(slots=True)
class _Stage:
    """What one method made of some gaps: values per point (in gap order), which gaps it
    filled whole, and per-gap inputs."""

    gaps: IntArray
    values: FloatArray
    complete: BoolArray
    columns: dict[str, npt.NDArray[np.float64] | IntArray]
    references: pd.DataFrame | None = None


def _empty(idx: IntArray) -> _Stage:
    return _Stage(idx, np.zeros(0), np.zeros(0, dtype=np.bool_), {})


def _complete(owner: IntArray, values: FloatArray, count: int) -> BoolArray:
    bad = np.bincount(owner[~np.isfinite(values)], minlength=count)
    result: BoolArray = bad == 0
    return result


def _anchors(v: FloatArray, gaps: _Gaps, idx: IntArray) -> tuple[IntArray, IntArray]:
    n = v.shape[1]
    left = gaps.start[idx] - 1
    right = gaps.stop[idx].copy()
    left[left < 0] = -1
    right[right >= n] = -1
    return left, right


# Linear ---------------------------------------------------------------------------------------
def _linear(v: FloatArray, gaps: _Gaps, idx: IntArray, max_points: int | None) -> _Stage:
    if not len(idx):
        return _empty(idx)
    owner, _, pos = gaps.points(idx)
    left, right = _anchors(v, gaps, idx)
    usable = (left >= 0) & (right >= 0)
    if max_points is not None:
        usable &= gaps.length[idx] <= max_points
    lv = v[gaps.series[idx], np.maximum(left, 0)]
    rv = v[gaps.series[idx], np.maximum(right, 0)]
    share = (pos - left[owner]) / (gaps.length[idx][owner] + 1)
    values = lv[owner] + (rv[owner] - lv[owner]) * share
    values[~usable[owner]] = np.nan
    return _Stage(
        idx,
        np.maximum(values, 0.0),
        _complete(owner, values, len(idx)),
        {"left_anchor": left, "right_anchor": right},
    )


def _nearest(v: FloatArray, gaps: _Gaps, idx: IntArray) -> _Stage:
    if not len(idx):
        return _empty(idx)
    owner, _, _ = gaps.points(idx)
    left, right = _anchors(v, gaps, idx)
    row = gaps.series[idx]
    side = np.where(left >= 0, left, right)
    near = np.where(side >= 0, v[row, np.maximum(side, 0)], np.nan)
    values = np.maximum(near[owner], 0.0)
    return _Stage(
        idx,
        values,
        _complete(owner, values, len(idx)),
        {
            "left_anchor": np.where(left >= 0, left, -1),
            "right_anchor": np.where(left >= 0, -1, right),
        },
    )


# Previous day ---------------------------------------------------------------------------------
def _previous_day(v: FloatArray, grid: Grid, gaps: _Gaps, idx: IntArray, max_days: int) -> _Stage:
    if not len(idx):
        return _empty(idx)
    owner, series, pos = gaps.points(idx)
    per_day = grid.points_per_day
    values = np.full(len(pos), np.nan)
    back = np.zeros(len(pos), dtype=np.int64)
    for k in range(1, max_days + 1):
        todo = np.isnan(values)
        if not todo.any():
            break
        source = pos - k * per_day
        ok = todo & (source >= 0)
        ok[ok] = np.isfinite(v[series[ok], source[ok]])
        values[ok] = v[series[ok], source[ok]]
        back[ok] = k
    values = np.maximum(values, 0.0)
    found = back > 0
    day = grid.day[pos[found]]
    ref_day = grid.day[pos[found] - back[found] * per_day]
    refs = _reference_rows(grid, series[found], day, ref_day, np.ones(int(found.sum())))
    return _Stage(
        idx,
        values,
        _complete(owner, values, len(idx)),
        {"left_anchor": np.full(len(idx), -1), "right_anchor": np.full(len(idx), -1)},
        refs,
    )


def _reference_rows(
    grid: Grid, series: IntArray, day: IntArray, ref_day: IntArray, weight: FloatArray
) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "series": series,
            "day": grid.dates(day),
            "reference_day": grid.dates(ref_day),
            "weight": weight,
        }
    ).drop_duplicates(["series", "day", "reference_day"])
    return frame.sort_values(["series", "day", "reference_day"], ignore_index=True)


# Like day -------------------------------------------------------------------------------------
def _daily_temperature(temperature: FloatArray | None, grid: Grid) -> FloatArray | None:
    if temperature is None:
        return None
    t = np.asarray(temperature, dtype=np.float64)
    if t.shape != (grid.points,):
        raise InputError(
            f"temperature has {t.size} points, the series {grid.points}",
            "give one temperature per interval (blank where unknown)",
        )
    known = np.isfinite(t)
    total = np.bincount(grid.day[known], weights=t[known], minlength=grid.days)
    count = np.bincount(grid.day[known], minlength=grid.days)
    with np.errstate(invalid="ignore", divide="ignore"):
        daily: FloatArray = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return daily


def _other_type_weight(matrix: FloatArray, grid: Grid, opts: LikeDay) -> FloatArray:
    """Per series: how much a day of another type may serve as reference [-]."""
    if opts.other_day_type_weight is not None:
        return np.full(matrix.shape[0], opts.other_day_type_weight)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        workday = np.nanmean(matrix[:, grid.day_type == WORKDAY], axis=1)
        other = np.nanmean(matrix[:, grid.day_type != WORKDAY], axis=1)
        level = np.nanmean(workday, axis=1)
        contrast = np.nanmean(np.abs(workday - other), axis=1) / level
        change = np.nanmean(np.abs(np.diff(matrix, axis=1)), axis=(1, 2)) / level
        weight = np.exp(-((contrast / change / opts.day_type_contrast) ** 2))
    result: FloatArray = np.where(np.isfinite(weight), weight, 0.0)
    return result


def _day_weights(
    grid: Grid,
    days: IntArray,
    other_type: FloatArray,
    daily_t: FloatArray | None,
    opts: LikeDay,
) -> tuple[IntArray, FloatArray]:
    """Candidate reference days (days, candidates) and their weights, before data checks;
    ``other_type`` is the weight of a day of another type, per row of ``days``."""
    offsets = np.concatenate(
        [np.arange(-opts.window_days, 0), np.arange(1, opts.window_days + 1)]
    ).astype(np.int64)
    candidate = days[:, None] + offsets[None, :]
    inside = (candidate >= 0) & (candidate < grid.days)
    c = np.clip(candidate, 0, grid.days - 1)
    weight = np.maximum(
        _DAY_TYPE_LIKENESS[grid.day_type[days][:, None], grid.day_type[c]],
        other_type[:, None],
    )
    weight = weight * np.where(
        grid.weekday[days][:, None] == grid.weekday[c], 1.0, opts.other_weekday_weight
    )
    weight = weight * np.exp(-np.abs(offsets)[None, :] / opts.decay_days)
    if daily_t is not None:
        dt = daily_t[days][:, None] - daily_t[c]
        similar = np.exp(-0.5 * (dt / opts.temperature_scale_c) ** 2)
        weight = weight * np.where(np.isfinite(similar), similar, 1.0)
    return c, np.where(inside, weight, 0.0)


def _like_day_reference(
    v: FloatArray,
    grid: Grid,
    needed_series: IntArray,
    needed_pos: IntArray,
    daily_t: FloatArray | None,
    opts: LikeDay,
) -> tuple[FloatArray, pd.DataFrame]:
    """The reference value at each needed point (NaN where no like day has it), and the
    reference days used per (series, day)."""
    n_series = v.shape[0]
    per_day = grid.points_per_day
    matrix = np.full((n_series, grid.days, per_day), np.nan)
    matrix[:, grid.day, grid.slot] = v
    coverage = np.isfinite(matrix).mean(axis=2)
    pair_key = np.unique(needed_series * grid.days + grid.day[needed_pos])
    pair_series, pair_day = np.divmod(pair_key, grid.days)
    other_type = _other_type_weight(matrix, grid, opts)[pair_series]
    candidates, weight = _day_weights(grid, pair_day, other_type, daily_t, opts)
    weight = weight * (coverage[pair_series[:, None], candidates] >= opts.min_coverage)
    keep = min(opts.reference_days, weight.shape[1])
    best = np.argsort(-weight, axis=1, kind="stable")[:, :keep]
    chosen = np.take_along_axis(candidates, best, axis=1)
    chosen_w = np.take_along_axis(weight, best, axis=1)
    # A day weighing less than a thousandth of the best one says nothing; leave it out.
    chosen_w = np.where(chosen_w >= 1e-3 * chosen_w[:, :1], chosen_w, 0.0)
    shapes = matrix[pair_series[:, None], chosen]  # (pairs, keep, per_day)
    w = chosen_w[:, :, None] * np.isfinite(shapes)
    total_w = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        reference = np.where(
            total_w > 0, np.nansum(np.nan_to_num(shapes) * w, axis=1) / total_w, np.nan
        )
    row = np.searchsorted(pair_key, needed_series * grid.days + grid.day[needed_pos])
    at_points: FloatArray = reference[row, grid.slot[needed_pos]]
    used = chosen_w > 0
    norm = chosen_w / np.maximum(chosen_w.sum(axis=1, keepdims=True), 1e-300)
    refs = _reference_rows(
        grid,
        np.broadcast_to(pair_series[:, None], used.shape)[used],
        np.broadcast_to(pair_day[:, None], used.shape)[used],
        chosen[used],
        norm[used],
    )
    return at_points, refs


def _like_day(
    v: FloatArray,
    grid: Grid,
    gaps: _Gaps,
    idx: IntArray,
    temperature: FloatArray | None,
    opts: LikeDay,
) -> _Stage:
    if not len(idx):
        return _empty(idx)
    n = v.shape[1]
    owner, series, pos = gaps.points(idx)
    g_series = gaps.series[idx]
    width = np.full(len(idx), max(1, grid.points_in(opts.anchor)), dtype=np.int64)
    # Anchor windows: ``width`` points on each side of every gap.
    w_owner = np.repeat(np.arange(len(idx), dtype=np.int64), width)
    w_step = (
        1 + np.arange(int(width.sum()), dtype=np.int64) - np.repeat(np.cumsum(width) - width, width)
    )
    win_series = np.concatenate([g_series[w_owner], g_series[w_owner]])
    win_pos = np.concatenate(
        [gaps.start[idx][w_owner] - w_step, gaps.stop[idx][w_owner] - 1 + w_step]
    )
    inside = (win_pos >= 0) & (win_pos < n)
    win_pos, win_series = win_pos[inside], win_series[inside]
    measured = np.isfinite(v[win_series, win_pos])
    win_pos, win_series = win_pos[measured], win_series[measured]

    needed_series = np.concatenate([series, win_series])
    needed_pos = np.concatenate([pos, win_pos])
    daily_t = _daily_temperature(temperature, grid)
    reference, refs = _like_day_reference(v, grid, needed_series, needed_pos, daily_t, opts)
    gap_ref = reference[: len(pos)]
    win_ref = reference[len(pos) :]

    # Measured and reference sums in each anchor window, from cumulative sums per series.
    actual_on = np.zeros_like(v)
    ref_on = np.zeros_like(v)
    ok = np.isfinite(win_ref)
    actual_on[win_series[ok], win_pos[ok]] = v[win_series[ok], win_pos[ok]]
    ref_on[win_series[ok], win_pos[ok]] = win_ref[ok]
    cum_a = np.concatenate([np.zeros((v.shape[0], 1)), np.cumsum(actual_on, axis=1)], axis=1)
    cum_r = np.concatenate([np.zeros((v.shape[0], 1)), np.cumsum(ref_on, axis=1)], axis=1)
    lo = np.maximum(gaps.start[idx] - width, 0)
    hi = np.minimum(gaps.stop[idx] + width, n)
    left_scale = _scale(
        cum_a[g_series, gaps.start[idx]] - cum_a[g_series, lo],
        cum_r[g_series, gaps.start[idx]] - cum_r[g_series, lo],
        opts.max_scale,
    )
    right_scale = _scale(
        cum_a[g_series, hi] - cum_a[g_series, gaps.stop[idx]],
        cum_r[g_series, hi] - cum_r[g_series, gaps.stop[idx]],
        opts.max_scale,
    )
    left_scale = np.where(np.isnan(left_scale), right_scale, left_scale)
    right_scale = np.where(np.isnan(right_scale), left_scale, right_scale)
    left_scale = np.where(np.isnan(left_scale), 1.0, left_scale)
    right_scale = np.where(np.isnan(right_scale), 1.0, right_scale)
    # The scale runs in a straight line from one anchor to the other, so the estimate joins
    # the measured level on both sides.
    from_left = pos - (gaps.start[idx][owner] - 1)
    share = from_left / (gaps.length[idx][owner] + 1)
    pull_left = (left_scale[owner] - 1) * (1 - share)
    pull_right = (right_scale[owner] - 1) * share
    if opts.anchor_decay is not None:
        fade = max(grid.points_in(opts.anchor_decay), 1)
        pull_left *= np.exp(-(from_left - 1) / fade)
        pull_right *= np.exp(-(gaps.stop[idx][owner] - pos - 1) / fade)
    scale = 1 + pull_left + pull_right
    values = gap_ref * scale
    values = np.maximum(values, 0.0)
    left, right = _anchors(v, gaps, idx)
    complete = _complete(owner, values, len(idx))
    estimated_days = pd.DataFrame(
        {"series": series, "day": grid.dates(grid.day[pos])}
    ).drop_duplicates()
    refs = refs.merge(estimated_days, on=["series", "day"])
    return _Stage(
        idx,
        values,
        complete,
        {
            "left_anchor": left,
            "right_anchor": right,
            "left_scale": left_scale,
            "right_scale": right_scale,
        },
        refs,
    )


def _scale(actual: FloatArray, reference: FloatArray, cap: float) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(reference > 0, actual / reference, np.nan)
    result: FloatArray = np.clip(ratio, 0.0, cap)
    return result


# Register anchored ----------------------------------------------------------------------------
def _register(
    v: FloatArray,
    grid: Grid,
    gaps: _Gaps,
    idx: IntArray,
    spans: RegisterSpans,
    temperature: FloatArray | None,
    opts: LikeDay,
    resolution: float,
) -> _Stage:
    if not len(idx):
        return _empty(idx)
    n_series, n = v.shape
    s_series = np.asarray(spans.series, dtype=np.int64)
    s_start = np.asarray(spans.start, dtype=np.int64)
    s_stop = np.asarray(spans.stop, dtype=np.int64)
    s_delta = np.asarray(spans.delta_kwh, dtype=np.float64)
    if len(s_series) and (
        (s_series < 0).any()
        or (s_series >= n_series).any()
        or (s_start < 0).any()
        or (s_stop > n).any()
        or (s_stop <= s_start).any()
        or not np.isfinite(s_delta).all()
    ):
        raise InputError("a register span lies outside the series or is empty or not finite")
    order = np.lexsort((s_start, s_series))
    s_series, s_start, s_stop = s_series[order], s_start[order], s_stop[order]
    s_delta = s_delta[order]
    overlap = (s_series[1:] == s_series[:-1]) & (s_start[1:] < s_stop[:-1])
    if overlap.any():
        raise InputError("register spans overlap", "give each interval to at most one delta")

    owner, series, pos = gaps.points(idx)
    # The span holding each gap point (−1 if none): spans are sorted and disjoint per series.
    key = s_series * (n + 1) + s_start
    k = np.searchsorted(key, series * (n + 1) + pos, side="right") - 1
    k_ok = k >= 0
    k_ok[k_ok] = (s_series[k[k_ok]] == series[k_ok]) & (pos[k_ok] < s_stop[k[k_ok]])
    span_of = np.where(k_ok, k, -1)
    first = np.full(len(idx), np.iinfo(np.int64).max)
    last = np.full(len(idx), -2)
    np.minimum.at(first, owner, np.where(span_of >= 0, span_of, np.iinfo(np.int64).max))
    np.maximum.at(last, owner, span_of)
    no_span = np.zeros(len(idx), dtype=np.bool_)
    np.logical_or.at(no_span, owner, span_of < 0)
    inside = ~no_span & (first == last)
    # A span is usable only if every gap touching it lies wholly inside it.
    spoiled = np.zeros(len(s_series), dtype=np.bool_)
    spoiled[span_of[(span_of >= 0) & ~inside[owner]]] = True
    measured = np.zeros((n_series, n + 1))
    measured[:, 1:] = np.cumsum(np.nan_to_num(v), axis=1)
    rest = s_delta - (measured[s_series, s_stop] - measured[s_series, s_start])
    units = np.rint(rest / resolution).astype(np.int64)
    spoiled |= units < 0
    use = k_ok & inside[owner]
    use[use] = ~spoiled[span_of[use]]

    like = _like_day(v, grid, gaps, idx, temperature, opts)
    shape = like.values
    span_pt = np.where(use, span_of, 0)
    bad_shape = np.zeros(len(s_series), dtype=np.bool_)
    np.logical_or.at(bad_shape, span_pt[use], ~np.isfinite(shape[use]))
    total = np.bincount(span_pt[use], weights=np.nan_to_num(shape[use]), minlength=len(s_series))
    uniform = bad_shape | ~(total > 0)
    weight = np.where(uniform[span_pt], 1.0, np.nan_to_num(shape))
    weight_sum = np.bincount(span_pt[use], weights=weight[use], minlength=len(s_series))
    exact = np.where(use, units[span_pt] * weight / np.maximum(weight_sum[span_pt], 1e-300), 0.0)
    whole = np.floor(exact).astype(np.int64)
    # Largest remainder: the units lost to flooring go to the largest fractional parts.
    given = np.bincount(span_pt[use], weights=whole[use], minlength=len(s_series))
    short = units - np.rint(given).astype(np.int64)
    points = np.flatnonzero(use)
    ranked = points[np.lexsort((-(exact - whole)[points], span_pt[points]))]
    span_sorted = span_pt[ranked]
    rank = np.arange(len(ranked)) - np.searchsorted(span_sorted, span_sorted, side="left")
    whole[ranked] += (rank < short[span_sorted]).astype(np.int64)
    values = np.where(use, whole * resolution, np.nan)
    delta = np.full(len(idx), np.nan)
    delta[owner[use]] = s_delta[span_of[use]]
    left, right = _anchors(v, gaps, idx)
    return _Stage(
        idx,
        values,
        _complete(owner, values, len(idx)),
        {"left_anchor": left, "right_anchor": right, "delta_kwh": delta},
        like.references,
    )


# Assembly -------------------------------------------------------------------------------------
def _as_2d(values: npt.ArrayLike) -> tuple[FloatArray, bool]:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        return v[None, :].copy(), True
    if v.ndim != 2:
        raise InputError(f"values have {v.ndim} dimensions", "give (points,) or (series, points)")
    return v.copy(), False


def _check(v: FloatArray, grid: Grid | None) -> None:
    if grid is not None and v.shape[1] != grid.points:
        raise InputError(f"values have {v.shape[1]} points, the grid {grid.points}")
    if np.isinf(v).any():
        raise InputError("values include infinity", "leave a missing value blank (NaN)")


def _assemble(
    v: FloatArray,
    one: bool,
    grid: Grid | None,
    gaps: _Gaps,
    stages: list[tuple[str, _Stage]],
) -> Estimate:
    """Fill each gap from the first stage that filled it whole."""
    count = len(gaps.start)
    chosen = np.full(count, -1, dtype=np.int64)
    for number, (_, stage) in enumerate(stages):
        take = stage.gaps[stage.complete & (chosen[stage.gaps] < 0)]
        chosen[take] = number
    out = v.copy()
    method = np.where(np.isnan(v), MISSING, ACTUAL).astype("<U12")
    columns: dict[str, npt.NDArray[np.float64] | IntArray] = {
        "left_anchor": np.full(count, -1, dtype=np.int64),
        "right_anchor": np.full(count, -1, dtype=np.int64),
        "left_scale": np.full(count, np.nan),
        "right_scale": np.full(count, np.nan),
        "delta_kwh": np.full(count, np.nan),
    }
    gap_method = np.full(count, MISSING, dtype="<U12")
    references = []
    for number, (label, stage) in enumerate(stages):
        mine = chosen[stage.gaps] == number
        if not mine.any():
            continue
        owner, series, pos = gaps.points(stage.gaps)
        at = mine[owner]
        out[series[at], pos[at]] = stage.values[at]
        method[series[at], pos[at]] = label
        gap_method[stage.gaps[mine]] = label
        for name, column in stage.columns.items():
            columns[name][stage.gaps[mine]] = column[mine]
        if grid is not None and stage.references is not None and len(stage.references):
            days = pd.DataFrame(
                {"series": series[at], "day": grid.dates(grid.day[pos[at]])}
            ).drop_duplicates()
            references.append(stage.references.merge(days, on=["series", "day"]))
    table = pd.DataFrame(
        {
            "series": gaps.series,
            "start": gaps.start,
            "stop": gaps.stop,
            "points": gaps.length,
            "method": gap_method,
            **columns,
        }
    )[list(_GAP_COLUMNS)]
    reference_days = (
        pd.concat(references, ignore_index=True)
        if references
        else pd.DataFrame({c: [] for c in _REFERENCE_COLUMNS})
    )
    if one:
        return Estimate(out[0], method[0], table, reference_days)
    return Estimate(out, method, table, reference_days)


def _all(gaps: _Gaps) -> IntArray:
    return np.arange(len(gaps.start), dtype=np.int64)


# Public methods -------------------------------------------------------------------------------
def estimate_linear(values: npt.ArrayLike, *, max_points: int | None = None) -> Estimate:
    """Linear interpolation between the measured points on both sides of each gap [kWh].

    Gaps longer than ``max_points`` [points] or open at an end of the series are left
    missing. Between two non-negative anchors the line is non-negative.
    """
    v, one = _as_2d(values)
    _check(v, None)
    gaps = _find_gaps(np.isnan(v))
    return _assemble(v, one, None, gaps, [(LINEAR, _linear(v, gaps, _all(gaps), max_points))])


def estimate_previous_day(values: npt.ArrayLike, grid: Grid, *, max_days: int = 28) -> Estimate:
    """Each missing interval copied from the same interval of the latest earlier day that was
    measured, up to ``max_days`` back [d] — the usual baseline. Gaps with no such day
    (at the start of a series) are left missing."""
    v, one = _as_2d(values)
    _check(v, grid)
    gaps = _find_gaps(np.isnan(v))
    stage = _previous_day(v, grid, gaps, _all(gaps), max_days)
    return _assemble(v, one, grid, gaps, [(PREVIOUS_DAY, stage)])


def estimate_like_day(
    values: npt.ArrayLike,
    grid: Grid,
    *,
    temperature: npt.ArrayLike | None = None,
    settings: LikeDay = LikeDay(),
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
    v, one = _as_2d(values)
    _check(v, grid)
    gaps = _find_gaps(np.isnan(v))
    t = None if temperature is None else np.asarray(temperature, dtype=np.float64)
    stage = _like_day(v, grid, gaps, _all(gaps), t, settings)
    return _assemble(v, one, grid, gaps, [(LIKE_DAY, stage)])


def estimate_register_anchored(
    values: npt.ArrayLike,
    grid: Grid,
    spans: RegisterSpans,
    *,
    temperature: npt.ArrayLike | None = None,
    settings: LikeDay = LikeDay(),
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
    v, one = _as_2d(values)
    _check(v, grid)
    gaps = _find_gaps(np.isnan(v))
    t = None if temperature is None else np.asarray(temperature, dtype=np.float64)
    stage = _register(v, grid, gaps, _all(gaps), spans, t, settings, resolution)
    return _assemble(v, one, grid, gaps, [(REGISTER, stage)])


def estimate(
    values: npt.ArrayLike,
    grid: Grid,
    *,
    temperature: npt.ArrayLike | None = None,
    spans: RegisterSpans | None = None,
    linear_up_to: timedelta = LINEAR_UP_TO,
    settings: LikeDay = LikeDay(),
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
    v, one = _as_2d(values)
    _check(v, grid)
    gaps = _find_gaps(np.isnan(v))
    t = None if temperature is None else np.asarray(temperature, dtype=np.float64)
    stages: list[tuple[str, _Stage]] = []
    todo = gaps.stop > fill_from

    def run(label: str, stage: _Stage) -> None:
        stages.append((label, stage))
        todo[stage.gaps[stage.complete]] = False

    if spans is not None and len(spans.series):
        run(REGISTER, _register(v, grid, gaps, np.flatnonzero(todo), spans, t, settings, 1e-4))
    short = np.flatnonzero(todo & (gaps.length <= grid.points_in(linear_up_to)))
    run(LINEAR, _linear(v, gaps, short, None))
    run(LIKE_DAY, _like_day(v, grid, gaps, np.flatnonzero(todo), t, settings))
    run(LINEAR, _linear(v, gaps, np.flatnonzero(todo), None))
    run(PREVIOUS_DAY, _previous_day(v, grid, gaps, np.flatnonzero(todo), max_days_back))
    run(NEAREST, _nearest(v, gaps, np.flatnonzero(todo)))
    return _assemble(v, one, grid, gaps, stages)
