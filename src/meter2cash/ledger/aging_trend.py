"""Aging trend (账龄趋势): the receivables by age bucket at each month end, month after month.

Each month's figures are exactly :func:`~meter2cash.ledger.receivables.aging` as of its last
day (entries booked after it left out), or as of ``through`` for a month that has not ended
yet. The bills' open items of every month come from one statement
(:func:`~meter2cash.ledger.repository.aged_bill_items`); returned payments, which are few,
are aged here from their legs.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from meter2cash.core.errors import InputError
from meter2cash.ledger import repository
from meter2cash.ledger.aging import BUCKETS, UPPER_DAYS, bucket_index
from meter2cash.ledger.receivables import DIMENSIONS, account_places

TREND_DIMENSIONS: Final = ("total", "zone", "class", "area")
"""Groupings of a trend (per account would be a row per account and month)."""
MAX_MONTHS: Final = 120
"""The longest trend asked for in one go [months]."""


def month_ends(first: date, last: date, through: date | None = None) -> list[date]:
    """The last day of every month from ``first``'s to ``last``'s, a day after ``through``
    replaced by ``through`` (and the months after it left out)."""
    ends = []
    month = first.replace(day=1)
    while month <= last:
        following = (month + timedelta(days=32)).replace(day=1)
        ends.append(following - timedelta(days=1))
        month = following
    if through is None:
        return ends
    return [min(end, through) for end in ends if end.replace(day=1) <= through]


def aging_trend(
    session: Session, first: date, last: date, by: str = "total", *, through: date | None = None
) -> pd.DataFrame:
    """Open receivables [fen] by age bucket (days since the bill date) at the end of every
    month from ``first``'s to ``last``'s — as of ``through`` for the month it falls in, none
    after it.

    One row per month and group of ``by`` (:data:`TREND_DIMENSIONS`; every group in every
    month, zeros where it owes nothing): columns month ("YYYY-MM"), as_of, group, the
    buckets and total [fen], ordered by month then group.
    """
    if by not in TREND_DIMENSIONS:
        raise InputError(
            f"cannot show an aging trend by {by!r}", "use one of " + ", ".join(TREND_DIMENSIONS)
        )
    if first.replace(day=1) > last.replace(day=1):
        raise InputError(f"the trend starts ({first:%Y-%m}) after it ends ({last:%Y-%m})")
    days = month_ends(first, last, through)
    if len(days) > MAX_MONTHS:
        raise InputError(f"{len(days)} months asked for; at most {MAX_MONTHS}")
    if not days:
        raise InputError(f"the trend starts after {through}: nothing is booked yet")
    cuts = [[day - timedelta(days=int(upper)) for upper in UPPER_DAYS] for day in days]
    column = DIMENSIONS[by]
    bills = repository.aged_bill_items(session, days, cuts, column)
    rows = pd.concat([bills, _returned(session, days, column)], ignore_index=True)
    table = rows.pivot_table(
        index=["idx", "grp"], columns="bucket", values="open_minor", aggfunc="sum", fill_value=0
    )
    table = table.reindex(columns=range(len(BUCKETS)), fill_value=0)
    groups = sorted(set(rows["grp"])) or ["all" if column is None else "—"]
    full = pd.MultiIndex.from_product([range(len(days)), groups], names=["idx", "grp"])
    table = table.reindex(full, fill_value=0).astype(np.int64)
    table.columns = list(BUCKETS)
    table["total"] = table.sum(axis=1)
    idx = table.index.get_level_values("idx")
    return table.reset_index(drop=True).assign(
        month=[f"{days[i]:%Y-%m}" for i in idx],
        as_of=[days[i] for i in idx],
        group=table.index.get_level_values("grp"),
    )[["month", "as_of", "group", *BUCKETS, "total"]]


def _returned(session: Session, days: list[date], column: str | None) -> pd.DataFrame:
    """Returned payments open on each of ``days``, aged from the day they have been owed
    since: idx, grp, bucket, open_minor (the rows of
    :func:`~meter2cash.ledger.repository.aged_bill_items`)."""
    legs = repository.returned_legs(session, None, days[-1])
    columns = ["idx", "grp", "bucket", "open_minor"]
    if legs.empty:
        return pd.DataFrame(columns=columns).astype(np.int64)
    places = account_places(session)
    parts = []
    for i, day in enumerate(days):
        booked = legs[pd.to_datetime(legs["booked_on"]).dt.date <= day]
        owed = booked.groupby("account_id")["amount_minor"].sum()
        owed = owed[owed != 0]
        if owed.empty:
            continue
        since = repository.owed_since(booked[booked["account_id"].isin(owed.index)])
        stamps = pd.to_datetime(since.reindex(owed.index)).to_numpy("datetime64[D]")
        age = (np.datetime64(day, "D") - stamps).astype(np.int64)
        group = "all" if column is None else owed.index.map(places[column]).fillna("—").to_numpy()
        parts.append(
            pd.DataFrame({"idx": i, "grp": group, "bucket": bucket_index(age), "open_minor": owed})
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
