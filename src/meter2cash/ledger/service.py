"""Ledger services: post entries, take payments, report trial balance and aging.

Services never commit; the caller's unit of work does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Account
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.ledger import repository
from meter2cash.ledger.aging import BUCKETS, bucket_index
from meter2cash.ledger.allocation import OpenItem, allocate_oldest_first
from meter2cash.ledger.journal import (
    CASH,
    CUSTOMER_CREDIT,
    RECEIVABLE,
    EntryDraft,
    Leg,
    check_balanced,
)
from meter2cash.ledger.models import Payment


def post_entries(session: Session, clock: Clock, drafts: Sequence[EntryDraft]) -> list[int]:
    """Post balanced entries; those already posted (same source) are skipped. Returns new ids."""
    check_balanced(drafts)
    chart = repository.ensure_chart(session)
    by_type: dict[str, list[str]] = defaultdict(list)
    for d in drafts:
        by_type[d.source_type].append(d.source_key)
    present = {
        (source_type, key)
        for source_type, keys in by_type.items()
        for key in repository.existing_source_keys(session, source_type, keys)
    }
    fresh = [d for d in drafts if (d.source_type, d.source_key) not in present]
    return repository.insert_entries(session, fresh, chart, clock.now())


@dataclass(frozen=True, slots=True)
class PaymentIn:
    """A payment as it arrives from a channel; idempotent on (channel, transaction_id)."""

    channel: str
    transaction_id: str
    account_no: str
    amount_minor: int
    received_on: date


@dataclass(frozen=True, slots=True)
class PaymentReport:
    received: int
    posted: int
    duplicates: int
    amount_minor: int
    to_credit_minor: int


def apply_payments(session: Session, clock: Clock, payments: Sequence[PaymentIn]) -> PaymentReport:
    """Post payments: Dr cash, Cr each open bill oldest first, any surplus to customer credit.

    The same (channel, transaction_id) sent twice posts once. Payments are applied in the
    order of ``received_on`` and only to bills dated by then, so allocation sees the
    account as it stood.
    """
    seen: set[tuple[str, str]] = set()
    unique: list[PaymentIn] = []
    for p in payments:
        if p.amount_minor <= 0:
            raise InputError(
                f"payment {p.channel}:{p.transaction_id} has non-positive amount {p.amount_minor}"
            )
        key = (p.channel, p.transaction_id)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    present = repository.payment_keys_present(session, seen)
    fresh = sorted(
        (p for p in unique if (p.channel, p.transaction_id) not in present),
        key=lambda p: (p.received_on, p.channel, p.transaction_id),
    )
    account_ids = dict(
        session.execute(
            select(Account.account_no, Account.id).where(
                Account.account_no.in_({p.account_no for p in fresh})
            )
        )
        .tuples()
        .all()
    )
    unknown = [p for p in fresh if p.account_no not in account_ids]
    if unknown:
        raise InputError(
            f"payment {unknown[0].channel}:{unknown[0].transaction_id} names unknown account "
            f"{unknown[0].account_no}"
        )
    items = repository.open_items(session, account_ids=set(account_ids.values()))
    open_by_account: dict[int, list[tuple[date, OpenItem]]] = defaultdict(list)
    for row in items.sort_values(["bill_date", "bill_id"]).itertuples(index=False):
        open_by_account[int(row.account_id)].append(
            (row.bill_date, OpenItem(int(row.bill_id), int(row.open_minor)))
        )

    drafts: list[EntryDraft] = []
    to_credit = 0
    for p in fresh:
        account_id = account_ids[p.account_no]
        open_list = open_by_account[account_id]
        billed_by_then = [item for billed_on, item in open_list if billed_on <= p.received_on]
        allocations, remainder = allocate_oldest_first(billed_by_then, p.amount_minor)
        paid = dict(allocations)
        open_by_account[account_id] = [
            (billed_on, OpenItem(i.bill_id, i.open_minor - paid.get(i.bill_id, 0)))
            for billed_on, i in open_list
            if i.open_minor - paid.get(i.bill_id, 0) > 0
        ]
        legs = [Leg(CASH, p.amount_minor)]
        legs += [Leg(RECEIVABLE, -amount, account_id, bill_id) for bill_id, amount in allocations]
        if remainder:
            legs.append(Leg(CUSTOMER_CREDIT, -remainder, account_id))
            to_credit += remainder
        drafts.append(
            EntryDraft(
                source_type="payment",
                source_key=f"{p.channel}:{p.transaction_id}",
                booked_on=p.received_on,
                description=f"payment {p.channel} {p.transaction_id}",
                legs=tuple(legs),
            )
        )
    entry_ids = post_entries(session, clock, drafts)
    now = clock.now()
    if fresh:
        session.execute(
            insert(Payment),
            [
                {
                    "channel": p.channel,
                    "transaction_id": p.transaction_id,
                    "account_id": account_ids[p.account_no],
                    "amount_minor": p.amount_minor,
                    "currency": "CNY",
                    "received_on": p.received_on,
                    "recorded_at": now,
                    "entry_id": entry_id,
                }
                for p, entry_id in zip(fresh, entry_ids, strict=True)
            ],
        )
    return PaymentReport(
        received=len(payments),
        posted=len(fresh),
        duplicates=len(payments) - len(fresh),
        amount_minor=sum(p.amount_minor for p in fresh),
        to_credit_minor=to_credit,
    )


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    code: str
    name: str
    debit_minor: int
    credit_minor: int

    @property
    def balance_minor(self) -> int:
        """Debit-positive balance [fen]."""
        return self.debit_minor - self.credit_minor


@dataclass(frozen=True, slots=True)
class TrialBalance:
    rows: tuple[TrialBalanceRow, ...]
    balanced: bool

    def balance_of(self, code: str) -> int:
        return next((r.balance_minor for r in self.rows if r.code == code), 0)


def trial_balance(session: Session) -> TrialBalance:
    """Debits and credits per ledger account, and whether every entry balances."""
    repository.ensure_chart(session)
    rows = tuple(
        TrialBalanceRow(code, name, debit, credit)
        for code, name, debit, credit in repository.balances_by_ledger_account(session)
    )
    balanced = (
        sum(r.balance_minor for r in rows) == 0
        and repository.unbalanced_entry_count(session) == 0
        and repository.entries_without_postings(session) == 0
    )
    return TrialBalance(rows, balanced)


AGING_DIMENSIONS = {
    "total": None,
    "zone": "zone",
    "class": "customer_class",
    "account": "account_no",
}


def aging(session: Session, as_of: date, by: str = "total") -> pd.DataFrame:
    """Open receivables [fen] by age bucket (days since bill date) as of ``as_of``.

    One row per group of ``by`` (total, zone, class or account), columns = buckets + total.
    """
    if by not in AGING_DIMENSIONS:
        raise InputError(f"cannot age by {by!r}", "use one of " + ", ".join(AGING_DIMENSIONS))
    items = repository.open_items(session, booked_through=as_of)
    column = AGING_DIMENSIONS[by]
    if items.empty:
        frame = pd.DataFrame(0, index=pd.Index(["all"], name=by), columns=[*BUCKETS, "total"])
        return frame
    bill_dates = pd.to_datetime(items["bill_date"]).to_numpy("datetime64[D]")
    age = (np.datetime64(as_of, "D") - bill_dates).astype(np.int64)
    items = items.assign(bucket=np.asarray(BUCKETS)[bucket_index(age)])
    group = items[column] if column else pd.Series("all", index=items.index, name=by)
    table = items.pivot_table(
        index=group.rename(by), columns="bucket", values="open_minor", aggfunc="sum", fill_value=0
    )
    table = table.reindex(columns=list(BUCKETS), fill_value=0).astype("int64")
    table["total"] = table.sum(axis=1)
    return table
