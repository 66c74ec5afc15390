"""Work orders: field tasks, from a system's suggestion to a person's close-out."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meter2cash.db.base import Base, BigId, UtcDateTime


class WorkOrder(Base):
    """工单: a field task on a meter or concentrator. Analyses raise them as ``suggested``;
    one open suggestion per (kind, target) — raising it again the same day changes nothing."""

    __tablename__ = "work_orders"
    __table_args__ = (UniqueConstraint("kind", "target_code", "raised_on"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    target_type: Mapped[str] = mapped_column(String(32))
    target_code: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="suggested")
    source: Mapped[str] = mapped_column(String(64))
    raised_on: Mapped[date] = mapped_column(Date)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
