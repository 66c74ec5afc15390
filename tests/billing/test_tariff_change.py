"""A tariff whose new version takes effect inside the billing period (调价): one bill with
the lines of both parts, each part at its own prices — checked to the fen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from meter2cash.billing import run
from meter2cash.billing.cycles import month_period
from meter2cash.billing.models import Bill, BillLine
from meter2cash.billing.pricing import DETERMINANT_COLUMNS, KWH_SCALE
from meter2cash.billing.rate_frame import rate_frame
from meter2cash.billing.tariff_changes import change_days, period_parts, rate_split
from meter2cash.core.settings import Settings
from meter2cash.db.migrate import upgrade
from meter2cash.db.session import make_engine, unit_of_work
from meter2cash.tariffs.loader import load_catalogue, parse_tariff
from meter2cash.workspace import Workspace, open_workspace
from tests.billing.test_mid_period import _at
from tests.factories import create_meter, create_metered_account, create_places, install_meter

JULY = month_period(2026, 7)

RISE = """
code: T-RES-RISE
name: monthly tiers whose prices rise on 15 July
customer_class: residential
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
      - kind: funds
        items: [{name: 可再生能源附加, price_per_kwh: "0.019"}]
  - version: 2
    effective_from: 2026-07-15
    components:
      - {kind: fixed, per: month, amount: "12.50", name: 月固定费}
      - kind: energy_tiered
        period: monthly
        tiers:
          - {up_to_kwh: "230", price: "0.5583"}
          - {up_to_kwh: "400", price: "0.6083"}
          - {up_to_kwh: null, price: "0.8583"}
      - kind: funds
        items: [{name: 可再生能源附加, price_per_kwh: "0.019"}]
"""
PEAK = """
code: T-TOU-PEAK
name: TOU whose peak price rises on 15 July
customer_class: commercial
source: a test tariff
currency: CNY
versions:
  - version: 1
    effective_from: 2026-01-01
    tou_schedule: {periods: {valley: [[0, 8], [22, 24]], peak: [[8, 22]]}}
    components:
      - kind: energy_tou
        prices: {peak: "1.0000", valley: "0.3000"}
  - version: 2
    effective_from: 2026-07-15
    tou_schedule: {periods: {valley: [[0, 8], [22, 24]], peak: [[8, 22]]}}
    components:
      - kind: energy_tou
        prices: {peak: "1.2000", valley: "0.3000"}
"""
TARIFFS = load_catalogue() | {
    doc.code: doc for doc in (parse_tariff(RISE, "test"), parse_tariff(PEAK, "test"))
}

READS = [  # meter, channel, local day (month, day), register [kWh]
    ("M-RISE", "A+", (7, 1), "1000.00"),
    ("M-RISE", "A+", (8, 1), "1310.00"),
    ("M-TOU", "A+", (7, 1), "0"),
    ("M-TOU", "A+", (8, 1), "620.00"),
    ("M-TOU", "A+2", (7, 1), "0"),
    ("M-TOU", "A+2", (8, 1), "400.00"),
    ("M-TOU", "A+4", (7, 1), "0"),
    ("M-TOU", "A+4", (8, 1), "220.00"),
    ("M-PLAIN", "A+", (7, 1), "500.00"),
    ("M-PLAIN", "A+", (8, 1), "700.00"),
    ("M-MOVED", "A+", (7, 20), "0"),
    ("M-MOVED", "A+", (8, 1), "100.00"),
]


def _curve() -> pa.Table:
    """M-CURVE's July: 0.5 kWh every 15 minutes to 14 July, 1 kWh from the 15th."""
    stamps = pd.date_range(_at(1), _at(1, month=8), freq="15min", inclusive="left")
    values = np.where(stamps < pd.Timestamp(_at(15)), 0.5, 1.0)
    return pa.table(
        {
            "meter_no": ["M-CURVE"] * len(stamps),
            "channel": ["kWh"] * len(stamps),
            "ts": pa.array(stamps.to_pydatetime(), pa.timestamp("us", tz="UTC")),
            "value": values,
        }
    )


@pytest.fixture(scope="module")
def billed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    home: Path = tmp_path_factory.mktemp("tariff_change")
    settings = Settings.from_env({"M2C_HOME": str(home)})
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    with open_workspace(settings) as ws:
        with unit_of_work(ws.records) as session:
            place = create_places(session)
            for account, meter, tariff in (
                ("A-RISE", "M-RISE", "T-RES-RISE"),
                ("A-TOU", "M-TOU", "T-TOU-PEAK"),
                ("A-CURVE", "M-CURVE", "T-TOU-PEAK"),
                ("A-PLAIN", "M-PLAIN", "RES-TIER-ZJ"),
                ("A-MOVED", "M-MOVED", "T-RES-RISE"),
            ):
                opened = date(2026, 7, 20) if account == "A-MOVED" else date(2020, 1, 1)
                point = create_metered_account(
                    session, place, account, tariff=tariff, opened_on=opened
                )
                meter_id = create_meter(session, meter, curve=meter == "M-CURVE")
                install_meter(session, meter_id, point, _at(1, month=1))
        meters, channels, stamps, values = zip(
            *((m, c, _at(d, month=mo), float(v)) for m, c, (mo, d), v in READS), strict=True
        )
        reads = pa.table(
            {
                "meter_no": list(meters),
                "channel": list(channels),
                "ts": pa.array(stamps, pa.timestamp("us", tz="UTC")),
                "value": list(values),
            }
        )
        assert ws.store.ingest_register_reads(reads, source="test:tariff-change").accepted
        assert ws.store.ingest_intervals(_curve(), source="test:tariff-change").accepted
        run.bill_month(ws.records, ws.clock, ws.batch, TARIFFS, JULY)
        yield ws


def _bill(ws: Workspace, account_no: str) -> tuple[Bill, list[tuple[str, Decimal, int]]]:
    from meter2cash.assets.models import Account

    with unit_of_work(ws.records) as session:
        bill = session.scalars(
            select(Bill)
            .join(Account, Account.id == Bill.account_id)
            .where(Account.account_no == account_no)
        ).one()
        lines = [
            (ln.description, ln.quantity, ln.amount_minor)
            for ln in session.scalars(
                select(BillLine).where(BillLine.bill_id == bill.id).order_by(BillLine.seq)
            )
        ]
        session.expunge_all()
    return bill, lines


def test_the_parts_of_july_are_found_from_the_versions() -> None:
    doc = TARIFFS["T-RES-RISE"]
    assert change_days(doc, JULY) == (date(2026, 7, 15),)
    assert change_days(doc, month_period(2026, 8)) == ()
    assert [
        (p.period_start.day, p.period_end.day) for p in period_parts(JULY, (date(2026, 7, 15),))
    ] == [
        (1, 14),
        (15, 31),
    ]


def test_a_tier_price_rise_on_the_15th_bills_both_parts_on_one_bill(billed: Workspace) -> None:
    bill, lines = _bill(billed, "A-RISE")
    # 310 kWh by days: 310 × 14/31 = 140 and 170; bounds 230 and 400 × 14/31 and × 17/31;
    # the fixed charge 12.50 × 14/31 = 5.65 and × 17/31 = 6.85 (together the month's 12.50).
    assert lines == [
        ("月固定费 (按 14/31 天) (7/1–7/14)", Decimal(1), 565),
        ("电度电费 第1档 (≤103.871 kWh/月) (7/1–7/14, 电量按天数分摊)", Decimal("103.8710"), 5488),
        (
            "电度电费 第2档 (103.871–180.6452 kWh/月) (7/1–7/14, 电量按天数分摊)",
            Decimal("36.1290"),
            2089,
        ),
        ("可再生能源附加 (7/1–7/14, 电量按天数分摊)", Decimal(140), 266),
        ("月固定费 (按 17/31 天) (7/15–7/31)", Decimal(1), 685),
        ("电度电费 第1档 (≤126.129 kWh/月) (7/15–7/31, 电量按天数分摊)", Decimal("126.1290"), 7042),
        (
            "电度电费 第2档 (126.129–219.3548 kWh/月) (7/15–7/31, 电量按天数分摊)",
            Decimal("43.8710"),
            2669,
        ),
        ("可再生能源附加 (7/15–7/31, 电量按天数分摊)", Decimal(170), 323),
    ]
    assert bill.total_minor == sum(amount for _, _, amount in lines) == 19127
    assert bill.kwh == Decimal(310)  # the month's energy, once


def test_a_peak_price_change_splits_tou_registers_by_days(billed: Workspace) -> None:
    bill, lines = _bill(billed, "A-TOU")
    # peak 400 kWh → 180.6452 + 219.3548; valley 220 kWh → 99.3548 + 120.6452
    assert lines == [
        ("电度电费 高峰 (7/1–7/14, 电量按天数分摊)", Decimal("180.6452"), 18065),
        ("电度电费 低谷 (7/1–7/14, 电量按天数分摊)", Decimal("99.3548"), 2981),
        ("电度电费 高峰 (7/15–7/31, 电量按天数分摊)", Decimal("219.3548"), 26323),  # × 1.20
        ("电度电费 低谷 (7/15–7/31, 电量按天数分摊)", Decimal("120.6452"), 3619),
    ]
    assert bill.total_minor == 50988 and bill.kwh == Decimal(620)
    assert not bill.estimated


def test_a_complete_curve_gives_each_part_its_own_interval_sums(billed: Workspace) -> None:
    bill, lines = _bill(billed, "A-CURVE")
    # 56 peak and 40 valley intervals a day: 14 days at 0.5 kWh, then 17 days at 1 kWh.
    assert lines == [
        ("电度电费 高峰 (7/1–7/14)", Decimal(392), 39200),
        ("电度电费 低谷 (7/1–7/14)", Decimal(280), 8400),
        ("电度电费 高峰 (7/15–7/31)", Decimal(952), 114240),  # 952 × 1.20
        ("电度电费 低谷 (7/15–7/31)", Decimal(680), 20400),
    ]
    assert bill.total_minor == 182240 and bill.kwh == Decimal(2304)


def test_an_account_moved_in_after_the_change_bills_only_the_new_prices(
    billed: Workspace,
) -> None:
    bill, lines = _bill(billed, "A-MOVED")
    # 12 days supplied: 12.50 × 12/30; the bound 230 × 12/31 = 89.0323 kWh at 0.5583.
    assert lines == [
        ("月固定费 (按 12/30 天) (7/20–7/31)", Decimal(1), 500),
        ("电度电费 第1档 (≤89.0323 kWh/月) (7/20–7/31)", Decimal("89.0323"), 4971),
        ("电度电费 第2档 (89.0323–154.8387 kWh/月) (7/20–7/31)", Decimal("10.9677"), 667),
        ("可再生能源附加 (7/20–7/31)", Decimal(100), 190),
    ]
    assert bill.total_minor == 6328


def test_accounts_on_unchanged_tariffs_bill_as_before(billed: Workspace) -> None:
    _, lines = _bill(billed, "A-PLAIN")
    assert lines == [("电度电费 第1档 (≤2760 kWh/年)", Decimal(200), 10760)]  # 200 × 0.538


V1 = RISE.split("  - version: 2")[0]


def _same_prices(day: int) -> str:
    """T-RES-RISE with a version 2 at version 1's prices, effective on July ``day``."""
    body = V1.split("  - version: 1\n")[1]
    return V1 + "  - version: 2\n" + body.replace("2026-01-01", f"2026-07-{day:02d}")


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """``n`` register-billed July rows, some moved in or out."""
    first = np.where(rng.random(n) < 0.3, rng.integers(1, 31, n), 1)
    last = np.where(rng.random(n) < 0.3, rng.integers(first, 32), 31)
    frame = pd.DataFrame({c: np.zeros(n, np.int64) for c in DETERMINANT_COLUMNS})
    frame["kwh_total"] = np.rint(rng.gamma(1.2, 300, n) * KWH_SCALE).astype(np.int64)
    frame["first_day"] = np.datetime64("2026-06-30") + first.astype("timedelta64[D]")
    frame["last_day"] = np.datetime64("2026-06-30") + last.astype("timedelta64[D]")
    frame["days"] = last - first + 1
    frame["cycle_days"] = 31
    frame["supplied_days"] = frame["days"]
    for name in ("kvarh_total", "max_demand_kw", "contracted_kva", "kwh_export_total"):
        frame[name] = -1
    return frame.assign(
        account_id=np.arange(n),
        tariff_code="T-RES-RISE",
        estimated=False,
        from_curve=False,
        carried_export_in=0,
    )


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), day=st.integers(2, 31))
def test_two_parts_at_the_same_prices_bill_what_the_whole_month_does(seed: int, day: int) -> None:
    whole_doc = parse_tariff(V1, "test")
    split_doc = parse_tariff(_same_prices(day), "test")
    frame = _frame(np.random.default_rng(seed), 30)
    totals, lines = rate_frame(frame, {"T-RES-RISE": whole_doc}, JULY)
    no_curves: Any = None  # register-billed rows never read the engine
    split = rate_split(no_curves, pd.DataFrame(), frame, {"T-RES-RISE": split_doc}, JULY, no_curves)
    assert split is not None and list(split.rows) == list(range(30))
    # Each part's lines are rounded once: the parts bill the month to within a fen a line.
    assert (np.abs(split.totals - totals) <= lines.groupby("bill").size().to_numpy()).all()

    # The tier and fund lines bill the month's kWh once (bounds prorated to 0.0001 kWh).
    def kwh(of: pd.DataFrame) -> pd.Series:
        return of[of["unit"] == "kWh"].groupby("bill")["quantity"].sum()

    assert np.allclose(kwh(split.lines), kwh(lines), rtol=0, atol=2e-4)
