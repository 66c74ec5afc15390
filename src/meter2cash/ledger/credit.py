"""Customer credit (预收电费): what was overpaid is applied to the next bills, or refunded.

Credit sits on 2203 per account (a credit balance). :func:`apply_credit` moves it onto the
account's open bills and returned payments, oldest first (Dr 2203 / Cr 1122 per item) —
run after bills are issued. :func:`refund_credit` pays it back (Dr 2203 / Cr 1002), never
more than there is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Account
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.core.ids import new_id
from meter2cash.core.money import from_minor
from meter2cash.db import audit
from meter2cash.ledger import repository
from meter2cash.ledger.allocation import allocate_batch
from meter2cash.ledger.journal import CASH, CUSTOMER_CREDIT, RECEIVABLE, EntryDraft, Leg
from meter2cash.ledger.models import LedgerAccount, Posting
from meter2cash.ledger.service import post_entries


@dataclass(frozen=True, slots=True)
class CreditReport:
    accounts: int
    applied_minor: int


def credit_balances(session: Session, account_ids: list[int] | None = None) -> pd.Series:
    """Credit [fen, positive] held for each account that has any, by account id."""
    total = func.sum(Posting.amount_minor)
    stmt = (
        select(Posting.account_id, total)
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(LedgerAccount.code == CUSTOMER_CREDIT, Posting.account_id.is_not(None))
        .group_by(Posting.account_id)
        .having(total < 0)
    )
    if account_ids is not None:
        stmt = stmt.where(Posting.account_id.in_(account_ids))
    rows = session.execute(stmt).tuples().all()
    return pd.Series({a: -int(m) for a, m in rows if a is not None}, dtype=np.int64)


def apply_credit(session: Session, clock: Clock, on: date) -> CreditReport:
    """Apply every account's credit to its bills open and dated by ``on``, oldest first."""
    credit = credit_balances(session)
    if credit.empty:
        return CreditReport(0, 0)
    items = repository.open_items(session)
    items = items[items["account_id"].isin(credit.index) & (items["bill_date"] <= on)].sort_values(
        ["account_id", "bill_date", "bill_id"], ignore_index=True
    )
    got = allocate_batch(
        credit.index.to_numpy(np.int64),
        credit.to_numpy(np.int64),
        items["account_id"].to_numpy(np.int64),
        items["open_minor"].to_numpy(np.int64),
    )
    paid = got.item >= 0
    accounts = credit.index.to_numpy(np.int64)[got.payment[paid]]
    bills = items["bill_id"].to_numpy(np.int64)[got.item[paid]]
    amounts = got.amount_minor[paid]
    drafts = []
    for account in np.unique(accounts):
        mine = accounts == account
        legs = [Leg(CUSTOMER_CREDIT, int(amounts[mine].sum()), int(account))]
        legs += [
            Leg(RECEIVABLE, -int(m), int(account), None if b == repository.NO_BILL else int(b))
            for b, m in zip(bills[mine], amounts[mine], strict=True)
        ]
        drafts.append(
            EntryDraft("credit", f"{account}:{new_id()}", on, "credit applied", tuple(legs))
        )
    post_entries(session, clock, drafts)
    return CreditReport(len(drafts), int(amounts.sum()))


def refund_credit(
    session: Session,
    clock: Clock,
    account_no: str,
    amount_minor: int,
    *,
    reference: str,
    on: date,
    reason: str,
    actor: str,
) -> int:
    """Pay ``amount_minor`` [fen] of the account's credit back (refund ``reference``, sent
    twice posts once); audited. Returns the entry id, or 0 when already refunded."""
    if not reason.strip():
        raise InputError("a refund needs a reason", "pass --reason")
    account_id = session.scalar(select(Account.id).where(Account.account_no == account_no))
    if account_id is None:
        raise InputError(f"unknown account {account_no}")
    if repository.existing_source_keys(session, "refund", [reference]):
        return 0
    held = int(credit_balances(session, [account_id]).get(account_id, 0))
    if not 0 < amount_minor <= held:
        raise InputError(
            f"account {account_no} holds {from_minor(held)} yuan of credit; cannot refund "
            f"{from_minor(amount_minor)}",
            "refund at most the credit held",
        )
    legs = (Leg(CUSTOMER_CREDIT, amount_minor, account_id), Leg(CASH, -amount_minor))
    [entry_id] = post_entries(
        session, clock, [EntryDraft("refund", reference, on, f"refund {account_no}", legs)]
    )
    audit.record(
        session,
        clock,
        actor=actor,
        action="credit.refund",
        object_type="account",
        object_key=account_no,
        reason=reason,
        after={"entry_id": entry_id, "amount_minor": amount_minor},
    )
    return entry_id
