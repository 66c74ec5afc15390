"""Benchmark: ``interval_determinants`` through Ibis on DuckDB vs the same query by hand.

~1,000 meters × 31 days × 96 intervals (≈3 M rows) are ingested into a temporary store; both
timings include reading the Parquet, keeping current versions, the period / calendar / TOU
joins and the group-by, and fetching the result as Arrow. ``ratio`` = Ibis ÷ hand-written;
the target is ≤ 2. The best of three runs of each is reported [s].
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow as pa

from bench.ingest import TZ, synthetic_intervals
from meter2cash.billing.determinants import interval_determinants
from meter2cash.engines.duckdb_engine import DuckDBEngine
from meter2cash.measurements import MeasurementStore
from meter2cash.measurements.store import connect

RUNS = 3

RAW_SQL = """
WITH current AS (
  SELECT * FROM read_parquet('{glob}', hive_partitioning = true)
  QUALIFY version = max(version) OVER (PARTITION BY meter_no, channel, ts)
), rated AS (
  SELECT p.account_no, p.meter_no, p.period_start, p.period_end, i.channel, i.value,
         s.tou_period
  FROM current i
  JOIN periods p ON i.meter_no = p.meter_no
       AND i.local_date BETWEEN p.period_start AND p.period_end
  LEFT JOIN calendar c ON c.local_date = i.local_date
  LEFT JOIN tou_slots s ON s.tou_schedule = p.tou_schedule
       AND s.month = month(i.local_date)
       AND s.day_type = COALESCE(c.day_type,
             CASE WHEN isodow(i.local_date) >= 6 THEN 'weekend' ELSE 'workday' END)
       AND s.slot = i.slot
  WHERE i.channel IN ('kWh', 'kvarh')
), totals AS (
  SELECT account_no, meter_no, period_start, period_end,
    sum(value) FILTER (WHERE channel = 'kWh') AS kwh_total,
    sum(value) FILTER (WHERE channel = 'kWh' AND tou_period = 'sharp') AS kwh_sharp,
    sum(value) FILTER (WHERE channel = 'kWh' AND tou_period = 'peak') AS kwh_peak,
    sum(value) FILTER (WHERE channel = 'kWh' AND tou_period = 'flat') AS kwh_flat,
    sum(value) FILTER (WHERE channel = 'kWh' AND tou_period = 'valley') AS kwh_valley,
    sum(value) FILTER (WHERE channel = 'kWh' AND tou_period = 'deep_valley') AS kwh_deep_valley,
    sum(value) FILTER (WHERE channel = 'kvarh') AS kvarh_total,
    max(value) FILTER (WHERE channel = 'kWh') AS max_kwh,
    count(value) FILTER (WHERE channel = 'kWh') AS interval_count
  FROM rated GROUP BY ALL
)
SELECT p.account_no, p.meter_no, p.period_start, p.period_end,
  CAST(COALESCE(kwh_total, 0) * multiplier AS DECIMAL(18, 4)) AS kwh_total,
  CAST(COALESCE(kwh_sharp, 0) * multiplier AS DECIMAL(18, 4)) AS kwh_sharp,
  CAST(COALESCE(kwh_peak, 0) * multiplier AS DECIMAL(18, 4)) AS kwh_peak,
  CAST(COALESCE(kwh_flat, 0) * multiplier AS DECIMAL(18, 4)) AS kwh_flat,
  CAST(COALESCE(kwh_valley, 0) * multiplier AS DECIMAL(18, 4)) AS kwh_valley,
  CAST(COALESCE(kwh_deep_valley, 0) * multiplier AS DECIMAL(18, 4)) AS kwh_deep_valley,
  CAST(COALESCE(kvarh_total, 0) * multiplier AS DECIMAL(18, 4)) AS kvarh_total,
  CAST(COALESCE(max_kwh, 0) * 4 * multiplier AS DECIMAL(18, 4)) AS max_demand_kw,
  COALESCE(interval_count, 0) AS interval_count
FROM periods p LEFT JOIN totals t USING (account_no, meter_no, period_start, period_end)
"""


def side_tables(meters: int) -> dict[str, pa.Table]:
    """Periods (one month per meter), a two-schedule TOU slot table and a holiday calendar."""
    names = [f"M{i:06d}" for i in range(meters)]
    periods = pa.table(
        {
            "meter_no": names,
            "account_no": [f"A{i:06d}" for i in range(meters)],
            "period_start": pa.array([date(2024, 1, 1)] * meters),
            "period_end": pa.array([date(2024, 1, 31)] * meters),
            "multiplier": pa.array([1 + (i % 3) * 29 for i in range(meters)], pa.int32()),
            "tou_schedule": ["residential" if i % 2 else "commercial" for i in range(meters)],
        }
    )
    hours = {"deep_valley": range(0, 4), "valley": range(4, 8), "sharp": range(19, 21)}
    period_of_hour = [
        next((p for p, r in hours.items() if h in r), "peak" if 8 <= h < 22 else "flat")
        for h in range(24)
    ]
    keys = [
        (schedule, month, day_type, slot, period_of_hour[slot // 4])
        for schedule in ("residential", "commercial")
        for month in range(1, 13)
        for day_type in ("workday", "weekend", "holiday")
        for slot in range(96)
    ]
    tou_slots = pa.table(
        dict(
            zip(
                ("tou_schedule", "month", "day_type", "slot", "tou_period"),
                map(list, zip(*keys, strict=True)),
                strict=True,
            )
        )
    )
    calendar = pa.table({"local_date": pa.array([date(2024, 1, 1)]), "day_type": ["holiday"]})
    return {"periods": periods, "tou_slots": tou_slots, "calendar": calendar}


def _best(action: Callable[[], pa.Table]) -> tuple[float, pa.Table]:
    timings = []
    result = pa.table({})
    for _ in range(RUNS):
        began = time.perf_counter()
        result = action()
        timings.append(time.perf_counter() - began)
    return min(timings), result


def run(meters: int = 1000, days: int = 31) -> dict[str, float]:
    """Time the Ibis determinants on DuckDB and the hand-written DuckDB SQL [s]."""
    sides = side_tables(meters)
    with tempfile.TemporaryDirectory(prefix="m2c-bench-") as tmp:
        store = MeasurementStore(Path(tmp), TZ)
        store.ingest_intervals(synthetic_intervals(meters, days), source="bench")
        engine = DuckDBEngine(store)
        tables = {name: engine.table(name, data) for name, data in sides.items()}

        def through_ibis() -> pa.Table:
            expr = interval_determinants(
                engine.measurements("intervals"),
                tables["periods"],
                tables["tou_slots"],
                tables["calendar"],
            )
            return engine.to_arrow(expr)

        con = connect()
        for name, data in sides.items():
            con.register(name, data)
        sql = RAW_SQL.format(glob=store.glob("intervals"))
        ibis_s, ibis_result = _best(through_ibis)
        raw_s, raw_result = _best(lambda: con.execute(sql).to_arrow_table())
        engine.close()
    same = ibis_result.sort_by("account_no").to_pylist()
    assert same == raw_result.sort_by("account_no").to_pylist(), "both queries must agree"
    return {"determinants_s": ibis_s, "raw_duckdb_s": raw_s, "ratio": ibis_s / raw_s}
