"""Issue (发行) posts each approved bill once, with legs that balance, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Account
from meter2cash.billing.issue import FUND_LINE_KIND, ISSUE_SOURCE, issue_approved, issue_bills
from meter2cash.billing.models import Bill, BillLine
from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import LedgerError
from meter2cash.db.session import unit_of_work
from meter2cash.ledger import repository
from meter2cash.ledger.journal import FUNDS_PAYABLE, RECEIVABLE, REVENUE
from meter2cash.ledger.models import JournalEntry, LedgerAccount, Posting
from tests.factories import create_account, create_bill

AUGUST = date(2026, 8, 2)


def _bill(session: Session, account_no: str, lines: dict[str, list[int]]) -> Bill:
    """An approved bill whose total is the sum of its ``lines`` (kind → amounts [fen])."""
    amounts = [(kind, amount) for kind, each in lines.items() for amount in each]
    bill = create_bill(
        session, create_account(session, account_no), sum(a for _, a in amounts), AUGUST
    )
    for seq, (kind, amount) in enumerate(amounts, 1):
        session.add(
            BillLine(
                bill_id=bill.id,
                seq=seq,
                kind=kind,
                description=kind,
                quantity=Decimal(100),
                unit="kWh",
                unit_price=Decimal(amount) / 10_000,
                amount_minor=amount,
            )
        )
    session.flush()
    return bill


def _legs(session: Session) -> dict[str, list[tuple[str, int | None, int]]]:
    """Postings of the issue entries by bill number: (ledger account, bill id, fen)."""
    rows = session.execute(
        select(JournalEntry.source_key, LedgerAccount.code, Posting.bill_id, Posting.amount_minor)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(JournalEntry.source_type == ISSUE_SOURCE)
        .order_by(JournalEntry.source_key, LedgerAccount.code)
    ).tuples()
    legs: dict[str, list[tuple[str, int | None, int]]] = {}
    for key, code, bill_id, amount in rows:
        legs.setdefault(key, []).append((code, bill_id, int(amount)))
    return legs


def test_issue_posts_each_bill_once_with_balanced_legs(records: Engine, clock: FixedClock) -> None:
    """
    A001's bill: energy ¥100.00 + ¥2.50 + funds ¥1.20 + ¥0.30 → Dr receivable ¥104.00,
    Cr funds payable ¥1.50, Cr revenue ¥102.50.
    A002's bill has no fund line: Dr receivable ¥80.00, Cr revenue ¥80.00, no funds leg.
    Issuing again posts nothing. A003's bill, approved later, is posted alone.
    """
    with unit_of_work(records) as session:
        a1 = _bill(session, "A001", {"energy_tiered": [10000, 250], FUND_LINE_KIND: [120, 30]})
        a2 = _bill(session, "A002", {"energy_tiered": [8000]})
        first = issue_approved(session, clock)
        again = issue_approved(session, clock)
    with unit_of_work(records) as session:
        a3 = _bill(session, "A003", {"energy_tou": [700], FUND_LINE_KIND: [7]})
        later = issue_approved(session, clock)
        legs = _legs(session)
        statuses = set(session.scalars(select(Bill.status)))
        postings = session.scalar(select(func.count(Posting.id)))

    assert (first.issued, first.amount_minor) == (2, 18400)
    assert (again.issued, later.issued, later.amount_minor) == (0, 1, 707)
    assert legs == {
        a1.bill_no: [
            (RECEIVABLE, a1.id, 10400),
            (FUNDS_PAYABLE, a1.id, -150),
            (REVENUE, a1.id, -10250),
        ],
        a2.bill_no: [(RECEIVABLE, a2.id, 8000), (REVENUE, a2.id, -8000)],
        a3.bill_no: [(RECEIVABLE, a3.id, 707), (FUNDS_PAYABLE, a3.id, -7), (REVENUE, a3.id, -700)],
    }
    assert postings == 8
    assert statuses == {"issued"}


def test_issuing_chosen_bills_leaves_the_others_approved(
    records: Engine, clock: FixedClock
) -> None:
    with unit_of_work(records) as session:
        chosen = _bill(session, "A001", {"energy_tiered": [5000], FUND_LINE_KIND: [40]})
        other = _bill(session, "A002", {"energy_tiered": [6000]})
        report = issue_bills(session, clock, [chosen.id])
        assert issue_bills(session, clock, [chosen.id]).issued == 0
        legs = _legs(session)
        session.refresh(other)
    assert (report.issued, report.amount_minor) == (1, 5040)
    assert list(legs) == [chosen.bill_no]
    assert other.status == "approved"


def test_a_prepay_accounts_bill_stays_a_statement_and_posts_nothing(
    records: Engine, clock: FixedClock
) -> None:
    """Fee control charged the prepay account day by day; issuing its bill would charge the
    customer twice."""
    with unit_of_work(records) as session:
        postpaid = _bill(session, "A001", {"energy_tiered": [5000]})
        prepaid = _bill(session, "A002", {"energy_tiered": [6000]})
        session.get_one(Account, prepaid.account_id).prepay = True
        report = issue_approved(session, clock)
        legs = _legs(session)
        session.refresh(prepaid)
    assert (report.issued, report.amount_minor) == (1, 5000)
    assert list(legs) == [postpaid.bill_no]
    assert prepaid.status == "approved"


def test_an_entry_that_would_not_balance_is_refused(records: Engine) -> None:
    """A chart that sends revenue to the receivable account leaves each entry with only its
    receivable leg: the check refuses the whole issue."""
    with (
        pytest.raises(LedgerError, match=r"issue entry of bill \S+ does not balance"),
        unit_of_work(records) as session,
    ):
        _bill(session, "A001", {"energy_tiered": [9000]})
        chart = repository.ensure_chart(session)
        repository.post_bill_entries(
            session,
            Bill.status == "approved",
            FUND_LINE_KIND,
            ISSUE_SOURCE,
            chart | {REVENUE: chart[RECEIVABLE]},
            datetime(2026, 8, 2, tzinfo=UTC),
        )
    with unit_of_work(records) as session:
        assert session.scalar(select(func.count(JournalEntry.id))) == 0
        assert session.scalar(select(func.count(Bill.id))) == 0
