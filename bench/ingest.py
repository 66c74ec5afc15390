"""Benchmark: durable bulk ingest into a fresh measurement store, then a full replay.

``run()`` → ``{"ingest_reads_per_s", "reingest_reads_per_s", ...}`` [rows/s], on
~2,000,000 interval rows plus daily-frozen register reads (one call per kind).
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from meter2cash.measurements import MeasurementStore

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2024, 1, 1, tzinfo=TZ).astimezone(UTC)
QUARTER_HOUR_US = 15 * 60 * 1_000_000
DAY_US = 96 * QUARTER_HOUR_US
REGISTERS = ("A+", "A+1", "A+2", "A+3", "A+4", "A-")


def _meter_names(meters: int) -> pa.Array:
    return pa.array([f"M{i:06d}" for i in range(meters)], pa.string())


def _repeat(names: pa.Array, counts: int) -> pa.Array:
    """Each name repeated ``counts`` times, without a Python loop over rows."""
    indices = pa.array(np.repeat(np.arange(len(names), dtype=np.int32), counts))
    return pa.DictionaryArray.from_arrays(indices, names).cast(pa.string())


def synthetic_intervals(meters: int, days: int, seed: int = 1) -> pa.Table:
    """``meters`` × ``days`` × 96 kWh intervals [kWh per 15 min] from Shanghai midnight."""
    rng = np.random.default_rng(seed)
    per_meter = days * 96
    offsets = np.tile(np.arange(per_meter, dtype=np.int64) * QUARTER_HOUR_US, meters)
    start_us = int(START.timestamp() * 1_000_000)
    shape = np.tile(0.4 + 0.6 * np.sin(np.linspace(0, np.pi, 96)) ** 2, days * meters)
    scale = np.repeat(rng.uniform(0.2, 5.0, meters), per_meter)
    values = np.round(shape * scale * rng.uniform(0.8, 1.2, meters * per_meter), 3)
    return pa.table(
        {
            "meter_no": _repeat(_meter_names(meters), per_meter),
            "channel": pa.array(np.full(meters * per_meter, "kWh", dtype=object), pa.string()),
            "ts": pa.array(offsets + start_us).cast(pa.timestamp("us", tz="UTC")),
            "value": values,
        }
    )


def synthetic_register_reads(meters: int, days: int, seed: int = 2) -> pa.Table:
    """Daily-frozen reads [kWh] of every register channel at each local midnight."""
    rng = np.random.default_rng(seed)
    per_meter = (days + 1) * len(REGISTERS)
    day_index = np.tile(np.repeat(np.arange(days + 1, dtype=np.int64), len(REGISTERS)), meters)
    start_us = int(START.timestamp() * 1_000_000)
    growth = np.cumsum(rng.uniform(5, 50, (meters, days + 1)), axis=1)
    values = np.repeat(growth, len(REGISTERS), axis=1).ravel()
    channels = pa.array(np.tile(np.array(REGISTERS, dtype=object), meters * (days + 1)))
    return pa.table(
        {
            "meter_no": _repeat(_meter_names(meters), per_meter),
            "channel": channels.cast(pa.string()),
            "ts": pa.array(day_index * DAY_US + start_us).cast(pa.timestamp("us", tz="UTC")),
            "value": np.round(values, 2),
        }
    )


def run(meters: int = 700, days: int = 30) -> dict[str, float]:
    """Ingest ~2 M intervals + register reads into a fresh store, then replay them all."""
    intervals = synthetic_intervals(meters, days)
    reads = synthetic_register_reads(meters, days)
    rows = intervals.num_rows + reads.num_rows
    with tempfile.TemporaryDirectory(prefix="m2c-bench-") as tmp:
        store = MeasurementStore(Path(tmp), TZ)
        began = time.perf_counter()
        first_intervals = store.ingest_intervals(intervals, source="bench")
        first_reads = store.ingest_register_reads(reads, source="bench")
        first = time.perf_counter() - began
        assert first_intervals.accepted + first_reads.accepted == rows
        began = time.perf_counter()
        again = store.ingest_intervals(intervals, source="bench").duplicates
        again += store.ingest_register_reads(reads, source="bench").duplicates
        replay = time.perf_counter() - began
        assert again == rows
    return {
        "ingest_rows": float(rows),
        "ingest_reads_per_s": rows / first,
        "reingest_reads_per_s": rows / replay,
    }
