"""A payment returned after the credit it left was refunded or applied (退票应收): what the
customer owes is a receivable that aging, the statement, dunning and the next payment see —
never a debit hidden on 2203 customer credit. A prepay account's balance takes it instead."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Engine, func, select

from meter2cash.assets.models import Account
from meter2cash.billing.issue import issue_approved
from meter2cash.collections.dunning_run import dunning_facts
from meter2cash.core.clock import FixedClock
from meter2cash.db.session import unit_of_work
from meter2cash.ledger import repository
from meter2cash.ledger.credit import apply_credit, refund_credit
from meter2cash.ledger.journal import CUSTOMER_CREDIT, RECEIVABLE, REVENUE, EntryDraft, Leg
from meter2cash.ledger.late_fee_assessment import assess_late_fees
from meter2cash.ledger.late_fees import RULES_1996
from meter2cash.ledger.models import LedgerAccount, Posting
from meter2cash.ledger.payments import PAYMENT_COLUMNS, post_payments, reverse_payment
from meter2cash.ledger.receipts import payment_receipt
from meter2cash.ledger.receivables import account_statement, aging, reconcile
from meter2cash.ledger.service import post_entries, trial_balance
from tests.factories import create_account, create_bill


def _pay(records: Engine, clock: FixedClock, txn: str, minor: int, on: date) -> None:
    row = ("counter", txn, "A001", minor, on)
    with unit_of_work(records) as session:
        post_payments(session, clock, pd.DataFrame([row], columns=list(PAYMENT_COLUMNS)))


def _reverse(records: Engine, clock: FixedClock, txn: str, on: date) -> None:
    with unit_of_work(records) as session:
        reverse_payment(session, clock, "counter", txn, on=on, reason="退票 bounced", actor="li")


def _credit(records: Engine) -> int:
    """A001's balance on 2203 [fen, debit positive]."""
    with unit_of_work(records) as session:
        total = session.scalar(
            select(func.coalesce(func.sum(Posting.amount_minor), 0))
            .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
            .join(Account, Account.id == Posting.account_id)
            .where(LedgerAccount.code == CUSTOMER_CREDIT, Account.account_no == "A001")
        )
    return int(total or 0)


def test_a_refunded_overpayment_that_bounces_is_owed_and_aged_from_its_return(
    records: Engine, clock: FixedClock
) -> None:
    """
    A001 has no bills. It pays ¥100.00 on 1 Aug (all credit), is refunded the ¥100.00 on
    3 Aug, and the payment bounces on 10 Aug: it owes ¥100.00, a returned payment.
    Aging on 31 Aug: ¥100.00 in 0–30 (21 days); on 1 Oct: in 31–60 (52 days).
    It pays ¥60.00 on 20 Aug: the receipt names the returned payment, ¥40.00 is still owed.
    """
    with unit_of_work(records) as session:
        create_account(session)
    _pay(records, clock, "R1", 10_000, date(2026, 8, 1))
    with unit_of_work(records) as session:
        refund_credit(
            session,
            clock,
            "A001",
            10_000,
            reference="RF-1",
            on=date(2026, 8, 3),
            reason="asked",
            actor="li",
        )
    _reverse(records, clock, "R1", date(2026, 8, 10))
    with unit_of_work(records) as session:
        tb = trial_balance(session)
        august = aging(session, date(2026, 8, 31))
        october = aging(session, date(2026, 10, 1))
        before_return = aging(session, date(2026, 8, 9))
        statement = account_statement(session, "A001", date(2026, 8, 1), date(2026, 8, 31))
        facts = dunning_facts(session, date(2026, 8, 12))
        reconcile(session)
    assert _credit(records) == 0  # nothing hidden on 2203
    assert tb.balanced and tb.balance_of(RECEIVABLE) == 10_000
    assert august.loc["all", "0-30"] == 10_000 == august.loc["all", "total"]
    assert october.loc["all", "31-60"] == 10_000
    assert before_return.loc["all", "total"] == 0
    assert statement.lines["kind"].tolist() == ["payment", "refund", "reversal"]
    assert statement.lines["balance_minor"].tolist() == [-10_000, 0, 10_000]
    assert facts[["overdue_minor", "days_past_due"]].values.tolist() == [[10_000, 2]]

    _pay(records, clock, "R2", 6_000, date(2026, 8, 20))
    with unit_of_work(records) as session:
        receipt = payment_receipt(session, "counter", "R2")
        items = repository.open_items(session)
        fees = assess_late_fees(session, clock, date(2026, 9, 30), RULES_1996)
        reconcile(session)
    assert receipt.bills_paid == ((repository.RETURNED_LABEL, 6_000),)
    assert receipt.still_owed_minor == 4_000
    assert items[["bill_id", "open_minor", "bill_date"]].values.tolist() == [
        [repository.NO_BILL, 4_000, date(2026, 8, 10)]
    ]
    assert fees.bills == 0  # a returned payment is no electricity bill: no late fee
    assert _credit(records) == 0


def test_credit_applied_to_a_bill_then_bounced_reopens_the_paid_bill_and_owes_the_rest(
    records: Engine, clock: FixedClock
) -> None:
    """
    A001 is billed ¥120.00 on 2 Aug and ¥80.00 on 2 Sep. It pays ¥150.00 on 20 Aug
    (August's bill, ¥30.00 credit), the credit goes to September's bill on 2 Sep, and the
    payment bounces on 5 Sep: August's ¥120.00 is owed again, September's ¥50.00 still,
    and the ¥30.00 of credit that paid September is a returned payment — ¥200.00 in all,
    what was billed.
    """
    with unit_of_work(records) as session:
        account = create_account(session)
        create_bill(session, account, 12_000, date(2026, 8, 2))
        create_bill(session, account, 8_000, date(2026, 9, 2))
        issue_approved(session, clock)
    _pay(records, clock, "R1", 15_000, date(2026, 8, 20))
    with unit_of_work(records) as session:
        assert apply_credit(session, clock, date(2026, 9, 2)).applied_minor == 3_000
    _reverse(records, clock, "R1", date(2026, 9, 5))
    with unit_of_work(records) as session:
        items = repository.open_items(session).sort_values("bill_date")
        buckets = aging(session, date(2026, 9, 30))
        tb = trial_balance(session)
        reconcile(session)
    assert items[["open_minor", "bill_date"]].values.tolist() == [
        [12_000, date(2026, 8, 2)],
        [5_000, date(2026, 9, 2)],
        [3_000, date(2026, 9, 5)],
    ]
    assert buckets.loc["all", "31-60"] == 12_000 and buckets.loc["all", "0-30"] == 8_000
    assert tb.balance_of(RECEIVABLE) == buckets.loc["all", "total"] == 20_000
    assert _credit(records) == 0


def test_a_prepay_top_up_that_bounces_comes_off_the_balance(
    records: Engine, clock: FixedClock
) -> None:
    """A prepay account tops up ¥100.00 and is charged ¥40.00; the top-up bounces: its
    balance stands at −¥40.00 on 2203 (fee control acts on it), no receivable."""
    with unit_of_work(records) as session:
        account = create_account(session)
        account.prepay = True
        account_id = account.id
    _pay(records, clock, "R1", 10_000, date(2026, 8, 1))
    charge = (Leg(CUSTOMER_CREDIT, 4_000, account_id), Leg(REVENUE, -4_000, account_id))
    with unit_of_work(records) as session:
        post_entries(
            session,
            clock,
            [EntryDraft("prepay_charge", "A001:2026-08-02", date(2026, 8, 2), "charge", charge)],
        )
    _reverse(records, clock, "R1", date(2026, 8, 5))
    with unit_of_work(records) as session:
        assert trial_balance(session).balance_of(RECEIVABLE) == 0
    assert _credit(records) == 4_000
