"""Allocating a batch of payments at once gives what paying them one by one gives."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from meter2cash.ledger.allocation import allocate_batch, allocate_by_day


def test_a_payment_settles_the_oldest_bill_first_and_the_rest_is_credit() -> None:
    # account 7 owes 30.00 (old) and 50.00 (new), pays 40.00 then 60.00
    got = allocate_batch(
        np.array([7, 7]), np.array([4_000, 6_000]), np.array([7, 7]), np.array([3_000, 5_000])
    )
    assert list(zip(got.payment, got.item, got.amount_minor, strict=True)) == [
        (0, 0, 3_000),
        (0, 1, 1_000),
        (1, 1, 4_000),
        (1, -1, 2_000),
    ]


def test_accounts_do_not_pay_each_others_bills() -> None:
    got = allocate_batch(np.array([2, 1]), np.array([500, 500]), np.array([1]), np.array([800]))
    assert list(zip(got.payment, got.item, got.amount_minor, strict=True)) == [
        (1, 0, 500),
        (0, -1, 500),
    ]


def _one_by_one(
    payments: list[tuple[int, int]], items: list[tuple[int, int]]
) -> list[tuple[int, int, int]]:
    """Each payment in turn takes the oldest items of its account still open."""
    open_minor = {row: minor for row, (_, minor) in enumerate(items)}
    out: list[tuple[int, int, int]] = []
    for row, (account, minor) in enumerate(payments):
        left = minor
        for item, (item_account, _) in enumerate(items):
            if item_account == account and open_minor[item] > 0 and left:
                take = min(open_minor[item], left)
                open_minor[item] -= take
                left -= take
                out.append((row, item, take))
        if left:
            out.append((row, -1, left))
    return sorted(out, key=lambda r: (r[0], r[1] if r[1] >= 0 else 10**9))


@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(1, 10_000)), max_size=12),
    st.lists(st.tuples(st.integers(0, 5), st.integers(-500, 10_000)), max_size=12),
)
def test_the_batch_equals_paying_one_payment_at_a_time(
    payments: list[tuple[int, int]], items: list[tuple[int, int]]
) -> None:
    got = allocate_batch(
        np.array([a for a, _ in payments], np.int64),
        np.array([m for _, m in payments], np.int64),
        np.array([a for a, _ in items], np.int64),
        np.array([m for _, m in items], np.int64),
    )
    rows = list(
        zip(got.payment.tolist(), got.item.tolist(), got.amount_minor.tolist(), strict=True)
    )
    assert sorted(rows, key=lambda r: (r[0], r[1] if r[1] >= 0 else 10**9)) == _one_by_one(
        payments, items
    )
    assert got.amount_minor.sum() == sum(m for _, m in payments)


def test_no_payments_allocate_nothing() -> None:
    empty = np.zeros(0, np.int64)
    got = allocate_batch(empty, empty, np.array([1]), np.array([800]))
    assert len(got.payment) == len(got.item) == len(got.amount_minor) == 0


def test_a_payment_reaches_only_the_bills_dated_by_the_day_it_was_received() -> None:
    payments = pd.DataFrame(
        {
            "account_id": [1, 1],
            "amount_minor": [5_000, 5_000],
            "received_on": [date(2026, 8, 1), date(2026, 9, 5)],
        }
    )
    items = pd.DataFrame(
        {
            "account_id": [1, 1],
            "bill_date": [date(2026, 7, 3), date(2026, 8, 3)],
            "open_minor": [3_000, 4_000],
        }
    )
    got = allocate_by_day(payments, items)
    # 1 Aug: 30.00 to July's bill, 20.00 to credit; 5 Sep: 40.00 to August's, 10.00 credit
    assert list(zip(got.payment, got.item, got.amount_minor, strict=True)) == [
        (0, 0, 3_000),
        (0, -1, 2_000),
        (1, 1, 4_000),
        (1, -1, 1_000),
    ]
