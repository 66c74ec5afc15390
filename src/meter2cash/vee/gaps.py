"""Gaps in a batch of series, what one method made of them, and the :class:`Estimate`.

A *gap* is a run of NaN in one series; its *anchors* are the measured points just before and
after it. Each method (``interpolation``, ``previous_day``, ``like_day``, ``register_spread``)
returns a :class:`Stage` for the gaps it was given; :func:`assemble` fills each gap from the
first stage that filled it whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from meter2cash.core.errors import InputError
from meter2cash.vee.grid import BoolArray, FloatArray, Grid, IntArray, StrArray

ACTUAL: Final = "actual"
LINEAR: Final = "linear"
LIKE_DAY: Final = "like_day"
REGISTER: Final = "register"
PREVIOUS_DAY: Final = "previous_day"
NEAREST: Final = "nearest"
MISSING: Final = "missing"
METHODS: Final = (ACTUAL, LINEAR, LIKE_DAY, REGISTER, PREVIOUS_DAY, NEAREST, MISSING)
"""The ``method`` label of a point: measured, the method that estimated it, or missing."""

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


@dataclass(frozen=True, slots=True)
class Gaps:
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


def find_gaps(missing: BoolArray) -> Gaps:
    padded = np.zeros((missing.shape[0], missing.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = missing
    edge = np.diff(padded, axis=1)
    series, start = np.nonzero(edge == 1)
    _, stop = np.nonzero(edge == -1)
    return Gaps(series.astype(np.int64), start.astype(np.int64), stop.astype(np.int64))


@dataclass(slots=True)
class Stage:
    """What one method made of some gaps: values per point (in gap order), which gaps it
    filled whole, and per-gap inputs."""

    gaps: IntArray
    values: FloatArray
    complete: BoolArray
    columns: dict[str, npt.NDArray[np.float64] | IntArray]
    references: pd.DataFrame | None = None


def empty_stage(idx: IntArray) -> Stage:
    return Stage(idx, np.zeros(0), np.zeros(0, dtype=np.bool_), {})


def complete(owner: IntArray, values: FloatArray, count: int) -> BoolArray:
    bad = np.bincount(owner[~np.isfinite(values)], minlength=count)
    result: BoolArray = bad == 0
    return result


def anchors(v: FloatArray, gaps: Gaps, idx: IntArray) -> tuple[IntArray, IntArray]:
    n = v.shape[1]
    left = gaps.start[idx] - 1
    right = gaps.stop[idx].copy()
    left[left < 0] = -1
    right[right >= n] = -1
    return left, right


def reference_rows(
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


def as_2d(values: npt.ArrayLike) -> tuple[FloatArray, bool]:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        return v[None, :].copy(), True
    if v.ndim != 2:
        raise InputError(f"values have {v.ndim} dimensions", "give (points,) or (series, points)")
    return v.copy(), False


def check_values(v: FloatArray, grid: Grid | None) -> None:
    if grid is not None and v.shape[1] != grid.points:
        raise InputError(f"values have {v.shape[1]} points, the grid {grid.points}")
    if np.isinf(v).any():
        raise InputError("values include infinity", "leave a missing value blank (NaN)")


def assemble(
    v: FloatArray,
    one: bool,
    grid: Grid | None,
    gaps: Gaps,
    stages: list[tuple[str, Stage]],
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


def all_gaps(gaps: Gaps) -> IntArray:
    return np.arange(len(gaps.start), dtype=np.int64)
