"""Collection KPIs by zone (供电所, each with its own team): how well each team turns bills
into cash — the month's collection rate, arrears, the aging mix and DSO."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Account, Zone
from meter2cash.billing.models import Bill
from meter2cash.ledger import repository
from meter2cash.ledger.aging import BUCKETS
from meter2cash.ledger.receivables import aging, collection

DSO_WINDOW_DAYS = 90
OLD_BUCKETS = BUCKETS[1:]
"""Receivables older than 30 days."""


def _billed_by_zone(session: Session, first: date, last: date) -> pd.Series:
    rows = session.execute(
        select(Zone.code, func.sum(Bill.total_minor))
        .join(Account, Account.id == Bill.account_id)
        .join(Zone, Zone.id == Account.zone_id)
        .where(Bill.status == "issued", Bill.bill_date > first, Bill.bill_date <= last)
        .group_by(Zone.code)
    ).tuples()
    return pd.Series({zone: int(total or 0) for zone, total in rows}, dtype=np.int64)


def collection_kpis(session: Session, month: date, as_of: date) -> pd.DataFrame:
    """One row per zone: billed_minor and collected_minor of ``month``'s bills by ``as_of``,
    collection_rate, receivables_minor and arrears_minor (past due) at ``as_of``,
    old_share (receivables over 30 days old), dso_days [days]; sorted best collection rate
    first."""
    month_bills = collection(session, month, as_of, by="zone")
    ages = aging(session, as_of, by="zone")
    items = repository.open_items(session, booked_through=as_of)
    overdue = items[items["due_date"] < as_of].groupby("zone")["open_minor"].sum()
    billed_window = _billed_by_zone(session, as_of - timedelta(days=DSO_WINDOW_DAYS), as_of)
    zones = (
        month_bills.index.union(ages.index).union(billed_window.index).drop("—", errors="ignore")
    )
    table = pd.DataFrame(index=zones.rename("zone"))
    table["billed_minor"] = month_bills["billed_minor"].reindex(zones, fill_value=0)
    table["collected_minor"] = month_bills["collected_minor"].reindex(zones, fill_value=0)
    table["collection_rate"] = np.divide(
        table["collected_minor"],
        table["billed_minor"],
        where=table["billed_minor"] > 0,
        out=np.zeros(len(table)),
    )
    receivables = ages["total"].reindex(zones, fill_value=0)
    table["receivables_minor"] = receivables
    table["arrears_minor"] = overdue.reindex(zones, fill_value=0).astype(np.int64)
    old = ages[list(OLD_BUCKETS)].sum(axis=1).reindex(zones, fill_value=0)
    table["old_share"] = np.divide(
        old, receivables, where=receivables > 0, out=np.zeros(len(table))
    )
    window = billed_window.reindex(zones, fill_value=0)
    table["dso_days"] = np.divide(
        receivables * DSO_WINDOW_DAYS, window, where=window > 0, out=np.zeros(len(table))
    )
    return table.sort_values("collection_rate", ascending=False)
