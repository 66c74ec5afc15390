"""Journal entries, postings and payments. Rows are only ever inserted.

A posting's ``amount_minor`` is signed: debit positive, credit negative, so an entry
balances when its postings sum to zero (checked in code, and by a deferred trigger on
PostgreSQL).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, UniqueConstraint
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
    __table_args__ = (Index("ix_postings_account_bill", "account_id", "bill_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    ledger_account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
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
