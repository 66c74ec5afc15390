"""All billing queries. No SQL about bills lives anywhere else."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.orm import Session

from meter2cash.assets.models import (
    Account,
    Customer,
    Meter,
    MeterInstallation,
    ServicePoint,
    TransformerArea,
    Zone,
)
from meter2cash.billing.models import Bill, BillCycle, BillLine
from meter2cash.db.audit import AuditEvent
from meter2cash.db.frames import select_frame
from meter2cash.tariffs.models import Tariff, TariffVersion

CHUNK = 5000
MANY_ACCOUNTS = 50_000
"""Beyond this many accounts, one scan of every account beats ``CHUNK``-sized IN lists."""
_Row = TypeVar("_Row", bound=tuple[Any, ...])


def billable_meters(
    session: Session, first: date, last: date, account_ids: Collection[int] | None = None
) -> pd.DataFrame:
    """Accounts (all, or ``account_ids``) open during [first, last] with the meter
    installations at their service point that may overlap it.

    One row per installation (a meter exchange or a CT/PT change adds one), ordered by
    account and installation time; columns account_id, account_no, customer_class,
    route_id, tariff_code, contracted_kva, opened_on, closed_on, meter_no, multiplier,
    records_intervals, register_digits, installed_at, removed_at, initial_read_kwh,
    final_read_kwh. The window is a day wider each side than [first, last] in UTC, so
    no local time zone misses one; :func:`determinant_frame.installation_segments` clips
    them to the local billed days.
    """
    period_end = datetime.combine(last + timedelta(days=1), time.max, tzinfo=UTC)
    period_start = datetime.combine(first - timedelta(days=1), time.min, tzinfo=UTC)
    stmt = (
        select(
            Account.id.label("account_id"),
            Account.account_no,
            Customer.customer_class,
            Account.route_id,
            Account.tariff_code,
            ServicePoint.contracted_kva,
            Account.opened_on,
            Account.closed_on,
            Meter.meter_no,
            MeterInstallation.multiplier,
            Meter.records_intervals,
            Meter.register_digits,
            MeterInstallation.installed_at,
            MeterInstallation.removed_at,
            MeterInstallation.initial_read_kwh,
            MeterInstallation.final_read_kwh,
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
    if account_ids is not None:
        stmt = stmt.where(Account.id.in_(list(account_ids)))
    frame = select_frame(session, stmt)
    if frame.empty:
        return pd.DataFrame()
    return frame.sort_values(["account_id", "installed_at"], kind="stable").reset_index(drop=True)


def already_billed(session: Session, cycle_ids: list[int]) -> set[int]:
    """Accounts with a live (not cancelled) bill in any of ``cycle_ids``."""
    stmt = select(Bill.account_id).where(Bill.cycle_id.in_(cycle_ids), Bill.status != "cancelled")
    return set(session.scalars(stmt))


def kwh_billed_since(
    session: Session, since: date, before: date, account_ids: Collection[int] | None = None
) -> dict[int, object]:
    """kWh on live bills per account (all, or ``account_ids``) with period_start in
    [since, before)."""
    stmt = (
        select(Bill.account_id, func.sum(Bill.kwh))
        .where(Bill.period_start >= since, Bill.period_start < before, Bill.status != "cancelled")
        .group_by(Bill.account_id)
    )
    if account_ids is not None:
        stmt = stmt.where(Bill.account_id.in_(list(account_ids)))
    return dict(session.execute(stmt).tuples().all())


def recent_bills(
    session: Session, before: date, months: int = 6, account_ids: Collection[int] | None = None
) -> pd.DataFrame:
    """Live bills (of all accounts, or ``account_ids``) that start in the ``months`` before
    ``before``: account_id, period_start, kwh, estimated, multiplier, tariff_code,
    max_demand_kw (floats; NaN where unknown)."""
    since = before - timedelta(days=31 * months)
    stmt = (
        select(
            Bill.account_id,
            Bill.period_start,
            Bill.kwh,
            Bill.estimated,
            Bill.multiplier,
            Tariff.code.label("tariff_code"),
            Bill.max_demand_kw,
        )
        .join(TariffVersion, TariffVersion.id == Bill.tariff_version_id)
        .join(Tariff, Tariff.id == TariffVersion.tariff_id)
        .where(Bill.period_start >= since, Bill.period_start < before, Bill.status != "cancelled")
    )
    if account_ids is not None:
        stmt = stmt.where(Bill.account_id.in_(list(account_ids)))
    frame = select_frame(session, stmt)
    frame["multiplier"] = frame["multiplier"].astype(np.float64)
    frame["estimated"] = frame["estimated"].astype(bool)
    return frame


def _frame(rows: Sequence[tuple[Any, ...]], columns: list[str]) -> pd.DataFrame:
    """``rows`` as a frame, built column by column: handing pandas the result rows
    themselves costs an attribute probe per row, seconds at a million rows."""
    values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    return pd.DataFrame(dict(zip(columns, values, strict=True)))


def _with_places(stmt: Select[_Row]) -> Select[_Row]:
    """``stmt`` over Account, joined to its zone and customer service point's transformer area."""
    return (
        stmt.join(Zone, Zone.id == Account.zone_id)
        .join(
            ServicePoint,
            (ServicePoint.account_id == Account.id) & (ServicePoint.role == "customer"),
        )
        .join(TransformerArea, TransformerArea.id == ServicePoint.transformer_area_id)
    )


def account_places(session: Session, account_ids: Collection[int]) -> pd.DataFrame:
    """account_id, zone, transformer_area (codes) and closed_on of ``account_ids``."""
    columns = ["account_id", "zone", "transformer_area", "closed_on"]
    ids = sorted(account_ids)
    rows: list[tuple[object, ...]] = []
    if len(ids) > MANY_ACCOUNTS:
        stmt = _with_places(
            select(
                Account.id.label("account_id"),
                Zone.code.label("zone"),
                TransformerArea.code.label("transformer_area"),
                Account.closed_on,
            )
        )
        every = select_frame(session, stmt)
        return every[every["account_id"].isin(ids)].drop_duplicates("account_id")
    for start in range(0, len(ids), CHUNK):
        stmt = _with_places(
            select(Account.id, Zone.code, TransformerArea.code, Account.closed_on)
        ).where(Account.id.in_(ids[start : start + CHUNK]))
        rows.extend(session.execute(stmt).tuples().all())
    return pd.DataFrame(rows, columns=columns).drop_duplicates("account_id")


def period_peers(
    session: Session, period_start: date, tariff_codes: Collection[str], exclude: Collection[int]
) -> pd.DataFrame:
    """Live bills of the period starting ``period_start`` on ``tariff_codes``, of accounts not
    in ``exclude``: customer_class, tariff_code, zone, transformer_area, kwh, days."""
    stmt = _with_places(
        select(
            Bill.account_id,
            Customer.customer_class,
            Account.tariff_code,
            Zone.code.label("zone"),
            TransformerArea.code.label("transformer_area"),
            Bill.kwh,
            Bill.period_start,
            Bill.period_end,
        )
        .select_from(Bill)
        .join(Account, Account.id == Bill.account_id)
        .join(Customer, Customer.id == Account.customer_id)
    ).where(
        Bill.period_start == period_start,
        Bill.status != "cancelled",
        Account.tariff_code.in_(list(tariff_codes)),
    )
    frame = select_frame(session, stmt).drop_duplicates("account_id")
    frame = frame[~frame["account_id"].isin(list(exclude))]
    span = pd.to_datetime(frame["period_end"]) - pd.to_datetime(frame["period_start"])
    frame["days"] = span.dt.days + 1
    return frame.drop(columns=["account_id", "period_start", "period_end"])


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


def bill_count_and_total(session: Session, bills: ColumnElement[bool]) -> tuple[int, int]:
    """(bills matching ``bills``, their amount [fen])."""
    count, amount = session.execute(
        select(func.count(Bill.id), func.coalesce(func.sum(Bill.total_minor), 0)).where(bills)
    ).one()
    return int(count), int(amount)


def mark_issued(session: Session, bills: ColumnElement[bool], at: datetime) -> None:
    session.execute(
        update(Bill)
        .where(bills)
        .values(status="issued", issued_at=at)
        .execution_options(synchronize_session=False)
    )


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


def latest_revisions(session: Session, cycle_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per account with bills in ``cycle_ids``: (highest revision, that bill's id)."""
    latest: dict[int, tuple[int, int]] = {}
    stmt = select(Bill.account_id, Bill.revision, Bill.id).where(Bill.cycle_id.in_(cycle_ids))
    for account_id, revision, bill_id in session.execute(stmt).tuples():
        if account_id not in latest or revision > latest[account_id][0]:
            latest[account_id] = (revision, bill_id)
    return latest


def review_reasons(session: Session) -> list[str]:
    """The reasons of every bill review stopped, whatever was decided since."""
    return list(session.scalars(select(Bill.review_reasons).where(Bill.review_reasons != "")))


def held_bills(session: Session) -> list[tuple[Bill, str]]:
    """Bills waiting in review, with their account numbers, oldest first."""
    stmt = (
        select(Bill, Account.account_no)
        .join(Account, Account.id == Bill.account_id)
        .where(Bill.status == "in_review")
        .order_by(Bill.period_start, Bill.bill_no)
    )
    return [(bill, str(no)) for bill, no in session.execute(stmt).tuples()]


def lines_of(session: Session, bill_id: int) -> list[BillLine]:
    return list(
        session.scalars(select(BillLine).where(BillLine.bill_id == bill_id).order_by(BillLine.seq))
    )


def bills_of_account(session: Session, account_id: int, limit: int = 12) -> list[Bill]:
    """The account's latest bills (every revision and status), newest first."""
    stmt = (
        select(Bill)
        .where(Bill.account_id == account_id)
        .order_by(Bill.period_start.desc(), Bill.revision.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def issued_bills_between(session: Session, account_id: int, first: date, last: date) -> list[Bill]:
    """The account's issued bills whose period starts in [first, last], oldest first."""
    stmt = (
        select(Bill)
        .where(
            Bill.account_id == account_id,
            Bill.status == "issued",
            Bill.period_start >= first,
            Bill.period_start <= last,
        )
        .order_by(Bill.period_start)
    )
    return list(session.scalars(stmt))


def live_bill_of(session: Session, account_id: int, cycle_id: int) -> Bill | None:
    stmt = select(Bill).where(
        Bill.account_id == account_id, Bill.cycle_id == cycle_id, Bill.status != "cancelled"
    )
    return session.scalar(stmt)


def next_revision(session: Session, account_id: int, cycle_id: int) -> int:
    stmt = select(func.max(Bill.revision)).where(
        Bill.account_id == account_id, Bill.cycle_id == cycle_id
    )
    latest = session.scalar(stmt)
    return 0 if latest is None else int(latest) + 1


def account_by_no(session: Session, account_no: str) -> Account | None:
    return session.scalar(select(Account).where(Account.account_no == account_no))


def acts_on(session: Session, bill_nos: Collection[str]) -> list[AuditEvent]:
    """Audit events on the bills ``bill_nos``, oldest first."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.object_type == "bill", AuditEvent.object_key.in_(list(bill_nos)))
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return list(session.scalars(stmt))


# ---------------------------------------------------------------------------------------------
# Per-account rating inputs (billing/account_terms.py): one query each for a whole cycle, over
# the accounts on the tariffs that use the input.


def _on_tariffs(
    stmt: Select[_Row], tariff_codes: Collection[str], account_ids: Collection[int] | None
) -> Select[_Row]:
    """``stmt`` (joined to Account) kept to accounts on ``tariff_codes`` (all, or
    ``account_ids``)."""
    stmt = stmt.where(Account.tariff_code.in_(list(tariff_codes)))
    if account_ids is not None:
        stmt = stmt.where(Account.id.in_(list(account_ids)))
    return stmt


def contract_demands(
    session: Session, tariff_codes: Collection[str], account_ids: Collection[int] | None = None
) -> dict[int, Decimal]:
    """Contract demand [kW] (合同最大需量) on file at the customer service point of each
    account on ``tariff_codes`` (all, or ``account_ids``); accounts without one are absent."""
    stmt = _on_tariffs(
        select(Account.id, func.max(ServicePoint.contract_demand_kw))
        .join(
            ServicePoint,
            (ServicePoint.account_id == Account.id) & (ServicePoint.role == "customer"),
        )
        .where(ServicePoint.contract_demand_kw.is_not(None))
        .group_by(Account.id),
        tariff_codes,
        account_ids,
    )
    return {int(a): Decimal(kw) for a, kw in session.execute(stmt).tuples() if kw is not None}


def household_sizes(
    session: Session, tariff_codes: Collection[str], account_ids: Collection[int] | None = None
) -> dict[int, int]:
    """Registered household size [persons] of each account on ``tariff_codes``."""
    stmt = _on_tariffs(select(Account.id, Account.household_size), tariff_codes, account_ids)
    return {int(a): int(n) for a, n in session.execute(stmt).tuples()}


def demand_peaks(
    session: Session,
    tariff_codes: Collection[str],
    since: date,
    before: date,
    account_ids: Collection[int] | None = None,
) -> pd.DataFrame:
    """Actual maximum demand of the live bills, starting in [since, before), of the accounts
    on ``tariff_codes``: account_id, period_end, max_demand_kw [kW, Decimal]."""
    stmt = _on_tariffs(
        select(Bill.account_id, Bill.period_end, Bill.max_demand_kw)
        .join(Account, Account.id == Bill.account_id)
        .where(
            Bill.period_start >= since,
            Bill.period_start < before,
            Bill.status != "cancelled",
            Bill.max_demand_kw.is_not(None),
        ),
        tariff_codes,
        account_ids,
    )
    return _frame(
        session.execute(stmt).tuples().all(), ["account_id", "period_end", "max_demand_kw"]
    )


def carried_exports(
    session: Session,
    tariff_codes: Collection[str],
    before: date,
    account_ids: Collection[int] | None = None,
) -> dict[int, Decimal]:
    """Export credit [kWh] carried by the latest live bill starting before ``before`` of each
    account on ``tariff_codes``; accounts whose latest bill carries none are absent."""
    live = (Bill.status != "cancelled") & (Bill.period_start < before)
    latest = _on_tariffs(
        select(Bill.account_id, func.max(Bill.period_start).label("period_start"))
        .join(Account, Account.id == Bill.account_id)
        .where(live)
        .group_by(Bill.account_id),
        tariff_codes,
        account_ids,
    ).subquery()
    stmt = (
        select(Bill.account_id, Bill.carried_export_kwh)
        .join(
            latest,
            (latest.c.account_id == Bill.account_id) & (latest.c.period_start == Bill.period_start),
        )
        .where(live, Bill.carried_export_kwh.is_not(None))
    )
    return {int(a): Decimal(kwh) for a, kwh in session.execute(stmt).tuples() if kwh is not None}


def estimated_bills(
    session: Session, since: date, before: date, account_ids: Collection[int] | None = None
) -> pd.DataFrame:
    """Live estimated bills (of all accounts, or ``account_ids``) starting in [since,
    before): bill_id, bill_no, account_id, period_start, period_end, kwh [kWh, Decimal],
    total_minor [fen]."""
    stmt = select(
        Bill.id,
        Bill.bill_no,
        Bill.account_id,
        Bill.period_start,
        Bill.period_end,
        Bill.kwh,
        Bill.total_minor,
    ).where(
        Bill.estimated.is_(True),
        Bill.status != "cancelled",
        Bill.period_start >= since,
        Bill.period_start < before,
    )
    columns = ["bill_id", "bill_no", "account_id", "period_start", "period_end", "kwh"]
    if account_ids is None:
        return _frame(session.execute(stmt).tuples().all(), [*columns, "total_minor"])
    ids = list(account_ids)
    rows = [
        row
        for start in range(0, len(ids), CHUNK)
        for row in session.execute(
            stmt.where(Bill.account_id.in_(ids[start : start + CHUNK]))
        ).tuples()
    ]
    return _frame(rows, [*columns, "total_minor"])


def true_ups_naming(session: Session, bill_no: str) -> list[str]:
    """Numbers of the live bills with a true-up line naming the bill ``bill_no``."""
    stmt = (
        select(Bill.bill_no)
        .join(BillLine, BillLine.bill_id == Bill.id)
        .where(
            BillLine.kind == "true_up",
            BillLine.description.contains(f" {bill_no} "),
            Bill.status != "cancelled",
        )
        .distinct()
    )
    return list(session.scalars(stmt))
