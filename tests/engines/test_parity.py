"""One definition, two engines: billing determinants agree to the digit on DuckDB and Spark."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest

from meter2cash.billing.determinants import (
    TOU_PERIODS,
    demand_register_determinants,
    interval_determinants,
    register_determinants,
)
from meter2cash.engines import BatchEngine
from meter2cash.engines.duckdb_engine import DuckDBEngine
from meter2cash.measurements import MeasurementStore

TZ = ZoneInfo("Asia/Shanghai")
METERS = [f"M{i:04d}" for i in range(6)]
FIRST_DAY = date(2024, 1, 25)
DAYS = 14
UTC_US = pa.timestamp("us", tz="UTC")


def _local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ).astimezone(UTC)


def _build_store(root: Path) -> MeasurementStore:
    """Simulated-looking data: daily load shapes, one gap, a VEE fix, missing register reads."""
    rng = np.random.default_rng(7)
    store = MeasurementStore(root, TZ)
    start = _local_midnight(FIRST_DAY)
    n_slots = DAYS * 96
    ts = np.array([start + timedelta(minutes=15 * i) for i in range(n_slots)], dtype=object)
    shape = 0.4 + 0.6 * np.sin(np.linspace(0, np.pi, 96)) ** 2
    rows: dict[str, list[Any]] = {"meter_no": [], "channel": [], "ts": [], "value": []}
    for m, meter in enumerate(METERS):
        kwh = np.round(np.tile(shape, DAYS) * (1 + m) * rng.uniform(0.8, 1.2, n_slots), 3)
        keep = np.ones(n_slots, bool)
        if m == 1:
            keep[200:212] = False  # a three-hour communication gap
        for channel, values in (("kWh", kwh), ("kvarh", np.round(kwh * 0.3, 3))):
            rows["meter_no"] += [meter] * int(keep.sum())
            rows["channel"] += [channel] * int(keep.sum())
            rows["ts"] += list(ts[keep])
            rows["value"] += list(values[keep])
    table = pa.table({**rows, "ts": pa.array(rows["ts"], UTC_US)})
    assert store.ingest_intervals(table, source="test:sim").accepted == table.num_rows
    fix = pa.table(
        {
            "meter_no": [METERS[0]],
            "channel": ["kWh"],
            "ts": pa.array([ts[40]], UTC_US),
            "value": [99.5],
        }
    )
    assert store.write_versions("intervals", fix, quality="edited", source="vee:test").accepted

    days = [FIRST_DAY + timedelta(days=d) for d in range(DAYS + 1)]
    reads: dict[str, list[Any]] = {"meter_no": [], "channel": [], "ts": [], "value": []}
    for m, meter in enumerate(METERS):
        total = np.cumsum(rng.uniform(5, 50, len(days))) + 1000 * m
        for d, day in enumerate(days):
            if m == 2 and d == 7:
                continue  # a frozen read the meter never sent
            for channel, value in (
                ("A+", total[d]),
                ("A+1", total[d] * 0.1),
                ("A+2", total[d] * 0.3),
                ("A+3", total[d] * 0.4),
                ("A+4", total[d] * 0.2),
                ("A-", 0.0),
            ):
                reads["meter_no"].append(meter)
                reads["channel"].append(channel)
                reads["ts"].append(_local_midnight(day))
                reads["value"].append(round(float(value), 2))
    read_table = pa.table({**reads, "ts": pa.array(reads["ts"], UTC_US)})
    assert store.ingest_register_reads(read_table, source="test:sim").accepted
    demand = _demand_reads(days)
    assert store.ingest_register_reads(demand, source="test:sim").accepted
    estimate = demand.filter(
        pa.compute.and_(
            pa.compute.equal(demand["meter_no"], METERS[5]),
            pa.compute.equal(demand["ts"], pa.scalar(_local_midnight(date(2024, 2, 3)), UTC_US)),
        )
    )
    assert store.write_versions(
        "register_reads", estimate, quality="estimated", source="vee:test"
    ).accepted
    return store


def _demand_reads(days: list[date]) -> pa.Table:
    """MD+ freezes [kW]: each the running maximum of the days it closes since the monthly
    settlement (00:00 on the 1st), so the freeze of 2 Feb holds 1 Feb's own maximum; meter 3
    misses the freeze of 5 Feb (meter 5's of 3 Feb is made a VEE estimate by the caller)."""
    rng = np.random.default_rng(11)
    rows: dict[str, list[Any]] = {"meter_no": [], "channel": [], "ts": [], "value": []}
    for m, meter in enumerate(METERS):
        running = 0.0
        for day in days:
            closed = day - timedelta(days=1)
            peak = round(float(rng.uniform(0.5, 2.0) * (1 + m)), 4)
            running = peak if closed.day == 1 else max(running, peak)
            if m == 3 and day == date(2024, 2, 5):
                continue
            rows["meter_no"].append(meter)
            rows["channel"].append("MD+")
            rows["ts"].append(_local_midnight(day))
            rows["value"].append(running)
    return pa.table({**rows, "ts": pa.array(rows["ts"], UTC_US)})


def _side_tables(engine: BatchEngine) -> tuple[Any, Any, Any]:
    periods = pa.table(
        {
            "meter_no": METERS,
            "account_no": [f"A{i}" for i in range(len(METERS))],
            "period_start": pa.array([FIRST_DAY + timedelta(days=i % 3) for i in range(6)]),
            "period_end": pa.array([date(2024, 2, 1) + timedelta(days=i % 4) for i in range(6)]),
            "multiplier": pa.array([1, 1, 30, 80, 1, 200], pa.int32()),
            "tou_schedule": ["residential", "commercial"] * 3,
        }
    )
    slots: dict[str, list[Any]] = {k: [] for k in ("tou_schedule", "month", "day_type", "slot")}
    slots["tou_period"] = []
    for schedule in ("residential", "commercial"):
        for month in range(1, 13):
            for day_type in ("workday", "weekend", "holiday"):
                for slot in range(96):
                    hour = slot // 4
                    period = (
                        "deep_valley"
                        if hour < 4
                        else "valley"
                        if hour < 8
                        else "sharp"
                        if (hour in (19, 20) and day_type == "workday")
                        else "peak"
                        if 8 <= hour < 22
                        else "flat"
                    )
                    if schedule == "residential" and period == "deep_valley":
                        period = "valley"
                    for key, value in zip(
                        ("tou_schedule", "month", "day_type", "slot", "tou_period"),
                        (schedule, month, day_type, slot, period),
                        strict=True,
                    ):
                        slots[key].append(value)
    calendar = pa.table(
        {
            "local_date": pa.array([date(2024, 2, 1), date(2024, 1, 27)]),
            "day_type": ["holiday", "workday"],
        }
    )
    return (
        engine.table("periods", periods),
        engine.table("tou_slots", pa.table(slots)),
        engine.table("calendar", calendar),
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MeasurementStore:
    return _build_store(tmp_path_factory.mktemp("parity"))


@pytest.fixture
def duck(store: MeasurementStore) -> Iterator[BatchEngine]:
    engine = DuckDBEngine(store)
    yield engine
    engine.close()


@pytest.fixture
def spark(store: MeasurementStore, spark_session: Any) -> Iterator[BatchEngine]:
    from meter2cash.engines.spark_engine import SparkEngine

    engine = SparkEngine(store, spark_session)
    yield engine
    engine.close()


def _intervals(engine: BatchEngine) -> list[dict[str, Any]]:
    periods, slots, calendar = _side_tables(engine)
    expr = interval_determinants(engine.measurements("intervals"), periods, slots, calendar)
    return sorted(engine.to_arrow(expr).to_pylist(), key=lambda r: r["account_no"])


def _registers(engine: BatchEngine) -> list[dict[str, Any]]:
    periods, _, _ = _side_tables(engine)
    expr = register_determinants(engine.measurements("register_reads"), periods)
    return sorted(engine.to_arrow(expr).to_pylist(), key=lambda r: (r["account_no"], r["channel"]))


def _demand_segments(engine: BatchEngine) -> Any:
    """Meter 4's days 25 Jan – 8 Feb split by a CT change at 30 Jan 10:00 (× 20, then × 60),
    and meter 5's 26 Jan – 2 Feb whole."""
    change = datetime(2024, 1, 30, 10, tzinfo=TZ).astimezone(UTC)
    return engine.table(
        "demand_segments",
        pa.table(
            {
                "meter_no": [METERS[4], METERS[4], METERS[5]],
                "account_no": ["A4", "A4", "A5"],
                "period_start": pa.array([date(2024, 1, 25), date(2024, 1, 30), date(2024, 1, 26)]),
                "period_end": pa.array([date(2024, 1, 30), date(2024, 2, 7), date(2024, 2, 2)]),
                "segment": pa.array([0, 1, 2], pa.int64()),
                "multiplier": pa.array([20, 60, 200], pa.int64()),
                "open_at": pa.array([None, change, None], UTC_US),
                "close_at": pa.array([change, None, None], UTC_US),
            }
        ),
    )


def _demand(engine: BatchEngine) -> list[dict[str, Any]]:
    periods, _, _ = _side_tables(engine)
    reads = engine.measurements("register_reads")
    rows = [
        *engine.to_arrow(demand_register_determinants(reads, periods)).to_pylist(),
        *engine.to_arrow(demand_register_determinants(reads, _demand_segments(engine))).to_pylist(),
    ]
    return sorted(rows, key=lambda r: (r["account_no"], r.get("segment", -1)))


def test_interval_determinants_on_duckdb_add_up(duck: BatchEngine, store: MeasurementStore) -> None:
    rows = _intervals(duck)
    assert len(rows) == len(METERS)
    for row in rows:
        parts = sum(row[f"kwh_{p}"] for p in TOU_PERIODS)
        assert parts == row["kwh_total"], "every slot has a TOU period in this schedule"
        assert isinstance(row["kwh_total"], Decimal)
    a1 = next(r for r in rows if r["account_no"] == "A1")
    days = (a1["period_end"] - a1["period_start"]).days + 1
    assert a1["interval_count"] == days * 96 - 12, "the three-hour gap shows"
    a0 = next(r for r in rows if r["account_no"] == "A0")
    assert a0["max_demand_kw"] == Decimal("99.5") * 4, "the edited version is the current one"
    scanned = store.scan(
        "intervals",
        start=datetime(2024, 1, 25, tzinfo=TZ),
        end=datetime(2024, 2, 2, tzinfo=TZ),
        meters=[METERS[0]],
    )
    kwh = scanned.filter(pa.compute.equal(scanned["channel"], "kWh"))
    assert a0["kwh_total"] == sum(kwh["value"].to_pylist())


def test_register_determinants_flag_missing_reads(duck: BatchEngine) -> None:
    rows = _registers(duck)
    assert len(rows) == len(METERS) * 6
    a2 = [r for r in rows if r["account_no"] == "A2" and r["channel"] == "A+"]
    # A2's period starts Jan 27 and ends Feb 2 → the end read is Feb 3 = day 9; its start
    # read (day 2) exists. The read of day 7 (Feb 1) is not at either boundary.
    assert a2[0]["missing_start"] is False and a2[0]["missing_end"] is False
    a1 = next(r for r in rows if r["account_no"] == "A1" and r["channel"] == "A+")
    assert a1["delta"] == a1["end_read"] - a1["start_read"]
    a3 = next(r for r in rows if r["account_no"] == "A3" and r["channel"] == "A+")
    assert a3["delta"] == (a3["end_read"] - a3["start_read"]) * 80


def test_missing_register_read_is_flagged(duck: BatchEngine) -> None:
    periods = duck.table(
        "short_periods",
        pa.table(
            {
                "meter_no": [METERS[2]],
                "account_no": ["A2"],
                "period_start": [date(2024, 1, 26)],
                "period_end": [date(2024, 1, 31)],
                "multiplier": pa.array([30], pa.int32()),
            }
        ),
    )
    rows = duck.to_arrow(
        register_determinants(duck.measurements("register_reads"), periods, ("A+",))
    ).to_pylist()
    assert rows[0]["missing_end"] is True and rows[0]["delta"] is None
    assert rows[0]["missing_start"] is False


@pytest.mark.spark
def test_interval_determinants_parity(duck: BatchEngine, spark: BatchEngine) -> None:
    assert _intervals(spark) == _intervals(duck)


@pytest.mark.spark
def test_register_determinants_parity(duck: BatchEngine, spark: BatchEngine) -> None:
    assert _registers(spark) == _registers(duck)


def test_demand_register_takes_the_largest_freeze_of_the_period(
    duck: BatchEngine, store: MeasurementStore
) -> None:
    rows = _demand(duck)
    freezes = store.scan("register_reads", meters=METERS).to_pandas()
    freezes = freezes[freezes["channel"] == "MD+"]
    local = freezes["ts"].dt.tz_convert(TZ).dt.date
    periods = [r for r in rows if "segment" not in r]
    assert len(periods) == len(METERS)
    for row in periods:
        meter = METERS[int(row["account_no"][1:])]
        window = (local > row["period_start"]) & (local <= row["period_end"] + timedelta(days=1))
        mine = freezes[(freezes["meter_no"] == meter) & window]
        assert row["max_read"] == max(mine["value"]) and row["freezes"] == len(mine)
        assert row["max_demand_kw"] == row["max_read"] * [1, 1, 30, 80, 1, 200][int(meter[1:])]
    # meter 3's period ends 4 Feb: its closing freeze of 5 Feb is missing
    a3 = next(r for r in periods if r["account_no"] == "A3")
    assert a3["missing_closing"] and a3["estimated"] and a3["closing_read"] is None
    # meter 5's closing freeze (3 Feb) is an estimate, in the period and in the segment
    for a5 in (r for r in rows if r["account_no"] == "A5"):
        assert a5["estimated"] and not a5["missing_closing"]
    assert not any(r["estimated"] for r in periods if r["account_no"] in ("A0", "A1", "A2"))
    a4 = [r for r in rows if r["account_no"] == "A4" and "segment" in r]
    # the segment closed at the change takes 26 … 30 Jan (00:00 before 10:00), no closing due
    assert (a4[0]["freezes"], a4[0]["missing_closing"]) == (5, False)
    assert a4[1]["freezes"] == 9 and a4[1]["closing_read"] is not None  # 31 Jan … 8 Feb


@pytest.mark.spark
def test_demand_register_parity(duck: BatchEngine, spark: BatchEngine) -> None:
    assert _demand(spark) == _demand(duck)
