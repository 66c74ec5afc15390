"""Queries of the ``holidays`` table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, extract, select
from sqlalchemy.orm import Session

from meter2cash.core.calendar import CHINA, HolidayCalendar
from meter2cash.core.clock import Clock
from meter2cash.holidays.files import HolidayRow
from meter2cash.holidays.models import Holiday


@dataclass(frozen=True, slots=True)
class HolidayLoad:
    years: list[int]
    added: int
    changed: int
    removed: int
    unchanged: int


def store_holidays(
    session: Session, clock: Clock, rows: Sequence[HolidayRow], source: str
) -> HolidayLoad:
    """Make ``rows`` the whole list of every year they mention: rows of those years not in
    ``rows`` are removed. Loading the same list twice changes nothing."""
    years = sorted({r.local_date.year for r in rows})
    stored = {
        h.local_date: h
        for h in session.scalars(
            select(Holiday).where(extract("year", Holiday.local_date).in_(years))
        )
    }
    given = {r.local_date for r in rows}
    gone = [d for d in stored if d not in given]
    if gone:
        session.execute(delete(Holiday).where(Holiday.local_date.in_(gone)))
    added = changed = 0
    for r in rows:
        held = stored.get(r.local_date)
        if held is None:
            session.add(
                Holiday(
                    local_date=r.local_date,
                    kind=r.kind,
                    name=r.name,
                    source=source,
                    loaded_at=clock.now(),
                )
            )
            added += 1
        elif (held.kind, held.name) != (r.kind, r.name):
            held.kind, held.name, held.source, held.loaded_at = r.kind, r.name, source, clock.now()
            changed += 1
    return HolidayLoad(years, added, changed, len(gone), len(rows) - added - changed)


def utility_calendar(session: Session) -> HolidayCalendar:
    """The built-in calendar with every year the utility loaded replaced by its own list."""
    loaded = session.execute(select(Holiday.local_date, Holiday.kind)).all()
    return CHINA.replaced_by(
        {d for d, kind in loaded if kind == "holiday"},
        {d for d, kind in loaded if kind == "workday"},
    )


@dataclass(frozen=True, slots=True)
class CalendarDay:
    local_date: date
    kind: str
    name: str
    source: str
    """The file it was loaded from, or ``built-in``."""


def special_days(session: Session, year: int) -> list[CalendarDay]:
    """The holidays and adjusted workdays of ``year`` as the utility's calendar has them."""
    loaded = session.scalars(
        select(Holiday)
        .where(extract("year", Holiday.local_date) == year)
        .order_by(Holiday.local_date)
    ).all()
    if loaded:
        return [CalendarDay(h.local_date, h.kind, h.name, h.source) for h in loaded]
    days = [CalendarDay(d, "holiday", "", "built-in") for d in CHINA.holidays if d.year == year]
    days += [CalendarDay(d, "workday", "", "built-in") for d in CHINA.workdays if d.year == year]
    return sorted(days, key=lambda c: c.local_date)
