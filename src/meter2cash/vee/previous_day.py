"""Previous-day copy: each missing interval from the same interval of an earlier day."""

from __future__ import annotations

import numpy as np

from meter2cash.vee.gaps import Gaps, Stage, complete, empty_stage, reference_rows
from meter2cash.vee.grid import FloatArray, Grid, IntArray


def fill_previous_day(v: FloatArray, grid: Grid, gaps: Gaps, idx: IntArray, max_days: int) -> Stage:
    """The same interval of the latest earlier day that has it, up to ``max_days`` back [d]."""
    if not len(idx):
        return empty_stage(idx)
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
    refs = reference_rows(grid, series[found], day, ref_day, np.ones(int(found.sum())))
    return Stage(
        idx,
        values,
        complete(owner, values, len(idx)),
        {"left_anchor": np.full(len(idx), -1), "right_anchor": np.full(len(idx), -1)},
        refs,
    )
