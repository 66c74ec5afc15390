"""Two changes of one account's metering on one local day: a meter exchanged at 09:00 and the
new meter's CT changed at 15:00 make three segments, each billed at its own multiplier —
from the curve and from the registers, to the 0.0001 kWh."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest

from meter2cash.billing.cycles import month_period
from meter2cash.billing.determinant_frame import determinant_frame
from meter2cash.billing.pricing import KWH_SCALE
from meter2cash.core.calendar import HolidayCalendar
from meter2cash.engines import BatchEngine
from meter2cash.engines.duckdb_engine import DuckDBEngine
from meter2cash.measurements import MeasurementStore
from meter2cash.tariffs.loader import load_catalogue

TZ = ZoneInfo("Asia/Shanghai")
JULY = month_period(2026, 7)
UTC_US = pa.timestamp("us", tz="UTC")


def _at(day: int, hour: int = 0, month: int = 7) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TZ).astimezone(UTC)


def _installations(account: str, old: str, new: str, day: int, curve: bool) -> list[dict[str, Any]]:
    """``old`` (× 1) from January until ``day`` 09:00 (final read 1350.5), ``new`` at CT 100/5
    (× 20) from 09:00 (initial 0) to 15:00 (final 2.5), then at CT 200/5 (× 40) from 2.5."""
    common = {
        "account_no": account,
        "customer_class": "residential",
        "route_id": 1,
        "tariff_code": "RES-TIER-ZJ",
        "contracted_kva": None,
        "opened_on": date(2020, 1, 1),
        "closed_on": None,
        "records_intervals": curve,
        "register_digits": 6,
    }
    return [
        common
        | {
            "meter_no": old,
            "multiplier": 1,
            "installed_at": _at(1, month=1),
            "removed_at": _at(day, 9),
            "initial_read_kwh": Decimal(0),
            "final_read_kwh": Decimal("1350.5"),
        },
        common
        | {
            "meter_no": new,
            "multiplier": 20,
            "installed_at": _at(day, 9),
            "removed_at": _at(day, 15),
            "initial_read_kwh": Decimal(0),
            "final_read_kwh": Decimal("2.5"),
        },
        common
        | {
            "meter_no": new,
            "multiplier": 40,
            "installed_at": _at(day, 15),
            "removed_at": None,
            "initial_read_kwh": Decimal("2.5"),
            "final_read_kwh": None,
        },
    ]


ACCOUNTS = {  # account: (old meter, new meter, day of both changes, records a curve)
    "A-REG-15": ("M-OLD-15", "M-NEW-15", 15, False),
    "A-REG-31": ("M-OLD-31", "M-NEW-31", 31, False),
    "A-CURVE-15": ("C-OLD-15", "C-NEW-15", 15, True),
    "A-CURVE-31": ("C-OLD-31", "C-NEW-31", 31, True),
    "A-CURVE-01": ("C-OLD-01", "C-NEW-01", 1, True),
}


def _meters() -> pd.DataFrame:
    rows = [
        row | {"account_id": n}
        for n, (account, (old, new, day, curve)) in enumerate(ACCOUNTS.items(), 1)
        for row in _installations(account, old, new, day, curve)
    ]
    return pd.DataFrame(rows)


def _curve(meter: str, start: datetime, end: datetime, kwh: float) -> pa.Table:
    stamps = pd.date_range(start, end, freq="15min", inclusive="left")
    return pa.table(
        {
            "meter_no": [meter] * len(stamps),
            "channel": ["kWh"] * len(stamps),
            "ts": pa.array(stamps.to_pydatetime(), UTC_US),
            "value": [kwh] * len(stamps),
        }
    )


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchEngine]:
    store = MeasurementStore(Path(tmp_path_factory.mktemp("same_day")), TZ)
    reads = {
        "meter_no": ["M-OLD-15", "M-NEW-15", "M-OLD-31", "M-NEW-31", "M-CT2", "M-CT2"],
        "channel": ["A+"] * 4 + ["A+1"] * 2,
        "ts": pa.array(
            [_at(1), _at(1, month=8), _at(1), _at(1, month=8), _at(15), _at(16)], UTC_US
        ),
        "value": [1200.0, 4.75, 1200.0, 4.75, 100.0, 104.0],
    }
    assert store.ingest_register_reads(pa.table(reads), source="test:same-day").accepted == 6
    month_end = _at(1, month=8)
    for old, new, day, curve in ACCOUNTS.values():
        if curve:
            # 1 kWh each quarter-hour on the old meter, 0.1 kWh on the new one
            table = _curve(old, _at(1), _at(day, 9), 1.0)
            assert store.ingest_intervals(table, source="test").accepted == table.num_rows
            table = _curve(new, _at(day, 9), month_end, 0.1)
            assert store.ingest_intervals(table, source="test").accepted == table.num_rows
    batch = DuckDBEngine(store)
    yield batch
    batch.close()


def _frame(engine: BatchEngine) -> pd.DataFrame:
    catalogue = load_catalogue()
    no_holidays = HolidayCalendar(frozenset(), frozenset())
    frame = determinant_frame(
        engine, _meters(), {"RES-TIER-ZJ": catalogue["RES-TIER-ZJ"]}, JULY, no_holidays
    )
    return frame.set_index("account_no")


def _kwh(frame: pd.DataFrame, account: str, column: str = "kwh_total") -> Decimal:
    return Decimal(int(frame.at[account, column])) / KWH_SCALE


def test_registers_bill_three_segments_each_at_its_multiplier(engine: BatchEngine) -> None:
    frame = _frame(engine)
    # M-OLD 1200.0 → final 1350.5 at × 1 = 150.5; M-NEW initial 0 → final 2.5 at × 20 = 50;
    # M-NEW initial 2.5 → freeze of 1 Aug 4.75 at × 40 = 90
    for account in ("A-REG-15", "A-REG-31"):
        assert _kwh(frame, account) == Decimal("290.5000")
        assert not frame.at[account, "from_curve"]
        assert not frame.at[account, "estimated"]
        assert frame.at[account, "multiplier"] == 40


def test_the_curve_bills_three_segments_each_at_its_multiplier(engine: BatchEngine) -> None:
    """On the 31st both segments of the new meter run 31 Jul – 31 Jul; the segment number
    keeps them apart in the engine."""
    frame = _frame(engine)
    # before 09:00 on the change day: 1 kWh × 1 a quarter-hour; 09:00–15:00, 24 quarter-hours
    # of 0.1 kWh × 20 = 48 kWh; from 15:00 to the month's end 0.1 kWh × 40 = 4 kWh each
    expected = {
        "A-CURVE-15": (14 * 96 + 36) * 1 + 48 + (16 * 96 + 36) * 4,  # 1,380 + 48 + 6,288
        "A-CURVE-31": (30 * 96 + 36) * 1 + 48 + 36 * 4,  # 2,916 + 48 + 144
        "A-CURVE-01": 36 * 1 + 48 + (30 * 96 + 36) * 4,  # 36 + 48 + 11,664
    }
    for account, kwh in expected.items():
        assert frame.at[account, "from_curve"], account
        assert _kwh(frame, account) == Decimal(kwh).quantize(Decimal("0.0001")), account
        # the largest quarter-hour: 0.1 kWh × 4 × 40 = 16 kW, over the old meter's 4 kW
        assert _kwh(frame, account, "max_demand_kw") == Decimal(16), account


def test_reads_at_a_change_are_looked_for_inside_the_segment_only(engine: BatchEngine) -> None:
    """M-CT2's CTs were changed at 09:00 and again at 15:00 on 15 Jul. Its middle segment
    has no read of A+1 between the two changes: the rate register is missing there (review
    or a read at the change settles it), not the freeze of 16 Jul less that of 15 Jul
    taken backwards."""
    from meter2cash.billing.determinants import segment_register_determinants

    segments = pa.table(
        {
            "meter_no": ["M-CT2"],
            "account_no": ["A-CT2"],
            "period_start": pa.array([date(2026, 7, 15)], pa.date32()),
            "period_end": pa.array([date(2026, 7, 15)], pa.date32()),
            "segment": pa.array([1], pa.int64()),
            "multiplier": pa.array([20], pa.int64()),
            "register_digits": pa.array([6], pa.int64()),
            "open_at": pa.array([_at(15, 9)], UTC_US),
            "close_at": pa.array([_at(15, 15)], UTC_US),
            "initial_read": pa.array([Decimal(0)], pa.decimal128(18, 4)),
            "final_read": pa.array([Decimal("2.5")], pa.decimal128(18, 4)),
        }
    )
    expr = segment_register_determinants(
        engine.measurements("register_reads"),
        engine.table("one_segment", segments),
        ("A+", "A+1"),
    )
    rows = {r["channel"]: r for r in engine.to_arrow(expr).to_pylist()}
    assert rows["A+"]["delta"] == Decimal(50)  # initial 0 → final 2.5, × 20
    assert rows["A+1"]["delta"] is None
    assert rows["A+1"]["missing_start"] and rows["A+1"]["missing_end"]
