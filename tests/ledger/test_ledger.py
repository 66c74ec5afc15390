"""The receivables ledger: double entry, idempotent payments, allocation, aging."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from meter2cash.billing.issue import issue_approved
from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import LedgerError
from meter2cash.db.session import unit_of_work
from meter2cash.ledger import repository
from meter2cash.ledger.aging import BUCKETS, bucket_index, bucket_totals
from meter2cash.ledger.journal import CASH, RECEIVABLE, EntryDraft, Leg, check_balanced
from meter2cash.ledger.payments import PAYMENT_COLUMNS, post_payments
from meter2cash.ledger.receivables import aging
from meter2cash.ledger.service import post_entries, trial_balance
from tests.factories import create_account, create_bill


def _payments(*rows: tuple[str, str, str, int, date]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(PAYMENT_COLUMNS))


def test_an_unbalanced_entry_is_refused_before_it_reaches_the_database() -> None:
    entry = EntryDraft(
        "manual", "1", date(2026, 7, 1), "oops", (Leg(CASH, 100), Leg(RECEIVABLE, -99))
    )
    with pytest.raises(LedgerError, match="does not balance: legs sum to 1 fen"):
        check_balanced([entry])


def test_bill_payment_and_aging_scenario(records: Engine, clock: FixedClock) -> None:
    """
    Account A001 gets a July bill of ¥120.00 and an August bill of ¥80.00.
    It pays ¥150.00 on 20 Aug: July is cleared, ¥30.00 goes to August.
    The same bank transaction arrives again: nothing changes.
    Aging on 1 Oct: August's ¥50.00 is 31–60 days old; receivables = ¥50.00.
    """
    with unit_of_work(records) as session:
        account = create_account(session)
        create_bill(session, account, 12000, date(2026, 8, 2))
        create_bill(session, account, 8000, date(2026, 9, 2))
        assert issue_approved(session, clock).issued == 2
    payment = _payments(("bank", "TX-1", "A001", 15000, date(2026, 9, 20)))
    with unit_of_work(records) as session:
        first = post_payments(session, clock, payment)
    with unit_of_work(records) as session:
        again = post_payments(session, clock, pd.concat([payment, payment]))
    assert (first.posted, again.posted, again.duplicates) == (1, 0, 2)
    with unit_of_work(records) as session:
        tb = trial_balance(session)
        frame = aging(session, date(2026, 10, 1))
    assert tb.balanced
    assert tb.balance_of(RECEIVABLE) == 5000
    assert tb.balance_of(CASH) == 15000
    assert frame.loc["all", "0-30"] == 5000  # the September-dated bill is 29 days old
    assert frame.loc["all", "total"] == tb.balance_of(RECEIVABLE)


def test_a_payment_before_a_bill_exists_is_held_as_credit(
    records: Engine, clock: FixedClock
) -> None:
    with unit_of_work(records) as session:
        account = create_account(session)
        create_bill(session, account, 5000, date(2026, 9, 2))
        issue_approved(session, clock)
        report = post_payments(
            session, clock, _payments(("counter", "R-9", "A001", 3000, date(2026, 8, 1)))
        )
        tb = trial_balance(session)
    assert report.to_credit_minor == 3000
    assert tb.balance_of(RECEIVABLE) == 5000
    assert tb.balanced


@pytest.mark.postgres
def test_postgres_refuses_an_unbalanced_entry_and_edits(
    postgres_records: Engine, clock: FixedClock
) -> None:
    records = postgres_records
    with unit_of_work(records) as session:
        post_entries(
            session,
            clock,
            [EntryDraft("t", "1", date(2026, 7, 1), "ok", (Leg(CASH, 100), Leg(RECEIVABLE, -100)))],
        )
    with pytest.raises(DBAPIError, match="does not balance"), unit_of_work(records) as session:
        entry_id = session.execute(text("SELECT id FROM journal_entries LIMIT 1")).scalar_one()
        account = session.execute(text("SELECT id FROM ledger_accounts LIMIT 1")).scalar_one()
        session.execute(
            text(
                "INSERT INTO postings (entry_id, ledger_account_id, amount_minor, currency) "
                "VALUES (:e, :a, 5, 'CNY')"
            ),
            {"e": entry_id, "a": account},
        )
    with pytest.raises(DBAPIError, match="append-only"), unit_of_work(records) as session:
        session.execute(text("UPDATE postings SET amount_minor = 0"))


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(-5, 1000), st.integers(-(10**6), 10**6)), max_size=50))
def test_aging_buckets_sum_to_the_open_total(items: list[tuple[int, int]]) -> None:
    ages = np.array([a for a, _ in items], dtype=np.int64)
    amounts = np.array([m for _, m in items], dtype=np.int64)
    totals = bucket_totals(ages, amounts)
    assert list(totals) == list(BUCKETS)
    assert sum(totals.values()) == int(amounts.sum())


def test_bucket_edges_are_inclusive_day_ranges() -> None:
    ages = np.array([0, 30, 31, 60, 61, 90, 91, 180, 181], dtype=np.int64)
    assert [BUCKETS[i] for i in bucket_index(ages)] == [
        "0-30",
        "0-30",
        "31-60",
        "31-60",
        "61-90",
        "61-90",
        "91-180",
        "91-180",
        ">180",
    ]


def test_open_items_of_many_accounts_are_read_in_chunks_with_the_same_result(
    records: Engine, clock: FixedClock
) -> None:
    with unit_of_work(records) as session:
        for n in range(3):
            account = create_account(session, f"A{n:03d}")
            create_bill(session, account, 1000 * (n + 1), date(2026, 8, 2))
        issue_approved(session, clock)
        everything = repository.open_items(session)
        chunked = repository.open_items(session, account_ids=set(range(1, 6001)))
    assert len(everything) == 3

    def rows(frame: pd.DataFrame) -> list[dict[str, object]]:
        return frame.sort_values("bill_id").astype(object).to_dict("records")

    assert rows(chunked) == rows(everything)
