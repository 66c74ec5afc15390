"""Two-part bills from the registers: reactive energy from R+ and maximum demand from MD+ where
the 15-minute curve cannot give them — worked by hand for a 10 kV customer, to the fen."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from meter2cash import spine
from meter2cash.assets.models import Account
from meter2cash.billing import determinant_frame as frames
from meter2cash.billing import repository
from meter2cash.billing.cycles import month_period
from meter2cash.billing.documents import render_pdf
from meter2cash.billing.models import Bill, BillLine
from meter2cash.billing.pricing import KWH_SCALE
from meter2cash.billing.statement import bill_document
from meter2cash.core.settings import Settings
from meter2cash.core.timezones import local_midnight, zone
from meter2cash.db.migrate import upgrade
from meter2cash.db.session import make_engine, unit_of_work
from meter2cash.holidays.repository import utility_calendar
from meter2cash.tariffs.loader import load_catalogue
from meter2cash.workspace import Workspace, open_workspace
from tests.factories import (
    Places,
    create_meter,
    create_metered_account,
    create_places,
    install_meter,
)

TZ = zone("Asia/Shanghai")
JULY = month_period(2026, 7)
UTC_US = pa.timestamp("us", tz="UTC")
MULTIPLIER = 4000
"""A 10 kV service: CT 200/5 (40) × PT 10000/100 (100)."""

FREEZES = {  # channel: {local day the freeze is stamped: register [kWh, kvarh, kW; meter side]}
    "A+": {date(2026, 7, 1): 1000.00, date(2026, 8, 1): 1100.00},  # 100 × 4000 = 400,000 kWh
    "A+1": {date(2026, 7, 1): 50.00, date(2026, 8, 1): 55.00},  # 尖 5
    "A+2": {date(2026, 7, 1): 450.00, date(2026, 8, 1): 495.00},  # 峰 45
    "A+3": {date(2026, 7, 1): 200.00, date(2026, 8, 1): 220.00},  # 平 20
    "A+4": {date(2026, 7, 1): 300.00, date(2026, 8, 1): 330.00},  # 谷 30
    "R+": {date(2026, 7, 1): 500.00, date(2026, 8, 1): 545.00},  # 45 × 4000 = 180,000 kvarh
    "MD+": {
        date(2026, 7, 1): 0.1700,  # June's maximum: not July's
        date(2026, 7, 2): 0.1200,  # 1 July's own maximum, after the settlement
        date(2026, 7, 10): 0.1500,
        date(2026, 7, 20): 0.1625,  # July's maximum: 0.1625 × 4000 = 650 kW
        date(2026, 8, 1): 0.1625,  # the closing freeze
        date(2026, 8, 2): 0.0900,  # August's first day
    },
}
ACCOUNTS = {  # account: (records a curve, MD+ freezes left out, tariff)
    "A-10KV": (False, (), "IND-TWO-PART"),
    "A-10KV-LATE": (False, (date(2026, 8, 1),), "IND-TWO-PART"),  # the closing freeze missed
    "A-10KV-NOMD": (False, tuple(FREEZES["MD+"]), "IND-TWO-PART"),  # no demand register
    "A-GAPPY": (True, (), "IND-TWO-PART"),  # a curve with a gap
    "A-CURVE": (True, (), "IND-TWO-PART"),  # a complete curve
    "A-COM": (False, (), "COM-TOU"),  # a tariff without demand or power factor
}
CURVE_KWH, CURVE_KVARH = 0.25, 0.1
"""Every quarter-hour of the curve meters [kWh, kvarh; meter side]."""


def _industrial_account(
    session: Session, places: Places, account_no: str, tariff: str, curve: bool
) -> None:
    point = create_metered_account(
        session,
        places,
        account_no,
        tariff=tariff,
        customer_class="industrial",
        contracted_kva=Decimal(1000),
    )
    meter = create_meter(
        session, f"M{account_no[1:]}", address=account_no[2:].rjust(12, "0")[-12:], curve=curve
    )
    install_meter(session, meter, point, datetime(2026, 1, 1, tzinfo=UTC), ct=40, pt=100)


def _reads() -> pa.Table:
    rows = [
        (f"M{account[1:]}", channel, local_midnight(day, TZ), value)
        for account, (_, left_out, _) in ACCOUNTS.items()
        for channel, days in FREEZES.items()
        for day, value in days.items()
        if not (channel == "MD+" and day in left_out)
    ]
    meters, channels, stamps, values = zip(*rows, strict=True)
    return pa.table(
        {
            "meter_no": list(meters),
            "channel": list(channels),
            "ts": pa.array(stamps, UTC_US),
            "value": list(values),
        }
    )


def _curves() -> pa.Table:
    stamps = pd.date_range(
        local_midnight(JULY.period_start, TZ), local_midnight(date(2026, 8, 1), TZ), freq="15min"
    )[:-1]
    parts = []
    for account, (curve, _, _) in ACCOUNTS.items():
        if not curve:
            continue
        kept = stamps[8:] if account == "A-GAPPY" else stamps  # two hours lost on 1 July
        for channel, value in (("kWh", CURVE_KWH), ("kvarh", CURVE_KVARH)):
            parts.append(
                pd.DataFrame(
                    {"meter_no": f"M{account[1:]}", "channel": channel, "ts": kept, "value": value}
                )
            )
    return pa.Table.from_pandas(pd.concat(parts), preserve_index=False)


@pytest.fixture(scope="module")
def billed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    home: Path = tmp_path_factory.mktemp("register_demand")
    settings = Settings.from_env({"M2C_HOME": str(home)})
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    with open_workspace(settings) as ws:
        with unit_of_work(ws.records) as session:
            places = create_places(session)
            for account, (curve, _, tariff) in ACCOUNTS.items():
                _industrial_account(session, places, account, tariff, curve)
        assert ws.store.ingest_register_reads(_reads(), source="test:registers").accepted
        assert ws.store.ingest_intervals(_curves(), source="test:curves").accepted
        spine.bill(ws, JULY)
        yield ws


def _bill(ws: Workspace, account_no: str) -> tuple[Bill, list[tuple[str, Decimal, int]]]:
    with unit_of_work(ws.records) as session:
        bill = session.scalars(
            select(Bill)
            .join(Account, Account.id == Bill.account_id)
            .where(Account.account_no == account_no)
        ).one()
        lines = [
            (ln.description, Decimal(ln.quantity), ln.amount_minor)
            for ln in session.scalars(
                select(BillLine).where(BillLine.bill_id == bill.id).order_by(BillLine.seq)
            )
        ]
        session.expunge_all()
    return bill, lines


def _frame(ws: Workspace, accounts: list[str] | None = None) -> pd.DataFrame:
    with unit_of_work(ws.records) as session:
        meters = repository.billable_meters(session, JULY.period_start, JULY.period_end)
        calendar = utility_calendar(session)
    if accounts is not None:
        meters = meters[meters["account_no"].isin(accounts)]
    return frames.determinant_frame(ws.batch, meters, load_catalogue(), JULY, calendar).set_index(
        "account_no"
    )


def _q(frame: pd.DataFrame, account: str, column: str) -> Decimal:
    return Decimal(int(frame.at[account, column])) / KWH_SCALE


HAND_WORKED = [
    # 650 kW × 38 yuan/kW-month
    ("基本电费 (最大需量)", Decimal(650), 2_470_000),
    # 5 / 45 / 20 / 30 kWh on the meter × 4000, at the July prices (尖峰 in July)
    ("电度电费 尖峰", Decimal(20_000), 2_172_000),  # × 1.0860
    ("电度电费 高峰", Decimal(180_000), 16_290_000),  # × 0.9050
    ("电度电费 平段", Decimal(80_000), 4_904_000),  # × 0.6130
    ("电度电费 低谷", Decimal(120_000), 3_480_000),  # × 0.2900
    # PF = 400,000 / √(400,000² + 180,000²) = 0.9119 → 0.91: −0.15 % of 293,160.00 yuan
    ("力调电费 (功率因数 0.91, 标准 0.90)", Decimal(293_160), -43_974),
    ("国家重大水利工程建设基金", Decimal(400_000), 78_750),  # × 0.00196875
    ("大中型水库移民后期扶持资金", Decimal(400_000), 248_000),  # × 0.0062
    ("可再生能源电价附加", Decimal(400_000), 760_000),  # × 0.019
]


def test_a_two_part_account_without_a_curve_is_rated_from_its_registers(
    billed: Workspace,
) -> None:
    bill, lines = _bill(billed, "A-10KV")
    assert bill.status == "approved" and not bill.estimated
    assert bill.kwh == Decimal(400_000)
    assert bill.max_demand_kw == Decimal(650)
    assert bill.multiplier == MULTIPLIER
    assert lines == HAND_WORKED
    assert bill.total_minor == 30_358_776  # 293,160.00 − 439.74 + 10,867.50 yuan


def test_a_missing_closing_demand_freeze_bills_the_largest_there_is_as_estimated(
    billed: Workspace,
) -> None:
    bill, lines = _bill(billed, "A-10KV-LATE")
    assert lines == HAND_WORKED
    assert bill.estimated
    assert bill.max_demand_kw == Decimal(650)  # the freeze of 20 July holds the same maximum
    assert bill.total_minor == 30_358_776
    assert bill.status == "approved"


def test_without_a_demand_register_or_curve_the_bill_waits_in_review(billed: Workspace) -> None:
    bill, lines = _bill(billed, "A-10KV-NOMD")
    assert bill.status == "in_review" and bill.total_minor == 0 and lines == []
    assert bill.review_reasons.startswith("rating_error:")
    assert "max_demand_kw" in bill.review_reasons and "MD+" in bill.review_reasons


def test_the_determinants_say_where_demand_came_from(billed: Workspace) -> None:
    frame = _frame(billed)
    assert _q(frame, "A-10KV", "kvarh_total") == Decimal(180_000)
    assert _q(frame, "A-10KV", "max_demand_kw") == Decimal(650)
    assert frame.at["A-10KV", "demand_from_register"]
    assert int(frame.at["A-10KV-NOMD", "max_demand_kw"]) == -1
    assert not frame.at["A-10KV-NOMD", "demand_from_register"]
    # an incomplete curve: energy, kvarh and demand from the registers, estimated
    assert not frame.at["A-GAPPY", "from_curve"] and frame.at["A-GAPPY", "estimated"]
    assert frame.at["A-GAPPY", "demand_from_register"]
    assert _q(frame, "A-GAPPY", "kwh_total") == Decimal(400_000)
    assert _q(frame, "A-GAPPY", "kvarh_total") == Decimal(180_000)
    assert _q(frame, "A-GAPPY", "max_demand_kw") == Decimal(650)
    # a complete curve stays the first choice: 0.25 kWh × 4 × 4000 = 4,000 kW
    assert frame.at["A-CURVE", "from_curve"] and not frame.at["A-CURVE", "estimated"]
    assert not frame.at["A-CURVE", "demand_from_register"]
    assert _q(frame, "A-CURVE", "max_demand_kw") == Decimal(4000)
    assert _q(frame, "A-CURVE", "kvarh_total") == Decimal(31 * 96) * Decimal("0.1") * MULTIPLIER
    # a tariff that prices neither: no register read for them
    assert int(frame.at["A-COM", "max_demand_kw"]) == -1
    assert int(frame.at["A-COM", "kvarh_total"]) == -1


def test_only_two_part_accounts_short_of_a_curve_read_the_demand_registers(
    billed: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[set[str]] = []
    account_demand = frames._account_demand

    def counted(engine: Any, rows: pd.DataFrame, period: Any) -> pd.DataFrame:
        asked.append(set(rows["account_no"]))
        return account_demand(engine, rows, period)

    monkeypatch.setattr(frames, "_account_demand", counted)
    _frame(billed, ["A-CURVE", "A-COM"])
    assert asked == []
    _frame(billed)
    assert asked == [{"A-10KV", "A-10KV-LATE", "A-10KV-NOMD", "A-GAPPY"}]


def test_a_ct_change_bills_each_segment_of_r_and_md_at_its_own_ratio(
    tmp_path: Path,
) -> None:
    """CT 100/5 (× 2000 with the PT) to 15 Jul 10:00, then 200/5 (× 4000). R+ 500.00 on
    1 Jul, 520.00 read at the change, 545.00 on 1 Aug: 20 × 2000 + 25 × 4000 = 140,000 kvarh.
    MD+ 0.2000 by the freeze of 15 Jul: 400 kW at × 2000; the freezes after the change keep
    showing 0.2000 (the meter's running maximum does not restart at a CT change): 800 kW at
    × 4000, which is what the register says and what is billed."""
    from meter2cash.billing.determinants import (
        demand_register_determinants,
        segment_register_determinants,
    )
    from meter2cash.engines.duckdb_engine import DuckDBEngine
    from meter2cash.measurements import MeasurementStore

    store = MeasurementStore(tmp_path, TZ)
    change = datetime(2026, 7, 15, 10, tzinfo=TZ).astimezone(UTC)
    reads = [
        ("R+", local_midnight(date(2026, 7, 1), TZ), 500.0, "daily_frozen"),
        ("R+", change, 520.0, "on_demand"),
        ("R+", local_midnight(date(2026, 8, 1), TZ), 545.0, "daily_frozen"),
        ("MD+", local_midnight(date(2026, 7, 2), TZ), 0.05, "daily_frozen"),
        ("MD+", local_midnight(date(2026, 7, 15), TZ), 0.2, "daily_frozen"),
        ("MD+", local_midnight(date(2026, 7, 16), TZ), 0.2, "daily_frozen"),  # × 4000 too
        ("MD+", local_midnight(date(2026, 8, 1), TZ), 0.2, "daily_frozen"),
    ]
    channels, stamps, values, kinds = zip(*reads, strict=True)
    table = pa.table(
        {
            "meter_no": ["M-CT"] * len(reads),
            "channel": list(channels),
            "ts": pa.array(stamps, UTC_US),
            "value": list(values),
            "read_type": list(kinds),
        }
    )
    assert store.ingest_register_reads(table, source="test").accepted == len(reads)
    segments = pa.table(
        {
            "meter_no": ["M-CT", "M-CT"],
            "account_no": ["A-CT", "A-CT"],
            "period_start": pa.array([date(2026, 7, 1), date(2026, 7, 15)], pa.date32()),
            "period_end": pa.array([date(2026, 7, 15), date(2026, 7, 31)], pa.date32()),
            "segment": pa.array([0, 1], pa.int64()),
            "multiplier": pa.array([2000, 4000], pa.int64()),
            "register_digits": pa.array([6, 6], pa.int64()),
            "open_at": pa.array([None, change], UTC_US),
            "close_at": pa.array([change, None], UTC_US),
            "initial_read": pa.array([None, Decimal(0)], pa.decimal128(18, 4)),
            "final_read": pa.array([Decimal(0), None], pa.decimal128(18, 4)),
        }
    )
    engine = DuckDBEngine(store)
    try:
        table_ = engine.table("segments", segments)
        reads_ = engine.measurements("register_reads")
        kvarh = engine.to_arrow(segment_register_determinants(reads_, table_, ("R+",)))
        demand = engine.to_arrow(demand_register_determinants(reads_, table_))
    finally:
        engine.close()
    assert sorted(r["delta"] for r in kvarh.to_pylist()) == [Decimal(40_000), Decimal(100_000)]
    by_segment = {r["segment"]: r for r in demand.to_pylist()}
    # the first segment's freezes: 2 Jul and 15 Jul (00:00, before the change) × 2000
    assert (by_segment[0]["max_demand_kw"], by_segment[0]["freezes"]) == (Decimal(400), 2)
    assert not by_segment[0]["estimated"]  # it closes at the change: no closing freeze due
    # the second: 16 Jul … 1 Aug × 4000 — the meter's running maximum carries on
    assert (by_segment[1]["max_demand_kw"], by_segment[1]["freezes"]) == (Decimal(800), 2)
    assert by_segment[1]["closing_read"] == Decimal("0.2") and not by_segment[1]["estimated"]


def test_the_bill_document_shows_the_r_and_md_reads_it_used(billed: Workspace) -> None:
    with unit_of_work(billed.records) as session:
        used = bill_document(session, billed.store, _bill(billed, "A-10KV")[0].bill_no)
        curve = bill_document(session, billed.store, _bill(billed, "A-CURVE")[0].bill_no)
    reads = {c.channel: c for c in used.reads}
    reactive, demand = reads["R+"], reads["MD+"]
    assert reactive.opening is not None and reactive.closing is not None
    assert (reactive.opening.value, reactive.closing.value) == (Decimal(500), Decimal(545))
    assert (reactive.kwh, reactive.unit) == (Decimal(180_000), "kvarh")
    assert demand.opening is None and demand.closing is not None
    assert demand.closing.value == Decimal("0.1625")
    assert demand.closing.read_at.date() == date(2026, 8, 1)  # the latest of the equal freezes
    assert (demand.kwh, demand.unit) == (Decimal(650), "kW")
    pdf = PdfReader(io.BytesIO(render_pdf(used, "en")))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert "Reactive total" in text and "kvarh" in text and "650.00 kW" in text
    assert not {"R+", "MD+"} & {c.channel for c in curve.reads}  # the curve gave them
