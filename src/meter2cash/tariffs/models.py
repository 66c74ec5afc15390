"""Tariff records: a tariff and its effective-dated versions (the parsed document as JSON)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meter2cash.db.base import Base, BigId, UtcDateTime


class Tariff(Base):
    """电价: a named price structure; its prices live in versions."""

    __tablename__ = "tariffs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    customer_class: Mapped[str] = mapped_column(String(16))


class TariffVersion(Base):
    """One version of a tariff, in force from ``effective_from`` until the next one."""

    __tablename__ = "tariff_versions"
    __table_args__ = (
        UniqueConstraint("tariff_id", "version"),
        UniqueConstraint("tariff_id", "effective_from"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tariff_id: Mapped[int] = mapped_column(ForeignKey("tariffs.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    document: Mapped[dict[str, object]] = mapped_column(JSON)
    content_sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime)
