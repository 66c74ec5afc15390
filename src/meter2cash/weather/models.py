"""Daily mean temperature as the weather bureau gave it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Final

from sqlalchemy import Date, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meter2cash.db.base import Base, BigId, UtcDateTime

WHOLE_UTILITY: Final = "*"
"""``zone_code`` of a series that stands for every zone (a utility with one weather station)."""


class WeatherDay(Base):
    """The daily mean temperature of one local day in one zone (or the whole utility)."""

    __tablename__ = "weather_daily"
    __table_args__ = (UniqueConstraint("zone_code", "local_date"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    zone_code: Mapped[str] = mapped_column(String(32))
    """A zone's code, or :data:`WHOLE_UTILITY`."""
    local_date: Mapped[date] = mapped_column(Date)
    temperature_c: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    """Daily mean air temperature [°C]."""
    source: Mapped[str] = mapped_column(String(200))
    """The file the value came from."""
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime)
