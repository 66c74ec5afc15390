"""All ledger queries. No SQL about the ledger lives anywhere else."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Date, case, exists, func, insert, literal, select, union_all
from sqlalchemy.orm import InstrumentedAttribute, Session

from meter2cash.assets.models import Account, Customer, ServicePoint, TransformerArea, Zone
from meter2cash.billing.models import Bill, BillLine
from meter2cash.core.errors import LedgerError
from meter2cash.db.keys import key_table
from meter2cash.ledger.journal import (
    CHART,
    FUNDS_PAYABLE,
    RECEIVABLE,
    REVENUE,
    EntryDraft,
    Leg,
)
from meter2cash.ledger.models import JournalEntry, LedgerAccount, Payment, Posting

NO_BILL: Final = -1
"""``bill_id`` of an open item that is no bill: payments returned after the credit they left
was refunded or applied (退票应收; see :func:`~meter2cash.ledger.payments.reverse_payment`)."""
RETURNED_LABEL: Final = "退票应收 returned payment"
"""How a returned-payment item is named where a bill number would stand."""
RETURNED_SOURCES: Final = ("payment", "credit", "reversal")
"""Entries whose receivable legs may name no bill: they owe or settle returned payments."""


def ensure_chart(session: Session) -> dict[str, int]:
    """Create missing ledger accounts of the chart; return code → id."""
    existing = dict(session.execute(select(LedgerAccount.code, LedgerAccount.id)).tuples().all())
    missing = [
        {"code": code, "name": name, "kind": kind}
        for code, (name, kind) in CHART.items()
        if code not in existing
    ]
    if missing:
        session.execute(insert(LedgerAccount), missing)
        existing = dict(
            session.execute(select(LedgerAccount.code, LedgerAccount.id)).tuples().all()
        )
    return existing


def existing_source_keys(session: Session, source_type: str, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 5000):
        chunk = keys[start : start + 5000]
        found.update(
            session.scalars(
                select(JournalEntry.source_key).where(
                    JournalEntry.source_type == source_type, JournalEntry.source_key.in_(chunk)
                )
            )
        )
    return found


def insert_entries(
    session: Session, drafts: Sequence[EntryDraft], chart: dict[str, int], recorded_at: datetime
) -> list[int]:
    """Insert entries and their postings in bulk; returns the new entry ids in draft order."""
    if not drafts:
        return []
    rows = [
        {
            "source_type": d.source_type,
            "source_key": d.source_key,
            "booked_on": d.booked_on,
            "recorded_at": recorded_at,
            "description": d.description,
            "reverses_entry_id": d.reverses_entry_id,
        }
        for d in drafts
    ]
    session.execute(insert(JournalEntry), rows)
    ids = _entry_ids(session, drafts)
    postings = [
        {
            "entry_id": entry_id,
            "ledger_account_id": chart[leg.ledger_account],
            "account_id": leg.account_id,
            "bill_id": leg.bill_id,
            "amount_minor": leg.amount_minor,
            "currency": "CNY",
        }
        for entry_id, draft in zip(ids, drafts, strict=True)
        for leg in draft.legs
    ]
    session.execute(insert(Posting), postings)
    return ids


def _entry_ids(session: Session, drafts: Sequence[EntryDraft]) -> list[int]:
    """Ids of just-inserted entries in draft order, found by their natural key (linear, where
    INSERT … RETURNING over many batches is not)."""
    found: dict[tuple[str, str], int] = {}
    by_type: dict[str, list[str]] = {}
    for d in drafts:
        by_type.setdefault(d.source_type, []).append(d.source_key)
    for source_type, keys in by_type.items():
        for start in range(0, len(keys), 5000):
            stmt = select(JournalEntry.source_key, JournalEntry.id).where(
                JournalEntry.source_type == source_type,
                JournalEntry.source_key.in_(keys[start : start + 5000]),
            )
            found.update(((source_type, k), i) for k, i in session.execute(stmt).tuples())
    return [found[(d.source_type, d.source_key)] for d in drafts]


def balances_by_ledger_account(session: Session) -> list[tuple[str, str, int, int]]:
    """(code, name, debits [fen], credits [fen]) per ledger account, credits positive."""
    debit = func.coalesce(func.sum(Posting.amount_minor).filter(Posting.amount_minor > 0), 0)
    credit = func.coalesce(func.sum(-Posting.amount_minor).filter(Posting.amount_minor < 0), 0)
    stmt = (
        select(LedgerAccount.code, LedgerAccount.name, debit, credit)
        .join(Posting, Posting.ledger_account_id == LedgerAccount.id, isouter=True)
        .group_by(LedgerAccount.code, LedgerAccount.name)
        .order_by(LedgerAccount.code)
    )
    return [(c, n, int(d), int(k)) for c, n, d, k in session.execute(stmt).tuples()]


def unbalanced_entry_count(session: Session) -> int:
    sub = (
        select(Posting.entry_id)
        .group_by(Posting.entry_id)
        .having(func.sum(Posting.amount_minor) != 0)
        .subquery()
    )
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def entries_without_postings(session: Session) -> int:
    stmt = select(func.count(JournalEntry.id)).where(
        ~select(Posting.id).where(Posting.entry_id == JournalEntry.id).exists()
    )
    return int(session.scalar(stmt) or 0)


def open_items(
    session: Session,
    *,
    booked_through: date | None = None,
    account_ids: Collection[int] | None = None,
) -> pd.DataFrame:
    """Open receivable per bill: account_id, bill_id, open_minor [fen], bill_date, due_date,
    account_no, zone, customer_class — of every account, or of ``account_ids``. An account's
    returned payments are one item with bill_id :data:`NO_BILL`, dated (bill and due date)
    by :func:`returned_since`."""
    receivable_id = select(LedgerAccount.id).where(LedgerAccount.code == RECEIVABLE)
    open_minor = func.sum(Posting.amount_minor)
    open_bills = (
        select(Posting.account_id, Posting.bill_id, open_minor.label("open_minor"))
        .where(Posting.ledger_account_id == receivable_id.scalar_subquery())
        .group_by(Posting.account_id, Posting.bill_id)
        .having(open_minor != 0)
    )
    if booked_through is not None:
        open_bills = open_bills.join(JournalEntry, JournalEntry.id == Posting.entry_id).where(
            JournalEntry.booked_on <= booked_through
        )
    if account_ids is not None:
        keys = key_table(session, list(account_ids))
        open_bills = open_bills.join(keys, keys.c.k == Posting.account_id)
    items = open_bills.subquery()
    stmt = (
        select(
            items.c.account_id,
            items.c.bill_id,
            items.c.open_minor,
            Bill.bill_date,
            Bill.due_date,
            Account.account_no,
            Zone.code,
            Customer.customer_class,
        )
        .outerjoin(Bill, Bill.id == items.c.bill_id)
        .join(Account, Account.id == items.c.account_id)
        .join(Zone, Zone.id == Account.zone_id)
        .join(Customer, Customer.id == Account.customer_id)
    )
    frame = pd.DataFrame(
        session.execute(stmt).tuples().all(),
        columns=[
            "account_id",
            "bill_id",
            "open_minor",
            "bill_date",
            "due_date",
            "account_no",
            "zone",
            "customer_class",
        ],
    )
    return with_returned_dates(session, frame, booked_through)


def with_returned_dates(
    session: Session, items: pd.DataFrame, booked_through: date | None
) -> pd.DataFrame:
    """``items`` (open items with account_id, bill_id, bill_date and optionally due_date)
    with the returned-payment items — bill_id null — as bill :data:`NO_BILL`, dated by
    :func:`returned_since`."""
    returned = items["bill_id"].isna().to_numpy(bool)
    if not returned.any():
        return items
    since = returned_since(session, items.loc[returned, "account_id"].tolist(), booked_through)
    dates = items["account_id"].map(since)
    dated = items.assign(
        bill_id=items["bill_id"].where(~returned, NO_BILL).astype(np.int64),
        bill_date=items["bill_date"].where(~returned, dates),
    )
    if "due_date" in items:
        dated["due_date"] = items["due_date"].where(~returned, dates)
    return dated


def returned_legs(
    session: Session, account_ids: Collection[int] | None, booked_through: date | None = None
) -> pd.DataFrame:
    """Receivable legs naming no bill (returned payments owed and settled) of ``account_ids``
    (of every account when None), booked through ``booked_through``: account_id, booked_on,
    amount_minor [fen], in booking order."""
    stmt = (
        select(Posting.account_id, JournalEntry.booked_on, Posting.amount_minor)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(
            LedgerAccount.code == RECEIVABLE,
            Posting.bill_id.is_(None),
            Posting.account_id.is_not(None),
        )
        .order_by(Posting.account_id, JournalEntry.booked_on, Posting.entry_id, Posting.id)
    )
    if booked_through is not None:
        stmt = stmt.where(JournalEntry.booked_on <= booked_through)
    if account_ids is not None:
        keys = key_table(session, list(account_ids))
        stmt = stmt.join(keys, keys.c.k == Posting.account_id)
    legs = pd.DataFrame(
        session.execute(stmt).tuples().all(), columns=["account_id", "booked_on", "amount_minor"]
    )
    return legs.astype({"account_id": np.int64, "amount_minor": np.int64})


def returned_since(
    session: Session, account_ids: Collection[int], booked_through: date | None = None
) -> pd.Series:
    """The day each account's returned payments have been owed since, by account id: see
    :func:`owed_since`."""
    return owed_since(returned_legs(session, account_ids, booked_through))


def owed_since(legs: pd.DataFrame) -> pd.Series:
    """Per account of ``legs`` (account_id, booked_on, amount_minor [fen], in booking order):
    the booking day of its first leg after their running sum last stood at zero or below —
    the day what it owes now has been owed since. Pure."""
    if legs.empty:
        return pd.Series(dtype=object)
    running = legs.groupby("account_id")["amount_minor"].cumsum()
    settled_before = (running <= 0).groupby(legs["account_id"]).shift(fill_value=True)
    starts = legs[settled_before.to_numpy(bool)]
    return starts.groupby("account_id")["booked_on"].last()


def payment_totals(session: Session) -> tuple[int, int]:
    """(number of payments, amount [fen])."""
    count, amount = session.execute(
        select(func.count(Payment.id), func.coalesce(func.sum(Payment.amount_minor), 0))
    ).one()
    return int(count), int(amount)


def entry_by_source(
    session: Session, source_type: str, source_key: str
) -> tuple[int, EntryDraft] | None:
    """The stored entry of a source with its legs as posted, and its id; None if absent."""
    entry = session.scalar(
        select(JournalEntry).where(
            JournalEntry.source_type == source_type, JournalEntry.source_key == source_key
        )
    )
    if entry is None:
        return None
    legs = session.execute(
        select(LedgerAccount.code, Posting.amount_minor, Posting.account_id, Posting.bill_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(Posting.entry_id == entry.id)
        .order_by(Posting.id)
    ).tuples()
    return entry.id, EntryDraft(
        source_type=entry.source_type,
        source_key=entry.source_key,
        booked_on=entry.booked_on,
        description=entry.description,
        legs=tuple(
            Leg(code, amount, account_id, bill_id) for code, amount, account_id, bill_id in legs
        ),
        reverses_entry_id=entry.reverses_entry_id,
    )


def bill_receivable(session: Session, bill_id: int) -> int:
    """What the bill's customer still owes on it [fen]: its receivable postings' sum."""
    stmt = (
        select(func.coalesce(func.sum(Posting.amount_minor), 0))
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(LedgerAccount.code == RECEIVABLE, Posting.bill_id == bill_id)
    )
    return int(session.scalar(stmt) or 0)


def post_bill_entries(
    session: Session,
    bills: ColumnElement[bool],
    funds_kind: str,
    source_type: str,
    chart: dict[str, int],
    recorded_at: datetime,
) -> None:
    """Post the issue entry of every bill matching ``bills`` that has none yet, set-based:
    Dr receivable (account, bill) the total; Cr funds payable the sum of its ``funds_kind``
    lines where not zero; Cr revenue the rest. The source key is the bill number.

    Three statements whatever the number of bills: the entries; their postings, built from
    the new entries (ids above the largest before: ids only grow) with each bill's fund
    lines summed once, by index; the balance check of the new entries. Neither the postings
    nor the check reads earlier lines or postings.

    Raises :class:`LedgerError` if any new entry does not balance or has no postings — the
    :func:`~meter2cash.ledger.journal.check_balanced` rule, checked in SQL.
    """
    before = session.scalar(select(func.coalesce(func.max(JournalEntry.id), 0)))
    new = (JournalEntry.id > before) & (JournalEntry.source_type == source_type)
    recorded = literal(recorded_at, JournalEntry.__table__.c.recorded_at.type)
    session.execute(
        insert(JournalEntry).from_select(
            ["source_type", "source_key", "booked_on", "recorded_at", "description"],
            select(
                literal(source_type),
                Bill.bill_no,
                Bill.bill_date,
                recorded,
                literal("issue bill ") + Bill.bill_no,
            ).where(
                bills,
                ~exists().where(
                    JournalEntry.source_type == source_type,
                    JournalEntry.source_key == Bill.bill_no,
                ),
            ),
        )
    )
    funds = (
        select(func.coalesce(func.sum(BillLine.amount_minor), 0))
        .where(BillLine.bill_id == Bill.id, BillLine.kind == funds_kind)
        .scalar_subquery()
    )
    fresh = (
        select(
            JournalEntry.id.label("entry_id"),
            Bill.account_id,
            Bill.id.label("bill_id"),
            Bill.total_minor,
            funds.label("funds_minor"),
        )
        .join(Bill, Bill.bill_no == JournalEntry.source_key)
        .where(new, bills)
        .cte("fresh")
        .prefix_with("MATERIALIZED")  # the fund sum once per bill, not once per leg
    )
    receivable, funds_payable, revenue = (chart[c] for c in (RECEIVABLE, FUNDS_PAYABLE, REVENUE))
    leg = LedgerAccount.id
    amount = case(
        (leg == receivable, fresh.c.total_minor),
        (leg == funds_payable, -fresh.c.funds_minor),
        else_=fresh.c.funds_minor - fresh.c.total_minor,
    )
    session.execute(
        insert(Posting).from_select(
            ["entry_id", "ledger_account_id", "account_id", "bill_id", "amount_minor", "currency"],
            select(
                fresh.c.entry_id, leg, fresh.c.account_id, fresh.c.bill_id, amount, literal("CNY")
            )
            .select_from(fresh)
            .join(LedgerAccount, leg.in_([receivable, funds_payable, revenue]))
            .where((leg != funds_payable) | (fresh.c.funds_minor != 0)),
        )
    )
    unbalanced = session.execute(
        select(JournalEntry.source_key)
        .outerjoin(Posting, Posting.entry_id == JournalEntry.id)
        .where(new)
        .group_by(JournalEntry.id, JournalEntry.source_key)
        .having(
            (func.coalesce(func.sum(Posting.amount_minor), 0) != 0) | (func.count(Posting.id) == 0)
        )
        .limit(1)
    ).first()
    if unbalanced is not None:
        raise LedgerError(f"issue entry of bill {unbalanced[0]} does not balance")


def aged_bill_items(
    session: Session, as_of: Sequence[date], cuts: Sequence[Sequence[date]], group: str | None
) -> pd.DataFrame:
    """Open receivables of bills [fen] on each day of ``as_of`` (strictly increasing), summed
    per day, group and age bucket, in one statement: idx (into ``as_of``), grp, bucket
    (index into the buckets: the first of ``cuts[idx]`` — the earliest bill date of each
    bucket but the last, newest first — that the bill date is not before), open_minor.

    ``group``: None (one group, "all"), "zone" (the supply office's code), "customer_class"
    or "area" (the least transformer area code of the account's service points); "—" where
    there is none. Each posting is counted in the first day it was booked by; a bill's
    balance carries to the days after until its next change, and only non-zero balances
    are kept, so the work grows with the open items, not with postings × days.
    """
    days = union_all(
        *(
            select(
                literal(i).label("idx"),
                literal(day, Date).label("day"),
                literal(as_of[i - 1] if i else date.min, Date).label("before"),
                *(literal(cut, Date).label(f"cut{k}") for k, cut in enumerate(cuts[i])),
            )
            for i, day in enumerate(as_of)
        )
    ).cte("days")
    receivable_id = select(LedgerAccount.id).where(LedgerAccount.code == RECEIVABLE)
    deltas = (
        select(
            Posting.account_id,
            Posting.bill_id,
            days.c.idx,
            func.sum(Posting.amount_minor).label("delta"),
        )
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(
            days, (JournalEntry.booked_on <= days.c.day) & (JournalEntry.booked_on > days.c.before)
        )
        .where(
            Posting.ledger_account_id == receivable_id.scalar_subquery(),
            Posting.bill_id.is_not(None),
        )
        .group_by(Posting.account_id, Posting.bill_id, days.c.idx)
        .cte("deltas")
    )
    bill = (deltas.c.account_id, deltas.c.bill_id)
    balances = select(
        deltas.c.account_id,
        deltas.c.bill_id,
        deltas.c.idx,
        func.sum(deltas.c.delta).over(partition_by=bill, order_by=deltas.c.idx).label("open_minor"),
        func.lead(deltas.c.idx, 1, len(as_of))
        .over(partition_by=bill, order_by=deltas.c.idx)
        .label("next_idx"),
    ).cte("balances")
    on = days.alias("on_day")
    bucket = case(
        *((Bill.bill_date >= on.c[f"cut{k}"], k) for k in range(len(cuts[0]))),
        else_=len(cuts[0]),
    )
    grouped: ColumnElement[str] | InstrumentedAttribute[str]
    stmt = (
        select(on.c.idx, bucket.label("bucket"), balances.c.open_minor)
        .select_from(balances)
        .join(on, (on.c.idx >= balances.c.idx) & (on.c.idx < balances.c.next_idx))
        .join(Bill, Bill.id == balances.c.bill_id)
        .where(balances.c.open_minor != 0)
    )
    if group is None:
        grouped = literal("all")
    elif group == "area":
        areas = (
            select(ServicePoint.account_id, func.min(TransformerArea.code).label("code"))
            .join(TransformerArea, TransformerArea.id == ServicePoint.transformer_area_id)
            .where(ServicePoint.account_id.is_not(None))
            .group_by(ServicePoint.account_id)
            .subquery()
        )
        stmt = stmt.outerjoin(areas, areas.c.account_id == balances.c.account_id)
        grouped = func.coalesce(areas.c.code, "—")
    else:
        stmt = stmt.join(Account, Account.id == balances.c.account_id)
        if group == "zone":
            stmt = stmt.join(Zone, Zone.id == Account.zone_id)
            grouped = Zone.code
        else:
            stmt = stmt.join(Customer, Customer.id == Account.customer_id)
            grouped = Customer.customer_class
    rows = stmt.add_columns(grouped.label("grp")).subquery()
    totals = select(rows.c.idx, rows.c.grp, rows.c.bucket, func.sum(rows.c.open_minor)).group_by(
        rows.c.idx, rows.c.grp, rows.c.bucket
    )
    frame = pd.DataFrame(
        session.execute(totals).tuples().all(), columns=["idx", "grp", "bucket", "open_minor"]
    )
    return frame.astype({"idx": np.int64, "bucket": np.int64, "open_minor": np.int64})
