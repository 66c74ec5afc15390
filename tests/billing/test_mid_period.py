"""What changes inside a billing period: a meter exchange, a CT/PT change, a move-in or
move-out — checked as a billing clerk would, to the fen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from meter2cash import spine
from meter2cash.assets.models import (
    Account,
)
from meter2cash.billing.cycles import month_period
from meter2cash.billing.documents import render_pdf
from meter2cash.billing.models import Bill, BillLine
from meter2cash.billing.pricing import DETERMINANT_COLUMNS, KWH_SCALE, price_cycle
from meter2cash.billing.statement import BillDocument, bill_document
from meter2cash.core.money import to_minor
from meter2cash.core.settings import Settings
from meter2cash.db.migrate import upgrade
from meter2cash.db.session import make_engine, unit_of_work
from meter2cash.tariffs.loader import parse_tariff
from meter2cash.tariffs.proration import monthly_share
from meter2cash.tariffs.rating import Determinants, TierContext, rate
from meter2cash.workspace import Workspace, open_workspace
from tests.conftest import require_spark
from tests.factories import create_meter, create_metered_account, create_places, install_meter

TZ = ZoneInfo("Asia/Shanghai")
JULY = month_period(2026, 7)

PART_MONTH = """
code: T-PART
name: monthly tiers, a monthly fixed charge and a capacity charge
customer_class: commercial
source: a test tariff
currency: CNY
versions:
  - version: 1
    effective_from: 2026-01-01
    components:
      - {kind: fixed, per: month, amount: "12.50", name: 月固定费}
      - kind: energy_tiered
        period: monthly
        tiers:
          - {up_to_kwh: "230", price: "0.5283"}
          - {up_to_kwh: "400", price: "0.5783"}
          - {up_to_kwh: null, price: "0.8283"}
      - {kind: demand, basis: contracted_kva, price: "26"}
      - kind: funds
        items:
          - {name: 可再生能源附加, price_per_kwh: "0.019"}
"""
PART_VERSION = parse_tariff(PART_MONTH, "test").version_on(JULY.period_start)


def _at(day: int, hour: int = 0, month: int = 7) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TZ).astimezone(UTC)


# ------------------------------------------------------------------------- proration rules


def test_a_part_month_pays_a_thirtieth_of_the_month_per_day() -> None:
    assert monthly_share(16, 16, 31) == (16, 30)  # moved in on the 16th of July
    assert monthly_share(30, 30, 31) == (30, 30)  # 30 days or more: the whole month
    assert monthly_share(10, 31, 31) == (10, 31)  # a tariff change: shares of the month
    assert monthly_share(28, 28, 28) == (28, 28)  # February, supplied throughout


def test_a_move_in_on_the_16th_prorates_tiers_fixed_and_capacity_charges() -> None:
    det = Determinants(
        period_start=date(2026, 7, 16),
        period_end=date(2026, 7, 31),
        kwh_total=Decimal(300),
        contracted_kva=Decimal(50),
        cycle_days=31,
    )
    bill = rate(PART_VERSION, det, TierContext())
    lines = [(ln.description, ln.quantity, ln.amount) for ln in bill.lines]
    # bounds 230 × 16/31 = 118.7097 and 400 × 16/31 = 206.4516 kWh
    assert lines == [
        ("月固定费 (按 16/30 天)", Decimal(1), Decimal("6.67")),  # 12.50 × 16/30
        ("电度电费 第1档 (≤118.7097 kWh/月)", Decimal("118.7097"), Decimal("62.71")),
        ("电度电费 第2档 (118.7097–206.4516 kWh/月)", Decimal("87.7419"), Decimal("50.74")),
        ("电度电费 第3档 (>206.4516 kWh/月)", Decimal("93.5484"), Decimal("77.49")),
        ("基本电费 (合同容量; 按 16/30 天)", Decimal(50), Decimal("693.33")),  # 1300 × 16/30
        ("可再生能源附加", Decimal(300), Decimal("5.70")),
    ]
    assert bill.total == Decimal("896.64")


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    first=st.integers(1, 31),
    length=st.integers(1, 31),
)
def test_part_months_price_column_wise_exactly_as_rating(
    seed: int, first: int, length: int
) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    last = min(first + length - 1, 31)
    days = last - first + 1
    frame = pd.DataFrame({c: np.zeros(n, np.int64) for c in DETERMINANT_COLUMNS})
    frame["kwh_total"] = np.rint(rng.gamma(1.2, 300, n) * KWH_SCALE).astype(np.int64)
    frame["contracted_kva"] = rng.choice([20, 50, 100], n) * KWH_SCALE
    whole = rng.random(n) < 0.5  # half the rows whole months, half moved in or out
    frame["days"] = np.where(whole, 31, days)
    frame["cycle_days"] = 31
    frame["supplied_days"] = frame["days"]
    priced = price_cycle(PART_VERSION, frame)
    assert priced is not None
    totals = priced.totals(n)
    for i in range(n):
        row_days = int(frame["days"].iloc[i])
        det = Determinants(
            period_start=date(2026, 7, 1 if row_days == 31 else first),
            period_end=date(2026, 7, 31 if row_days == 31 else last),
            kwh_total=Decimal(int(frame["kwh_total"].iloc[i])) / KWH_SCALE,
            contracted_kva=Decimal(int(frame["contracted_kva"].iloc[i])) / KWH_SCALE,
            cycle_days=31,
        )
        expected = rate(PART_VERSION, det, TierContext())
        if priced.rows_priced[i]:
            mine = priced.row == i
            texts = [priced.templates[t].description for t in priced.template[mine]]
            assert texts == [ln.description for ln in expected.lines]
            assert list(priced.amount[mine]) == [to_minor(ln.amount) for ln in expected.lines]
            assert totals[i] == to_minor(expected.total)
        else:
            assert (
                monthly_share(row_days, row_days, 31)[0] != monthly_share(row_days, row_days, 31)[1]
            ), "only a part month's capacity charge is left to rate"


# ------------------------------------------------------------------------- the bill run


READS = [  # meter, local day (month, day), A+ register [kWh]
    # A-EXCH: M-OLD (×1) removed 15 Jul 10:00 at 1350.50, M-NEW (×40) from 0
    ("M-OLD", (7, 1), "1200.00"),
    ("M-OLD", (7, 15), "1340.00"),
    ("M-NEW", (7, 16), "3.00"),
    ("M-NEW", (8, 1), "12.25"),
    # A-CT: CT 100/5 (×20) to 10 Jul 09:00 at 500.00, then 200/5 (×40)
    ("M-CT", (6, 1), "300.00"),
    ("M-CT", (7, 1), "400.00"),
    ("M-CT", (8, 1), "520.00"),
    # A-IN: moved in 17 Jul; A-OUT: moved out 10 Jul (billed to the freeze of 11 Jul)
    ("M-IN", (7, 17), "5000.00"),
    ("M-IN", (8, 1), "5180.00"),
    ("M-OUT", (7, 1), "800.00"),
    ("M-OUT", (7, 11), "870.00"),
    ("M-OUT", (8, 1), "990.00"),
]


@pytest.fixture(scope="module")
def billed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    home: Path = tmp_path_factory.mktemp("mid_period")
    settings = Settings.from_env({"M2C_HOME": str(home)})
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    with open_workspace(settings) as ws:
        with unit_of_work(ws.records) as session:
            place = create_places(session)
            exch = create_metered_account(session, place, "A-EXCH")
            install_meter(
                session,
                create_meter(session, "M-OLD"),
                exch,
                _at(1, month=1),
                removed_at=_at(15, 10),
                final="1350.50",
            )
            install_meter(session, create_meter(session, "M-NEW"), exch, _at(15, 10), ct=40)
            ct_point = create_metered_account(session, place, "A-CT")
            ct_meter = create_meter(session, "M-CT")
            install_meter(
                session,
                ct_meter,
                ct_point,
                _at(1, month=1),
                ct=20,
                removed_at=_at(10, 9),
                final="500.00",
            )
            install_meter(session, ct_meter, ct_point, _at(10, 9), ct=40, initial="500.00")
            moved_in = create_metered_account(session, place, "A-IN", opened_on=date(2026, 7, 17))
            install_meter(session, create_meter(session, "M-IN"), moved_in, _at(1, month=1))
            moved_out = create_metered_account(session, place, "A-OUT", closed_on=date(2026, 7, 10))
            install_meter(session, create_meter(session, "M-OUT"), moved_out, _at(1, month=1))
        meters, stamps, values = zip(
            *((m, _at(d, month=mo), float(v)) for m, (mo, d), v in READS), strict=True
        )
        table = pa.table(
            {
                "meter_no": list(meters),
                "channel": ["A+"] * len(READS),
                "ts": pa.array(stamps, pa.timestamp("us", tz="UTC")),
                "value": list(values),
            }
        )
        assert ws.store.ingest_register_reads(table, source="test:mid-period").accepted
        spine.bill(ws, month_period(2026, 6))
        spine.bill(ws, JULY)
        yield ws


def _bill(
    ws: Workspace, account_no: str, start: date = JULY.period_start
) -> tuple[Bill, list[BillLine]]:
    with unit_of_work(ws.records) as session:
        bill = session.scalars(
            select(Bill)
            .join(Account, Account.id == Bill.account_id)
            .where(Account.account_no == account_no, Bill.period_start == start)
        ).one()
        lines = list(
            session.scalars(
                select(BillLine).where(BillLine.bill_id == bill.id).order_by(BillLine.seq)
            )
        )
        session.expunge_all()
    return bill, lines


def test_a_meter_exchange_bills_both_meters_each_at_its_multiplier(billed: Workspace) -> None:
    bill, lines = _bill(billed, "A-EXCH")
    # old meter 1200.00 → final read 1350.50 (× 1) + new meter 0 → 12.25 (× 40)
    assert bill.kwh == Decimal("640.5")
    assert bill.multiplier == 40
    assert [(ln.description, ln.amount_minor) for ln in lines] == [
        ("电度电费 第1档 (≤2760 kWh/年)", 34459),  # 640.5 × 0.538 = 344.589
    ]


def test_a_ct_change_bills_each_stretch_at_its_ratio_and_review_knows_why(
    billed: Workspace,
) -> None:
    june, _ = _bill(billed, "A-CT", date(2026, 6, 1))
    july, _ = _bill(billed, "A-CT")
    assert (june.kwh, june.multiplier) == (Decimal(2000), 20)  # 100 × 20
    # 400 → 500 at × 20, then 500 → 520 at × 40
    assert (july.kwh, july.multiplier) == (Decimal(2800), 40)
    assert "multiplier_changed" not in july.review_reasons


def test_a_move_in_and_a_move_out_bill_their_own_days_and_reads(billed: Workspace) -> None:
    moved_in, _ = _bill(billed, "A-IN")
    moved_out, _ = _bill(billed, "A-OUT")
    assert moved_in.kwh == Decimal(180)  # 17 Jul → 1 Aug
    assert moved_out.kwh == Decimal(70)  # 1 Jul → the freeze closing 10 Jul


def test_the_bill_document_shows_both_meters_of_an_exchange(billed: Workspace) -> None:
    exchanged, _ = _bill(billed, "A-EXCH")
    changed, _ = _bill(billed, "A-CT")
    with unit_of_work(billed.records) as session:
        exchange = bill_document(session, billed.store, exchanged.bill_no)
        ct_change = bill_document(session, billed.store, changed.bill_no)

    def shown(doc: BillDocument) -> list[tuple[Any, ...]]:
        return [
            (
                i.meter.meter_no,
                i.meter.multiplier,
                f"{i.first_day:%m-%d}",
                f"{i.last_day:%m-%d}",
                *(
                    (
                        c.opening and (c.opening.value, c.opening.quality),
                        c.closing and (c.closing.value, c.closing.quality),
                        c.kwh,
                    )
                    for c in i.reads
                    if c.channel == "A+"
                ),
            )
            for i in doc.installations
        ]

    # The old meter to its final read at removal, the new one from its initial read.
    assert shown(exchange) == [
        (
            "M-OLD",
            1,
            "07-01",
            "07-15",
            ((Decimal("1200"), "raw"), (Decimal("1350.5"), "recorded"), Decimal("150.5")),
        ),
        (
            "M-NEW",
            40,
            "07-15",
            "07-31",
            ((Decimal("0"), "recorded"), (Decimal("12.25"), "raw"), Decimal(490)),
        ),
    ]
    assert exchange.meter is not None and exchange.meter.meter_no == "M-NEW"
    assert sum(c.kwh or 0 for i in exchange.installations for c in i.reads) == exchanged.kwh
    assert shown(ct_change) == [
        (
            "M-CT",
            20,
            "07-01",
            "07-10",
            ((Decimal("400"), "raw"), (Decimal("500"), "recorded"), Decimal(2000)),
        ),
        (
            "M-CT",
            40,
            "07-10",
            "07-31",
            ((Decimal("500"), "recorded"), (Decimal("520"), "raw"), Decimal(800)),
        ),
    ]
    assert render_pdf(exchange, "zh").startswith(b"%PDF")


# ------------------------------------------------------------------------- the engines


def _segments() -> pa.Table:
    """A-CT's two stretches of July as the bill run hands them to the engine."""
    return pa.table(
        {
            "meter_no": ["M-CT", "M-CT"],
            "account_no": ["A-CT", "A-CT"],
            "period_start": pa.array([date(2026, 7, 1), date(2026, 7, 10)], pa.date32()),
            "period_end": pa.array([date(2026, 7, 10), date(2026, 7, 31)], pa.date32()),
            "multiplier": pa.array([20, 40], pa.int64()),
            "register_digits": pa.array([6, 6], pa.int64()),
            "tou_schedule": ["RES-TIER-ZJ"] * 2,
            "open_at": pa.array([None, _at(10, 9)], pa.timestamp("us", tz="UTC")),
            "close_at": pa.array([_at(10, 9), None], pa.timestamp("us", tz="UTC")),
            "initial_read": pa.array([None, Decimal("500")], pa.decimal128(18, 4)),
            "final_read": pa.array([Decimal("500"), None], pa.decimal128(18, 4)),
        }
    )


def _segment_rows(engine: Any) -> list[dict[str, Any]]:
    from meter2cash.billing.determinants import segment_register_determinants

    expr = segment_register_determinants(
        engine.measurements("register_reads"), engine.table("segments", _segments()), ("A+",)
    )
    return sorted(engine.to_arrow(expr).to_pylist(), key=lambda r: r["period_start"])


def test_each_segment_reads_its_own_registers(billed: Workspace) -> None:
    rows = _segment_rows(billed.batch)
    assert [(r["start_read"], r["end_read"], r["delta"]) for r in rows] == [
        (Decimal("400"), Decimal("500"), Decimal("2000")),
        (Decimal("500"), Decimal("520"), Decimal("800")),
    ]
    assert not any(r["estimated"] for r in rows)


@pytest.mark.spark
def test_segments_agree_on_spark(billed: Workspace) -> None:
    require_spark()
    from meter2cash.engines.spark_engine import SparkEngine, spark_session

    session = spark_session("local[2]")
    spark = SparkEngine(billed.store, session)
    try:
        assert _segment_rows(spark) == _segment_rows(billed.batch)
    finally:
        spark.close()
        session.stop()


def test_a_curve_meter_counts_each_interval_at_the_multiplier_then_in_force(
    tmp_path: Path,
) -> None:
    from meter2cash.billing.determinants import interval_determinants
    from meter2cash.engines.duckdb_engine import DuckDBEngine
    from meter2cash.measurements import MeasurementStore

    store = MeasurementStore(tmp_path, TZ)
    stamps = pd.date_range(_at(10), periods=96, freq="15min")  # 10 Jul, 1 kWh each
    table = pa.table(
        {
            "meter_no": ["M-CT"] * 96,
            "channel": ["kWh"] * 96,
            "ts": pa.array(stamps.to_pydatetime(), pa.timestamp("us", tz="UTC")),
            "value": [1.0] * 96,
        }
    )
    assert store.ingest_intervals(table, source="test:curve").accepted == 96
    engine = DuckDBEngine(store)
    try:
        slots = pa.table(
            {
                "tou_schedule": pa.array([], pa.string()),
                "month": pa.array([], pa.int32()),
                "day_type": pa.array([], pa.string()),
                "slot": pa.array([], pa.int16()),
                "tou_period": pa.array([], pa.string()),
            }
        )
        calendar = pa.table(
            {"local_date": pa.array([], pa.date32()), "day_type": pa.array([], pa.string())}
        )
        expr = interval_determinants(
            engine.measurements("intervals"),
            engine.table("segments", _segments()),
            engine.table("slots", slots),
            engine.table("calendar", calendar),
        )
        rows = sorted(engine.to_arrow(expr).to_pylist(), key=lambda r: r["period_start"])
    finally:
        engine.close()
    # 00:00–09:00 (36 intervals) at × 20, 09:00–24:00 (60) at × 40
    assert [(r["interval_count"], r["kwh_total"]) for r in rows] == [
        (36, Decimal(720)),
        (60, Decimal(2400)),
    ]
    assert [r["max_demand_kw"] for r in rows] == [Decimal(80), Decimal(160)]
