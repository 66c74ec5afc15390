"""`create_*` factories for records tests: the smallest valid rows, named by what they are."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from meter2cash import spine
from meter2cash.assets.models import (
    Account,
    Customer,
    Meter,
    MeterInstallation,
    Route,
    ServicePoint,
    TransformerArea,
    Utility,
    Zone,
)
from meter2cash.billing.models import Bill, BillCycle
from meter2cash.core.settings import Settings
from meter2cash.db.migrate import upgrade
from meter2cash.db.session import make_engine
from meter2cash.simulator import UtilitySpec
from meter2cash.tariffs.models import Tariff, TariffVersion
from meter2cash.workspace import Workspace, open_workspace


def create_account(
    session: Session, account_no: str = "A001", customer_class: str = "residential"
) -> Account:
    zone = session.query(Zone).filter_by(code="Z1").one_or_none()
    if zone is None:
        zone = Zone(code="Z1", name="城东供电所")
        session.add(zone)
        session.flush()
        session.add(Route(code="R1", zone_id=zone.id, read_day=1))
        session.flush()
    route = session.query(Route).filter_by(code="R1").one()
    customer = Customer(customer_no=f"C-{account_no}", name="张三", customer_class=customer_class)
    session.add(customer)
    session.flush()
    account = Account(
        account_no=account_no,
        customer_id=customer.id,
        zone_id=zone.id,
        route_id=route.id,
        tariff_code="RES-TIER-ZJ",
        household_size=3 if customer_class == "residential" else 0,
        payment_terms_days=15,
        opened_on=date(2020, 1, 1),
    )
    session.add(account)
    session.flush()
    return account


def serve_from_area(session: Session, account: Account, area_code: str) -> None:
    """A customer service point of ``account`` under a new 400 kVA transformer area
    ``area_code`` in the account's zone."""
    area = TransformerArea(
        code=area_code, zone_id=account.zone_id, name=area_code, capacity_kva=Decimal(400)
    )
    session.add(area)
    session.flush()
    session.add(
        ServicePoint(
            code=f"SP-{account.account_no}",
            account_id=account.id,
            transformer_area_id=area.id,
            role="customer",
        )
    )


def create_bill(
    session: Session,
    account: Account,
    total_minor: int,
    bill_date: date,
    *,
    status: str = "approved",
) -> Bill:
    version = session.query(TariffVersion).first()
    if version is None:
        tariff = Tariff(code="RES-TIER-ZJ", name="居民阶梯", customer_class="residential")
        session.add(tariff)
        session.flush()
        version = TariffVersion(
            tariff_id=tariff.id,
            version=1,
            effective_from=date(2024, 1, 1),
            document={},
            content_sha256="0" * 64,
            loaded_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        session.add(version)
        session.flush()
    start = bill_date.replace(day=1)
    cycle = (
        session.query(BillCycle)
        .filter_by(period_start=start, route_id=account.route_id)
        .one_or_none()
    )
    if cycle is None:
        cycle = BillCycle(
            route_id=account.route_id,
            period_start=start,
            period_end=bill_date,
            bill_date=bill_date,
            due_date=bill_date,
            status="open",
        )
        session.add(cycle)
        session.flush()
    bill = Bill(
        bill_no=f"{bill_date:%Y%m%d}-{account.account_no}",
        account_id=account.id,
        cycle_id=cycle.id,
        revision=0,
        tariff_version_id=version.id,
        period_start=start,
        period_end=bill_date,
        kwh=Decimal(100),
        total_minor=total_minor,
        currency="CNY",
        estimated=False,
        status=status,
        bill_date=bill_date,
        due_date=bill_date,
        review_reasons="",
    )
    session.add(bill)
    session.flush()
    return bill


@dataclass(frozen=True, slots=True)
class Places:
    """Where a hand-built utility's accounts sit: one zone, route and transformer area."""

    zone_id: int
    route_id: int
    area_id: int


def create_places(session: Session, fingerprint: str = "test") -> Places:
    """The utility row (bill documents and evidence packs print its name) with zone Z1,
    route R1 and transformer area T1."""
    session.add(
        Utility(
            name="测试供电公司",
            fingerprint=fingerprint,
            timezone="Asia/Shanghai",
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )
    zone = Zone(code="Z1", name="城东供电所")
    session.add(zone)
    session.flush()
    route = Route(code="R1", zone_id=zone.id, read_day=1)
    area = TransformerArea(code="T1", zone_id=zone.id, name="一号台区", capacity_kva=Decimal(630))
    session.add_all([route, area])
    session.flush()
    return Places(zone.id, route.id, area.id)


def create_metered_account(
    session: Session,
    places: Places,
    account_no: str,
    *,
    tariff: str = "RES-TIER-ZJ",
    opened_on: date = date(2020, 1, 1),
    closed_on: date | None = None,
    customer_class: str = "residential",
    contracted_kva: Decimal | None = None,
) -> int:
    """An account (residential unless ``customer_class`` says otherwise) with its service
    point in ``places`` (contracted ``contracted_kva`` [kVA]); returns the point's id."""
    customer = Customer(customer_no=f"C-{account_no}", name="张三", customer_class=customer_class)
    session.add(customer)
    session.flush()
    account = Account(
        account_no=account_no,
        customer_id=customer.id,
        zone_id=places.zone_id,
        route_id=places.route_id,
        tariff_code=tariff,
        household_size=3 if customer_class == "residential" else 0,
        payment_terms_days=15,
        opened_on=opened_on,
        closed_on=closed_on,
    )
    session.add(account)
    session.flush()
    point = ServicePoint(
        code=f"SP-{account_no}",
        account_id=account.id,
        transformer_area_id=places.area_id,
        contracted_kva=contracted_kva,
    )
    session.add(point)
    session.flush()
    return point.id


def create_meter(
    session: Session, meter_no: str, *, address: str | None = None, curve: bool = False
) -> int:
    """A DL/T 645 meter with a six-digit register (its address the number, zero-filled,
    unless given); ``curve``: it records 15-minute data."""
    meter = Meter(
        meter_no=meter_no,
        address=address or meter_no[-12:].rjust(12, "0"),
        register_digits=6,
        records_intervals=curve,
    )
    session.add(meter)
    session.flush()
    return meter.id


def install_meter(
    session: Session,
    meter_id: int,
    point_id: int,
    installed_at: datetime,
    *,
    ct: int = 1,
    pt: int = 1,
    removed_at: datetime | None = None,
    initial: str = "0",
    final: str | None = None,
) -> None:
    """The meter installed at the point from ``installed_at`` (× ``ct`` × ``pt``), with its
    initial and (when removed) final A+ reads [kWh]."""
    session.add(
        MeterInstallation(
            meter_id=meter_id,
            service_point_id=point_id,
            installed_at=installed_at,
            removed_at=removed_at,
            ct_ratio=ct,
            pt_ratio=pt,
            multiplier=ct * pt,
            initial_read_kwh=Decimal(initial),
            final_read_kwh=None if final is None else Decimal(final),
        )
    )


@contextmanager
def simulated_workspace(
    home: Path, spec: UtilitySpec, database_url: str | None = None
) -> Iterator[Workspace]:
    """A data home (migrated records, SQLite unless ``database_url``) holding the simulated
    utility of ``spec`` with every day collected from its feed and validated, nothing billed."""
    env = {"M2C_HOME": str(home)} | ({"M2C_DATABASE_URL": database_url} if database_url else {})
    settings = Settings.from_env(env)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    with open_workspace(settings) as ws:
        sim = spine.simulate(ws, spec)
        days = spine.simulated_days(ws)
        spine.collect(ws, sim, days, lambda: None, over_tcp=False)
        spine.validate(ws, days[0] + timedelta(days=1), days[-1] + timedelta(days=1))
        yield ws
