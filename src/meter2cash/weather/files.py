"""Weather files: ``date`` (local, YYYY-MM-DD), ``temperature_c`` (daily mean [°C]) and
optionally ``zone`` (a zone code; blank or no column = the whole utility)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Final

from meter2cash.core.csvfiles import parse_date, parse_decimal, read_rows
from meter2cash.core.errors import InputError
from meter2cash.weather.models import WHOLE_UTILITY

PLAUSIBLE_C: Final = (Decimal(-60), Decimal(60))
"""A daily mean outside this range [°C] is a typing or unit error (°F, tenths of °C)."""


@dataclass(frozen=True, slots=True)
class WeatherRow:
    zone_code: str
    """A zone's code, or :data:`~meter2cash.weather.models.WHOLE_UTILITY`."""
    local_date: date
    temperature_c: Decimal


def read_weather_file(path: Path, zones: Collection[str]) -> list[WeatherRow]:
    """The rows of weather file ``path``, checked against the utility's ``zones``: a bad
    date, a temperature that is not a number with at most 2 decimals in −60…60 °C, a zone
    not in ``zones``, or a (zone, date) given twice stop the file with the line named."""
    rows: list[WeatherRow] = []
    seen: dict[tuple[str, date], str] = {}
    for row in read_rows(path, ["date", "temperature_c"], ["zone"]):
        day = parse_date(row.cells["date"], row.where)
        text = row.cells["temperature_c"]
        if not text:
            raise InputError(f"{row.where}: no temperature_c", "leave out days without one")
        value = parse_decimal(text, row.where, "temperature_c")
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            raise InputError(f"{row.where}: temperature_c {text} has more than 2 decimals")
        if not PLAUSIBLE_C[0] <= value <= PLAUSIBLE_C[1]:
            raise InputError(
                f"{row.where}: temperature_c {text} is outside −60…60 °C",
                "give the daily mean in degrees Celsius",
            )
        zone = row.cells.get("zone") or WHOLE_UTILITY
        if zone != WHOLE_UTILITY and zone not in zones:
            raise InputError(
                f"{row.where}: unknown zone {zone!r}",
                "use a zone code of this utility, or leave zone blank for the whole utility",
            )
        key = (zone, day)
        if key in seen:
            whose = "the whole utility" if zone == WHOLE_UTILITY else f"zone {zone}"
            raise InputError(f"{row.where}: {day} for {whose} is already given at {seen[key]}")
        seen[key] = row.where
        rows.append(WeatherRow(zone, day, value))
    return rows
