"""Bulk writes on the raw driver connection: COPY on PostgreSQL, executemany on SQLite.

Rows go in the session's current transaction, so they commit or roll back with it. Values
are plain Python scalars (``None`` for null): ints, floats (a decimal column takes the
shortest repr of a float, exact for values of at most 15 significant digits), strings (ISO
dates included) and ints for booleans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.orm import Session

Column: TypeAlias = Sequence[Any] | npt.NDArray[Any] | pd.Series


def _values(column: Column) -> list[Any]:
    """``column`` as a list of Python scalars, NaN and NA as ``None``."""
    series = pd.Series(column)
    if series.dtype.kind in "iub":
        series = series.astype(np.int64)
    elif series.dtype.kind != "f" or series.isna().any():
        series = series.astype(object).where(series.notna(), None)
    values: list[Any] = series.tolist()
    return values


def insert_columns(session: Session, table: str, columns: Mapping[str, Column]) -> int:
    """Insert the rows of ``columns`` (equal-length columns by name) into the table named
    ``table``; returns the row count."""
    names = list(columns)
    values = [_values(c) for c in columns.values()]
    if not values or not values[0]:
        return 0
    connection = session.connection()
    driver: Any = connection.connection.driver_connection
    quoted = ", ".join(names)
    rows = zip(*values, strict=True)
    if connection.dialect.name == "postgresql":
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" * len(names))
        cursor = driver.cursor()
        cursor.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({marks})", rows)
        cursor.close()
    return len(values[0])
