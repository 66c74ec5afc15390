"""The local calendar of a regular series: each point's local day and slot, each day's type.

Estimation methods see a batch of series on one :class:`Grid` (``make_grid``): like days are
found by day type (workday, weekend, holiday) and weekday, previous days by whole local days.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
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

WORKDAY, WEEKEND, HOLIDAY = 0, 1, 2
DAY_TYPES: Final = ("workday", "weekend", "holiday")


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
