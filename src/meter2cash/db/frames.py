"""Query results as pandas frames, straight from the driver's cursor.

SQLAlchemy builds a row object and runs a result processor per value; over a million rows
that is seconds. :func:`select_frame` lets SQLAlchemy compile and bind the statement as
usual, then takes the driver's rows and converts each column at once by its SQL type:
instants to ``datetime64[…, UTC]``, dates to :class:`datetime.date` (``None`` if null),
numerics to float64 (NaN if null), booleans to ``bool`` (nullable ones to ``boolean``).
SQLite hands back text and REAL for those types, PostgreSQL native values; both end the
same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Date, DateTime, Numeric, Select
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine


def _column(values: tuple[Any, ...], sql_type: TypeEngine[Any]) -> pd.Series:
    """One result column as a Series of the pandas type its ``sql_type`` maps to."""
    impl = getattr(sql_type, "impl_instance", sql_type)
    if isinstance(impl, DateTime):
        return pd.Series(
            pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
        )
    if isinstance(impl, Date):
        days = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601")
        return days.dt.date.astype(object).where(days.notna(), None)
    if isinstance(impl, Numeric):
        return pd.Series(pd.to_numeric(pd.Series(values, dtype=object)), dtype=np.float64)
    if isinstance(impl, Boolean):
        flags = pd.Series(values, dtype=object)
        if flags.isna().any():
            return flags.astype("boolean")
        return flags.astype(bool)
    return pd.Series(values, dtype=object).infer_objects()


def select_frame(session: Session, stmt: Select[Any]) -> pd.DataFrame:
    """The rows of ``stmt`` (a Core select) as a frame named by its column labels, run in
    ``session``'s transaction."""
    result = session.connection().execute(stmt)
    try:
        rows = result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()
    columns = list(stmt.selected_columns)
    names = [c.key for c in columns]
    values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    return pd.DataFrame(
        {name: _column(v, c.type) for name, v, c in zip(names, values, columns, strict=True)}
    )
