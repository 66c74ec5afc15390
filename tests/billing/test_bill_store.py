"""Bulk bill writes: the ids handed out before the insert are the bills' ids, the lines
point at their own bill, and values arrive as they were (null stays null, empty stays
empty) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from meter2cash.billing.bill_store import bill_records, insert_bills
from meter2cash.billing.cycles import month_period
from meter2cash.billing.models import Bill, BillLine
from meter2cash.billing.pricing import KWH_SCALE
from meter2cash.db.session import unit_of_work
from tests.factories import create_account, create_bill

JULY = month_period(2026, 7)


def _priced(accounts: list[tuple[int, str]], version_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two priced bills as the bill run has them: the first with an energy and a fund line
    (a text with a quote, a comma and a newline), the second with one line, held for review."""
    bills = pd.DataFrame(
        {
            "account_id": [a for a, _ in accounts],
            "account_no": [n for _, n in accounts],
            "version_id": version_id,
            "kwh_total": [1234567, 2 * KWH_SCALE],
            "max_demand_kw": [-1, 15 * KWH_SCALE],
            "multiplier": [1, 40],
            "total_minor": [1050, 2000],
            "currency": "CNY",
            "estimated": [False, True],
            "review_reasons": ["", "kWh jumped"],
            "carried_export_out": [-1, -1],
        }
    )
    lines = pd.DataFrame(
        {
            "bill": [0, 0, 1],
            "seq": [1, 2, 1],
            "kind": ["energy_tiered", "funds", "energy_tou"],
            "description": ['电度电费 "第1档", ≤2760\nkWh', "政府性基金", "电度电费 高峰"],
            "quantity": [123.4567, 123.4567, 2.0],
            "unit": ["kWh", "kWh", "kWh"],
            "unit_price": [0.538, 0.00196875, 1000.0],
            "amount_minor": [1000, 50, 2000],
        }
    ).astype({"kind": "str", "description": "str", "unit": "str"})
    return bills, lines


def test_reserved_ids_are_the_bills_ids_and_the_lines_point_at_their_own_bill(
    records: Engine,
) -> None:
    with unit_of_work(records) as session:
        earlier = create_bill(session, create_account(session, "A001"), 500, date(2026, 7, 2))
        accounts = [create_account(session, n) for n in ("A002", "A003")]
        bills, lines = _priced([(a.id, a.account_no) for a in accounts], earlier.tariff_version_id)
        records_ = bill_records(
            bills,
            JULY,
            [earlier.cycle_id] * 2,
            ["2026-08-02"] * 2,
            ["2026-08-17"] * 2,
            [0, 0],
            [np.nan, float(earlier.id)],
        )
        ids = insert_bills(session, records_, lines).tolist()

    assert len(set(ids)) == 2 and min(ids) > earlier.id
    with unit_of_work(records) as session:
        stored = {b.bill_no: b for b in session.scalars(select(Bill).where(Bill.id.in_(ids)))}
        lines_of = {
            bill_id: [
                (line.seq, line.kind, line.description, line.amount_minor)
                for line in session.scalars(
                    select(BillLine).where(BillLine.bill_id == bill_id).order_by(BillLine.seq)
                )
            ]
            for bill_id in (b.id for b in stored.values())
        }
        all_lines = session.scalar(select(func.count(BillLine.id)))
    first, second = stored["202607-A002-0"], stored["202607-A003-0"]
    assert [first.id, second.id] == ids
    assert lines_of[first.id] == [
        (1, "energy_tiered", '电度电费 "第1档", ≤2760\nkWh', 1000),
        (2, "funds", "政府性基金", 50),
    ]
    assert lines_of[second.id] == [(1, "energy_tou", "电度电费 高峰", 2000)]
    assert all_lines == 3
    assert (first.status, first.review_reasons, first.replaces_bill_id) == ("approved", "", None)
    assert (second.status, second.review_reasons, second.replaces_bill_id) == (
        "in_review",
        "kWh jumped",
        earlier.id,
    )
    assert (first.kwh, first.max_demand_kw, second.max_demand_kw) == (
        Decimal("123.4567"),
        None,
        Decimal("15"),
    )
    assert (first.estimated, second.estimated, second.multiplier) == (False, True, 40)


def test_a_batch_whose_lines_fail_leaves_no_bill(records: Engine) -> None:
    with unit_of_work(records) as session:
        earlier = create_bill(session, create_account(session, "A001"), 500, date(2026, 7, 2))
        accounts = [create_account(session, n) for n in ("A002", "A003")]
        bills, lines = _priced([(a.id, a.account_no) for a in accounts], earlier.tariff_version_id)
        records_ = bill_records(
            bills,
            JULY,
            [earlier.cycle_id] * 2,
            ["2026-08-02"] * 2,
            ["2026-08-17"] * 2,
            [0, 0],
            [np.nan] * 2,
        )
    duplicate_seq = lines.assign(seq=1)
    with pytest.raises(Exception, match=r"(?i)unique"), unit_of_work(records) as session:
        insert_bills(session, records_, duplicate_seq)
    with unit_of_work(records) as session:
        assert session.scalar(select(func.count(Bill.id))) == 1
        assert session.scalar(select(func.count(BillLine.id))) == 0
        ids = insert_bills(session, records_, lines).tolist()
    with unit_of_work(records) as session:
        assert session.scalar(select(func.count(Bill.id))) == 3
        assert session.scalar(select(func.count(BillLine.id))) == 3
        assert set(session.scalars(select(BillLine.bill_id))) == set(ids)
