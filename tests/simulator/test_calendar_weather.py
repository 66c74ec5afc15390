"""Day types and temperature of the simulated utility (the calendar: tests/core)."""

from __future__ import annotations

from meter2cash.simulator import SimulatedUtility


def test_day_types_and_summer_temperature(utility: SimulatedUtility) -> None:
    types = utility.day_types()
    assert len(types) == utility.spec.days
    assert set(types["day_type"]) == {"workday", "weekend"}
    temp = utility.temperature["temp_c"]
    assert 24 < temp.mean() < 34
