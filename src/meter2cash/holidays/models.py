"""Holidays a utility loaded: public holidays and weekend days worked instead (调休上班)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from sqlalchemy import CheckConstraint, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from meter2cash.db.base import Base, BigId, UtcDateTime

HOLIDAY_KINDS: Final = ("holiday", "workday")
"""``holiday``: a public holiday (weekend days absorbed into the break included);
``workday``: a Saturday or Sunday worked in exchange for a longer break."""


class Holiday(Base):
    """One special local date of the utility's calendar. A year with any row here is the
    utility's own; the other years follow the built-in calendar."""

    __tablename__ = "holidays"
    __table_args__ = (CheckConstraint("kind in ('holiday','workday')", name="kind"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(200))
    """The file the row came from."""
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime)
