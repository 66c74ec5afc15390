"""Payments under stress: concurrent cashiers and a bank file, a load killed half-way, and any
mix of bills and payments keeping the ledger whole."""

from __future__ import annotations

import itertools
import threading
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from meter2cash.assets.models import Account
from meter2cash.billing.issue import issue_approved
from meter2cash.core.clock import FixedClock
from meter2cash.db.session import unit_of_work
from meter2cash.ledger import bank_batches, repository
from meter2cash.ledger.aging import BUCKETS
from meter2cash.ledger.aging_trend import aging_trend
from meter2cash.ledger.credit import apply_credit, credit_balances, refund_credit
from meter2cash.ledger.journal import CUSTOMER_CREDIT, RECEIVABLE
from meter2cash.ledger.late_fee_assessment import assess_late_fees
from meter2cash.ledger.late_fees import RULES_1996
from meter2cash.ledger.models import LedgerAccount, Payment, Posting
from meter2cash.ledger.payments import PAYMENT_COLUMNS, post_payments, reverse_payment
from meter2cash.ledger.receivables import aging, reconcile
from meter2cash.ledger.service import trial_balance
from tests.factories import create_account, create_bill

ON = date(2026, 8, 5)


def _bank_file(path: Path, rows: list[tuple[str, str, int]]) -> Path:
    total = sum(m for _, _, m in rows)
    lines = [f"H,B-{path.stem},ICBC,{ON},{len(rows)},{total / 100:.2f}"]
    lines += [f"D,{t},{a},{m / 100:.2f},{ON}" for t, a, m in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.postgres
def test_two_cashiers_and_a_bank_file_paying_one_account_at_once_pay_its_bill_once(
    postgres_records: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    records = postgres_records
    with unit_of_work(records) as session:
        target = create_account(session, "A000")
        create_bill(session, target, 10_000, date(2026, 8, 1))
        for i in range(1, 200):
            create_bill(session, create_account(session, f"A{i:03d}"), 1_000, date(2026, 8, 1))
        issue_approved(session, clock)
    rows = [(f"T{i}", f"A{i:03d}", 1_000) for i in range(1, 200)] + [("T0", "A000", 10_000)]
    bank = bank_batches.check_bank_file(records, _bank_file(tmp_path / "f.csv", rows))
    start = threading.Barrier(3)
    failures: list[BaseException] = []

    def cashier(receipt: str) -> None:
        start.wait()
        frame = pd.DataFrame(
            [("counter:cash", receipt, "A000", 10_000, ON)], columns=list(PAYMENT_COLUMNS)
        )
        with unit_of_work(records) as session:
            post_payments(session, clock, frame)

    def bank_run() -> None:
        start.wait()
        bank_batches.post_bank_file(records, clock, bank)

    def guarded(work: object, *args: str) -> None:
        try:
            work(*args)  # type: ignore[operator]
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)

    threads = [
        threading.Thread(target=guarded, args=(cashier, "R1")),
        threading.Thread(target=guarded, args=(cashier, "R2")),
        threading.Thread(target=guarded, args=(bank_run,)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    with unit_of_work(records) as session:
        tb = trial_balance(session)
        owed = repository.open_items(session)
        paid = session.scalar(select(func.count()).select_from(Payment))
    assert tb.balanced and paid == 202
    assert owed.empty  # no bill overpaid (negative) nor left open
    assert tb.balance_of(RECEIVABLE) == 0
    assert tb.balance_of(CUSTOMER_CREDIT) == -20_000  # two of the three 100.00 are credit


def test_a_bank_load_killed_half_way_posts_every_payment_once_when_run_again(
    records: Engine, clock: FixedClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with unit_of_work(records) as session:
        for i in range(30):
            create_bill(session, create_account(session, f"A{i:03d}"), 1_000, date(2026, 8, 1))
        issue_approved(session, clock)
    rows = [(f"T{i}", f"A{i:03d}", 600 + i) for i in range(30)]
    path = _bank_file(tmp_path / "f.csv", rows)
    monkeypatch.setattr(bank_batches, "CHUNK", 7)
    real = post_payments
    calls = 0

    def dying(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise SystemExit("killed")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bank_batches, "post_payments", dying)
    with pytest.raises(SystemExit):
        bank_batches.post_bank_file(records, clock, bank_batches.check_bank_file(records, path))
    with unit_of_work(records) as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 14
    monkeypatch.setattr(bank_batches, "post_payments", real)
    report = bank_batches.post_bank_file(
        records, clock, bank_batches.check_bank_file(records, path)
    )
    assert (report.posted, report.duplicates) == (30, 14)
    assert report.posted_minor == sum(m for _, _, m in rows)
    with unit_of_work(records) as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 30
        assert trial_balance(session).balanced


_events = st.lists(
    st.tuples(
        st.sampled_from(
            ["bill", "pay", "pay", "reverse", "late_fee", "credit", "refund", "refund_bounce"]
        ),
        st.integers(0, 2),  # account
        st.integers(1, 20_000),  # fen
        st.integers(0, 60),  # day of August–September
    ),
    min_size=1,
    max_size=14,
)


_examples = itertools.count()


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=_events)
def test_any_bills_payments_reversals_late_fees_and_refunds_keep_the_ledger_whole(
    records: Engine, clock: FixedClock, events: list[tuple[str, int, int, int]]
) -> None:
    """Any sequence keeps the ledger zero-sum, the aging buckets equal to the receivables
    (and month by month to the aging trend), no bill overpaid and no customer credit
    overdrawn — what a customer owes is a receivable, also after a payment is refunded and
    then bounces (``refund_bounce``). Each example adds its own three accounts to one
    database."""
    example = next(_examples)
    with unit_of_work(records) as session:
        accounts = [create_account(session, f"P{example}-{a}").id for a in range(3)]
    billed: set[tuple[int, int]] = set()
    paid: list[list[str]] = [[], [], []]
    for n, (kind, a, minor, day) in enumerate(events):
        on = date.fromordinal(date(2026, 8, 1).toordinal() + day)
        account_no = f"P{example}-{a}"
        with unit_of_work(records) as session:
            if kind == "pay":
                row = ("counter", f"X{example}-{n}", account_no, minor, on)
                post_payments(session, clock, pd.DataFrame([row], columns=PAYMENT_COLUMNS))
                paid[a].append(row[1])
            elif kind == "reverse" and paid[a]:
                txn = paid[a].pop()
                reverse_payment(session, clock, "counter", txn, on=on, reason="bounced", actor="t")
            elif kind == "late_fee":
                assess_late_fees(session, clock, on, RULES_1996)
            elif kind == "credit":
                apply_credit(session, clock, on)
            elif kind == "refund_bounce":  # pay, refund the credit held, then it bounces
                row = ("counter", f"X{example}-{n}", account_no, minor, on)
                post_payments(session, clock, pd.DataFrame([row], columns=PAYMENT_COLUMNS))
                held = int(credit_balances(session, [accounts[a]]).get(accounts[a], 0))
                if held > 0:
                    refund_credit(
                        session,
                        clock,
                        account_no,
                        held,
                        reference=f"RF{example}-{n}",
                        on=on,
                        reason="asked",
                        actor="t",
                    )
                reverse_payment(
                    session, clock, "counter", row[1], on=on, reason="bounced", actor="t"
                )
            elif kind == "refund":
                held = int(credit_balances(session, [accounts[a]]).get(accounts[a], 0))
                if held > 0:
                    refund_credit(
                        session,
                        clock,
                        account_no,
                        min(minor, held),
                        reference=f"RF{example}-{n}",
                        on=on,
                        reason="asked",
                        actor="t",
                    )
            elif kind == "bill" and (a, on.month) not in billed:  # one bill per month
                billed.add((a, on.month))
                create_bill(session, session.get_one(Account, accounts[a]), minor, on)
                issue_approved(session, clock)
    with unit_of_work(records) as session:
        tb = trial_balance(session)
        buckets = aging(session, date(2026, 12, 31))
        trend = aging_trend(session, date(2026, 8, 1), date(2026, 12, 1))
        by_month = [aging(session, day).loc["all"].tolist() for day in trend["as_of"]]
        items = repository.open_items(session)
        overdrawn = session.scalar(
            select(func.count()).select_from(
                select(Posting.account_id)
                .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
                .where(LedgerAccount.code == CUSTOMER_CREDIT, Posting.account_id.in_(accounts))
                .group_by(Posting.account_id)
                .having(func.sum(Posting.amount_minor) > 0)
                .subquery()
            )
        )
        reconcile(session)
    assert tb.balanced
    assert int(buckets["total"].sum()) == tb.balance_of(RECEIVABLE)
    assert trend[[*BUCKETS, "total"]].values.tolist() == by_month  # the trend is aging by month
    assert (items["open_minor"] > 0).all()  # no bill is ever overpaid
    assert overdrawn == 0  # no debit hidden on 2203, where aging would not see it
