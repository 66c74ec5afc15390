"""Back-testing estimation: one series from a CSV file, gaps filled, and accuracy scores.

The file format of ``m2c vee estimate``: a header row with ``timestamp`` (ISO 8601 with a
UTC offset, the interval start, one row per interval in order) and ``value`` [kWh per
interval, blank = missing], optionally ``temperature`` [°C, blank = unknown]; other columns
are carried through. The output is the same rows, every gap filled, with a ``method``
column (``actual`` for given values). Bad input is an :class:`InputError` naming the line.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from meter2cash.core.errors import InputError
from meter2cash.vee import estimation
from meter2cash.vee.estimation import ACTUAL, Estimate, FloatArray, Grid, make_grid

TIMESTAMP: Final = "timestamp"
VALUE: Final = "value"
TEMPERATURE: Final = "temperature"
METHOD: Final = "method"
ESTIMATORS: Final = ("best", "linear", "like-day", "previous-day")
"""Choices of ``m2c vee estimate --method``; gaps a method cannot fill get the best."""

_DATE_TIME: Final = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
_ISO_WITH_OFFSET: Final = _DATE_TIME + r"(?:Z|[+-]\d{2}:?\d{2})$"
_ISO_NAIVE: Final = r"^\d{4}-\d{2}-\d{2}$|" + _DATE_TIME + "$"


@dataclass(frozen=True, slots=True)
class SeriesFile:
    """One series read from a CSV file: its rows as text and the parsed columns."""

    path: Path
    header: list[str]
    rows: pd.DataFrame
    """Every column as the file had it (text)."""
    ts: pd.DatetimeIndex
    """Interval starts, UTC."""
    values: FloatArray
    temperature: FloatArray | None


def read_series_csv(path: Path) -> SeriesFile:
    """Read and check a series file; :class:`InputError` names the file and line of a fault."""
    name = path.name
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader, [])]
            lines: list[int] = []
            records: list[list[str]] = []
            for record in reader:
                if not any(cell.strip() for cell in record):
                    continue
                if len(record) != len(header):
                    raise InputError(
                        f"{name} line {reader.line_num}: {len(record)} fields, "
                        f"the header has {len(header)}"
                    )
                lines.append(reader.line_num)
                records.append(record)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read {path}: {exc}", "give a UTF-8 CSV file") from exc
    for column in (TIMESTAMP, VALUE):
        if column not in header:
            raise InputError(
                f"{name} line 1: no {column!r} column",
                "the header needs timestamp and value (and optionally temperature)",
            )
    if len(set(header)) != len(header):
        raise InputError(f"{name} line 1: a column name appears twice")
    if len(records) < 2:
        raise InputError(f"{name}: fewer than two rows", "give at least two intervals")
    rows = pd.DataFrame(records, columns=header, dtype=object).astype(str)
    line = np.asarray(lines, dtype=np.int64)
    ts = _timestamps(rows[TIMESTAMP].str.strip(), line, name)
    values = _numbers(rows[VALUE], line, name, VALUE, allow_negative=False)
    temperature = (
        _numbers(rows[TEMPERATURE], line, name, TEMPERATURE, allow_negative=True)
        if TEMPERATURE in header
        else None
    )
    if np.isnan(values).all():
        raise InputError(f"{name}: no value is given", "give at least one measured value")
    return SeriesFile(path, header, rows, ts, values, temperature)


def _timestamps(text: pd.Series, line: npt.NDArray[np.int64], name: str) -> pd.DatetimeIndex:
    shaped = text.str.match(_ISO_WITH_OFFSET).to_numpy(dtype=bool)
    if not shaped.all():
        at = int(np.flatnonzero(~shaped)[0])
        bad = text.iloc[at]
        if not bad:
            raise InputError(f"{name} line {line[at]}: no timestamp")
        if pd.Series([bad]).str.match(_ISO_NAIVE).iloc[0]:
            raise InputError(
                f"{name} line {line[at]}: naive timestamp {bad!r}",
                "give a UTC offset, e.g. 2026-07-01T00:00:00+08:00",
            )
        raise InputError(f"{name} line {line[at]}: {bad!r} is not an ISO 8601 timestamp")
    parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    bad_at = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad_at):
        at = int(bad_at[0])
        raise InputError(f"{name} line {line[at]}: {text.iloc[at]!r} is not a valid instant")
    ts = pd.DatetimeIndex(parsed)
    steps = np.diff(ts.as_unit("ns").asi8)
    backwards = np.flatnonzero(steps <= 0)
    if len(backwards):
        at = int(backwards[0]) + 1
        if steps[at - 1] == 0:
            raise InputError(
                f"{name} line {line[at]}: timestamp {text.iloc[at]} duplicates line {line[at - 1]}",
                "give each interval once",
            )
        raise InputError(
            f"{name} line {line[at]}: timestamp {text.iloc[at]} is earlier than line "
            f"{line[at - 1]}",
            "sort the rows by timestamp",
        )
    irregular = np.flatnonzero(steps != steps[0])
    if len(irregular):
        at = int(irregular[0]) + 1
        raise InputError(
            f"{name} line {line[at]}: {_duration(int(steps[at - 1]))} after line "
            f"{line[at - 1]}, but the series steps {_duration(int(steps[0]))}",
            "give one row per interval; leave the value blank where it is missing",
        )
    step = pd.Timedelta(int(steps[0]))
    if step > pd.Timedelta(days=1) or pd.Timedelta(days=1) % step:
        raise InputError(
            f"{name} line {line[1]}: an interval of {_duration(int(steps[0]))} does not divide "
            "a day",
            "use e.g. 15 min or 1 h intervals",
        )
    return ts


def _duration(ns: int) -> str:
    seconds = ns / 1e9
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _numbers(
    text: pd.Series, line: npt.NDArray[np.int64], name: str, column: str, allow_negative: bool
) -> FloatArray:
    stripped = text.str.strip()
    blank = (stripped == "").to_numpy(dtype=bool)
    number = pd.to_numeric(stripped.where(~blank, "nan"), errors="coerce").to_numpy(
        dtype=np.float64
    )
    bad = ~blank & ~np.isfinite(number)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{name} line {line[at]}: {column} {text.iloc[at]!r} is not a number",
            "give a decimal number or leave it blank",
        )
    if not allow_negative and (number < 0).any():
        at = int(np.flatnonzero(number < 0)[0])
        raise InputError(
            f"{name} line {line[at]}: {column} {text.iloc[at].strip()} is negative",
            "values are energy per interval (kWh ≥ 0)",
        )
    result: FloatArray = np.where(blank, np.nan, number)
    return result


def estimate_series(
    series: SeriesFile,
    tz: ZoneInfo,
    *,
    method: str = "best",
    holidays: frozenset[date] = frozenset(),
) -> Estimate:
    """Fill every gap of ``series``: by ``method``, and by the best method where it cannot."""
    if method not in ESTIMATORS:
        raise InputError(f"unknown method {method!r}", "use one of " + ", ".join(ESTIMATORS))
    grid = make_grid(series.ts, tz, holidays=holidays)
    best = estimation.estimate(series.values, grid, temperature=series.temperature)
    if method == "best":
        return best
    chosen = _one_method(series, grid, method)
    missing = chosen.method == estimation.MISSING
    return Estimate(
        np.where(missing, best.values, chosen.values),
        np.where(missing, best.method, chosen.method),
        chosen.gaps,
        chosen.reference_days,
    )


def _one_method(series: SeriesFile, grid: Grid, method: str) -> Estimate:
    if method == "linear":
        return estimation.estimate_linear(series.values)
    if method == "previous-day":
        return estimation.estimate_previous_day(series.values, grid)
    return estimation.estimate_like_day(series.values, grid, temperature=series.temperature)


def write_series_csv(
    series: SeriesFile, result: Estimate, path: Path, *, decimals: int = 4
) -> None:
    """The input rows with every gap filled (``decimals`` places) and a ``method`` column."""
    out = series.rows.copy()
    estimated = result.method != ACTUAL
    text = out[VALUE].to_numpy(dtype=object)
    text[estimated] = [f"{v:.{decimals}f}" for v in result.values[estimated]]
    out[VALUE] = text
    out[METHOD] = result.method
    columns = [c for c in series.header if c != METHOD] + [METHOD]
    try:
        out[columns].to_csv(path, index=False, lineterminator="\n")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc}") from exc


# Scoring ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Score:
    """Accuracy over the removed points that had a measured value."""

    wape: float
    """Σ |estimate − actual| / Σ |actual| [-]."""
    bias: float
    """Σ (estimate − actual) / Σ actual [-]; positive = overestimate."""
    points: int
    filled: float
    """Share of the scored points the method filled [-]; errors count filled points only."""


def punch_gaps(
    shape: tuple[int, int],
    length: int,
    per_series: int,
    rng: np.random.Generator,
    *,
    skip_start: int = 0,
    stop: int | None = None,
) -> npt.NDArray[np.bool_]:
    """Where to remove data: ``per_series`` gaps of ``length`` points in each series, at
    random, none in the first ``skip_start`` points, none touching another, point ``stop``
    or the end (``stop``: a position, to keep the gaps in one part of the series)."""
    n_series, n = shape
    usable = (n if stop is None else min(stop, n)) - skip_start - 1
    segment = usable // per_series
    if segment < 2 * length + 1:
        raise InputError(f"{per_series} gaps of {length} points do not fit in {usable} points")
    first = skip_start + segment * np.arange(per_series)
    start = first[None, :] + rng.integers(0, segment - length, size=(n_series, per_series))
    removed = np.zeros(shape, dtype=np.bool_)
    rows = np.repeat(np.arange(n_series), per_series * length)
    cols = (start[:, :, None] + np.arange(length)[None, None, :]).ravel()
    removed[rows, cols] = True
    return removed


def score(actual: FloatArray, estimate: FloatArray, removed: npt.NDArray[np.bool_]) -> Score:
    """WAPE and bias of ``estimate`` over the ``removed`` points that ``actual`` measured."""
    scored = removed & np.isfinite(actual)
    filled = scored & np.isfinite(estimate)
    a = actual[filled]
    error = estimate[filled] - a
    total = float(np.abs(a).sum())
    return Score(
        wape=float(np.abs(error).sum()) / total if total else float("nan"),
        bias=float(error.sum()) / float(a.sum()) if a.sum() else float("nan"),
        points=int(scored.sum()),
        filled=float(filled.sum()) / max(int(scored.sum()), 1),
    )
