"""Cancel, rebill and back-billing (退补) over three billed months of a small utility."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from meter2cash import spine
from meter2cash.assets.models import Account, MeterInstallation, ServicePoint
from meter2cash.billing import repository
from meter2cash.billing.cycles import month_period
from meter2cash.billing.issue import ISSUE_SOURCE, decide, issue_approved
from meter2cash.billing.models import Bill, BillLine
from meter2cash.billing.rebill import backbill, cancel, rebill
from meter2cash.billing.review import rules_of
from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import InputError
from meter2cash.db.audit import AuditEvent
from meter2cash.db.session import unit_of_work
from meter2cash.ledger import repository as ledger_repository
from meter2cash.ledger.journal import CUSTOMER_CREDIT, RECEIVABLE
from meter2cash.ledger.models import JournalEntry, Posting
from meter2cash.ledger.payments import PAYMENT_COLUMNS, post_payments
from meter2cash.ledger.service import post_entries, trial_balance
from meter2cash.simulator import UtilitySpec
from meter2cash.tariffs.loader import load_catalogue
from meter2cash.workspace import Workspace
from tests.factories import create_account, create_bill, simulated_workspace

ON = date(2026, 10, 12)
"""The day the cancels and rebills are booked."""


@pytest.fixture(scope="module")
def billed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """80 accounts, 30 Jun – 3 Oct 2026: July, August and September billed, every held bill
    approved, everything issued."""
    home: Path = tmp_path_factory.mktemp("rebill")
    with simulated_workspace(
        home, UtilitySpec(seed=5, accounts=80, start=date(2026, 6, 30), days=96)
    ) as ws:
        for period in spine.billing_months(ws):
            spine.bill(ws, period)
            with unit_of_work(ws.records) as session:
                for held in repository.bills_with_status(session, "in_review"):
                    decide(session, ws.clock, held.bill_no, approve=True, actor="t", reason="test")
            spine.issue(ws)
        yield ws


def _accounts_with_three_bills(session: Session, tariff_code: str) -> list[int]:
    """Accounts on ``tariff_code`` with an issued bill in each of the three months."""
    stmt = (
        select(Bill.account_id)
        .join(Account, Account.id == Bill.account_id)
        .where(Bill.status == "issued", Account.tariff_code == tariff_code, Bill.kwh > 0)
        .group_by(Bill.account_id)
        .having(func.count(Bill.id) == 3)
        .order_by(Bill.account_id)
    )
    return list(session.scalars(stmt))


def _bill(session: Session, account_id: int, month: int) -> Bill:
    return session.scalars(
        select(Bill).where(
            Bill.account_id == account_id,
            Bill.period_start == date(2026, month, 1),
            Bill.status == "issued",
        )
    ).one()


def _double_the_multiplier(session: Session, account_id: int) -> None:
    """The CT ratio was recorded at half its value: correct it in place."""
    installation = session.scalars(
        select(MeterInstallation)
        .join(ServicePoint, ServicePoint.id == MeterInstallation.service_point_id)
        .where(ServicePoint.account_id == account_id, MeterInstallation.removed_at.is_(None))
    ).one()
    installation.ct_ratio *= 2
    installation.multiplier *= 2


def _owed(session: Session, account_id: int) -> int:
    items = ledger_repository.open_items(session, account_ids={account_id})
    return int(items["open_minor"].sum())


def _live_total(session: Session, account_id: int) -> int:
    stmt = select(func.sum(Bill.total_minor)).where(
        Bill.account_id == account_id, Bill.status == "issued"
    )
    return int(session.scalar(stmt) or 0)


def _doubled_total(lines: list[BillLine]) -> int:
    """COM-TOU prices every line per kWh (energy by period, funds): twice the kWh at the
    line's stored unit price (exact, e.g. a fund at 0.00196875 yuan/kWh), each line rounded
    half-up to the fen."""
    assert {ln.unit for ln in lines} == {"kWh"}
    return sum(
        int((2 * ln.quantity * ln.unit_price * 100).quantize(Decimal(1), ROUND_HALF_UP))
        for ln in lines
    )


def test_cancel_posts_the_exact_reversal_once(billed: Workspace) -> None:
    with unit_of_work(billed.records) as session:
        account_id = _accounts_with_three_bills(session, "RES-TIER-ZJ")[0]
        bill = _bill(session, account_id, 7)
        bill_no, bill_id, total = bill.bill_no, bill.id, bill.total_minor
        owed_before = _owed(session, account_id)
    with unit_of_work(billed.records) as session:
        done = cancel(session, billed.clock, bill_no, reason="wrong read", actor="wang", on=ON)
    assert (done.bill_no, done.reversed_minor, done.to_credit_minor) == (bill_no, total, 0)
    with unit_of_work(billed.records) as session:
        issue_id, issued = ledger_repository.entry_by_source(session, ISSUE_SOURCE, bill_no) or (
            0,
            None,
        )
        reversal = ledger_repository.entry_by_source(session, "reversal", str(issue_id))
        assert issued is not None and reversal is not None
        _, reversed_entry = reversal
        assert reversed_entry.reverses_entry_id == issue_id and reversed_entry.booked_on == ON
        assert [(leg.ledger_account, -leg.amount_minor, leg.bill_id) for leg in issued.legs] == [
            (leg.ledger_account, leg.amount_minor, leg.bill_id) for leg in reversed_entry.legs
        ]
        assert ledger_repository.bill_receivable(session, bill_id) == 0
        assert _owed(session, account_id) == owed_before - total
        assert trial_balance(session).balanced
        assert repository.bill_by_no(session, bill_no).status == "cancelled"  # type: ignore[union-attr]
        (act,) = session.scalars(select(AuditEvent).where(AuditEvent.object_key == bill_no)).all()
        assert (act.actor, act.action, act.reason) == ("wang", "bill.cancel", "wrong read")
        postings = session.scalar(select(func.count(Posting.id)))
    # The same cancel again: a clear error, and nothing is posted twice.
    with (
        unit_of_work(billed.records) as session,
        pytest.raises(InputError, match=f"bill {bill_no} is already cancelled"),
    ):
        cancel(session, billed.clock, bill_no, reason="wrong read", actor="wang", on=ON)
    with unit_of_work(billed.records) as session:
        assert post_entries(session, billed.clock, [reversed_entry]) == []
        assert session.scalar(select(func.count(Posting.id))) == postings


def test_rebill_after_a_multiplier_correction(billed: Workspace) -> None:
    with unit_of_work(billed.records) as session:
        account_id = _accounts_with_three_bills(session, "COM-TOU")[0]
        old = _bill(session, account_id, 8)
        old_no, old_id, old_kwh, old_total = old.bill_no, old.id, old.kwh, old.total_minor
        expected = _doubled_total(repository.lines_of(session, old.id))
        _double_the_multiplier(session, account_id)
    with unit_of_work(billed.records) as session:
        done = rebill(
            session,
            billed.clock,
            billed.batch,
            load_catalogue(),
            old_no,
            reason="CT 200/5 recorded as 100/5",
            actor="wang",
            on=ON,
        )
    assert done.new_bill_no == old_no[:-1] + "1"
    assert done.new_total_minor == expected
    assert done.difference_minor == expected - old_total
    assert "multiplier_changed" in rules_of(done.review_reasons)
    with unit_of_work(billed.records) as session:
        new = repository.bill_by_no(session, done.new_bill_no)
        assert new is not None
        assert (new.status, new.revision, new.replaces_bill_id) == ("issued", 1, old_id)
        assert new.kwh == 2 * old_kwh
        assert (new.bill_date, new.due_date - new.bill_date) == (ON, timedelta(days=15))
        assert trial_balance(session).balanced
        assert _owed(session, account_id) == _live_total(session, account_id)
    # The replaced bill cannot be rebilled again; its replacement can.
    with (
        unit_of_work(billed.records) as session,
        pytest.raises(InputError, match=f"replaced by {done.new_bill_no}"),
    ):
        rebill(
            session,
            billed.clock,
            billed.batch,
            load_catalogue(),
            old_no,
            reason="x",
            actor="w",
            on=ON,
        )


def test_backbill_three_months_after_a_multiplier_correction(billed: Workspace) -> None:
    with unit_of_work(billed.records) as session:
        account_id = _accounts_with_three_bills(session, "COM-TOU")[1]
        account_no = session.get_one(Account, account_id).account_no
        before = {m: _bill(session, account_id, m) for m in (7, 8, 9)}
        old = {m: (b.bill_no, b.kwh, b.total_minor) for m, b in before.items()}
        expected = {
            m: _doubled_total(repository.lines_of(session, b.id)) for m, b in before.items()
        }
        _double_the_multiplier(session, account_id)
    with unit_of_work(billed.records) as session:
        done = backbill(
            session,
            billed.clock,
            billed.batch,
            load_catalogue(),
            account_no,
            month_period(2026, 7),
            month_period(2026, 9),
            reason="CT ratio corrected",
            actor="wang",
            on=ON,
        )
    assert [r.period_start.month for r in done] == [7, 8, 9]
    assert [r.old_bill_no for r in done] == [old[m][0] for m in (7, 8, 9)]
    assert [r.new_total_minor for r in done] == [expected[m] for m in (7, 8, 9)]
    assert sum(r.difference_minor for r in done) == sum(expected[m] - old[m][2] for m in (7, 8, 9))
    # Oldest first: each corrected month follows a corrected bill (July has none before it).
    assert not any("multiplier_changed" in rules_of(r.review_reasons) for r in done)
    with unit_of_work(billed.records) as session:
        for m in (7, 8, 9):
            assert repository.bill_by_no(session, old[m][0]).status == "cancelled"  # type: ignore[union-attr]
            assert _bill(session, account_id, m).kwh == 2 * old[m][1]
        assert trial_balance(session).balanced
        assert _owed(session, account_id) == _live_total(session, account_id)
        actions = session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.object_key.in_([old[m][0] for m in (7, 8, 9)])
            )
        ).all()
        assert sorted(actions) == ["bill.cancel"] * 3 + ["bill.rebill"] * 3


def test_a_rebill_moves_what_was_paid_to_the_new_bill(billed: Workspace) -> None:
    with unit_of_work(billed.records) as session:
        account_id = _accounts_with_three_bills(session, "RES-TIER-ZJ")[1]
        account = session.get_one(Account, account_id)
        july = _bill(session, account_id, 7)
        bill_no, total = july.bill_no, july.total_minor
        owed = _owed(session, account_id)
        paid = min(1000, total)
        payment = ("counter", f"T-{bill_no}", account.account_no, paid, date(2026, 8, 5))
        post_payments(session, billed.clock, pd.DataFrame([payment], columns=PAYMENT_COLUMNS))
        assert ledger_repository.bill_receivable(session, july.id) == total - paid
    with unit_of_work(billed.records) as session:
        done = rebill(
            session,
            billed.clock,
            billed.batch,
            load_catalogue(),
            bill_no,
            reason="customer query",
            actor="zhao",
            on=ON,
        )
    # Nothing changed in the data: the rebill reproduces the bill to the fen.
    assert done.new_total_minor == total and done.difference_minor == 0
    with unit_of_work(billed.records) as session:
        new = repository.bill_by_no(session, done.new_bill_no)
        assert new is not None
        assert ledger_repository.bill_receivable(session, new.id) == total - paid
        assert _owed(session, account_id) == owed - paid
        credit = session.scalar(
            select(func.coalesce(func.sum(Posting.amount_minor), 0))
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(Posting.account_id == account_id, JournalEntry.source_type != "payment")
            .where(Posting.bill_id.is_(None))
        )
        assert credit == 0
        assert trial_balance(session).balanced
        assert trial_balance(session).balance_of(CUSTOMER_CREDIT) == 0


def test_backbill_refuses_bad_ranges_and_unknown_accounts(billed: Workspace) -> None:
    catalogue = load_catalogue()
    with unit_of_work(billed.records) as session:
        account_no = session.scalars(select(Account.account_no)).first()
        assert account_no is not None
        cases = [
            (account_no, (2026, 9), (2026, 7), "is before --from"),
            ("NO-SUCH", (2026, 7), (2026, 9), "no account NO-SUCH"),
            (account_no, (2025, 1), (2025, 3), "has no issued bills from 2025-01 to 2025-03"),
        ]
        for number, first, last, message in cases:
            with pytest.raises(InputError, match=message):
                backbill(
                    session,
                    billed.clock,
                    billed.batch,
                    catalogue,
                    number,
                    month_period(*first),
                    month_period(*last),
                    reason="r",
                    actor="a",
                    on=ON,
                )


def test_only_issued_bills_are_cancelled(records: Engine, clock: FixedClock) -> None:
    with unit_of_work(records) as session:
        issued = create_bill(session, create_account(session, "A1"), 12_345, date(2026, 7, 31))
        issue_approved(session, clock)
        held = create_bill(
            session, create_account(session, "A2"), 9_000, date(2026, 7, 31), status="in_review"
        )
        approved = create_bill(session, create_account(session, "A3"), 7_000, date(2026, 7, 31))
        issued_no, held_no, approved_no = issued.bill_no, held.bill_no, approved.bill_no
    for bill_no, message in [
        (held_no, "is in_review, not issued"),
        (approved_no, "is approved, not issued"),
        ("NOPE", "no bill NOPE"),
    ]:
        with unit_of_work(records) as session, pytest.raises(InputError, match=message):
            cancel(session, clock, bill_no, reason="r", actor="a", on=ON)
    with unit_of_work(records) as session, pytest.raises(InputError, match="needs a reason"):
        cancel(session, clock, issued_no, reason="  ", actor="a", on=ON)
    with unit_of_work(records) as session:
        cancel(session, clock, issued_no, reason="duplicate bill", actor="a", on=ON)
    with unit_of_work(records) as session:
        tb = trial_balance(session)
        assert tb.balanced and tb.balance_of(RECEIVABLE) == 0
        assert sum(r.debit_minor for r in tb.rows) == 2 * 12_345
    with unit_of_work(records) as session, pytest.raises(InputError, match="already cancelled"):
        cancel(session, clock, issued_no, reason="again", actor="a", on=ON)
