"""`create_*` factories for records tests: the smallest valid rows, named by what they are."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from meter2cash.assets.models import Account, Customer, Route, Zone
from meter2cash.billing.models import Bill, BillCycle
from meter2cash.tariffs.models import Tariff, TariffVersion


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
        household_size=3,
        payment_terms_days=15,
        opened_on=date(2020, 1, 1),
    )
    session.add(account)
    session.flush()
    return account


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
