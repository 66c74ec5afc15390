"""The receivables sub-ledger: statement of account, reconciliation with the control account,
collection rate by day, DSO and aging by transformer area."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import Engine

from meter2cash.billing.issue import issue_approved
from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import LedgerError
from meter2cash.db.session import unit_of_work
from meter2cash.ledger.credit import apply_credit
from meter2cash.ledger.journal import CASH, RECEIVABLE, EntryDraft, Leg
from meter2cash.ledger.payments import PAYMENT_COLUMNS, post_payments, reverse_payment
from meter2cash.ledger.receivables import (
    account_statement,
    aging,
    collection,
    days_sales_outstanding,
    reconcile,
)
from meter2cash.ledger.service import post_entries, trial_balance
from tests.factories import create_account, create_bill, serve_from_area


def _pay(session: object, clock: FixedClock, *rows: tuple[str, str, str, int, date]) -> None:
    post_payments(session, clock, pd.DataFrame(list(rows), columns=list(PAYMENT_COLUMNS)))  # type: ignore[arg-type]


@pytest.fixture
def ledger(records: Engine, clock: FixedClock) -> Engine:
    """A001 (area T1) billed 120.00 on 2 Aug and 80.00 on 2 Sep, paid 150.00 on 20 Aug;
    A002 (area T2) billed 50.00 on 2 Aug, paid 20.00 on 10 Aug and 30.00 on 5 Sep."""
    with unit_of_work(records) as session:
        a1, a2 = create_account(session, "A001"), create_account(session, "A002")
        serve_from_area(session, a1, "T1")
        serve_from_area(session, a2, "T2")
        create_bill(session, a1, 12_000, date(2026, 8, 2))
        create_bill(session, a1, 8_000, date(2026, 9, 2))
        create_bill(session, a2, 5_000, date(2026, 8, 2))
        issue_approved(session, clock)
        _pay(
            session,
            clock,
            ("bank:ICBC", "T1", "A001", 15_000, date(2026, 8, 20)),
            ("counter", "R1", "A002", 2_000, date(2026, 8, 10)),
            ("counter", "R2", "A002", 3_000, date(2026, 9, 5)),
        )
    return records


def test_a_statement_shows_bills_payments_and_the_running_balance(ledger: Engine) -> None:
    with unit_of_work(ledger) as session:
        s = account_statement(session, "A001", date(2026, 8, 1), date(2026, 9, 30))
    assert s.opening_minor == 0
    assert s.lines["kind"].tolist() == ["bill", "payment", "bill"]
    assert s.lines["balance_minor"].tolist() == [12_000, -3_000, 5_000]
    assert s.closing_minor == 5_000
    assert s.bills["total_minor"].tolist() == [12_000, 8_000]
    assert not s.bills["estimated"].any()
    with unit_of_work(ledger) as session:
        later = account_statement(session, "A001", date(2026, 9, 1), date(2026, 9, 30))
    assert (later.opening_minor, later.closing_minor) == (-3_000, 5_000)


def test_the_sub_ledger_reconciles_and_a_leg_without_a_bill_fails_loudly(
    ledger: Engine, clock: FixedClock
) -> None:
    with unit_of_work(ledger) as session:
        r = reconcile(session)
        assert (
            r.control_minor == r.sub_ledger_minor == trial_balance(session).balance_of(RECEIVABLE)
        )
        assert (r.accounts, r.open_bills) == (1, 1)
        legs = (Leg(RECEIVABLE, 100), Leg(CASH, -100))
        post_entries(session, clock, [EntryDraft("manual", "M1", date(2026, 9, 9), "oops", legs)])
        with pytest.raises(LedgerError, match="1 receivable legs name no account, or no bill"):
            reconcile(session)


def test_collection_by_day_counts_payments_and_undoes_a_reversal(
    ledger: Engine, clock: FixedClock
) -> None:
    with unit_of_work(ledger) as session:
        by_15 = collection(session, date(2026, 8, 1), date(2026, 8, 15))
        before_credit = collection(session, date(2026, 9, 1), date(2026, 9, 30), by="area")
        apply_credit(session, clock, date(2026, 9, 2))
        by_end = collection(session, date(2026, 9, 1), date(2026, 9, 30), by="area")
        aug = collection(session, date(2026, 8, 1), date(2026, 9, 30), by="area")
    assert by_15.loc["all", "collected_minor"] == 2_000  # A002's 20.00 only
    assert by_15.loc["all", "billed_minor"] == 17_000
    assert aug.loc["T1", "share"] == 1.0 and aug.loc["T2", "share"] == 1.0
    assert before_credit.loc["T1", "collected_minor"] == 0
    assert by_end.loc["T1", "collected_minor"] == 3_000  # the 30.00 left over from 150.00
    with unit_of_work(ledger) as session:
        reverse_payment(
            session, clock, "counter", "R2", on=date(2026, 9, 6), reason="bounced", actor="li"
        )
        after = collection(session, date(2026, 8, 1), date(2026, 9, 30), by="area")
    assert after.loc["T2", "collected_minor"] == 2_000


def test_dso_and_aging_by_transformer_area(ledger: Engine) -> None:
    with unit_of_work(ledger) as session:
        dso = days_sales_outstanding(session, date(2026, 9, 30))
        by_area = aging(session, date(2026, 9, 30), by="area")
    assert dso == pytest.approx(8_000 / 25_000 * 90)  # September's bill, 30.00 still credit
    assert by_area.loc["T1", "0-30"] == 8_000 and "T2" not in by_area.index
