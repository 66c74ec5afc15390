"""Register-anchored estimation: a known register delta spread over the missing intervals
of its span by the like-day shape, summing to the delta exactly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from meter2cash.core.errors import InputError
from meter2cash.vee.gaps import Gaps, Stage, anchors, complete, empty_stage
from meter2cash.vee.grid import FloatArray, Grid, IntArray
from meter2cash.vee.like_day import LikeDay, fill_like_day


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


def fill_register(
    v: FloatArray,
    grid: Grid,
    gaps: Gaps,
    idx: IntArray,
    spans: RegisterSpans,
    temperature: FloatArray | None,
    opts: LikeDay,
    resolution: float,
) -> Stage:
    """The register-anchored estimate of the gaps ``idx`` [kWh] (see
    ``estimate_register_anchored``), in units of ``resolution`` [kWh]."""
    if not len(idx):
        return empty_stage(idx)
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

    like = fill_like_day(v, grid, gaps, idx, temperature, opts)
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
    left, right = anchors(v, gaps, idx)
    return Stage(
        idx,
        values,
        complete(owner, values, len(idx)),
        {"left_anchor": left, "right_anchor": right, "delta_kwh": delta},
        like.references,
    )
