"""Cancel and rebill (退补): an issued bill is never edited.

Cancelling posts the exact reversal of the bill's issue entry as it was stored (every leg
negated: Cr receivables, Dr revenue and funds payable) and marks the bill cancelled; what
the customer had already paid on it moves to customer credit, so the bill's receivable
closes at zero. A rebill cancels and re-rates the account's period from the data as it is
now (current read versions, tariff versions, multiplier) through the bill run's own
pricing path (:func:`~meter2cash.billing.run.price_accounts`), as revision + 1 replacing
the old bill. The rebill is a person's decision with a reason, so it is the review: the
rules still run and their reasons stay on the new bill, but it is issued in the same act,
so the ledger never holds a cancelled bill without its replacement. The credit moved off
the old bill settles the new one first. Every act is audited.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from meter2cash.billing import repository
from meter2cash.billing.bill_store import bill_records, insert_bills
from meter2cash.billing.cycles import MonthPeriod, month_period
from meter2cash.billing.issue import ISSUE_SOURCE, issue_bills
from meter2cash.billing.models import Bill
from meter2cash.billing.review import DEFAULT_LIMITS, ReviewLimits
from meter2cash.billing.run import price_accounts
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError, LedgerError
from meter2cash.core.money import from_minor
from meter2cash.db import audit
from meter2cash.engines import BatchEngine
from meter2cash.ledger import repository as ledger_repository
from meter2cash.ledger.journal import CUSTOMER_CREDIT, RECEIVABLE, EntryDraft, Leg, reversal_of
from meter2cash.ledger.service import post_entries
from meter2cash.tariffs.schema import TariffDocument

PAID_TO_CREDIT = "bill_paid_to_credit"
"""Source type of the entry moving what was paid on a cancelled bill to customer credit."""
CREDIT_TO_BILL = "bill_credit_applied"
"""Source type of the entry settling a rebill from the credit its cancelled bill left."""


@dataclass(frozen=True, slots=True)
class Cancellation:
    bill_no: str
    reversed_minor: int
    to_credit_minor: int
    """Paid on the bill before it was cancelled [fen], now customer credit."""


@dataclass(frozen=True, slots=True)
class Rebill:
    """One period re-rated: the cancelled bill and the one issued in its place [fen]."""

    period_start: date
    old_bill_no: str
    old_total_minor: int
    new_bill_no: str
    new_total_minor: int
    review_reasons: str

    @property
    def difference_minor(self) -> int:
        """退补 amount [fen]: positive is owed by the customer, negative refunded."""
        return self.new_total_minor - self.old_total_minor


def _required(reason: str) -> str:
    if not reason.strip():
        raise InputError("cancelling or rebilling needs a reason", "pass --reason")
    return reason.strip()


def _bill(session: Session, bill_no: str) -> Bill:
    bill = repository.bill_by_no(session, bill_no)
    if bill is None:
        raise InputError(f"no bill {bill_no}")
    return bill


def cancel(
    session: Session, clock: Clock, bill_no: str, *, reason: str, actor: str, on: date
) -> Cancellation:
    """Cancel the issued bill ``bill_no``: post the reversal of its issue entry booked ``on``
    and move what was paid on it to customer credit (audited)."""
    reason = _required(reason)
    bill = _bill(session, bill_no)
    if bill.status == "cancelled":
        raise InputError(f"bill {bill_no} is already cancelled; nothing was posted")
    if bill.status != "issued":
        raise InputError(
            f"bill {bill_no} is {bill.status}, not issued: only an issued bill is cancelled",
            "a bill not yet issued is rejected in review (`m2c bill review reject`)",
        )
    return _cancel(session, clock, bill, reason=reason, actor=actor, on=on)


def _cancel(
    session: Session, clock: Clock, bill: Bill, *, reason: str, actor: str, on: date
) -> Cancellation:
    stored = ledger_repository.entry_by_source(session, ISSUE_SOURCE, bill.bill_no)
    if stored is None:
        raise LedgerError(f"bill {bill.bill_no} is issued but has no issue entry in the ledger")
    entry_id, entry = stored
    paid = bill.total_minor - ledger_repository.bill_receivable(session, bill.id)
    drafts = [reversal_of(entry, entry_id=entry_id, booked_on=on, reason=f"cancel {bill.bill_no}")]
    if paid > 0:
        drafts.append(
            EntryDraft(
                source_type=PAID_TO_CREDIT,
                source_key=bill.bill_no,
                booked_on=on,
                description=f"paid on cancelled bill {bill.bill_no} to credit",
                legs=(
                    Leg(RECEIVABLE, paid, bill.account_id, bill.id),
                    Leg(CUSTOMER_CREDIT, -paid, bill.account_id),
                ),
            )
        )
    post_entries(session, clock, drafts)
    bill.status = "cancelled"
    audit.record(
        session,
        clock,
        actor=actor,
        action="bill.cancel",
        object_type="bill",
        object_key=bill.bill_no,
        reason=reason,
        before={"status": "issued"},
        after={
            "status": "cancelled",
            "reversed": str(from_minor(bill.total_minor)),
            "to_credit": str(from_minor(max(paid, 0))),
            "booked_on": on.isoformat(),
        },
    )
    return Cancellation(bill.bill_no, bill.total_minor, max(paid, 0))


def rebill(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    tariffs: Mapping[str, TariffDocument],
    bill_no: str,
    *,
    reason: str,
    actor: str,
    on: date,
    limits: ReviewLimits = DEFAULT_LIMITS,
    along: Collection[str] = (),
) -> Rebill:
    """Cancel ``bill_no`` (issued, or cancelled and not yet replaced) and issue its period
    re-rated from current data, dated ``on`` with the old bill's payment terms (audited).

    An estimated bill that a later live bill has trued up is rebilled only together with
    that bill (``along``: the bill numbers a backbill rebills after it); alone, its
    difference would be billed twice."""
    reason = _required(reason)
    old = _bill(session, bill_no)
    trued_by = [no for no in repository.true_ups_naming(session, bill_no) if no not in along]
    if trued_by:
        raise InputError(
            f"bill {bill_no} was estimated and is trued up on {', '.join(trued_by)}; "
            "rebilling it alone would bill the difference twice",
            f"backbill the account from {old.period_start:%Y-%m} through the month of "
            f"{trued_by[-1]}",
        )
    credit = 0
    if old.status == "issued":
        credit = _cancel(session, clock, old, reason=reason, actor=actor, on=on).to_credit_minor
    elif old.status == "cancelled":
        live = repository.live_bill_of(session, old.account_id, old.cycle_id)
        if live is not None:
            raise InputError(
                f"bill {bill_no} is cancelled and replaced by {live.bill_no}",
                f"rebill {live.bill_no} instead",
            )
    else:
        raise InputError(
            f"bill {bill_no} is {old.status}, not issued",
            "approve or reject it in review (`m2c bill review`); only issued bills are rebilled",
        )
    period = _month_of(old)
    meters = repository.billable_meters(
        session, period.period_start, period.period_end, [old.account_id]
    )
    if (
        meters.empty
        or (
            priced := price_accounts(session, clock, engine, tariffs, period, meters, limits)
        ).bills.empty
    ):
        raise InputError(
            f"cannot re-rate bill {bill_no}: its account has no meter or reads to bill "
            f"{period.period_start:%Y-%m}",
            "fix the meter installation or the reads, then rebill",
        )
    revision = repository.next_revision(session, old.account_id, old.cycle_id)
    record = bill_records(
        priced.bills,
        period,
        [old.cycle_id],
        [on.isoformat()],
        [(on + (old.due_date - old.bill_date)).isoformat()],
        [revision],
        [old.id],
    )
    (new_id,) = insert_bills(session, record | {"status": ["approved"]}, priced.lines)
    new_id = int(new_id)
    new = session.get_one(Bill, new_id)
    issue_bills(session, clock, [new.id])
    session.refresh(new)
    applied = min(credit, new.total_minor)
    if applied > 0:
        post_entries(
            session,
            clock,
            [
                EntryDraft(
                    source_type=CREDIT_TO_BILL,
                    source_key=new.bill_no,
                    booked_on=on,
                    description=f"credit from {old.bill_no} to {new.bill_no}",
                    legs=(
                        Leg(CUSTOMER_CREDIT, applied, new.account_id),
                        Leg(RECEIVABLE, -applied, new.account_id, new.id),
                    ),
                )
            ],
        )
    audit.record(
        session,
        clock,
        actor=actor,
        action="bill.rebill",
        object_type="bill",
        object_key=old.bill_no,
        reason=reason,
        before={"bill_no": old.bill_no, "total": str(from_minor(old.total_minor))},
        after={
            "bill_no": new.bill_no,
            "total": str(from_minor(new.total_minor)),
            "credit_applied": str(from_minor(applied)),
            "review_reasons": new.review_reasons,
        },
    )
    return Rebill(
        old.period_start,
        old.bill_no,
        old.total_minor,
        new.bill_no,
        new.total_minor,
        new.review_reasons,
    )


def _month_of(bill: Bill) -> MonthPeriod:
    period = month_period(bill.period_start.year, bill.period_start.month)
    if (period.period_start, period.period_end) != (bill.period_start, bill.period_end):
        raise InputError(
            f"bill {bill.bill_no} covers {bill.period_start}…{bill.period_end}, "
            "not a calendar month; rebill re-rates monthly bills"
        )
    return period


def backbill(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    tariffs: Mapping[str, TariffDocument],
    account_no: str,
    first: MonthPeriod,
    last: MonthPeriod,
    *,
    reason: str,
    actor: str,
    on: date,
    limits: ReviewLimits = DEFAULT_LIMITS,
) -> list[Rebill]:
    """Rebill every issued bill of ``account_no`` from month ``first`` to ``last``, oldest
    first (so annual tiers and history see the corrected months), e.g. after a tariff or
    multiplier correction. All or nothing: the caller's unit of work commits."""
    reason = _required(reason)
    if last.period_start < first.period_start:
        raise InputError(
            f"--to {last.period_start:%Y-%m} is before --from {first.period_start:%Y-%m}"
        )
    account = repository.account_by_no(session, account_no)
    if account is None:
        raise InputError(f"no account {account_no}")
    bills = repository.issued_bills_between(
        session, account.id, first.period_start, last.period_start
    )
    if not bills:
        raise InputError(
            f"account {account_no} has no issued bills from {first.period_start:%Y-%m} "
            f"to {last.period_start:%Y-%m}"
        )
    return [
        rebill(
            session,
            clock,
            engine,
            tariffs,
            b.bill_no,
            reason=reason,
            actor=actor,
            on=on,
            limits=limits,
            along=[later.bill_no for later in bills[index + 1 :]],
        )
        for index, b in enumerate(bills)
    ]
