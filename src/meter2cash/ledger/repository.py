"""All ledger queries. No SQL about the ledger lives anywhere else."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime

import pandas as pd
from sqlalchemy import ColumnElement, case, exists, func, insert, literal, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Account, Customer, Zone
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
    account_no, zone, customer_class — of every account, or of ``account_ids``."""
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
        .join(Bill, Bill.id == items.c.bill_id)
        .join(Account, Account.id == Bill.account_id)
        .join(Zone, Zone.id == Account.zone_id)
        .join(Customer, Customer.id == Account.customer_id)
    )
    return pd.DataFrame(
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
