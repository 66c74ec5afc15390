"""The bill run over a small simulated utility: what a billing clerk would check."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from meter2cash import spine
from meter2cash.assets.models import Account, Meter, MeterInstallation, ServicePoint
from meter2cash.billing.cycles import complete_months, month_period
from meter2cash.billing.determinant_frame import expected_intervals
from meter2cash.billing.models import Bill, BillLine
from meter2cash.core.timezones import local_midnight, zone
from meter2cash.db.session import unit_of_work
from meter2cash.ledger.models import Posting
from meter2cash.simulator import UtilitySpec
from meter2cash.workspace import Workspace
from tests.factories import simulated_workspace


@pytest.fixture(scope="module")
def billed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """120 accounts, 30 Jun – 1 Aug 2026, July billed and issued."""
    home: Path = tmp_path_factory.mktemp("billing")
    with simulated_workspace(
        home, UtilitySpec(seed=11, accounts=120, start=date(2026, 6, 30), days=33)
    ) as ws:
        (july,) = spine.billing_months(ws)
        spine.bill(ws, july)
        spine.issue(ws)
        yield ws


def test_a_bill_is_the_sum_of_its_lines_and_posts_its_total(billed: Workspace) -> None:
    with unit_of_work(billed.records) as session:
        lines = dict(
            session.execute(
                select(BillLine.bill_id, func.sum(BillLine.amount_minor)).group_by(BillLine.bill_id)
            ).all()
        )
        bills = session.scalars(select(Bill)).all()
        receivable = dict(
            session.execute(
                select(Posting.bill_id, func.sum(Posting.amount_minor))
                .where(Posting.amount_minor > 0)
                .group_by(Posting.bill_id)
            ).all()
        )
    assert len(bills) > 100
    for bill in bills:
        assert bill.total_minor == lines[bill.id]
        if bill.status == "issued":
            assert receivable[bill.id] == bill.total_minor


def test_register_bills_charge_the_register_advance_times_the_multiplier(billed: Workspace) -> None:
    tz = zone("Asia/Shanghai")
    opening, closing = local_midnight(date(2026, 7, 1), tz), local_midnight(date(2026, 8, 1), tz)
    with unit_of_work(billed.records) as session:
        rows = session.execute(
            select(Account.account_no, Meter.meter_no, MeterInstallation.multiplier, Bill.kwh)
            .join(ServicePoint, ServicePoint.account_id == Account.id)
            .join(MeterInstallation, MeterInstallation.service_point_id == ServicePoint.id)
            .join(Meter, Meter.id == MeterInstallation.meter_id)
            .join(Bill, Bill.account_id == Account.id)
            .where(Meter.records_intervals.is_(False))
        ).all()
    reads = billed.store.scan("register_reads", start=opening, end=closing + timedelta(seconds=1))
    frame = reads.to_pandas()
    frame = frame[frame["channel"] == "A+"].set_index(["meter_no", "ts"])["value"]
    checked = 0
    for account_no, meter_no, multiplier, kwh in rows:
        start = frame.get((meter_no, pd.Timestamp(opening)))
        end = frame.get((meter_no, pd.Timestamp(closing)))
        if start is None or end is None:
            continue
        assert kwh == (Decimal(end) - Decimal(start)) * multiplier, account_no
        checked += 1
    assert checked > 80


def test_estimated_reads_make_estimated_bills(billed: Workspace) -> None:
    with unit_of_work(billed.records) as session:
        estimated = session.scalar(select(func.count(Bill.id)).where(Bill.estimated.is_(True)))
    assert estimated is not None and estimated > 0


def test_cycles_are_whole_calendar_months() -> None:
    months = complete_months(date(2026, 7, 1), date(2026, 10, 3))
    assert [m.period_start for m in months] == [
        date(2026, 7, 1),
        date(2026, 8, 1),
        date(2026, 9, 1),
    ]
    assert month_period(2028, 2).days == 29
    assert month_period(2026, 9).bill_date == date(2026, 10, 3)


def test_expected_intervals_follow_the_local_day_length() -> None:
    assert expected_intervals(month_period(2026, 7), zone("Asia/Shanghai")) == 31 * 96
    # March 2026 in New York loses an hour to daylight saving: 4 intervals fewer.
    assert expected_intervals(month_period(2026, 3), zone("America/New_York")) == 31 * 96 - 4
