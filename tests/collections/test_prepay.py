"""Prepay fee control (费控) as a customer and an operator see it: charged every day from the
meter's freezes, warned, told at zero, cut off after the grace, restored on a top-up — on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sqlalchemy import Engine, func, select

from meter2cash.assets.models import (
    Account,
)
from meter2cash.billing.cycles import month_period
from meter2cash.billing.models import Bill, BillLine
from meter2cash.billing.run import bill_month
from meter2cash.collections.fee_control import FeeControlRules
from meter2cash.collections.fee_control_report import fee_control_report
from meter2cash.collections.models import FeeControlEvent, OutboxMessage
from meter2cash.collections.prepay import FeeControlRun, enrol, run_fee_control
from meter2cash.collections.prepay_charges import SOURCE_TYPE, charged_between, post_charges
from meter2cash.core.clock import FixedClock
from meter2cash.core.settings import Settings
from meter2cash.db.audit import AuditEvent
from meter2cash.db.session import unit_of_work
from meter2cash.headend import commands
from meter2cash.headend.models import MeterCommand
from meter2cash.ledger.journal import CUSTOMER_CREDIT, FUNDS_PAYABLE
from meter2cash.ledger.models import JournalEntry, LedgerAccount, Posting
from meter2cash.ledger.payments import PAYMENT_COLUMNS, post_payments
from meter2cash.ledger.service import trial_balance
from meter2cash.measurements.store import MeasurementStore
from meter2cash.tariffs.loader import parse_tariff
from meter2cash.workspace import Workspace
from tests.factories import create_meter, create_metered_account, create_places, install_meter

TZ = ZoneInfo("Asia/Shanghai")
JULY = month_period(2026, 7)
TARIFF = parse_tariff(
    """
code: T-PREPAY
name: 居民月阶梯（测试）
customer_class: residential
source: a test tariff
currency: CNY
versions:
  - version: 1
    effective_from: 2026-01-01
    components:
      - {kind: fixed, per: month, amount: "3.00", name: 月固定费}
      - kind: energy_tiered
        period: monthly
        tiers:
          - {up_to_kwh: "230", price: "0.5283"}
          - {up_to_kwh: "400", price: "0.5783"}
          - {up_to_kwh: null, price: "0.8283"}
      - kind: funds
        items:
          - {name: 可再生能源附加, price_per_kwh: "0.019"}
""",
    "test",
)
TARIFFS = {TARIFF.code: TARIFF}
RULES = FeeControlRules(warn_below_minor=2_000, grace_hours=48)


def _local(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ).astimezone(UTC)


def _freezes(
    meter_no: str, daily_kwh: list[float], skip: frozenset[date] = frozenset()
) -> pa.Table:
    """Daily frozen A+ reads from 1 July: the register climbs by ``daily_kwh`` a day."""
    days = [JULY.period_start + timedelta(days=i) for i in range(len(daily_kwh) + 1)]
    register = [1000.0]
    for kwh in daily_kwh:
        register.append(round(register[-1] + kwh, 2))
    kept = [(d, v) for d, v in zip(days, register, strict=True) if d not in skip]
    return pa.table(
        {
            "meter_no": [meter_no] * len(kept),
            "channel": ["A+"] * len(kept),
            "ts": pa.array([_local(d) for d, _ in kept], pa.timestamp("us", tz="UTC")),
            "value": [v for _, v in kept],
        }
    )


@pytest.fixture
def ws(records: Engine, tmp_path: Path) -> Iterator[Workspace]:
    """Accounts P1 and P2 (meters M1, M2) on a monthly tiered tariff, P1 on prepay from
    1 July; the clock on 1 July."""
    clock = FixedClock(_local(JULY.period_start, 8))
    settings = Settings.from_env({"M2C_HOME": str(tmp_path)})
    workspace = Workspace(settings, clock, records, MeasurementStore(tmp_path / "m", TZ))
    with unit_of_work(records) as session:
        places = create_places(session, "prepay")
        for n in (1, 2):
            point = create_metered_account(session, places, f"P{n}", tariff=TARIFF.code)
            meter = create_meter(session, f"M{n}", address=f"{n:012d}")
            install_meter(session, meter, point, _local(date(2026, 1, 1)))
        assert enrol(
            session, clock, "P1", starts_on=JULY.period_start, actor="王班长", reason="费控改造"
        )
    yield workspace
    workspace.close()


def _top_up(ws: Workspace, account_no: str, yuan: str, transaction: str) -> None:
    received = ws.clock.now().astimezone(TZ).date()
    payment = pd.DataFrame(
        [("wechat", transaction, account_no, int(Decimal(yuan) * 100), received)],
        columns=list(PAYMENT_COLUMNS),
    )
    with unit_of_work(ws.records) as session:
        post_payments(session, ws.clock, payment)


def _run(ws: Workspace, day: date, hour: int = 8) -> FeeControlRun:
    """Fee control through ``day``, run the next morning at ``hour``."""
    assert isinstance(ws.clock, FixedClock)
    ws.clock.set(_local(day + timedelta(days=1), hour))
    return run_fee_control(ws.records, ws.clock, ws.batch, TARIFFS, RULES, day)


def _charged(ws: Workspace, account_no: str, ledger_account: str = CUSTOMER_CREDIT) -> int:
    with unit_of_work(ws.records) as session:
        total = session.scalar(
            select(func.coalesce(func.sum(Posting.amount_minor), 0))
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
            .join(Account, Account.id == Posting.account_id)
            .where(
                JournalEntry.source_type == SOURCE_TYPE,
                LedgerAccount.code == ledger_account,
                Account.account_no == account_no,
            )
        )
    return int(total or 0)


def test_a_months_daily_charges_add_up_to_its_bill_under_tiers(ws: Workspace) -> None:
    # 11 to 23 kWh a day: the month crosses both tier bounds (230 and 400 kWh).
    daily = [11.0 + (i * 7) % 13 + 0.37 for i in range(31)]
    assert ws.store.ingest_register_reads(_freezes("M1", daily), source="test").accepted
    _top_up(ws, "P1", "500.00", "T-1")
    for day in range(31):
        assert _run(ws, JULY.period_start + timedelta(days=day)).awaiting_reads == 0
    bill_month(ws.records, ws.clock, ws.batch, TARIFFS, JULY)
    with unit_of_work(ws.records) as session:
        bill = session.scalars(
            select(Bill)
            .join(Account, Account.id == Bill.account_id)
            .where(Account.account_no == "P1")
        ).one()
        funds = session.scalar(
            select(func.sum(BillLine.amount_minor)).where(
                BillLine.bill_id == bill.id, BillLine.kind == "funds"
            )
        )
        tiers = session.scalar(
            select(func.count()).where(
                BillLine.bill_id == bill.id, BillLine.kind == "energy_tiered"
            )
        )
        days = session.scalar(
            select(func.count()).where(
                JournalEntry.source_type == SOURCE_TYPE, JournalEntry.source_key.like("P1:%")
            )
        )
        assert trial_balance(session).balanced
    assert tiers == 3
    assert days == 31
    assert _charged(ws, "P1") == bill.total_minor
    assert -_charged(ws, "P1", FUNDS_PAYABLE) == funds


def test_a_run_down_balance_warns_once_notices_at_zero_and_trips_after_48_hours(
    ws: Workspace,
) -> None:
    assert ws.store.ingest_register_reads(_freezes("M1", [15.0] * 31), source="test").accepted
    _top_up(ws, "P1", "60.00", "T-1")
    seen = {}
    for day in range(1, 10):  # charged through 1 … 9 July, each the next morning at 08:00
        run = _run(ws, date(2026, 7, day))
        seen[day] = (run.warnings, run.notices, run.trips)
    # 60.00 less 11.21 on the 1st (3.00 fixed, 7.92 energy, 0.29 funds), then 8.21 a day:
    # below 20.00 on the 5th, used up on the 7th, cut off the morning 48 h after the notice.
    assert seen == {
        1: (0, 0, 0),
        2: (0, 0, 0),
        3: (0, 0, 0),
        4: (0, 0, 0),
        5: (1, 0, 0),
        6: (0, 0, 0),
        7: (0, 1, 0),
        8: (0, 0, 0),
        9: (0, 0, 1),
    }
    with unit_of_work(ws.records) as session:
        sms = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        [trip] = session.scalars(select(MeterCommand)).all()
    assert [(m.channel, m.purpose, m.body) for m in sms] == [
        (
            "sms",
            "fee_control",
            "尊敬的客户：您的户号 P1 电费余额 15.95 元，已低于 20.00 元，请及时充值，以免停电。",
        ),
        (
            "sms",
            "fee_control",
            "尊敬的客户：您的户号 P1 电费余额 -0.47 元，已用完。"
            "请于 48 小时内充值，逾期将远程停电；充值到账后自动复电。",
        ),
    ]
    assert (trip.meter_no, trip.kind, trip.status, trip.requested_by) == (
        "M1",
        "relay_trip",
        "requested",
        "fee-control",
    )
    assert trip.requested_at == _local(date(2026, 7, 10), 8)
    assert "费控停电" in trip.reason

    # The customer tops up at 14:00; the next run asks for the relay to close.
    assert isinstance(ws.clock, FixedClock)
    with unit_of_work(ws.records) as session:
        commands.advance(session, ws.clock, trip.id, "sent", actor="headend")
        commands.advance(session, ws.clock, trip.id, "confirmed", actor="headend")
    ws.clock.set(_local(date(2026, 7, 10), 14))
    _top_up(ws, "P1", "100.00", "T-2")
    run = _run(ws, date(2026, 7, 10), hour=15)
    assert run.reconnects == 1 and run.trips == 0
    [(account_no, balance, action, command_id)] = run.actions.itertuples(index=False)
    assert (account_no, action) == ("P1", "relay_close")
    assert balance == -1_689 + 10_000 - 821  # owed after the 9th, topped up, the 10th charged
    ws.clock.set(_local(date(2026, 7, 11), 16))
    with unit_of_work(ws.records) as session:
        close = session.get_one(MeterCommand, int(command_id))
        assert (close.kind, close.status) == ("relay_close", "requested")
        commands.advance(session, ws.clock, close.id, "sent", actor="headend")
        ws.clock.set(_local(date(2026, 7, 11), 17))
        commands.advance(session, ws.clock, close.id, "confirmed", actor="headend")
        actions = session.scalars(select(FeeControlEvent.action).order_by(FeeControlEvent.id)).all()
        report = fee_control_report(session, date(2026, 7, 1), date(2026, 7, 31), TZ)
        runs = session.scalar(select(func.count()).where(AuditEvent.action == "fee_control.run"))
    assert actions == [
        "enrolled",
        "sms_warning",
        "zero_notice",
        "relay_trip",
        "relay_close",
    ]
    assert runs == 10
    assert (report.warnings, report.notices) == (1, 1)
    assert (report.trips_requested, report.trips_confirmed, report.trips_failed) == (1, 1, 0)
    assert (report.reconnects_requested, report.reconnects_confirmed) == (1, 1)
    # paid at 14:00 on the 10th; the relay closed, confirmed at 17:00 on the 11th
    assert report.reconnects_timed == 1
    assert report.reconnect_hours_median == pytest.approx(27.0)
    # A second run the same day changes nothing: the relay is closed and the warning re-armed.
    again = _run(ws, date(2026, 7, 10), hour=18)
    assert (again.charges_posted, again.reconnects, again.trips) == (0, 0, 0)


def test_a_failed_trip_is_asked_for_again(ws: Workspace) -> None:
    assert ws.store.ingest_register_reads(_freezes("M1", [40.0] * 31), source="test").accepted
    for day in range(1, 4):  # no money at all: notice on the 1st, trip on the 3rd
        _run(ws, date(2026, 7, day))
    with unit_of_work(ws.records) as session:
        [trip] = session.scalars(select(MeterCommand)).all()
        commands.advance(session, ws.clock, trip.id, "failed", actor="headend", detail="no reply")
    run = _run(ws, date(2026, 7, 4))
    assert run.trips == 1
    with unit_of_work(ws.records) as session:
        kinds = session.execute(select(MeterCommand.kind, MeterCommand.status)).tuples().all()
    assert sorted(kinds) == [("relay_trip", "failed"), ("relay_trip", "requested")]


def test_a_day_is_charged_once_and_a_missing_freeze_waits_for_its_read(ws: Workspace) -> None:
    with unit_of_work(ws.records) as session:
        enrol(
            session, ws.clock, "P2", starts_on=JULY.period_start, actor="王班长", reason="费控改造"
        )
    late = date(2026, 7, 5)  # P2's freeze closing the 4th is missing at first
    p2 = _freezes("M2", [20.0] * 31)
    for reads in (_freezes("M1", [10.0] * 31), _freezes("M2", [20.0] * 31, frozenset({late}))):
        assert ws.store.ingest_register_reads(reads, source="test").accepted
    first = _run(ws, date(2026, 7, 6))  # catches up 1 … 6 July: P1 all, P2 through the 3rd
    assert (first.charges_posted, first.awaiting_reads) == (6 + 3, 1)
    assert _run(ws, date(2026, 7, 6)).charges_posted == 0
    # 60 kWh each: 3.00 fixed + 60 × 0.5283 = 31.70 + 60 × 0.019 = 1.14
    assert (_charged(ws, "P1"), _charged(ws, "P2")) == (3_584, 3_584)
    with unit_of_work(ws.records) as session:
        charged = charged_between(session, JULY.period_start, date(2026, 7, 3))
        again = charged.reset_index().assign(account_no=["P1", "P2"])
        assert post_charges(session, ws.clock, again, date(2026, 7, 3)) == 0

    missing = p2.filter(pc.equal(p2["ts"], pa.scalar(_local(late), pa.timestamp("us", tz="UTC"))))
    assert ws.store.ingest_register_reads(missing, source="test").accepted == 1
    caught_up = _run(ws, date(2026, 7, 6))
    assert (caught_up.charges_posted, caught_up.awaiting_reads) == (3, 0)
    # 120 kWh: 3.00 + 63.40 + 2.28
    assert _charged(ws, "P2") == 6_868
