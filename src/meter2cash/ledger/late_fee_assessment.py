"""Charging late fees (违约金) to the ledger, and waiving them.

:func:`assess_late_fees` charges, for every bill overdue on ``through``, the fee accrued up
to that day (:mod:`meter2cash.ledger.late_fees`) less what earlier assessments charged: one
entry per bill and day — Dr 1122 receivable (the account, the bill) / Cr 6051 late-fee
income — and a ``late_fees`` row. Run it as often as you like: a day already assessed
charges nothing more.

The fee runs on the bill's **electricity charges still unpaid** on each day: the bill less
what payments, credit and corrections took off it, booked before that day (a payment counts
from the day after it is booked, so the day of payment still accrues). Late fees themselves
never accrue a fee; a payment settles the electricity charges of a bill before its fees.
:func:`waive_late_fee` forgives what was charged on a bill and not yet paid (Dr 6051 /
Cr 1122), audited; the days it covered are not charged again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meter2cash.billing.models import Bill
from meter2cash.collections.models import LateFee
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.core.money import from_minor
from meter2cash.db import audit
from meter2cash.ledger import repository
from meter2cash.ledger.journal import LATE_FEE_INCOME, RECEIVABLE, EntryDraft, Leg
from meter2cash.ledger.late_fees import LateFeeRules, accrued_ppm_fen, bill_fees
from meter2cash.ledger.models import JournalEntry, LedgerAccount, Posting
from meter2cash.ledger.service import post_entries

SOURCE_TYPE: Final = "late_fee"
WAIVER_SOURCE: Final = "late_fee_waiver"


@dataclass(frozen=True, slots=True)
class LateFeeReport:
    bills: int
    """Bills charged a fee by this assessment."""
    amount_minor: int


def _principal_events(session: Session, bill_ids: list[int], through: date) -> pd.DataFrame:
    """bill_id, booked_on, amount_minor of every receivable movement of the bills that is
    not a late fee or its waiver, booked on or before ``through``."""
    stmt = (
        select(Posting.bill_id, JournalEntry.booked_on, func.sum(Posting.amount_minor))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(
            LedgerAccount.code == RECEIVABLE,
            JournalEntry.booked_on <= through,
            JournalEntry.source_type.not_in((SOURCE_TYPE, WAIVER_SOURCE)),
        )
        .group_by(Posting.bill_id, JournalEntry.booked_on)
    )
    rows: list[tuple[int | None, date, int]] = []
    for start in range(0, len(bill_ids), 20_000):
        chunk = bill_ids[start : start + 20_000]
        rows.extend(session.execute(stmt.where(Posting.bill_id.in_(chunk))).tuples().all())
    frame = pd.DataFrame(rows, columns=["bill_id", "booked_on", "amount_minor"])
    return frame.astype({"bill_id": np.int64, "amount_minor": np.int64})


def accrued_fees(
    events: pd.DataFrame, bills: pd.DataFrame, through: date, rules: LateFeeRules
) -> pd.Series:
    """Fee [fen] accrued through ``through`` per bill of ``bills`` (bill_id, due_date,
    residential), from its principal ``events`` (bill_id, booked_on, amount_minor): the
    amount standing after each event's day runs from the next day to the next event's day."""
    events = events.sort_values(["bill_id", "booked_on"], ignore_index=True)
    bill_id = events["bill_id"].to_numpy(np.int64)
    day = pd.to_datetime(events["booked_on"]).to_numpy("datetime64[D]")
    standing = events.groupby("bill_id")["amount_minor"].cumsum().to_numpy(np.int64)
    last_of_bill = np.r_[bill_id[1:] != bill_id[:-1], True]
    until = np.where(last_of_bill, np.datetime64(through, "D"), np.roll(day, -1))
    facts = bills.set_index("bill_id").loc[bill_id]
    accrued = accrued_ppm_fen(
        np.maximum(standing, 0),
        day + np.timedelta64(1, "D"),
        until,
        pd.to_datetime(facts["due_date"]).to_numpy("datetime64[D]"),
        facts["residential"].to_numpy(bool),
        rules,
    )
    position = pd.Index(bills["bill_id"]).get_indexer(bill_id)
    fees = bill_fees(accrued, position, len(bills), rules)
    return pd.Series(fees, index=bills["bill_id"].to_numpy(), dtype=np.int64)


def assess_late_fees(
    session: Session, clock: Clock, through: date, rules: LateFeeRules
) -> LateFeeReport:
    """Charge every overdue bill its late fee accrued through ``through`` (see the module)."""
    items = repository.open_items(session, booked_through=through)
    overdue = items[
        (items["open_minor"] > 0)
        & (items["due_date"] < through)
        & (items["bill_id"] != repository.NO_BILL)  # a returned payment is no electricity bill
    ]
    if overdue.empty:
        return LateFeeReport(0, 0)
    bills = pd.DataFrame(
        {
            "bill_id": overdue["bill_id"].to_numpy(np.int64),
            "account_id": overdue["account_id"].to_numpy(np.int64),
            "due_date": overdue["due_date"].to_numpy(),
            "residential": (overdue["customer_class"] == "residential").to_numpy(),
        }
    )
    ids = bills["bill_id"].tolist()
    fees = accrued_fees(_principal_events(session, ids, through), bills, through, rules)
    charged = pd.Series(
        dict(
            session.execute(
                select(LateFee.bill_id, func.sum(LateFee.amount_minor))
                .where(LateFee.bill_id.in_(ids))
                .group_by(LateFee.bill_id)
            )
            .tuples()
            .all()
        ),
        dtype=np.int64,
    )
    due = (fees - charged.reindex(fees.index, fill_value=0)).to_numpy(np.int64)
    todo = bills[due > 0].assign(amount_minor=due[due > 0])
    assessed = {
        b
        for (b,) in session.execute(
            select(LateFee.bill_id).where(LateFee.bill_id.in_(ids), LateFee.through == through)
        )
    }
    todo = todo[~todo["bill_id"].isin(assessed)]
    drafts = [
        EntryDraft(
            SOURCE_TYPE,
            f"{row.bill_id}:{through.isoformat()}",
            through,
            f"违约金 late fee through {through}",
            (
                Leg(RECEIVABLE, int(row.amount_minor), int(row.account_id), int(row.bill_id)),
                Leg(LATE_FEE_INCOME, -int(row.amount_minor)),
            ),
        )
        for row in todo.itertuples(index=False)
    ]
    entry_ids = post_entries(session, clock, drafts)
    session.add_all(
        LateFee(
            account_id=int(row.account_id),
            bill_id=int(row.bill_id),
            through=through,
            amount_minor=int(row.amount_minor),
            entry_id=entry_id,
        )
        for row, entry_id in zip(todo.itertuples(index=False), entry_ids, strict=True)
    )
    session.flush()
    return LateFeeReport(len(todo), int(todo["amount_minor"].sum()))


def waive_late_fee(
    session: Session, clock: Clock, bill_no: str, *, on: date, reason: str, actor: str
) -> int:
    """Forgive the late fees charged on ``bill_no`` and still unpaid; audited. Returns the
    amount waived [fen]."""
    if not reason.strip():
        raise InputError("a waiver needs a reason", "pass --reason")
    bill = session.scalar(select(Bill).where(Bill.bill_no == bill_no))
    if bill is None:
        raise InputError(f"no bill {bill_no}")
    charged = session.execute(
        select(func.coalesce(func.sum(LateFee.amount_minor), 0)).where(LateFee.bill_id == bill.id)
    ).scalar_one()
    waived, waivers = session.execute(
        select(func.coalesce(-func.sum(Posting.amount_minor), 0), func.count())
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(
            Posting.bill_id == bill.id,
            LedgerAccount.code == RECEIVABLE,
            JournalEntry.source_type == WAIVER_SOURCE,
        )
    ).one()
    amount = min(int(charged) - int(waived), repository.bill_receivable(session, bill.id))
    if amount <= 0:
        raise InputError(f"bill {bill_no} has no unpaid late fee to waive")
    legs = (Leg(LATE_FEE_INCOME, amount), Leg(RECEIVABLE, -amount, bill.account_id, bill.id))
    waiver = EntryDraft(
        WAIVER_SOURCE, f"{bill_no}:{int(waivers) + 1}", on, f"违约金减免 waiver: {reason}", legs
    )
    post_entries(session, clock, [waiver])
    audit.record(
        session,
        clock,
        actor=actor,
        action="late_fee.waive",
        object_type="bill",
        object_key=bill_no,
        reason=reason,
        after={"waived_minor": amount, "waived_yuan": str(from_minor(amount))},
    )
    return amount
