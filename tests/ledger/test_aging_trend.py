"""The aging trend: receivables by age bucket at every month end, on SQLite and PostgreSQL,
against figures worked by hand and against aging as of each month end."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import Engine

from meter2cash.billing.issue import issue_approved
from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import InputError
from meter2cash.db.session import unit_of_work
from meter2cash.ledger.aging import BUCKETS
from meter2cash.ledger.aging_trend import aging_trend, month_ends
from meter2cash.ledger.credit import refund_credit
from meter2cash.ledger.payments import PAYMENT_COLUMNS, post_payments, reverse_payment
from meter2cash.ledger.receivables import aging
from tests.factories import create_account, create_bill, serve_from_area


@pytest.fixture
def ledger(records: Engine, clock: FixedClock) -> Engine:
    """
    A001 (residential, area T1) is billed 120.00 on 2 Jul, 80.00 on 2 Aug and 100.00 on
    2 Sep, and pays 150.00 on 20 Aug: July's bill is cleared, August's has 50.00 open.
    A002 (commercial, area T2) is billed 50.00 on 2 Jul and pays 20.00 on 10 Jul; it pays
    40.00 on 1 Aug (30.00 clears July, 10.00 is credit), the 10.00 is refunded on 3 Aug,
    and the 40.00 bounces on 5 Aug: July's 30.00 is owed again and 10.00 is a returned
    payment, owed since 5 Aug.
    """
    with unit_of_work(records) as session:
        a1 = create_account(session, "A001")
        a2 = create_account(session, "A002", customer_class="commercial")
        serve_from_area(session, a1, "T1")
        serve_from_area(session, a2, "T2")
        create_bill(session, a1, 12_000, date(2026, 7, 2))
        create_bill(session, a1, 8_000, date(2026, 8, 2))
        create_bill(session, a1, 10_000, date(2026, 9, 2))
        create_bill(session, a2, 5_000, date(2026, 7, 2))
        issue_approved(session, clock)
        rows = [
            ("bank:ICBC", "T1", "A001", 15_000, date(2026, 8, 20)),
            ("counter", "R1", "A002", 2_000, date(2026, 7, 10)),
            ("counter", "R2", "A002", 4_000, date(2026, 8, 1)),
        ]
        post_payments(session, clock, pd.DataFrame(rows, columns=list(PAYMENT_COLUMNS)))
        refund_credit(
            session,
            clock,
            "A002",
            1_000,
            reference="RF1",
            on=date(2026, 8, 3),
            reason="asked",
            actor="li",
        )
        reverse_payment(
            session, clock, "counter", "R2", on=date(2026, 8, 5), reason="bounced", actor="li"
        )
    return records


def test_the_trend_by_month_end_as_worked_by_hand(ledger: Engine) -> None:
    with unit_of_work(ledger) as session:
        trend = aging_trend(
            session, date(2026, 7, 1), date(2026, 10, 1), through=date(2026, 10, 15)
        )
    assert trend["as_of"].tolist() == [
        date(2026, 7, 31),
        date(2026, 8, 31),
        date(2026, 9, 30),
        date(2026, 10, 15),
    ]
    assert trend[["month", *BUCKETS, "total"]].values.tolist() == [
        # 31 Jul: both July bills, 29 days old.
        ["2026-07", 15_000, 0, 0, 0, 0, 15_000],
        # 31 Aug: A001's August 50.00 and A002's returned 10.00 (26 days) in 0–30; A002's
        # July 30.00, owed again, 60 days old.
        ["2026-08", 6_000, 3_000, 0, 0, 0, 9_000],
        # 30 Sep: September's 100.00 (28 days); August's 50.00 (59) and the returned 10.00
        # (56) in 31–60; July's 30.00 90 days old.
        ["2026-09", 10_000, 6_000, 3_000, 0, 0, 19_000],
        # 15 Oct: September's 100.00 (43 days); August's 50.00 (74) and the returned 10.00
        # (71) in 61–90; July's 30.00 105 days old.
        ["2026-10", 0, 10_000, 6_000, 3_000, 0, 19_000],
    ]


@pytest.mark.parametrize("by", ["total", "zone", "class", "area"])
def test_each_month_is_aging_as_of_its_end(ledger: Engine, by: str) -> None:
    with unit_of_work(ledger) as session:
        trend = aging_trend(session, date(2026, 6, 1), date(2026, 12, 1), by)
        for as_of, month in trend.groupby("as_of"):
            expected = aging(session, as_of, by)
            shown = month.set_index("group")[[*BUCKETS, "total"]]
            shown = shown[shown["total"] != 0]
            expected = expected[expected["total"] != 0]
            assert shown.to_dict("index") == expected.to_dict("index"), as_of
    groups = {"total": {"all"}, "zone": {"Z1"}, "class": {"residential", "commercial"}}
    assert set(trend["group"]) == groups.get(by, {"T1", "T2"})
    assert len(trend) == 7 * len(set(trend["group"]))  # every group in every month


def test_by_class_in_september(ledger: Engine) -> None:
    with unit_of_work(ledger) as session:
        trend = aging_trend(session, date(2026, 9, 1), date(2026, 9, 30), "class")
    rows = trend.set_index("group")[[*BUCKETS, "total"]].to_dict("index")
    assert rows["residential"] == {
        "0-30": 10_000,
        "31-60": 5_000,
        "61-90": 0,
        "91-180": 0,
        ">180": 0,
        "total": 15_000,
    }
    assert rows["commercial"] == {
        "0-30": 0,
        "31-60": 1_000,
        "61-90": 3_000,
        "91-180": 0,
        ">180": 0,
        "total": 4_000,
    }


def test_month_ends_and_bad_requests(ledger: Engine) -> None:
    assert month_ends(date(2026, 11, 15), date(2027, 2, 1)) == [
        date(2026, 11, 30),
        date(2026, 12, 31),
        date(2027, 1, 31),
        date(2027, 2, 28),
    ]
    assert month_ends(date(2026, 11, 1), date(2027, 2, 1), date(2026, 12, 3)) == [
        date(2026, 11, 30),
        date(2026, 12, 3),
    ]
    with unit_of_work(ledger) as session:
        with pytest.raises(InputError, match="by 'account'"):
            aging_trend(session, date(2026, 7, 1), date(2026, 9, 1), "account")
        with pytest.raises(InputError, match="starts"):
            aging_trend(session, date(2026, 9, 1), date(2026, 7, 1))
        empty = aging_trend(session, date(2025, 1, 1), date(2025, 2, 1), "zone")
    assert empty[[*BUCKETS, "total"]].to_numpy().sum() == 0
    assert empty["group"].tolist() == ["—", "—"]
