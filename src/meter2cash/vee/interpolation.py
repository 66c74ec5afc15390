"""Filling gaps from their anchors alone: a straight line, or the nearest measured value."""

from __future__ import annotations

import numpy as np

from meter2cash.vee.gaps import Gaps, Stage, anchors, complete, empty_stage
from meter2cash.vee.grid import FloatArray, IntArray


def fill_linear(v: FloatArray, gaps: Gaps, idx: IntArray, max_points: int | None) -> Stage:
    """A straight line between the anchors of the gaps ``idx`` [kWh]; gaps open at an end or
    longer than ``max_points`` [points] are left unfilled."""
    if not len(idx):
        return empty_stage(idx)
    owner, _, pos = gaps.points(idx)
    left, right = anchors(v, gaps, idx)
    usable = (left >= 0) & (right >= 0)
    if max_points is not None:
        usable &= gaps.length[idx] <= max_points
    lv = v[gaps.series[idx], np.maximum(left, 0)]
    rv = v[gaps.series[idx], np.maximum(right, 0)]
    share = (pos - left[owner]) / (gaps.length[idx][owner] + 1)
    values = lv[owner] + (rv[owner] - lv[owner]) * share
    values[~usable[owner]] = np.nan
    return Stage(
        idx,
        np.maximum(values, 0.0),
        complete(owner, values, len(idx)),
        {"left_anchor": left, "right_anchor": right},
    )


def fill_nearest(v: FloatArray, gaps: Gaps, idx: IntArray) -> Stage:
    """The nearest measured value (the left anchor, else the right) over the gaps ``idx`` [kWh]."""
    if not len(idx):
        return empty_stage(idx)
    owner, _, _ = gaps.points(idx)
    left, right = anchors(v, gaps, idx)
    row = gaps.series[idx]
    side = np.where(left >= 0, left, right)
    near = np.where(side >= 0, v[row, np.maximum(side, 0)], np.nan)
    values = np.maximum(near[owner], 0.0)
    return Stage(
        idx,
        values,
        complete(owner, values, len(idx)),
        {
            "left_anchor": np.where(left >= 0, left, -1),
            "right_anchor": np.where(left >= 0, -1, right),
        },
    )
