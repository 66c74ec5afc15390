"""Day types and temperature."""

from __future__ import annotations

from datetime import date

from meter2cash.simulator import SimulatedUtility
from meter2cash.simulator.calendar import day_type


def test_holidays_and_adjusted_working_days() -> None:
    assert day_type(date(2026, 10, 1)) == "holiday"
    assert day_type(date(2026, 2, 17)) == "holiday"
    assert day_type(date(2026, 9, 20)) == "workday"  # a Sunday worked before National Day
    assert day_type(date(2025, 1, 26)) == "workday"
    assert day_type(date(2026, 7, 4)) == "weekend"
    assert day_type(date(2026, 7, 6)) == "workday"
    assert day_type(date(2030, 7, 6)) == "weekend"  # beyond the known notices


def test_day_types_and_summer_temperature(utility: SimulatedUtility) -> None:
    types = utility.day_types()
    assert len(types) == utility.spec.days
    assert set(types["day_type"]) == {"workday", "weekend"}
    temp = utility.temperature["temp_c"]
    assert 24 < temp.mean() < 34
