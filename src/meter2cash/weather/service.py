"""Loading the weather bureau's daily temperatures."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.weather.files import read_weather_file
from meter2cash.weather.repository import WeatherLoad, store_weather, zone_codes


def load_weather_file(session: Session, clock: Clock, path: Path) -> WeatherLoad:
    """Check every row of ``path`` against the utility's zones first, then store them (all
    or nothing)."""
    return store_weather(session, clock, read_weather_file(path, zone_codes(session)), path.name)
