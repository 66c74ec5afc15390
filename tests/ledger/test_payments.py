"""Taking payments set-based: oldest bill first, partial and over-payments, duplicates posted
once, and a bad batch posting nothing."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from meter2cash.billing.issue import issue_approved
from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import InputError
from meter2cash.db.session import unit_of_work
from meter2cash.ledger import repository
from meter2cash.ledger.credit import apply_credit, refund_credit
from meter2cash.ledger.journal import CASH, CUSTOMER_CREDIT, RECEIVABLE
from meter2cash.ledger.models import Payment
from meter2cash.ledger.payments import PAYMENT_COLUMNS, post_payments, reverse_payment
from meter2cash.ledger.service import trial_balance
from tests.factories import create_account, create_bill


def _payments(*rows: tuple[str, str, str, int, date]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(PAYMENT_COLUMNS))


@pytest.fixture
def owing(records: Engine, clock: FixedClock) -> Engine:
    """A001 owes 120.00 (July bill) and 80.00 (August bill); A002 owes 50.00."""
    with unit_of_work(records) as session:
        a1 = create_account(session, "A001")
        a2 = create_account(session, "A002")
        create_bill(session, a1, 12_000, date(2026, 8, 2))
        create_bill(session, a1, 8_000, date(2026, 9, 2))
        create_bill(session, a2, 5_000, date(2026, 9, 2))
        issue_approved(session, clock)
    return records


def _open(records: Engine) -> dict[str, list[int]]:
    with unit_of_work(records) as session:
        items = repository.open_items(session).sort_values(["account_no", "bill_date"])
    return {a: g["open_minor"].tolist() for a, g in items.groupby("account_no")}


def test_payments_settle_the_oldest_bill_first_and_keep_the_surplus_as_credit(
    owing: Engine, clock: FixedClock
) -> None:
    batch = _payments(
        ("bank:ICBC", "T1", "A001", 15_000, date(2026, 9, 20)),
        ("counter", "R1", "A002", 2_000, date(2026, 9, 21)),
        ("counter", "R2", "A002", 4_000, date(2026, 9, 22)),
    )
    with unit_of_work(owing) as session:
        report = post_payments(session, clock, batch)
        tb = trial_balance(session)
    assert (report.posted, report.duplicates, report.amount_minor) == (3, 0, 21_000)
    assert report.to_credit_minor == 1_000
    assert _open(owing) == {"A001": [5_000]}
    assert tb.balanced
    assert tb.balance_of(CASH) == 21_000
    assert tb.balance_of(RECEIVABLE) == 5_000
    assert tb.balance_of(CUSTOMER_CREDIT) == -1_000


def test_the_same_payment_sent_again_or_twice_in_a_batch_posts_once(
    owing: Engine, clock: FixedClock
) -> None:
    one = ("bank:ICBC", "T1", "A001", 1_000, date(2026, 9, 20))
    with unit_of_work(owing) as session:
        first = post_payments(session, clock, _payments(one, one))
    with unit_of_work(owing) as session:
        again = post_payments(session, clock, _payments(one))
        count = session.scalar(select(func.count()).select_from(Payment))
    assert (first.posted, first.duplicates, again.posted, again.duplicates) == (1, 1, 0, 1)
    assert count == 1
    assert _open(owing)["A001"] == [11_000, 8_000]


def test_a_payment_does_not_reach_a_bill_dated_after_it(owing: Engine, clock: FixedClock) -> None:
    with unit_of_work(owing) as session:
        report = post_payments(
            session, clock, _payments(("counter", "R1", "A002", 3_000, date(2026, 8, 20)))
        )
    assert report.to_credit_minor == 3_000
    assert _open(owing)["A002"] == [5_000]


def test_a_batch_naming_an_unknown_account_posts_nothing(owing: Engine, clock: FixedClock) -> None:
    batch = _payments(
        ("bank:ICBC", "T1", "A001", 1_000, date(2026, 9, 20)),
        ("bank:ICBC", "T2", "A404", 1_000, date(2026, 9, 20)),
    )
    with (
        pytest.raises(InputError, match="T2 names unknown account A404"),
        unit_of_work(owing) as session,
    ):
        post_payments(session, clock, batch)
    with unit_of_work(owing) as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0


def test_a_non_positive_amount_is_refused_naming_the_payment(
    owing: Engine, clock: FixedClock
) -> None:
    with (
        pytest.raises(InputError, match="counter:R9 has a non-positive amount 0 fen"),
        unit_of_work(owing) as session,
    ):
        post_payments(session, clock, _payments(("counter", "R9", "A001", 0, date(2026, 9, 20))))


def test_a_bounced_payment_is_reversed_once_and_the_bill_is_owed_again(
    owing: Engine, clock: FixedClock
) -> None:
    with unit_of_work(owing) as session:
        post_payments(
            session, clock, _payments(("bank:ICBC", "T1", "A001", 15_000, date(2026, 9, 20)))
        )
    with unit_of_work(owing) as session:
        reverse_payment(
            session, clock, "bank:ICBC", "T1", on=date(2026, 9, 25), reason="bounced", actor="li"
        )
        tb = trial_balance(session)
    assert _open(owing)["A001"] == [12_000, 8_000]
    assert tb.balanced and tb.balance_of(CASH) == 0
    with pytest.raises(InputError, match="already reversed"), unit_of_work(owing) as session:
        reverse_payment(
            session, clock, "bank:ICBC", "T1", on=date(2026, 9, 25), reason="again", actor="li"
        )


def test_credit_is_applied_to_the_next_bill_and_the_rest_can_be_refunded(
    owing: Engine, clock: FixedClock
) -> None:
    # A002 pays 80.00 before its 50.00 bill is dated: all of it is credit
    with unit_of_work(owing) as session:
        post_payments(
            session, clock, _payments(("counter", "R1", "A002", 8_000, date(2026, 8, 20)))
        )
        applied = apply_credit(session, clock, date(2026, 9, 2))
    assert (applied.accounts, applied.applied_minor) == (1, 5_000)
    assert "A002" not in _open(owing)
    with unit_of_work(owing) as session:
        assert apply_credit(session, clock, date(2026, 9, 2)).applied_minor == 0
        with pytest.raises(InputError, match=r"holds 30\.00 yuan of credit; cannot refund 40\.00"):
            refund_credit(
                session,
                clock,
                "A002",
                4_000,
                reference="RF-1",
                on=date(2026, 9, 3),
                reason="moved away",
                actor="li",
            )
    with unit_of_work(owing) as session:
        for expected_new in (True, False):
            entry = refund_credit(
                session,
                clock,
                "A002",
                3_000,
                reference="RF-1",
                on=date(2026, 9, 3),
                reason="moved",
                actor="li",
            )
            assert (entry > 0) == expected_new
        tb = trial_balance(session)
    assert tb.balanced and tb.balance_of(CUSTOMER_CREDIT) == 0 and tb.balance_of(CASH) == 5_000
