"""A load profile: one meter's interval energy read from CSV and checked at the boundary.

The CSV has a header with ``timestamp`` (ISO 8601 with a UTC offset, the interval's start) and
``kwh`` (energy in the interval [kWh]), optionally ``kvarh`` [kvarh]. Rows are evenly spaced
and in time order. Anything else — a naive timestamp, a duplicate, a gap, a non-number — is one
:class:`InputError` naming the file and line (the header is line 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from meter2cash.core.errors import InputError

_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_NS_PER_MINUTE = 60 * 10**9


@dataclass(frozen=True)
class LoadProfile:
    """Evenly spaced intervals: ``start`` [UTC, datetime64 ns], ``kwh`` [kWh], ``kvarh``."""

    start: npt.NDArray[np.datetime64]
    kwh: npt.NDArray[np.float64]
    kvarh: npt.NDArray[np.float64] | None
    interval_minutes: float

    @property
    def interval_hours(self) -> float:
        """Length of one interval [h]; demand [kW] is kWh / this."""
        return self.interval_minutes / 60


def read_load_profile_csv(path: str | Path) -> LoadProfile:
    """The load profile in CSV file ``path``, or an :class:`InputError` naming file and line."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(
            f"{path}: cannot read as CSV ({exc})", "check the path and format"
        ) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in ("timestamp", "kwh"):
        if column not in frame.columns:
            raise InputError(
                f"{path}: no {column!r} column (columns: {', '.join(frame.columns)})",
                "give a header with timestamp,kwh[,kvarh]",
            )
    if len(frame) < 2:
        raise InputError(f"{path}: {len(frame)} rows", "give at least two intervals")
    start = _timestamps(frame["timestamp"], path)
    kwh = _quantities(frame["kwh"], "kwh", path)
    kvarh = _quantities(frame["kvarh"], "kvarh", path) if "kvarh" in frame.columns else None
    step = _regular_step(start, path)
    return LoadProfile(start, kwh, kvarh, step / _NS_PER_MINUTE)


def _line(index: int) -> int:
    return int(index) + 2  # the header is line 1


def _timestamps(text: pd.Series, path: Path) -> npt.NDArray[np.datetime64]:
    text = text.str.strip()
    naive = ~text.str.contains(_OFFSET, regex=True)
    if naive.any():
        i = int(np.argmax(naive.to_numpy()))
        raise InputError(
            f"{path} line {_line(i)}: timestamp {text.iloc[i]!r} has no UTC offset",
            "write each timestamp with its offset, e.g. 2018-01-01T00:00+08:00",
        )
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"{path} line {_line(i)}: timestamp {text.iloc[i]!r} is not ISO 8601",
            "write e.g. 2018-01-01T00:15:00+08:00",
        )
    values: npt.NDArray[np.datetime64] = parsed.dt.tz_localize(None).to_numpy("datetime64[ns]")
    return values


def _quantities(text: pd.Series, column: str, path: Path) -> npt.NDArray[np.float64]:
    values: npt.NDArray[np.float64] = pd.to_numeric(text.str.strip(), errors="coerce").to_numpy(
        dtype=np.float64
    )
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"{path} line {_line(i)}: {column} {text.iloc[i]!r} is not a number",
            f"give {column} per interval as a plain number",
        )
    negative = values < 0
    if negative.any():
        i = int(np.argmax(negative))
        raise InputError(
            f"{path} line {_line(i)}: {column} {text.iloc[i]} is negative",
            "give imported energy only, as a non-negative number",
        )
    return values


def _regular_step(start: npt.NDArray[np.datetime64], path: Path) -> int:
    steps = np.diff(start.astype(np.int64))
    step = int(steps[0])
    problems = (
        (steps == 0, "repeats the previous row's timestamp", "keep one row per interval"),
        (steps < 0, "is earlier than the previous row", "sort the rows by timestamp"),
        (
            steps != step,
            f"breaks the {step / _NS_PER_MINUTE:g}-minute spacing of the first rows",
            "give every interval, evenly spaced (fill gaps first)",
        ),
    )
    for mask, problem, fix in problems:
        if mask.any():
            i = int(np.argmax(mask)) + 1
            raise InputError(f"{path} line {_line(i)}: timestamp {problem}", fix)
    return step
