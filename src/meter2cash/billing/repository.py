"""All billing queries. No SQL about bills lives anywhere else."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import (
    Account,
    Customer,
    Meter,
    MeterInstallation,
    ServicePoint,
)
from meter2cash.billing.models import Bill, BillCycle, BillLine


def billable_meters(session: Session, first: date, last: date) -> pd.DataFrame:
    """Accounts with the meter installed at their service point during [first, last].

    One row per account (the installation in force at the period's end); columns
    account_id, account_no, customer_class, route_id, tariff_code, contracted_kva,
    meter_no, multiplier, records_intervals.
    """
    period_end = datetime.combine(last, time.max, tzinfo=UTC)
    period_start = datetime.combine(first, time.min, tzinfo=UTC)
    stmt = (
        select(
            Account.id.label("account_id"),
            Account.account_no,
            Customer.customer_class,
            Account.route_id,
            Account.tariff_code,
            ServicePoint.contracted_kva,
            Meter.meter_no,
            MeterInstallation.multiplier,
            Meter.records_intervals,
            MeterInstallation.installed_at,
        )
        .join(Customer, Customer.id == Account.customer_id)
        .join(ServicePoint, ServicePoint.account_id == Account.id)
        .join(MeterInstallation, MeterInstallation.service_point_id == ServicePoint.id)
        .join(Meter, Meter.id == MeterInstallation.meter_id)
        .where(
            Account.opened_on <= last,
            or_(Account.closed_on.is_(None), Account.closed_on >= first),
            MeterInstallation.installed_at <= period_end,
            or_(
                MeterInstallation.removed_at.is_(None),
                MeterInstallation.removed_at > period_start,
            ),
        )
    )
    frame = pd.DataFrame(session.execute(stmt).mappings().all())
    if frame.empty:
        return frame
    frame = frame.sort_values(["account_id", "installed_at"]).drop_duplicates(
        "account_id", keep="last"
    )
    return frame.drop(columns="installed_at").reset_index(drop=True)


def already_billed(session: Session, cycle_ids: list[int]) -> set[int]:
    """Accounts with a live (not cancelled) bill in any of ``cycle_ids``."""
    stmt = select(Bill.account_id).where(Bill.cycle_id.in_(cycle_ids), Bill.status != "cancelled")
    return set(session.scalars(stmt))


def kwh_billed_since(session: Session, since: date, before: date) -> dict[int, object]:
    """kWh on live bills per account with period_start in [since, before)."""
    stmt = (
        select(Bill.account_id, func.sum(Bill.kwh))
        .where(Bill.period_start >= since, Bill.period_start < before, Bill.status != "cancelled")
        .group_by(Bill.account_id)
    )
    return dict(session.execute(stmt).tuples().all())


def recent_kwh(session: Session, before: date, months: int = 6) -> dict[int, list[object]]:
    """kWh of each account's live bills before ``before``, oldest first (last ``months``)."""
    since = before - timedelta(days=31 * months)
    stmt = (
        select(Bill.account_id, Bill.kwh)
        .where(Bill.period_start >= since, Bill.period_start < before, Bill.status != "cancelled")
        .order_by(Bill.account_id, Bill.period_start)
    )
    history: dict[int, list[object]] = {}
    for account_id, kwh in session.execute(stmt).tuples():
        history.setdefault(account_id, []).append(kwh)
    return {k: v[-months:] for k, v in history.items()}


def cycle_dates(session: Session, cycle_ids: list[int]) -> dict[int, tuple[date, date]]:
    stmt = select(BillCycle.id, BillCycle.bill_date, BillCycle.due_date).where(
        BillCycle.id.in_(cycle_ids)
    )
    return {cid: (bill_date, due) for cid, bill_date, due in session.execute(stmt).tuples()}


def bills_with_status(
    session: Session, status: str, period_start: date | None = None
) -> list[Bill]:
    stmt = select(Bill).where(Bill.status == status)
    if period_start is not None:
        stmt = stmt.where(Bill.period_start == period_start)
    return list(session.scalars(stmt.order_by(Bill.id)))


def bill_totals(session: Session) -> tuple[int, int]:
    """(issued bills, amount issued [fen]) over live issued bills."""
    count, amount = session.execute(
        select(func.count(Bill.id), func.coalesce(func.sum(Bill.total_minor), 0)).where(
            Bill.status == "issued"
        )
    ).one()
    return int(count), int(amount)


def status_counts(session: Session) -> dict[str, int]:
    stmt = select(Bill.status, func.count(Bill.id)).group_by(Bill.status)
    return {status: int(n) for status, n in session.execute(stmt).tuples()}


def line_totals(session: Session, bill_ids: list[int], kind: str) -> dict[int, int]:
    """Sum of line amounts [fen] of ``kind`` per bill."""
    totals: dict[int, int] = {}
    for start in range(0, len(bill_ids), 5000):
        stmt = (
            select(BillLine.bill_id, func.sum(BillLine.amount_minor))
            .where(BillLine.bill_id.in_(bill_ids[start : start + 5000]), BillLine.kind == kind)
            .group_by(BillLine.bill_id)
        )
        totals.update((b, int(t)) for b, t in session.execute(stmt).tuples())
    return totals


def bill_ids(session: Session, bill_nos: list[str]) -> list[int]:
    """Ids of ``bill_nos`` in the order given: bulk inserts look their ids up by number,
    which stays linear where INSERT … RETURNING over many batches does not."""
    found: dict[str, int] = {}
    for start in range(0, len(bill_nos), 5000):
        chunk = bill_nos[start : start + 5000]
        found.update(
            session.execute(select(Bill.bill_no, Bill.id).where(Bill.bill_no.in_(chunk)))
            .tuples()
            .all()
        )
    return [found[n] for n in bill_nos]


def stopped_by_review(session: Session) -> int:
    return int(session.scalar(select(func.count(Bill.id)).where(Bill.review_reasons != "")) or 0)


def bill_by_no(session: Session, bill_no: str) -> Bill | None:
    return session.scalar(select(Bill).where(Bill.bill_no == bill_no))


def issued_bill_frame(session: Session) -> pd.DataFrame:
    """Issued bills: account_no, bill_no, total_minor, bill_date, due_date."""
    stmt = (
        select(Account.account_no, Bill.bill_no, Bill.total_minor, Bill.bill_date, Bill.due_date)
        .join(Account, Account.id == Bill.account_id)
        .where(Bill.status == "issued")
        .order_by(Bill.id)
    )
    return pd.DataFrame(
        session.execute(stmt).tuples().all(),
        columns=["account_no", "bill_no", "total_minor", "bill_date", "due_date"],
    )
