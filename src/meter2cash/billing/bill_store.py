"""Writing bills and their lines in bulk (COPY on PostgreSQL, executemany elsewhere)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.orm import Session

from meter2cash.billing.cycles import MonthPeriod
from meter2cash.billing.models import Bill, BillLine
from meter2cash.billing.pricing import KWH_SCALE
from meter2cash.db.bulk import insert_columns
from meter2cash.db.ids import reserve_ids


def bill_records(
    bills: pd.DataFrame,
    period: MonthPeriod,
    cycle_id: npt.ArrayLike,
    bill_date: npt.ArrayLike,
    due_date: npt.ArrayLike,
    revision: npt.ArrayLike,
    replaces_bill_id: npt.ArrayLike,
) -> dict[str, Any]:
    """Columns of the ``bills`` table for priced ``bills``: ``approved``, or ``in_review``
    where review held them. Dates are ISO strings; quantities floats of 4 dp."""
    revision = np.asarray(revision, np.int64)
    demand = bills["max_demand_kw"].to_numpy()
    return {
        "bill_no": f"{period.period_start:%Y%m}-"
        + bills["account_no"].astype(str)
        + "-"
        + pd.Series(revision, index=bills.index).astype(str),
        "account_id": bills["account_id"].to_numpy(np.int64),
        "cycle_id": np.asarray(cycle_id, np.int64),
        "revision": revision,
        "tariff_version_id": bills["version_id"].to_numpy(np.int64),
        "period_start": period.period_start.isoformat(),
        "period_end": period.period_end.isoformat(),
        "kwh": bills["kwh_total"].to_numpy() / KWH_SCALE,
        "max_demand_kw": np.where(demand < 0, np.nan, demand / KWH_SCALE),
        "multiplier": bills["multiplier"].to_numpy(np.int64),
        "total_minor": bills["total_minor"].to_numpy(np.int64),
        "currency": bills["currency"].to_numpy(),
        "estimated": bills["estimated"].to_numpy(np.int64),
        "status": np.where(bills["review_reasons"].to_numpy() != "", "in_review", "approved"),
        "bill_date": bill_date,
        "due_date": due_date,
        "replaces_bill_id": replaces_bill_id,
        "review_reasons": bills["review_reasons"].to_numpy(),
        "carried_export_kwh": np.where(
            bills["carried_export_out"].to_numpy() < 0,
            np.nan,
            bills["carried_export_out"].to_numpy() / KWH_SCALE,
        ),
    }


def insert_bills(
    session: Session, records: Mapping[str, Any], lines: pd.DataFrame
) -> npt.NDArray[np.int64]:
    """Insert bills (:func:`bill_records`, in ``lines``' bill order) and their lines in
    bulk; returns the new bill ids in order.

    The ids are reserved before the insert (:func:`reserve_ids`), so the lines reference
    them straight from the frame rather than looking the bills up by number afterwards.
    """
    count = len(records["bill_no"])
    if not count:
        return np.zeros(0, np.int64)
    ids = reserve_ids(session, Bill.__tablename__, count)
    columns = {k: [v] * count if np.ndim(v) == 0 else v for k, v in records.items()}
    insert_columns(session, Bill.__tablename__, {"id": ids, **columns})
    insert_lines(session, ids, lines)
    return ids


def insert_lines(session: Session, bill_ids: npt.NDArray[np.int64], lines: pd.DataFrame) -> int:
    """Insert ``lines`` (:data:`LINE_COLUMNS`) of the bills ``bill_ids`` (by ``bill``)."""
    return insert_columns(
        session,
        BillLine.__tablename__,
        {
            "bill_id": bill_ids[lines["bill"].to_numpy(np.int64)],
            "seq": lines["seq"],
            "kind": lines["kind"],
            "description": lines["description"],
            "quantity": lines["quantity"],
            "unit": lines["unit"],
            "unit_price": lines["unit_price"],
            "amount_minor": lines["amount_minor"],
        },
    )
