"""Taking payments (收费): any channel, one payment or a million, posted set-based.

Every payment is one journal entry — Dr cash, Cr the receivable of each bill it settles
(oldest first, only bills dated by the day it was received), Cr customer credit for the rest —
and one ``payments`` row. The same (channel, transaction id) posts once however often it is
sent: repeats inside a batch and payments already on file are counted as duplicates. The
accounts a batch pays are locked for the transaction on PostgreSQL (``FOR UPDATE``), so a
cashier and a bank file paying one account at once leave its balance exact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Account
from meter2cash.billing.models import Bill
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.db import audit
from meter2cash.db.bulk import insert_columns, instant_text
from meter2cash.db.ids import reserve_ids
from meter2cash.db.keys import key_table
from meter2cash.ledger import repository
from meter2cash.ledger.allocation import allocate_by_day
from meter2cash.ledger.credit import credit_balances
from meter2cash.ledger.journal import CASH, CUSTOMER_CREDIT, RECEIVABLE, Leg, reversal_of
from meter2cash.ledger.models import JournalEntry, LedgerAccount, Payment, Posting
from meter2cash.ledger.service import post_entries

PAYMENT_COLUMNS: Final = ("channel", "transaction_id", "account_no", "amount_minor", "received_on")
SOURCE_TYPE: Final = "payment"
"""Source type of payment entries; the source key is ``channel:transaction_id``."""


@dataclass(frozen=True, slots=True)
class PaymentReport:
    received: int
    posted: int
    duplicates: int
    amount_minor: int
    to_credit_minor: int


def post_payments(
    session: Session, clock: Clock, payments: pd.DataFrame, batch_id: int | None = None
) -> PaymentReport:
    """Post ``payments`` (:data:`PAYMENT_COLUMNS`; amounts [fen]) in the caller's transaction.

    Raises :class:`InputError` naming the first payment with a non-positive amount or an
    unknown account; nothing is posted then.
    """
    frame = payments.reset_index(drop=True)
    bad = frame["amount_minor"].to_numpy(np.int64) <= 0
    if bad.any():
        row = frame.iloc[int(np.flatnonzero(bad)[0])]
        raise InputError(
            f"payment {row['channel']}:{row['transaction_id']} has a non-positive amount "
            f"{row['amount_minor']} fen"
        )
    fresh = frame.drop_duplicates(["channel", "transaction_id"])
    fresh = fresh[~_on_file(session, fresh)]
    if fresh.empty:
        return PaymentReport(len(frame), 0, len(frame), 0, 0)
    fresh = fresh.assign(account_id=_account_ids(session, fresh)).sort_values(
        ["received_on", "channel", "transaction_id"], kind="stable", ignore_index=True
    )
    _lock(session, fresh["account_id"])
    items = _open_items(session, fresh["account_id"])
    allocations = allocate_by_day(fresh, items)
    entry_ids = reserve_ids(session, JournalEntry.__tablename__, len(fresh))
    now = instant_text(session, clock.now())
    keys = fresh["channel"] + ":" + fresh["transaction_id"]
    insert_columns(
        session,
        JournalEntry.__tablename__,
        {
            "id": entry_ids,
            "source_type": [SOURCE_TYPE] * len(fresh),
            "source_key": keys,
            "booked_on": fresh["received_on"].map(date.isoformat),
            "recorded_at": [now] * len(fresh),
            "description": "payment " + fresh["channel"] + " " + fresh["transaction_id"],
        },
    )
    chart = repository.ensure_chart(session)
    credit = allocations.item < 0
    paid_bill = np.full(len(credit), -1, np.int64)
    paid_bill[~credit] = items["bill_id"].to_numpy(np.int64)[allocations.item[~credit]]
    rows = allocations.payment
    legs = pd.DataFrame(
        {
            "entry_id": np.r_[entry_ids, entry_ids[rows]],
            "ledger_account_id": np.r_[
                np.full(len(fresh), chart[CASH]),
                np.where(credit, chart[CUSTOMER_CREDIT], chart[RECEIVABLE]),
            ],
            "account_id": np.r_[np.full(len(fresh), -1), fresh["account_id"].to_numpy()[rows]],
            "bill_id": np.r_[np.full(len(fresh), -1), paid_bill],
            "amount_minor": np.r_[
                fresh["amount_minor"].to_numpy(np.int64), -allocations.amount_minor
            ],
        }
    ).sort_values("entry_id", kind="stable")
    insert_columns(
        session,
        Posting.__tablename__,
        {
            "entry_id": legs["entry_id"],
            "ledger_account_id": legs["ledger_account_id"],
            "account_id": _nullable(legs["account_id"]),
            "bill_id": _nullable(legs["bill_id"]),
            "amount_minor": legs["amount_minor"],
            "currency": ["CNY"] * len(legs),
        },
    )
    insert_columns(
        session,
        Payment.__tablename__,
        {
            "channel": fresh["channel"],
            "transaction_id": fresh["transaction_id"],
            "account_id": fresh["account_id"],
            "amount_minor": fresh["amount_minor"],
            "currency": ["CNY"] * len(fresh),
            "received_on": fresh["received_on"].map(date.isoformat),
            "recorded_at": [now] * len(fresh),
            "entry_id": entry_ids,
            "batch_id": [batch_id] * len(fresh),
        },
    )
    return PaymentReport(
        received=len(frame),
        posted=len(fresh),
        duplicates=len(frame) - len(fresh),
        amount_minor=int(fresh["amount_minor"].sum()),
        to_credit_minor=int(allocations.amount_minor[credit].sum()),
    )


def _nullable(ids: pd.Series) -> pd.Series:
    """Ids with ``-1`` as null, as Python ints and ``None``."""
    values = ids.astype(object)
    values[ids.to_numpy() < 0] = None
    return values


def _on_file(session: Session, frame: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Which (channel, transaction_id) of ``frame`` are already posted."""
    found = np.zeros(len(frame), bool)
    for channel, rows in frame.groupby("channel").groups.items():
        ids = frame.loc[rows, "transaction_id"]
        keys = key_table(session, ids.tolist(), "text")
        present = session.connection().execute(
            select(Payment.transaction_id)
            .join(keys, keys.c.k == Payment.transaction_id)
            .where(Payment.channel == channel)
        )
        found[frame.index.get_indexer(rows)] = ids.isin({t for (t,) in present}).to_numpy()
    return found


def _account_ids(session: Session, frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    """Account id of each payment; :class:`InputError` naming the first unknown account."""
    keys = key_table(session, frame["account_no"].tolist(), "text")
    found = dict(
        session.connection()
        .execute(select(Account.account_no, Account.id).join(keys, keys.c.k == Account.account_no))
        .tuples()
        .all()
    )
    ids = frame["account_no"].map(found)
    if ids.isna().any():
        row = frame[ids.isna()].iloc[0]
        raise InputError(
            f"payment {row['channel']}:{row['transaction_id']} names unknown account "
            f"{row['account_no']}",
            "check the account number; nothing of this batch was posted",
        )
    found_ids: npt.NDArray[np.int64] = ids.to_numpy(np.int64)
    return found_ids


def _lock(session: Session, account_ids: pd.Series) -> None:
    """Lock the paying accounts' rows until commit (PostgreSQL), in id order (no deadlock)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = key_table(session, account_ids.tolist())
    session.connection().execute(
        select(Account.id)
        .join(keys, keys.c.k == Account.id)
        .order_by(Account.id)
        .with_for_update(of=Account)
    ).all()


def _open_items(session: Session, account_ids: pd.Series) -> pd.DataFrame:
    """Open items of the paying accounts (account_id, bill_id, bill_date, open_minor), oldest
    first within each account; returned payments are bill :data:`~repository.NO_BILL`."""
    keys = key_table(session, account_ids.tolist())
    receivable = select(LedgerAccount.id).where(LedgerAccount.code == RECEIVABLE)
    owed = func.sum(Posting.amount_minor)
    per_bill = (
        select(Posting.account_id, Posting.bill_id, owed.label("open_minor"))
        .join(keys, keys.c.k == Posting.account_id)
        .where(Posting.ledger_account_id == receivable.scalar_subquery())
        .group_by(Posting.account_id, Posting.bill_id)
        .having(owed != 0)
        .subquery()
    )
    statement = select(
        per_bill.c.account_id, per_bill.c.bill_id, Bill.bill_date, per_bill.c.open_minor
    ).outerjoin(Bill, Bill.id == per_bill.c.bill_id)
    items = pd.DataFrame(
        session.connection().execute(statement).tuples().all(),
        columns=["account_id", "bill_id", "bill_date", "open_minor"],
    )
    items = repository.with_returned_dates(session, items, None)
    items = items.astype({"account_id": np.int64, "bill_id": np.int64, "open_minor": np.int64})
    return items.sort_values(["account_id", "bill_date", "bill_id"], ignore_index=True)


def reverse_payment(
    session: Session,
    clock: Clock,
    channel: str,
    transaction_id: str,
    *,
    on: date,
    reason: str,
    actor: str,
) -> int:
    """Undo a bounced or mistaken payment, booked ``on``: the reversal of its entry, so the
    bills it paid are owed again and the credit it left is withdrawn — as far as the account
    still holds it. Credit since refunded or applied to bills is owed as a returned payment
    (Dr 1122 naming no bill, :data:`~repository.NO_BILL`), which aging, dunning and the next
    payment see; a prepay account's balance takes the whole withdrawal (fee control acts on
    it). Audited; returns the reversal's entry id. Reversing twice, or a payment not on file,
    is an error.
    """
    if not reason.strip():
        raise InputError("a payment reversal needs a reason", "pass --reason")
    key = f"{channel}:{transaction_id}"
    stored = repository.entry_by_source(session, SOURCE_TYPE, key)
    if stored is None:
        raise InputError(f"no payment {key} on file")
    entry_id, entry = stored
    if repository.existing_source_keys(session, "reversal", [str(entry_id)]):
        raise InputError(f"payment {key} is already reversed")
    reversal = reversal_of(entry, entry_id=entry_id, booked_on=on, reason=reason)
    legs = _returned(session, reversal.legs)
    [reversal_id] = post_entries(session, clock, [replace(reversal, legs=legs)])
    audit.record(
        session,
        clock,
        actor=actor,
        action="payment.reverse",
        object_type="payment",
        object_key=key,
        reason=reason,
        before={"entry_id": entry_id},
        after={"reversal_entry_id": reversal_id},
    )
    return reversal_id


def _returned(session: Session, legs: tuple[Leg, ...]) -> tuple[Leg, ...]:
    """A payment reversal's ``legs`` with the withdrawal of credit (Dr 2203) cut to the credit
    the account holds now, the rest owed as a returned payment (Dr 1122, no bill). A prepay
    account keeps the whole withdrawal on 2203: its balance is what fee control reads."""
    kept: list[Leg] = []
    for leg in legs:
        if leg.ledger_account != CUSTOMER_CREDIT or leg.account_id is None:
            kept.append(leg)
            continue
        account = session.get_one(Account, leg.account_id)
        held = int(credit_balances(session, [account.id]).get(account.id, 0))
        withdrawn = leg.amount_minor if account.prepay else min(leg.amount_minor, max(held, 0))
        if withdrawn:
            kept.append(Leg(CUSTOMER_CREDIT, withdrawn, account.id))
        if leg.amount_minor > withdrawn:
            kept.append(Leg(RECEIVABLE, leg.amount_minor - withdrawn, account.id))
    return tuple(kept)
