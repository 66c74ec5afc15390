"""Like-day estimation: the weighted mean shape of comparable days, anchored to the data
on both sides of a gap.

This is the "comparable day" method of utility practice (e.g. the ERCOT / PJM customer-baseline
"like day" methods and the estimation rules of Oracle Utilities MDM), here with a time-varying
anchor scale. Settings in :class:`LikeDay`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import numpy as np
import pandas as pd

from meter2cash.core.errors import InputError
from meter2cash.vee.gaps import Gaps, Stage, anchors, complete, empty_stage, reference_rows
from meter2cash.vee.grid import WORKDAY, FloatArray, Grid, IntArray

# How alike two day types are as references (rows: the day estimated, columns: the reference).
_DAY_TYPE_LIKENESS: Final = np.array(
    [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.3],
        [0.0, 0.3, 1.0],
    ]
)


@dataclass(frozen=True, slots=True)
class LikeDay:
    """Settings of the like-day method; defaults checked on the tuning split of
    ``bench/vee_accuracy.py`` (``docs/vee.md``, "Accuracy")."""

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


DEFAULT_SETTINGS: Final = LikeDay()
"""The like-day settings every estimator uses unless told otherwise."""


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
    refs = reference_rows(
        grid,
        np.broadcast_to(pair_series[:, None], used.shape)[used],
        np.broadcast_to(pair_day[:, None], used.shape)[used],
        chosen[used],
        norm[used],
    )
    return at_points, refs


def fill_like_day(
    v: FloatArray,
    grid: Grid,
    gaps: Gaps,
    idx: IntArray,
    temperature: FloatArray | None,
    opts: LikeDay,
) -> Stage:
    """The like-day estimate of the gaps ``idx`` [kWh] (see ``estimate_like_day``)."""
    if not len(idx):
        return empty_stage(idx)
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
    left, right = anchors(v, gaps, idx)
    filled = complete(owner, values, len(idx))
    estimated_days = pd.DataFrame(
        {"series": series, "day": grid.dates(grid.day[pos])}
    ).drop_duplicates()
    refs = refs.merge(estimated_days, on=["series", "day"])
    return Stage(
        idx,
        values,
        filled,
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
