"""Bulk writes on the raw driver connection: COPY on PostgreSQL, executemany on SQLite.

Rows go in the session's current transaction, so they commit or roll back with it. Values
are ints, floats (a decimal column takes the shortest repr of a float, exact for values of
at most 15 significant digits), strings (ISO dates included), ints for booleans, dates and
aware datetimes; NaN, NA and ``None`` are null. PostgreSQL gets the columns as one CSV
text written by Arrow (no Python object per value); SQLite gets Python scalars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy.orm import Session

Column: TypeAlias = Sequence[Any] | npt.NDArray[Any] | pd.Series


def _values(column: Column) -> list[Any]:
    """``column`` as a list of Python scalars, NaN and NA as ``None``.

    Numbers convert in one numpy pass. Anything else (strings, dates, objects) is factorised
    first, so a value repeated down the column is one Python object, converted once and
    encoded once by the driver — bill lines repeat a handful of kinds, units and texts.
    """
    values = column if isinstance(column, pd.Series | np.ndarray) else np.asarray(column, object)
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        ints: list[Any] = np.asarray(values, np.int64).tolist()
        return ints
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        floats = np.asarray(values, np.float64)
        missing = np.isnan(floats)
        if not missing.any():
            plain: list[Any] = floats.tolist()
            return plain
        boxed = floats.astype(object)
        boxed[missing] = None
        with_nulls: list[Any] = boxed.tolist()
        return with_nulls
    if isinstance(dtype, np.dtype) and dtype.kind in "mM":
        series = pd.Series(values)
        stamps: list[Any] = series.astype(object).where(series.notna(), None).tolist()
        return stamps
    codes, uniques = pd.factorize(values)
    labels = np.empty(len(uniques) + 1, object)
    labels[:-1] = uniques.tolist()
    labels[-1] = None  # code -1: NaN, None or NA
    distinct: list[Any] = labels[codes].tolist()
    return distinct


def _arrow(column: Column) -> pa.Array:
    """``column`` as an Arrow array, NaN and NA as null, booleans as ints."""
    values = column if isinstance(column, pd.Series | np.ndarray) else np.asarray(column, object)
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "b":
        values = np.asarray(values, np.int64)
    return pa.array(values, from_pandas=True)


def _csv(columns: Mapping[str, Column]) -> memoryview:
    """The rows of ``columns`` as CSV for PostgreSQL's ``COPY … (FORMAT csv)``: every value
    quoted, so an empty string stays empty and only a missing value (an empty field) is
    null."""
    table = pa.table({name: _arrow(c) for name, c in columns.items()})
    sink = pa.BufferOutputStream()
    options = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
    pa_csv.write_csv(table, sink, options)
    return memoryview(sink.getvalue())


def instant_text(session: Session, at: datetime) -> str:
    """``at`` as the text :func:`insert_columns` writes to a UTC timestamp column: ISO 8601
    with its offset on PostgreSQL, naive UTC as SQLAlchemy stores it on SQLite."""
    utc = at.astimezone(UTC)
    if session.get_bind().dialect.name == "postgresql":
        return utc.isoformat()
    return utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def insert_columns(session: Session, table: str, columns: Mapping[str, Column]) -> int:
    """Insert the rows of ``columns`` (equal-length columns by name) into the table named
    ``table``; returns the row count."""
    names = list(columns)
    count = len(next(iter(columns.values()), ()))
    if not count:
        return 0
    connection = session.connection()
    driver: Any = connection.connection.driver_connection
    quoted = ", ".join(names)
    if connection.dialect.name == "postgresql":
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({quoted}) FROM STDIN (FORMAT csv)") as copy,
        ):
            copy.write(_csv(columns))
    else:
        rows = zip(*(_values(c) for c in columns.values()), strict=True)
        marks = ", ".join("?" * len(names))
        cursor = driver.cursor()
        cursor.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({marks})", rows)
        cursor.close()
    return count
