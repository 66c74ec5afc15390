"""Validation and estimation of daily register reads — pure, vectorised over all meters.

Input is a frame of register reads on a complete grid: one row per (meter_no, channel, ts)
expected, sorted by those keys, with ``value`` NaN where nothing was read. Nothing here
touches a database or a file.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

MISSING: Final = "missing_read"
DECREASING: Final = "register_decrease"
NEGATIVE: Final = "negative_register"
DUPLICATE_CONFLICT: Final = "duplicate_conflict"

GROUP: Final = ["meter_no", "channel"]


def flag_negative(grid: pd.DataFrame) -> pd.Series:
    """True where a register shows a negative value [kWh]."""
    return grid["value"].lt(0)


def flag_decreasing(grid: pd.DataFrame) -> pd.Series:
    """True where a register is below the last earlier read of the same channel.

    Register rollover (digits-aware) is the next issue's rule; until then a wrap shows
    here as a decrease, which a person resolves.
    """
    keys = grid.groupby(GROUP, sort=False).ngroup()
    carried = grid["value"].groupby(keys).ffill()
    previous = carried.groupby(keys).shift()
    return grid["value"].lt(previous)


def estimate_linear(grid: pd.DataFrame) -> pd.Series:
    """Linear interpolation in time between the nearest valid reads on both sides [kWh].

    NaN where a gap is open on either side (no anchor), so no value is invented beyond
    the data. Between two non-decreasing anchors the estimate is non-decreasing, so
    register monotonicity and non-negative energy hold.
    """
    t = grid["ts"].astype("int64").to_numpy(dtype=np.float64)
    value = grid["value"].to_numpy(dtype=np.float64)
    valid = ~np.isnan(value)
    keys = grid.groupby(GROUP, sort=False).ngroup().to_numpy()
    position = np.arange(len(grid))
    prev_pos = pd.Series(np.where(valid, position, np.nan)).groupby(keys).ffill().to_numpy()
    next_pos = pd.Series(np.where(valid, position, np.nan)).groupby(keys).bfill().to_numpy()
    anchored = ~valid & ~np.isnan(prev_pos) & ~np.isnan(next_pos)
    out = np.full(len(grid), np.nan)
    p = prev_pos[anchored].astype(np.int64)
    n = next_pos[anchored].astype(np.int64)
    share = (t[anchored] - t[p]) / (t[n] - t[p])
    out[anchored] = value[p] + (value[n] - value[p]) * share
    return pd.Series(out, index=grid.index)
