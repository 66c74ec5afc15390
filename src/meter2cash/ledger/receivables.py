"""The receivables sub-ledger of record: what each account owes, how it got there, and how
well the money comes in.

- :func:`aging` — open receivables by age bucket at any as-of date, by any dimension; its
  total equals the control account's balance on that day.
- :func:`account_statement` — a statement of account: every bill (with the reads' kWh and
  whether they were estimated), payment, reversal, refund and credit movement, with the
  running balance.
- :func:`reconcile` — the open items per bill against the general-ledger control account
  (1122); any difference raises :class:`~meter2cash.core.errors.LedgerError`.
- :func:`collection` — billed vs collected for the bills of a month, by a given day
  (电费回收率; by the month's settlement day it is the 电费结零率), by any dimension.
- :func:`days_sales_outstanding` — DSO over a trailing window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from meter2cash.assets.models import Account, Customer, ServicePoint, TransformerArea, Zone
from meter2cash.billing.models import Bill
from meter2cash.core.errors import InputError, LedgerError
from meter2cash.ledger import repository
from meter2cash.ledger.aging import BUCKETS, bucket_index
from meter2cash.ledger.journal import CUSTOMER_CREDIT, RECEIVABLE
from meter2cash.ledger.models import JournalEntry, LedgerAccount, Posting

DIMENSIONS = {
    "total": None,
    "zone": "zone",
    "class": "customer_class",
    "area": "area",
    "account": "account_no",
}
"""Groupings of receivables: the utility, supply office (供电所), customer class,
transformer area (台区) and account."""
COLLECTING_SOURCES = ("payment", "credit")
"""Entries whose receivable legs are money collected (a reversal of one undoes it)."""


def account_places(session: Session) -> pd.DataFrame:
    """account_id, account_no, zone, customer_class and area (the least transformer area code
    of its service points) of every account."""
    stmt = (
        select(
            Account.id, Account.account_no, Zone.code, Customer.customer_class, TransformerArea.code
        )
        .join(Zone, Zone.id == Account.zone_id)
        .join(Customer, Customer.id == Account.customer_id)
        .outerjoin(ServicePoint, ServicePoint.account_id == Account.id)
        .outerjoin(TransformerArea, TransformerArea.id == ServicePoint.transformer_area_id)
    )
    rows = session.execute(stmt).tuples().all()
    frame = pd.DataFrame(
        rows, columns=["account_id", "account_no", "zone", "customer_class", "area"]
    )
    return (
        frame.sort_values(["account_id", "area"])
        .drop_duplicates("account_id")
        .set_index("account_id")
    )


def _grouped(frame: pd.DataFrame, by: str, places: pd.DataFrame) -> pd.Series:
    if by not in DIMENSIONS:
        raise InputError(f"cannot group by {by!r}", "use one of " + ", ".join(DIMENSIONS))
    column = DIMENSIONS[by]
    if column is None:
        return pd.Series("all", index=frame.index, name=by)
    return frame["account_id"].map(places[column]).fillna("—").rename(by)


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement of account [fen]: ``lines`` are booked_on, kind, reference, description,
    debit_minor, credit_minor, balance_minor (owed after the line; negative = credit held);
    ``bills`` are bill_no, period_start, period_end, kwh, estimated, total_minor, status."""

    account_no: str
    opening_minor: int
    lines: pd.DataFrame
    bills: pd.DataFrame
    closing_minor: int


def account_statement(session: Session, account_no: str, first: date, last: date) -> Statement:
    """What was billed, paid and credited on ``account_no`` from ``first`` to ``last``."""
    account_id = session.scalar(select(Account.id).where(Account.account_no == account_no))
    if account_id is None:
        raise InputError(f"unknown account {account_no}")
    codes = (RECEIVABLE, CUSTOMER_CREDIT)
    legs = (
        select(
            JournalEntry.booked_on,
            JournalEntry.source_type,
            JournalEntry.source_key,
            JournalEntry.description,
            func.sum(Posting.amount_minor),
        )
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(Posting.account_id == account_id, LedgerAccount.code.in_(codes))
        .group_by(
            JournalEntry.id,
            JournalEntry.booked_on,
            JournalEntry.source_type,
            JournalEntry.source_key,
            JournalEntry.description,
        )
        .order_by(JournalEntry.booked_on, JournalEntry.id)
    )
    rows = pd.DataFrame(
        session.execute(legs).tuples().all(),
        columns=["booked_on", "kind", "reference", "description", "amount_minor"],
    )
    rows["amount_minor"] = rows["amount_minor"].astype(np.int64)
    before = rows["booked_on"] < first
    opening = int(rows.loc[before, "amount_minor"].sum())
    shown = rows[~before & (rows["booked_on"] <= last)].reset_index(drop=True)
    amount = shown["amount_minor"].to_numpy(np.int64)
    lines = shown.drop(columns="amount_minor").assign(
        debit_minor=np.maximum(amount, 0),
        credit_minor=np.maximum(-amount, 0),
        balance_minor=opening + np.cumsum(amount),
    )
    bills = pd.DataFrame(
        session.execute(
            select(
                Bill.bill_no,
                Bill.period_start,
                Bill.period_end,
                Bill.kwh,
                Bill.estimated,
                Bill.total_minor,
                Bill.status,
            )
            .where(Bill.account_id == account_id, Bill.bill_date.between(first, last))
            .order_by(Bill.period_start, Bill.revision)
        )
        .tuples()
        .all(),
        columns=[
            "bill_no",
            "period_start",
            "period_end",
            "kwh",
            "estimated",
            "total_minor",
            "status",
        ],
    )
    closing = opening + int(amount.sum())
    return Statement(account_no, opening, lines, bills, closing)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    control_minor: int
    """Balance of the control account 1122 [fen]."""
    sub_ledger_minor: int
    """Sum of the open items per account and bill [fen]."""
    accounts: int
    open_bills: int


def reconcile(session: Session) -> Reconciliation:
    """The sub-ledger against the control account; raises :class:`LedgerError` when they
    differ or a receivable leg names no account, or no bill outside a returned payment
    (:data:`~meter2cash.ledger.repository.RETURNED_SOURCES`)."""
    receivable = LedgerAccount.code == RECEIVABLE
    base = (
        select(Posting.amount_minor, Posting.account_id, Posting.bill_id, JournalEntry.source_type)
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(receivable)
        .subquery()
    )
    control = session.execute(select(func.coalesce(func.sum(base.c.amount_minor), 0))).scalar_one()
    billless = base.c.bill_id.is_(None) & base.c.source_type.not_in(repository.RETURNED_SOURCES)
    orphans = session.execute(
        select(func.count()).where(base.c.account_id.is_(None) | billless)
    ).scalar_one()
    per_bill = (
        select(base.c.account_id, base.c.bill_id, func.sum(base.c.amount_minor).label("open_minor"))
        .group_by(base.c.account_id, base.c.bill_id)
        .subquery()
    )
    sub_ledger, accounts, open_bills = session.execute(
        select(
            func.coalesce(func.sum(per_bill.c.open_minor), 0),
            func.count(func.distinct(per_bill.c.account_id)).filter(per_bill.c.open_minor != 0),
            func.count().filter(per_bill.c.open_minor != 0),
        )
    ).one()
    mismatch = sub_ledger != control or orphans
    if mismatch:
        raise LedgerError(
            f"receivables do not reconcile: control account {RECEIVABLE} holds "
            f"{control} fen, the open items {sub_ledger} fen; {orphans} receivable legs name "
            "no account, or no bill outside a returned payment"
        )
    return Reconciliation(int(control), int(sub_ledger), int(accounts), int(open_bills))


def collection(session: Session, month: date, by_day: date, by: str = "total") -> pd.DataFrame:
    """Bills dated in ``month``'s calendar month: billed and collected (payments and credit
    applied, net of payment reversals) by ``by_day`` [fen], and the share collected.

    One row per group of ``by``; columns billed_minor, collected_minor, share (0–1).
    """
    first = month.replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    undone = aliased(JournalEntry)
    source = func.coalesce(undone.source_type, JournalEntry.source_type)
    collected = (
        select(Posting.bill_id, (-func.sum(Posting.amount_minor)).label("minor"))
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .outerjoin(undone, undone.id == JournalEntry.reverses_entry_id)
        .where(
            LedgerAccount.code == RECEIVABLE,
            JournalEntry.booked_on <= by_day,
            source.in_(COLLECTING_SOURCES),
        )
        .group_by(Posting.bill_id)
        .subquery()
    )
    stmt = (
        select(Bill.account_id, Bill.id, Bill.total_minor, func.coalesce(collected.c.minor, 0))
        .outerjoin(collected, collected.c.bill_id == Bill.id)
        .where(Bill.bill_date >= first, Bill.bill_date < after, Bill.status == "issued")
    )
    frame = pd.DataFrame(
        session.execute(stmt).tuples().all(),
        columns=["account_id", "bill_id", "billed_minor", "collected_minor"],
    )
    places = account_places(session)
    group = _grouped(frame, by, places)
    table = frame.groupby(group)[["billed_minor", "collected_minor"]].sum().astype(np.int64)
    billed = table["billed_minor"].to_numpy(np.float64)
    table["share"] = np.divide(
        table["collected_minor"].to_numpy(np.float64),
        billed,
        out=np.zeros(len(table)),
        where=billed > 0,
    )
    return table


def days_sales_outstanding(session: Session, as_of: date, window_days: int = 90) -> float:
    """DSO [days]: receivables at ``as_of`` ÷ what was billed in the ``window_days`` before it
    × ``window_days``; 0 when nothing was billed."""
    receivable = LedgerAccount.code == RECEIVABLE
    owed = session.execute(
        select(func.coalesce(func.sum(Posting.amount_minor), 0))
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(receivable, JournalEntry.booked_on <= as_of)
    ).scalar_one()
    billed = session.execute(
        select(func.coalesce(func.sum(Bill.total_minor), 0)).where(
            Bill.status == "issued",
            Bill.bill_date > as_of - timedelta(days=window_days),
            Bill.bill_date <= as_of,
        )
    ).scalar_one()
    return float(owed) / float(billed) * window_days if billed else 0.0


def aging(session: Session, as_of: date, by: str = "total") -> pd.DataFrame:
    """Open receivables [fen] by age bucket (days since the bill date) as of ``as_of``:
    entries booked after it are left out. One row per group of ``by`` (:data:`DIMENSIONS`);
    columns the buckets and total."""
    items = repository.open_items(session, booked_through=as_of)
    if items.empty:
        group = "all" if by == "total" else "—"
        return pd.DataFrame(0, index=pd.Index([group], name=by), columns=[*BUCKETS, "total"])
    places = account_places(session) if by == "area" else items.set_index("account_id")
    bill_dates = pd.to_datetime(items["bill_date"]).to_numpy("datetime64[D]")
    age = (np.datetime64(as_of, "D") - bill_dates).astype(np.int64)
    items = items.assign(bucket=np.asarray(BUCKETS)[bucket_index(age)])
    group = _grouped(items, by, places[~places.index.duplicated()])
    table = items.pivot_table(
        index=group, columns="bucket", values="open_minor", aggfunc="sum", fill_value=0
    )
    table = table.reindex(columns=list(BUCKETS), fill_value=0).astype("int64")
    table["total"] = table.sum(axis=1)
    return table
