"""Issue (发行): post approved bills to the receivables ledger; review decisions by people."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import update
from sqlalchemy.orm import Session

from meter2cash.billing import repository
from meter2cash.billing.models import Bill
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.db import audit
from meter2cash.ledger.journal import FUNDS_PAYABLE, RECEIVABLE, REVENUE, EntryDraft, Leg
from meter2cash.ledger.service import post_entries

FUND_LINE_KIND = "funds"
ISSUE_SOURCE = "bill"
"""Source type of issue entries; the source key is the bill number."""


@dataclass(frozen=True, slots=True)
class IssueReport:
    issued: int
    amount_minor: int


def issue_entry(bill: Bill, funds_minor: int) -> EntryDraft:
    """Dr receivable (account, bill) total; Cr funds payable for itemised funds; Cr revenue."""
    legs = [Leg(RECEIVABLE, bill.total_minor, bill.account_id, bill.id)]
    if funds_minor:
        legs.append(Leg(FUNDS_PAYABLE, -funds_minor, bill.account_id, bill.id))
    legs.append(Leg(REVENUE, -(bill.total_minor - funds_minor), bill.account_id, bill.id))
    return EntryDraft(
        source_type=ISSUE_SOURCE,
        source_key=bill.bill_no,
        booked_on=bill.bill_date,
        description=f"issue bill {bill.bill_no}",
        legs=tuple(legs),
    )


def issue_approved(session: Session, clock: Clock, period_start: date | None = None) -> IssueReport:
    """Post every approved bill (of one period, or all) and mark it issued."""
    return issue_bills(
        session, clock, repository.bills_with_status(session, "approved", period_start)
    )


def issue_bills(session: Session, clock: Clock, bills: Sequence[Bill]) -> IssueReport:
    """Post ``bills`` (approved) to the ledger and mark them issued."""
    if not bills:
        return IssueReport(0, 0)
    funds = repository.line_totals(session, [b.id for b in bills], FUND_LINE_KIND)
    drafts = [issue_entry(b, funds.get(b.id, 0)) for b in bills]
    post_entries(session, clock, drafts)
    now = clock.now()
    ids = [b.id for b in bills]
    for start in range(0, len(ids), 5000):
        session.execute(
            update(Bill)
            .where(Bill.id.in_(ids[start : start + 5000]))
            .values(status="issued", issued_at=now)
            .execution_options(synchronize_session=False)
        )
    return IssueReport(len(bills), sum(b.total_minor for b in bills))


def decide(
    session: Session, clock: Clock, bill_no: str, *, approve: bool, actor: str, reason: str
) -> Bill:
    """A person approves or rejects a bill held for review; the decision is audited."""
    if not reason.strip():
        raise InputError("a review decision needs a reason", "pass --reason")
    bill = repository.bill_by_no(session, bill_no)
    if bill is None:
        raise InputError(f"no bill {bill_no}")
    if bill.status != "in_review":
        raise InputError(f"bill {bill_no} is {bill.status}, not in review")
    before = {"status": bill.status}
    bill.status = "approved" if approve else "cancelled"
    audit.record(
        session,
        clock,
        actor=actor,
        action="bill.approve" if approve else "bill.reject",
        object_type="bill",
        object_key=bill_no,
        reason=reason,
        before=before,
        after={"status": bill.status},
    )
    return bill
