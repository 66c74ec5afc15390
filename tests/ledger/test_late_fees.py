"""Late fees (违约金): worked cases a collector can check by hand, and a day-by-day oracle."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter2cash.core.errors import InputError
from meter2cash.ledger.late_fees import (
    RULES_1996,
    RULES_2024,
    LateFeeRules,
    accrued_ppm_fen,
    bill_fees,
)


def _fee(
    spans: list[tuple[int, date, date]],
    due: date,
    residential: bool,
    rules: LateFeeRules = RULES_2024,
) -> int:
    """Fee [fen] of one bill overdue by ``spans`` of (open fen, first day, last day)."""
    accrued = accrued_ppm_fen(
        np.array([s[0] for s in spans], np.int64),
        np.array([s[1] for s in spans], "datetime64[D]"),
        np.array([s[2] for s in spans], "datetime64[D]"),
        np.array([due] * len(spans), "datetime64[D]"),
        np.array([residential] * len(spans)),
        rules,
    )
    return int(bill_fees(accrued, np.zeros(len(spans), np.int64), 1, rules)[0])


def test_residential_pays_a_tenth_of_a_percent_a_day_from_the_day_after_the_due_date() -> None:
    # 100.00 yuan due 15 July, paid 25 July: 16–25 July, 10 days × 0.1 % = 1.00 yuan
    assert _fee([(10_000, date(2026, 7, 1), date(2026, 7, 25))], date(2026, 7, 15), True) == 100


def test_other_customers_pay_more_once_the_arrears_cross_the_year() -> None:
    # 1,000.00 yuan due 20 Dec, paid 10 Jan: 11 days × 0.2 % = 22.00 + 10 days × 0.3 % = 30.00
    fee = _fee([(100_000, date(2026, 12, 21), date(2027, 1, 10))], date(2026, 12, 20), False)
    assert fee == 5_200


def test_a_partial_payment_lowers_the_amount_the_fee_runs_on() -> None:
    # 200 yuan open 16–20 July (paid 100 on the 20th), 100 yuan open 21–30 July
    spans = [
        (20_000, date(2026, 7, 16), date(2026, 7, 20)),
        (10_000, date(2026, 7, 21), date(2026, 7, 30)),
    ]
    assert _fee(spans, date(2026, 7, 15), True) == 200


def test_paid_within_the_grace_period_costs_nothing_and_after_it_counts_from_its_end() -> None:
    rules = LateFeeRules(grace_days=3)
    due = date(2026, 7, 15)
    assert _fee([(10_000, date(2026, 7, 16), date(2026, 7, 18))], due, True, rules) == 0
    assert _fee([(10_000, date(2026, 7, 16), date(2026, 7, 20))], due, True, rules) == 20


def test_the_1996_rules_charge_at_least_one_yuan() -> None:
    span = [(10_000, date(2026, 7, 16), date(2026, 7, 17))]
    assert _fee(span, date(2026, 7, 15), True, RULES_2024) == 20
    assert _fee(span, date(2026, 7, 15), True, RULES_1996) == 100
    on_time = [(10_000, date(2026, 7, 1), date(2026, 7, 15))]
    assert _fee(on_time, date(2026, 7, 15), True, RULES_1996) == 0


def test_the_fee_is_rounded_once_half_up_to_the_fen() -> None:
    # 0.50 yuan × 0.1 % × 10 days = 0.005 yuan: half a fen rounds up
    assert _fee([(50, date(2026, 7, 16), date(2026, 7, 25))], date(2026, 7, 15), True) == 1
    assert _fee([(49, date(2026, 7, 16), date(2026, 7, 25))], date(2026, 7, 15), True) == 0


def test_rules_with_a_negative_rate_are_refused() -> None:
    with pytest.raises(InputError, match="negative"):
        LateFeeRules(current_year_ppm=-1)


def _oracle(spans: list[tuple[int, date, date]], due: date, residential: bool) -> int:
    """Day by day in Decimal, as a clerk with a calculator would."""
    total = Decimal(0)
    for amount, first, last in spans:
        day = max(first, due + timedelta(days=1))
        while day <= last:
            rate = "0.001" if residential else "0.002" if day.year == due.year else "0.003"
            total += Decimal(amount) * Decimal(rate)
            day += timedelta(days=1)
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**9),
            st.dates(date(2020, 1, 1), date(2030, 12, 31)),
            st.integers(0, 800),
        ),
        min_size=1,
        max_size=5,
    ),
    st.dates(date(2020, 1, 1), date(2030, 12, 31)),
    st.booleans(),
)
def test_the_vectorised_fee_equals_the_day_by_day_sum(
    raw: list[tuple[int, date, int]], due: date, residential: bool
) -> None:
    spans = [(amount, first, first + timedelta(days=n)) for amount, first, n in raw]
    assert _fee(spans, due, residential) == _oracle(spans, due, residential)
