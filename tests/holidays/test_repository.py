"""A loaded year replaces the built-in one whole, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine

from meter2cash.core.clock import FixedClock
from meter2cash.db.session import unit_of_work
from meter2cash.holidays.files import HolidayRow
from meter2cash.holidays.repository import special_days, store_holidays, utility_calendar

SPRING_2027 = [
    HolidayRow(date(2027, 2, 6), "holiday", "春节"),
    HolidayRow(date(2027, 2, 7), "holiday", "春节"),
    HolidayRow(date(2027, 2, 20), "workday", "春节调休"),
]


def test_loaded_years_replace_the_built_in_ones(records: Engine, clock: FixedClock) -> None:
    with unit_of_work(records) as session:
        assert utility_calendar(session).day_type(date(2027, 10, 1)) == "holiday"  # built-in
        first = store_holidays(session, clock, SPRING_2027, "notice.csv")
    assert (first.years, first.added) == ([2027], 3)
    with unit_of_work(records) as session:
        calendar = utility_calendar(session)
        assert calendar.day_type(date(2027, 2, 6)) == "holiday"
        assert calendar.day_type(date(2027, 2, 20)) == "workday"
        assert calendar.day_type(date(2027, 10, 1)) == "workday"  # not in the utility's 2027
        assert calendar.day_type(date(2026, 10, 1)) == "holiday"
        again = store_holidays(session, clock, SPRING_2027[:2], "notice.csv")
    assert (again.added, again.changed, again.removed, again.unchanged) == (0, 0, 1, 2)
    with unit_of_work(records) as session:
        assert [d.local_date for d in special_days(session, 2027)] == [
            date(2027, 2, 6),
            date(2027, 2, 7),
        ]
        assert {d.source for d in special_days(session, 2026)} == {"built-in"}
