"""Head-end records: collection days (the basis of read success rate) and remote commands."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Integer, Numeric, String, Text, UniqueConstraint
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


COMMAND_KINDS = ("on_demand_read", "time_sync", "relay_trip", "relay_close")
COMMAND_STATUSES = ("requested", "sent", "confirmed", "failed")


class MeterCommand(Base):
    """A remote command to a meter and where it stands: requested → sent → confirmed or
    failed. ``request_key`` makes a request idempotent (the same key twice is one command)."""

    __tablename__ = "meter_commands"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_key: Mapped[str] = mapped_column(String(80), unique=True)
    meter_no: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    frame_hex: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)


class Alarm(Base):
    """A status alarm on a meter: tamper, power down, reverse energy, sudden load change."""

    __tablename__ = "alarms"
    __table_args__ = (UniqueConstraint("meter_no", "kind", "ts"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meter_no: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    ts: Mapped[datetime] = mapped_column(UtcDateTime)
    detail: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ReadExchange(Base):
    """How one item of a meter was got over the wire for a consumption day: the daily
    ``freeze`` (first try, after retries, unreachable, error reply — or later backfilled from
    the meter's history), the ``curve`` (complete, partial, failed) or the event ``sweep``
    (done, failed)."""

    __tablename__ = "read_exchanges"
    __table_args__ = (UniqueConstraint("meter_no", "item", "day", "collected_on"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meter_no: Mapped[str] = mapped_column(String(32), index=True)
    item: Mapped[str] = mapped_column(String(8))
    day: Mapped[date] = mapped_column(Date, index=True)
    collected_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)


class EventCounter(Base):
    """The last value the head-end read of a meter's event counter (a count DI such as
    ``03110000`` power-downs, or ``00020000`` the reverse active register): a rise since the
    last sweep is what makes the head-end fetch the new event records."""

    __tablename__ = "event_counters"
    __table_args__ = (UniqueConstraint("meter_no", "counter"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meter_no: Mapped[str] = mapped_column(String(32))
    counter: Mapped[str] = mapped_column(String(8))
    """The DI read, 8 hex digits DI3 first."""
    value: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    read_on: Mapped[date] = mapped_column(Date)
