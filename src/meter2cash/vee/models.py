"""VEE findings: what a rule found, and whether estimation fixed it or a person must."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meter2cash.db.base import Base, BigId, UtcDateTime


class VeeFinding(Base):
    """One finding of one rule on one meter channel at one instant."""

    __tablename__ = "vee_findings"
    __table_args__ = (UniqueConstraint("meter_no", "channel", "ts", "rule"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meter_no: Mapped[str] = mapped_column(String(32), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    rule: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(16))  # information | issue | terminate
    detail: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # estimated | open | resolved
    found_at: Mapped[datetime] = mapped_column(UtcDateTime)
