"""The built-in calendar, its vectorised day types, and a utility's own years over it."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from meter2cash.core.calendar import CHINA, DAY_TYPES, HolidayCalendar


def test_holidays_and_adjusted_working_days() -> None:
    assert CHINA.day_type(date(2026, 10, 1)) == "holiday"
    assert CHINA.day_type(date(2026, 10, 4)) == "holiday"  # a Sunday absorbed into the break
    assert CHINA.day_type(date(2026, 2, 17)) == "holiday"
    assert CHINA.day_type(date(2026, 9, 20)) == "workday"  # a Sunday worked before National Day
    assert CHINA.day_type(date(2025, 1, 26)) == "workday"
    assert CHINA.day_type(date(2026, 7, 4)) == "weekend"
    assert CHINA.day_type(date(2026, 7, 6)) == "workday"
    assert CHINA.day_type(date(2030, 7, 6)) == "weekend"  # beyond the known notices


def test_vectorised_day_types_agree_with_one_day_at_a_time() -> None:
    days = [date(2023, 12, 1) + timedelta(days=n) for n in range(4 * 366 + 60)]
    expected = [CHINA.day_type(d) for d in days]
    assert CHINA.day_types(days).tolist() == expected
    as_array = np.array(days, dtype="datetime64[D]")
    assert [DAY_TYPES[i] for i in CHINA.day_type_index(as_array)] == expected


def test_a_utilitys_own_year_replaces_the_built_in_one_whole() -> None:
    own = CHINA.replaced_by({date(2027, 2, 8), date(2027, 2, 9)}, {date(2027, 2, 6)})
    assert own.day_type(date(2027, 2, 8)) == "holiday"
    assert own.day_type(date(2027, 2, 6)) == "workday"  # a Saturday worked
    assert own.day_type(date(2027, 2, 5)) == "workday"  # built-in 2027 holiday, not in the list
    assert own.day_type(date(2027, 10, 1)) == "workday"
    assert own.day_type(date(2026, 10, 1)) == "holiday"  # other years stay built-in
    empty = HolidayCalendar(frozenset(), frozenset())
    assert empty.day_type(date(2026, 10, 1)) == "workday"
