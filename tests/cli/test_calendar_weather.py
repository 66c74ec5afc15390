"""`m2c calendar load | show` and `m2c weather load | show` as a person runs them, bad files
included: one line naming the file and row, exit 2, nothing of the file stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meter2cash.assets.models import Zone
from meter2cash.core.settings import Settings
from meter2cash.db.session import make_engine, unit_of_work
from tests.cli.test_bad_input import _one_line_error
from tests.cli.test_spine import m2c


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data home whose records know zones Z1 and Z2."""
    assert m2c(tmp_path, "db", "upgrade").returncode == 0
    engine = make_engine(Settings.from_env({"M2C_HOME": str(tmp_path)}).database_url)
    with unit_of_work(engine) as session:
        session.add_all([Zone(code="Z1", name="供电所 1"), Zone(code="Z2", name="供电所 2")])
    engine.dispose()
    return tmp_path


def _json(home: Path, *args: str) -> Any:
    result = m2c(home, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_weather_loads_once_and_shows_each_series(home: Path) -> None:
    good = home / "weather.csv"
    good.write_text(
        "date,zone,temperature_c,humidity\n"
        "2026-07-01,Z1,28.4,80\n2026-07-03,Z1,30.05,70\n"
        "2026-07-01,,27.9,75\n2026-07-02,,29,75\n"
    )
    assert _json(home, "weather", "load", str(good)) == {"added": 4, "changed": 0, "unchanged": 0}
    assert _json(home, "weather", "load", str(good)) == {"added": 0, "changed": 0, "unchanged": 4}
    shown = {s["zone_code"]: s for s in _json(home, "weather", "show")}
    assert shown["Z1"]["days"] == 2 and shown["Z1"]["missing_days"] == 1
    assert shown["Z1"]["max_c"] == pytest.approx(30.05)
    assert shown["*"]["first"] == "2026-07-01" and shown["*"]["last"] == "2026-07-02"
    table = m2c(home, "weather", "show").stdout
    assert "zone Z1" in table and "the whole utility" in table


def test_a_bad_weather_file_names_the_row_and_stores_nothing(home: Path) -> None:
    bad = home / "weather.csv"
    bad.write_text("date,zone,temperature_c\n2026-07-01,Z1,28\n2026-07-02,Z9,28\n")
    assert "weather.csv line 3: unknown zone 'Z9'" in _one_line_error(
        m2c(home, "weather", "load", str(bad))
    )
    assert _json(home, "weather", "show") == []


def test_a_utilitys_holiday_list_replaces_the_built_in_years_it_covers(home: Path) -> None:
    built_in = _json(home, "calendar", "show", "--year", "2027")
    assert {d["source"] for d in built_in} == {"built-in"}
    notice = home / "holidays-2027.csv"
    notice.write_text(
        "date,kind,name\n2027-02-06,holiday,春节\n2027-02-07,holiday,春节\n"
        "2027-02-08,holiday,春节\n2027-02-20,workday,春节调休\n"
    )
    assert _json(home, "calendar", "load", str(notice)) == {
        "years": [2027],
        "added": 4,
        "changed": 0,
        "removed": 0,
        "unchanged": 0,
    }
    own = _json(home, "calendar", "show", "--year", "2027")
    assert [(d["local_date"], d["kind"], d["source"]) for d in own] == [
        ("2027-02-06", "holiday", "holidays-2027.csv"),
        ("2027-02-07", "holiday", "holidays-2027.csv"),
        ("2027-02-08", "holiday", "holidays-2027.csv"),
        ("2027-02-20", "workday", "holidays-2027.csv"),
    ]
    notice.write_text("date,kind,name\n2027-02-06,holiday,春节\n2027-02-07,holiday,春节\n")
    again = _json(home, "calendar", "load", str(notice))
    assert again["removed"] == 2 and again["unchanged"] == 2
    assert {d["source"] for d in _json(home, "calendar", "show", "--year", "2026")} == {"built-in"}


def test_a_bad_holiday_file_names_the_row_and_stores_nothing(home: Path) -> None:
    bad = home / "holidays.csv"
    bad.write_text("date,kind\n2027-02-06,holiday\n2027-02-08,workday\n")
    assert "holidays.csv line 3: 2027-02-08 is a weekday" in _one_line_error(
        m2c(home, "calendar", "load", str(bad))
    )
    assert {d["source"] for d in _json(home, "calendar", "show", "--year", "2027")} == {"built-in"}
