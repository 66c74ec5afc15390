"""The exchange log: how each meter's daily freeze was got — first try, after retries,
backfilled later from the meter's history, or not at all — and how its curve and event sweep
went."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from meter2cash.headend.collector import CollectionResult
from meter2cash.headend.models import ReadExchange


def record_exchanges(session: Session, result: CollectionResult) -> int:
    """Store one collection's exchanges (skipped backfills left out); returns rows written."""
    rows = [
        {
            "meter_no": e.meter_no,
            "item": "freeze",
            "day": e.day,
            "collected_on": result.day,
            "outcome": e.outcome,
            "attempts": e.attempts,
            "detail": e.detail,
        }
        for e in result.exchanges
        if e.attempts > 0
    ] + [
        {
            "meter_no": r.meter_no,
            "item": r.item,
            "day": r.day,
            "collected_on": result.day,
            "outcome": r.outcome,
            "attempts": r.attempts,
            "detail": r.detail,
        }
        for r in result.item_reads
    ]
    if rows:
        session.execute(insert(ReadExchange), rows)
    return len(rows)


def exchanges_between(session: Session, first: date, last: date) -> pd.DataFrame:
    """Freeze exchanges for consumption days in [first, last]: meter_no, day, collected_on,
    outcome."""
    stmt = select(
        ReadExchange.meter_no, ReadExchange.day, ReadExchange.collected_on, ReadExchange.outcome
    ).where(ReadExchange.item == "freeze", ReadExchange.day >= first, ReadExchange.day <= last)
    return pd.DataFrame(
        session.execute(stmt).tuples().all(),
        columns=["meter_no", "day", "collected_on", "outcome"],
    )
