"""Holiday files are checked whole before anything is stored: each fault names its line."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from meter2cash.core.errors import InputError
from meter2cash.holidays.files import HolidayRow, read_holiday_file


def test_kind_defaults_to_holiday(tmp_path: Path) -> None:
    path = tmp_path / "holidays.csv"
    path.write_text("date,name\n2027-02-08,春节\n")
    assert read_holiday_file(path) == [HolidayRow(date(2027, 2, 8), "holiday", "春节")]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("2027-02-30,holiday\n", "holidays.csv line 2: date '2027-02-30' is not a date"),
        ("2027-02-08,festival\n", "line 2: kind 'festival' is not holiday or workday"),
        ("2027-02-08,workday\n", "line 2: 2027-02-08 is a weekday, so it cannot be an adjusted"),
        ("2027-02-08,holiday\n2027-02-08,holiday\n", "line 3: 2027-02-08 is already given at"),
    ],
)
def test_a_bad_row_is_named(tmp_path: Path, rows: str, expected: str) -> None:
    path = tmp_path / "holidays.csv"
    path.write_text("date,kind\n" + rows)
    with pytest.raises(InputError, match=re.escape(expected)):
        read_holiday_file(path)
