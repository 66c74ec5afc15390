"""Bill cycles: one calendar-month period per route, billed after it closes."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Route
from meter2cash.billing.models import BillCycle

BILL_LAG_DAYS = 2
"""Days after a period closes until bills are dated (time to collect and review reads)."""


@dataclass(frozen=True, slots=True)
class MonthPeriod:
    """A calendar month [period_start, period_end], local dates inclusive."""

    period_start: date
    period_end: date

    @property
    def bill_date(self) -> date:
        return self.period_end + timedelta(days=1 + BILL_LAG_DAYS)

    @property
    def days(self) -> int:
        return (self.period_end - self.period_start).days + 1


def month_period(year: int, month: int) -> MonthPeriod:
    last = calendar.monthrange(year, month)[1]
    return MonthPeriod(date(year, month, 1), date(year, month, last))


def complete_months(first_day: date, last_day: date) -> list[MonthPeriod]:
    """Calendar months lying wholly within [first_day, last_day]."""
    months = []
    year, month = first_day.year, first_day.month
    while True:
        period = month_period(year, month)
        if period.period_end > last_day:
            break
        if period.period_start >= first_day:
            months.append(period)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def ensure_cycles(session: Session, period: MonthPeriod, due_days: int = 15) -> dict[int, int]:
    """Create the cycle of ``period`` for every route if missing; returns route id → cycle id."""
    routes = list(session.scalars(select(Route.id)))
    existing = dict(
        session.execute(
            select(BillCycle.route_id, BillCycle.id).where(
                BillCycle.period_start == period.period_start
            )
        )
        .tuples()
        .all()
    )
    missing = [r for r in routes if r not in existing]
    if missing:
        session.execute(
            insert(BillCycle),
            [
                {
                    "route_id": route_id,
                    "period_start": period.period_start,
                    "period_end": period.period_end,
                    "bill_date": period.bill_date,
                    "due_date": period.bill_date + timedelta(days=due_days),
                    "status": "open",
                }
                for route_id in missing
            ],
        )
        existing = _cycles_of(session, period)
    return existing


def _cycles_of(session: Session, period: MonthPeriod) -> dict[int, int]:
    stmt = select(BillCycle.route_id, BillCycle.id).where(
        BillCycle.period_start == period.period_start
    )
    return dict(session.execute(stmt).tuples().all())
