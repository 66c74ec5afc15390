"""Collection records: one row per local day collected, the basis of read success rate."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from meter2cash.db.base import Base, BigId, UtcDateTime


class CollectionDay(Base):
    """What the head-end collected for one local day (采集): expected vs read meters."""

    __tablename__ = "collection_days"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, unique=True)
    source: Mapped[str] = mapped_column(String(64))
    meters_expected: Mapped[int] = mapped_column(Integer)
    meters_read: Mapped[int] = mapped_column(Integer)
    rows_received: Mapped[int] = mapped_column(Integer)
    rows_accepted: Mapped[int] = mapped_column(Integer)
    rows_duplicate: Mapped[int] = mapped_column(Integer)
    rows_conflicting: Mapped[int] = mapped_column(Integer)
    rows_quarantined: Mapped[int] = mapped_column(Integer)
    collected_at: Mapped[datetime] = mapped_column(UtcDateTime)
