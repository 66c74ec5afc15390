"""Journal entries, postings and payments. Rows are only ever inserted.

A posting's ``amount_minor`` is signed: debit positive, credit negative, so an entry
balances when its postings sum to zero (checked in code, and by a deferred trigger on
PostgreSQL).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from meter2cash.db.base import Base, BigId, UtcDateTime


class LedgerAccount(Base):
    """A general-ledger account of the chart (receivables, cash, revenue, funds payable)."""

    __tablename__ = "ledger_accounts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # asset | liability | revenue


class JournalEntry(Base):
    """One balanced business event; idempotent on (source_type, source_key)."""

    __tablename__ = "journal_entries"
    __table_args__ = (UniqueConstraint("source_type", "source_key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_type: Mapped[str] = mapped_column(String(32))
    source_key: Mapped[str] = mapped_column(String(80))
    booked_on: Mapped[date] = mapped_column(Date, index=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    description: Mapped[str] = mapped_column(String(200))
    reverses_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("journal_entries.id"), nullable=True
    )


class Posting(Base):
    """One leg of an entry; ``account_id`` and ``bill_id`` tie receivable legs to the sub-ledger."""

    __tablename__ = "postings"
    __table_args__ = (
        Index(
            "ix_postings_account_bill", "account_id", "bill_id", "ledger_account_id", "amount_minor"
        ),
    )
    """Covers a receivable look-up by account: payments read open bills without the table."""
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    bill_id: Mapped[int | None] = mapped_column(ForeignKey("bills.id"), nullable=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")


class Payment(Base):
    """Money received; idempotent on (channel, transaction_id)."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("channel", "transaction_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    transaction_id: Mapped[str] = mapped_column(String(80))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    received_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))
    batch_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    """The bank file (:class:`PaymentBatch`) the payment came in, if any."""


class PaymentBatch(Base):
    """A bank file as loaded: its control figures, what posted and what was set aside."""

    __tablename__ = "payment_batches"
    __table_args__ = (UniqueConstraint("channel", "batch_key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    batch_key: Mapped[str] = mapped_column(String(80))
    file_name: Mapped[str] = mapped_column(String(300))
    value_date: Mapped[date] = mapped_column(Date)
    declared_count: Mapped[int] = mapped_column(Integer)
    declared_total_minor: Mapped[int] = mapped_column(BigInteger)
    control_total_verified: Mapped[bool] = mapped_column(Boolean)
    posted_count: Mapped[int] = mapped_column(Integer)
    posted_minor: Mapped[int] = mapped_column(BigInteger)
    duplicate_count: Mapped[int] = mapped_column(Integer)
    quarantined_count: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class QuarantinedLine(Base):
    """A line of a bank file that was set aside, with why."""

    __tablename__ = "payment_quarantine"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("payment_batches.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(String(500))
