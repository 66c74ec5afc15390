"""Late fees charged to the ledger: accrued on the unpaid electricity charges, charged once per
day, and waivable with a reason."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import Engine

from meter2cash.billing.issue import issue_approved
from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import InputError
from meter2cash.db.session import unit_of_work
from meter2cash.ledger import repository
from meter2cash.ledger.journal import LATE_FEE_INCOME, RECEIVABLE
from meter2cash.ledger.late_fee_assessment import assess_late_fees, waive_late_fee
from meter2cash.ledger.late_fees import RULES_1996, RULES_2024
from meter2cash.ledger.payments import PAYMENT_COLUMNS, post_payments
from meter2cash.ledger.receivables import aging
from meter2cash.ledger.service import trial_balance
from tests.factories import create_account, create_bill

DUE = date(2026, 8, 2)  # the factory's bills fall due on their bill date


@pytest.fixture
def overdue(records: Engine, clock: FixedClock) -> Engine:
    """A001 (residential) owes 200.00 due 2 Aug; B001 (commercial) owes 1,000.00 due 2 Aug."""
    with unit_of_work(records) as session:
        create_bill(session, create_account(session, "A001"), 20_000, DUE)
        create_bill(session, create_account(session, "B001", "commercial"), 100_000, DUE)
        issue_approved(session, clock)
    return records


def _fees(records: Engine) -> dict[str, int]:
    with unit_of_work(records) as session:
        items = repository.open_items(session)
    totals = {"A001": 20_000, "B001": 100_000}
    return {
        a: int(m) - totals[a] for a, m in zip(items["account_no"], items["open_minor"], strict=True)
    }


def test_fees_accrue_per_day_by_class_and_are_charged_once(
    overdue: Engine, clock: FixedClock
) -> None:
    with unit_of_work(overdue) as session:
        report = assess_late_fees(session, clock, date(2026, 8, 12), RULES_2024)
    # 3–12 Aug, 10 days: 200.00 × 0.1 % × 10 = 2.00; 1,000.00 × 0.2 % × 10 = 20.00
    assert (report.bills, report.amount_minor) == (2, 2_200)
    assert _fees(overdue) == {"A001": 200, "B001": 2_000}
    with unit_of_work(overdue) as session:
        assert assess_late_fees(session, clock, date(2026, 8, 12), RULES_2024).bills == 0
        later = assess_late_fees(session, clock, date(2026, 8, 22), RULES_2024)
        tb = trial_balance(session)
    assert later.amount_minor == 2_200  # ten more days each
    assert tb.balanced and tb.balance_of(LATE_FEE_INCOME) == -4_400
    with unit_of_work(overdue) as session:
        assert aging(session, date(2026, 8, 22))["total"].sum() == tb.balance_of(RECEIVABLE)


def test_a_part_payment_lowers_the_base_from_the_day_after(
    overdue: Engine, clock: FixedClock
) -> None:
    with unit_of_work(overdue) as session:
        payment = ("counter", "R1", "A001", 10_000, date(2026, 8, 7))
        post_payments(session, clock, pd.DataFrame([payment], columns=PAYMENT_COLUMNS))
        assess_late_fees(session, clock, date(2026, 8, 12), RULES_2024)
    # 3–7 Aug on 200.00 (1.00) + 8–12 Aug on 100.00 (0.50), on the 100.00 still owed
    assert _fees(overdue)["A001"] == 150 - 10_000


def test_the_1996_minimum_and_a_waiver_that_is_not_charged_again(
    overdue: Engine, clock: FixedClock
) -> None:
    with unit_of_work(overdue) as session:
        assess_late_fees(session, clock, date(2026, 8, 4), RULES_1996)  # 2 days: 0.40 → 1.00
    assert _fees(overdue)["A001"] == 100
    with unit_of_work(overdue) as session:
        bill_no = "20260802-A001"  # the factory's bill number: bill date and account
        assert (
            waive_late_fee(
                session, clock, bill_no, on=date(2026, 8, 5), reason="first time", actor="wang"
            )
            == 100
        )
        with pytest.raises(InputError, match="no unpaid late fee"):
            waive_late_fee(session, clock, bill_no, on=date(2026, 8, 5), reason="x", actor="wang")
        assess_late_fees(session, clock, date(2026, 8, 6), RULES_1996)
        tb = trial_balance(session)
    # 1996: 4 days on 200.00 = 0.80 → 1.00 minimum, already charged and waived: nothing more
    assert _fees(overdue)["A001"] == 0
    assert tb.balanced
