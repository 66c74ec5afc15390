"""Holiday list files: ``date`` (YYYY-MM-DD), optional ``kind`` (``holiday`` | ``workday``,
default ``holiday``) and ``name``; each file is the whole list of every year it mentions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from meter2cash.core.csvfiles import parse_date, read_rows
from meter2cash.core.errors import InputError
from meter2cash.holidays.models import HOLIDAY_KINDS


@dataclass(frozen=True, slots=True)
class HolidayRow:
    local_date: date
    kind: str
    name: str


def read_holiday_file(path: Path) -> list[HolidayRow]:
    """The rows of holiday file ``path``, checked: a date given twice, an unknown kind, a
    ``workday`` that is not a Saturday or Sunday or a name over 100 characters stop the
    file with the line named."""
    rows: list[HolidayRow] = []
    seen: dict[date, str] = {}
    for row in read_rows(path, ["date"], ["kind", "name"]):
        day = parse_date(row.cells["date"], row.where)
        kind = row.cells.get("kind") or "holiday"
        if kind not in HOLIDAY_KINDS:
            raise InputError(f"{row.where}: kind {kind!r} is not holiday or workday")
        if kind == "workday" and day.weekday() < 5:
            raise InputError(
                f"{row.where}: {day} is a weekday, so it cannot be an adjusted workday",
                "list as workday only the Saturdays and Sundays worked (调休上班)",
            )
        name = row.cells.get("name", "")
        if len(name) > 100:
            raise InputError(f"{row.where}: the name is longer than 100 characters")
        if day in seen:
            raise InputError(f"{row.where}: {day} is already given at {seen[day]}")
        seen[day] = row.where
        rows.append(HolidayRow(day, kind, name))
    return rows
