"""Collections records: messages to customers, late fees, dunning and fee-control state."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from meter2cash.db.base import Base, BigId, UtcDateTime


class OutboxMessage(Base):
    """A message to a customer waiting to go out (SMS, email or letter), and what became of it.

    ``source_key`` makes it idempotent: the same step of the same account on the same day is
    queued once.
    """

    __tablename__ = "outbox_messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_key: Mapped[str] = mapped_column(String(120), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # sms | email | letter
    purpose: Mapped[str] = mapped_column(String(32))  # dunning | fee_control | …
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    document_path: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(
        String(16), index=True
    )  # queued | sent | delivered | failed
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class LateFee(Base):
    """A late fee (违约金) posted on a bill for the days through ``through``."""

    __tablename__ = "late_fees"
    __table_args__ = (UniqueConstraint("bill_id", "through"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"), index=True)
    through: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))


class DunningState(Base):
    """Where an account stands in dunning: the last step taken (``-1`` none) and since when."""

    __tablename__ = "dunning_states"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    step: Mapped[int] = mapped_column(Integer)
    step_name: Mapped[str] = mapped_column(String(32))
    since: Mapped[date] = mapped_column(Date)
    disconnected: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DunningStep(Base):
    """A step taken (or dunning ended): its actions, evidence pack and relay command."""

    __tablename__ = "dunning_steps"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    taken_on: Mapped[date] = mapped_column(Date, index=True)
    from_step: Mapped[int] = mapped_column(Integer)
    to_step: Mapped[int] = mapped_column(Integer)
    step_name: Mapped[str] = mapped_column(String(32))
    actions: Mapped[str] = mapped_column(String(200))
    overdue_minor: Mapped[int] = mapped_column(BigInteger)
    evidence_path: Mapped[str | None] = mapped_column(String(300), nullable=True)
    command_id: Mapped[int | None] = mapped_column(ForeignKey("meter_commands.id"), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FeeControlState(Base):
    """A prepay account's fee-control state (费控)."""

    __tablename__ = "fee_control_states"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    charged_through: Mapped[date | None] = mapped_column(Date, nullable=True)
    warned: Mapped[bool] = mapped_column(Boolean)
    zero_since: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    tripped: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FeeControlEvent(Base):
    """One fee-control action on a prepay account, for the audit trail and its measures."""

    __tablename__ = "fee_control_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    action: Mapped[str] = mapped_column(String(32))
    balance_minor: Mapped[int] = mapped_column(BigInteger)
    command_id: Mapped[int | None] = mapped_column(ForeignKey("meter_commands.id"), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
