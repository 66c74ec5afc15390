"""Idempotent bulk inserts of time-stamped findings (VEE findings, alarms, …)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from meter2cash.db.base import Base


def insert_new(
    session: Session,
    model: type[Base],
    key: Sequence[str],
    frame: pd.DataFrame,
    extra: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Insert the rows of ``frame`` whose natural ``key`` (which includes a ``ts`` column of
    UTC instants) is not stored yet, each with ``extra`` added; returns the rows inserted.

    Only keys in the frame's time range are looked up, so the cost follows the batch, not
    the table's history.
    """
    if frame.empty:
        return []
    batch = frame.drop_duplicates(list(key)).assign(ts=pd.to_datetime(frame["ts"], utc=True))
    start, end = batch["ts"].min().to_pydatetime(), batch["ts"].max().to_pydatetime()
    stamp = model.__table__.c.ts
    columns = [model.__table__.c[k] for k in key]
    known = set(
        session.execute(select(*columns).where(stamp >= start, stamp <= end)).tuples().all()
    )
    rows = []
    for record in batch.to_dict("records"):
        record["ts"] = record["ts"].to_pydatetime()
        if tuple(record[k] for k in key) not in known:
            rows.append({**record, **extra})
    if rows:
        session.execute(insert(model), rows)
    return rows
