"""Validation of daily register reads — pure, vectorised over all meters (estimation:
:mod:`meter2cash.vee.daily_reads`).

Input is a frame of register reads on a complete grid: one row per (meter_no, channel, ts)
expected, sorted by those keys, with ``value`` NaN where nothing was read. Nothing here
touches a database or a file.
"""

from __future__ import annotations

from typing import Final

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
