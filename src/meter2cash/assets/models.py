"""Asset and customer records."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from meter2cash.db.base import Base, BigId, UtcDateTime

CUSTOMER_CLASSES = ("residential", "commercial", "industrial")


class Utility(Base):
    """The one utility this data home belongs to; guards against mixing two utilities."""

    __tablename__ = "utility"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Zone(Base):
    """供电所 / 片区: an operational area with its own team."""

    __tablename__ = "zones"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class TransformerArea(Base):
    """台区: customers fed by one distribution transformer, with its own supply meter."""

    __tablename__ = "transformer_areas"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    capacity_kva: Mapped[Decimal] = mapped_column(Numeric(12, 2))


class Concentrator(Base):
    """集中器: reads the meters of a transformer area over PLC or RF."""

    __tablename__ = "concentrators"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    address: Mapped[str] = mapped_column(String(16), unique=True)
    transformer_area_id: Mapped[int] = mapped_column(ForeignKey("transformer_areas.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="plc")


class Customer(Base):
    """A party that holds one or more accounts."""

    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint(
            "customer_class in ('residential','commercial','industrial')", name="class"
        ),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    customer_class: Mapped[str] = mapped_column(String(16))


class Route(Base):
    """A reading and billing route (抄表段) within a zone."""

    __tablename__ = "routes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)
    read_day: Mapped[int] = mapped_column(Integer, default=1)


class Account(Base):
    """户号: the billed customer account."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_no: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), index=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id"), index=True)
    tariff_code: Mapped[str] = mapped_column(String(64))
    household_size: Mapped[int] = mapped_column(Integer, default=1)
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=15)
    opened_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    prepay: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Prepay (预付费) account under remote fee control (费控)."""
    dunning_exemption: Mapped[str] = mapped_column(String(32), default="", server_default="")
    """A dunning exemption flag (e.g. ``hospital``, ``life_support``); "" = none."""


class ServicePoint(Base):
    """计量点: where service is delivered and a meter is installed."""

    __tablename__ = "service_points"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id"), index=True, nullable=True
    )
    transformer_area_id: Mapped[int] = mapped_column(ForeignKey("transformer_areas.id"), index=True)
    concentrator_id: Mapped[int | None] = mapped_column(
        ForeignKey("concentrators.id"), index=True, nullable=True
    )
    role: Mapped[str] = mapped_column(String(16), default="customer")  # customer | supply
    contracted_kva: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    contract_demand_kw: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    """Demand agreed in the supply contract [kW] (需量 billing), if billed by contract demand."""


class Meter(Base):
    """电能表: the physical device. Its multiplier lives on each installation."""

    __tablename__ = "meters"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meter_no: Mapped[str] = mapped_column(String(32), unique=True)
    address: Mapped[str] = mapped_column(String(12), unique=True)
    protocol: Mapped[str] = mapped_column(String(16), default="dlt645-2007")
    register_digits: Mapped[int] = mapped_column(Integer, default=6)
    records_intervals: Mapped[bool] = mapped_column(Boolean, default=False)


class MeterInstallation(Base):
    """One stretch of a meter at a service point, with its CT and PT ratios."""

    __tablename__ = "meter_installations"
    __table_args__ = (
        CheckConstraint("multiplier = ct_ratio * pt_ratio", name="multiplier"),
        UniqueConstraint("meter_id", "installed_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"), index=True)
    service_point_id: Mapped[int] = mapped_column(ForeignKey("service_points.id"), index=True)
    installed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ct_ratio: Mapped[int] = mapped_column(Integer, default=1)
    pt_ratio: Mapped[int] = mapped_column(Integer, default=1)
    multiplier: Mapped[int] = mapped_column(Integer, default=1)
    initial_read_kwh: Mapped[Decimal] = mapped_column(Numeric(14, 4), default=Decimal(0))
    """Total import register (A+) when installed [kWh, meter value]."""
    final_read_kwh: Mapped[Decimal | None] = mapped_column(Numeric(14, 4), nullable=True)
    """Total import register (A+) when removed [kWh, meter value] — the exchange record's
    final read; ``None`` while installed, or when none was recorded."""
