"""Loading a utility's holiday list."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.holidays.files import read_holiday_file
from meter2cash.holidays.repository import HolidayLoad, store_holidays


def load_holiday_file(session: Session, clock: Clock, path: Path) -> HolidayLoad:
    """Check every row of ``path`` first, then store them (all or nothing)."""
    return store_holidays(session, clock, read_holiday_file(path), path.name)
