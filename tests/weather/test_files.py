"""Weather files are checked whole before anything is stored: each fault names its line."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from meter2cash.core.errors import InputError
from meter2cash.weather.files import WeatherRow, read_weather_file
from meter2cash.weather.models import WHOLE_UTILITY

ZONES = {"Z1", "Z2"}


def test_rows_by_zone_and_for_the_whole_utility(tmp_path: Path) -> None:
    path = tmp_path / "weather.csv"
    path.write_text(
        "date,temperature_c,zone,station\n2026-07-01,28.4,Z1,58457\n\n2026-07-01,-3,,58457\n"
    )
    assert read_weather_file(path, ZONES) == [
        WeatherRow("Z1", date(2026, 7, 1), Decimal("28.4")),
        WeatherRow(WHOLE_UTILITY, date(2026, 7, 1), Decimal("-3")),
    ]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            "2026-07-01,Z1,28\n2026-07-32,Z1,28\n",
            "weather.csv line 3: date '2026-07-32' is not a date",
        ),
        ("2026-07-01,Z1,28\n07/02/2026,Z1,28\n", "line 3: date '07/02/2026' is not a date"),
        ("2026-07-01,Z1,warm\n", "line 2: temperature_c 'warm' is not a number"),
        ("2026-07-01,Z1,NaN\n", "line 2: temperature_c 'NaN' is not a number"),
        ("2026-07-01,Z1,\n", "line 2: no temperature_c"),
        ("2026-07-01,Z1,84.2\n", "line 2: temperature_c 84.2 is outside −60…60 °C"),
        ("2026-07-01,Z1,28.125\n", "line 2: temperature_c 28.125 has more than 2 decimals"),
        (
            "2026-07-01,Z1,28\n2026-07-01,Z1,29\n",
            "line 3: 2026-07-01 for zone Z1 is already given at weather.csv line 2",
        ),
        ("2026-07-01,,28\n2026-07-01,,29\n", "line 3: 2026-07-01 for the whole utility is already"),
        ("2026-07-01,Z1,28\n2026-07-02,Z9,28\n", "line 3: unknown zone 'Z9'"),
        ("2026-07-01,Z1\n", "line 2: 2 fields, the header has 3"),
    ],
)
def test_a_bad_row_is_named(tmp_path: Path, rows: str, expected: str) -> None:
    path = tmp_path / "weather.csv"
    path.write_text("date,zone,temperature_c\n" + rows)
    with pytest.raises(InputError, match=re.escape(expected)):
        read_weather_file(path, ZONES)


def test_missing_columns_and_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "weather.csv"
    path.write_text("day,temp\n2026-07-01,28\n")
    with pytest.raises(InputError, match=re.escape("weather.csv line 1: no 'date' column")):
        read_weather_file(path, ZONES)
    path.write_text("date,temperature_c\n")
    with pytest.raises(InputError, match=re.escape("weather.csv: no data rows")):
        read_weather_file(path, ZONES)
    with pytest.raises(InputError, match="cannot read"):
        read_weather_file(tmp_path / "nope.csv", ZONES)
