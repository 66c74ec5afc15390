"""Issue (发行): post approved bills to the receivables ledger; review decisions by people."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Account
from meter2cash.billing import repository
from meter2cash.billing.models import Bill
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.db import audit
from meter2cash.ledger import repository as ledger_repository

FUND_LINE_KIND = "funds"
ISSUE_SOURCE = "bill"
"""Source type of issue entries; the source key is the bill number."""


@dataclass(frozen=True, slots=True)
class IssueReport:
    issued: int
    amount_minor: int


def issue_approved(session: Session, clock: Clock, period_start: date | None = None) -> IssueReport:
    """Post every approved bill (of one period, or all) and mark it issued."""
    approved = Bill.status == "approved"
    if period_start is not None:
        approved &= Bill.period_start == period_start
    return _issue(session, clock, approved)


def issue_bills(session: Session, clock: Clock, bill_ids: Sequence[int]) -> IssueReport:
    """Post the approved bills ``bill_ids`` to the ledger and mark them issued."""
    return _issue(session, clock, (Bill.status == "approved") & Bill.id.in_(list(bill_ids)))


def _issue(session: Session, clock: Clock, bills: ColumnElement[bool]) -> IssueReport:
    """Post the issue entry of each bill matching ``bills`` (skipping those already posted,
    by bill number) in a few set-based statements, then mark them issued.

    A prepay account's bill is never issued: its charges were posted day by day by fee
    control (费控), so it stays ``approved`` as the month's statement — its kWh still count
    toward annual tiers — and posting it would charge the customer twice.
    """
    bills = bills & Bill.account_id.not_in(select(Account.id).where(Account.prepay))
    count, amount = repository.bill_count_and_total(session, bills)
    if not count:
        return IssueReport(0, 0)
    chart = ledger_repository.ensure_chart(session)
    now = clock.now()
    ledger_repository.post_bill_entries(session, bills, FUND_LINE_KIND, ISSUE_SOURCE, chart, now)
    repository.mark_issued(session, bills, now)
    return IssueReport(count, amount)


def decide(
    session: Session, clock: Clock, bill_no: str, *, approve: bool, actor: str, reason: str
) -> Bill:
    """A person approves or rejects a bill held for review; the decision is audited. An
    estimated bill a later bill trues up cannot be rejected while that true-up stands."""
    if not reason.strip():
        raise InputError("a review decision needs a reason", "pass --reason")
    bill = repository.bill_by_no(session, bill_no)
    if bill is None:
        raise InputError(f"no bill {bill_no}")
    if bill.status != "in_review":
        raise InputError(f"bill {bill_no} is {bill.status}, not in review")
    if approve and any(p.startswith("rating_error: ") for p in bill.review_reasons.split("; ")):
        raise InputError(
            f"bill {bill_no} could not be rated (rating_error) and has no lines; approving it "
            "would issue a bill of 0",
            "correct the record it names, reject the bill (m2c bill review reject) and run "
            "the month again",
        )
    trued_by = [] if approve else repository.true_ups_naming(session, bill_no)
    if trued_by:
        raise InputError(
            f"bill {bill_no} was estimated and is trued up on {', '.join(trued_by)}; rejecting "
            "it would leave that true-up settling a bill that was never issued",
            f"approve it (the true-up settles the difference), or reject {trued_by[-1]} first "
            "and run both months again",
        )
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
