"""Register determinants across a register rollover, on DuckDB and Spark."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from meter2cash.billing.determinants import register_determinants
from meter2cash.engines import BatchEngine
from meter2cash.engines.duckdb_engine import DuckDBEngine
from meter2cash.measurements import MeasurementStore
from tests.conftest import require_spark

TZ = ZoneInfo("Asia/Shanghai")
START, END = date(2024, 7, 1), date(2024, 7, 31)
READS = {  # meter: (digits, multiplier, read of Jul 1, read of Aug 1) [kWh, meter value]
    "M-WRAP": (6, 1, 999_950.00, 30.00),  # wrapped past 999,999: 80 kWh
    "M-WRAP-CT": (4, 40, 9_990.50, 12.25),  # 4 digits, CT 200/5: 21.75 × 40 = 870 kWh
    "M-DROP": (6, 1, 500_000.00, 100.00),  # wrapped would be 500,100 kWh: not plausible
    "M-PLAIN": (6, 1, 1_200.00, 1_550.00),
}


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ).astimezone(UTC)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MeasurementStore:
    store = MeasurementStore(Path(tmp_path_factory.mktemp("rollover")), TZ)
    rows = [
        (meter, ts, value)
        for meter, (_, _, first, last) in READS.items()
        for ts, value in ((_midnight(START), first), (_midnight(date(2024, 8, 1)), last))
    ]
    meters, stamps, values = zip(*rows, strict=True)
    table = pa.table(
        {
            "meter_no": list(meters),
            "channel": ["A+"] * len(rows),
            "ts": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "value": list(values),
        }
    )
    assert store.ingest_register_reads(table, source="test:rollover").accepted
    return store


@pytest.fixture
def duck(store: MeasurementStore) -> Iterator[BatchEngine]:
    engine = DuckDBEngine(store)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def spark(store: MeasurementStore) -> Iterator[BatchEngine]:
    require_spark()
    from meter2cash.engines.spark_engine import SparkEngine, spark_session

    session = spark_session("local[2]")
    engine = SparkEngine(store, session)
    yield engine
    engine.close()
    session.stop()


def _deltas(engine: BatchEngine, *, with_digits: bool) -> dict[str, Decimal | None]:
    columns: dict[str, Any] = {
        "meter_no": list(READS),
        "account_no": [f"A-{meter}" for meter in READS],
        "period_start": [START] * len(READS),
        "period_end": [END] * len(READS),
        "multiplier": pa.array([m for _, m, _, _ in READS.values()], pa.int64()),
    }
    if with_digits:
        columns["register_digits"] = pa.array([d for d, _, _, _ in READS.values()], pa.int64())
    periods = engine.table("rollover_periods", pa.table(columns))
    expr = register_determinants(engine.measurements("register_reads"), periods, ("A+",))
    return {row["meter_no"]: row["delta"] for row in engine.to_arrow(expr).to_pylist()}


def test_a_wrapped_register_bills_what_it_advanced(duck: BatchEngine) -> None:
    assert _deltas(duck, with_digits=True) == {
        "M-WRAP": Decimal("80.0000"),
        "M-WRAP-CT": Decimal("870.0000"),
        "M-DROP": Decimal("-499900.0000"),  # left negative: review stops it
        "M-PLAIN": Decimal("350.0000"),
    }


def test_without_register_digits_a_wrap_stays_negative(duck: BatchEngine) -> None:
    deltas = _deltas(duck, with_digits=False)
    assert deltas["M-WRAP"] == Decimal("-999920.0000")
    assert deltas["M-PLAIN"] == Decimal("350.0000")


@pytest.mark.spark
def test_rollover_agrees_on_spark(duck: BatchEngine, spark: BatchEngine) -> None:
    for with_digits in (True, False):
        assert _deltas(spark, with_digits=with_digits) == _deltas(duck, with_digits=with_digits)
