"""Bill cycles, bills and bill lines. A bill is never edited once issued: it is cancelled
and a new revision is issued (退补)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from meter2cash.db.base import Base, BigId, UtcDateTime

BILL_STATUSES = ("draft", "in_review", "approved", "issued", "cancelled")


class BillCycle(Base):
    """A billing period for one route: local dates, inclusive."""

    __tablename__ = "bill_cycles"
    __table_args__ = (UniqueConstraint("route_id", "period_start"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    bill_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")


class Bill(Base):
    """A customer's bill for one cycle; ``revision`` counts cancel-and-reissue."""

    __tablename__ = "bills"
    __table_args__ = (
        UniqueConstraint("account_id", "cycle_id", "revision"),
        CheckConstraint(
            "status in ('draft','in_review','approved','issued','cancelled')", name="status"
        ),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bill_no: Mapped[str] = mapped_column(String(40), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    """Looked up through the unique (account_id, cycle_id, revision)."""
    cycle_id: Mapped[int] = mapped_column(ForeignKey("bill_cycles.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    tariff_version_id: Mapped[int] = mapped_column(ForeignKey("tariff_versions.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    kwh: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    max_demand_kw: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    multiplier: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """CT × PT the bill was rated with (review compares it with the last bill's)."""
    carried_export_kwh: Mapped[Decimal | None] = mapped_column(Numeric(16, 4), nullable=True)
    """Exported energy left over after netting, carried to the next bill [kWh] (net metering)."""
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    bill_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    replaces_bill_id: Mapped[int | None] = mapped_column(ForeignKey("bills.id"), nullable=True)
    review_reasons: Mapped[str] = mapped_column(Text, default="")


class BillLine(Base):
    """One itemised charge: energy by period and tier, fixed, demand, funds, PF adjustment."""

    __tablename__ = "bill_lines"
    __table_args__ = (UniqueConstraint("bill_id", "seq"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"))
    """Looked up through the unique (bill_id, seq)."""
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(Numeric(16, 4))
    unit: Mapped[str] = mapped_column(String(16))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(18, 10))
    """[yuan per unit]; ten decimals hold fund prices such as 0.00196875 yuan/kWh exactly."""
    amount_minor: Mapped[int] = mapped_column(BigInteger)
