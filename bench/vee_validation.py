"""Benchmark: the VEE rule chain over one day of 15-minute data for 100,000 meters.

A fresh store is filled (not timed) with one local day of intervals for 100,000 meters (9.6 M
intervals; a mix of residential, commercial, industrial and supply meters) and the two daily
freezes around it, with faults planted at known rates: 1 % of meters lose a few intervals,
0.1 % carry a negative interval, 0.1 % a spike, 0.1 % a falling register. ``run()`` → the
wall time of the whole chain (every rule, through DuckDB) and then of estimating the missing
intervals and storing the estimates as versions, intervals per second over both, and the
findings per planted fault. ``M2C_BENCH_VEE_METERS`` changes the size.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from meter2cash.core.timezones import local_midnight, zone
from meter2cash.engines.duckdb_engine import DuckDBEngine
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee.history import HISTORY, fold
from meter2cash.vee.interval_estimates import estimate_intervals
from meter2cash.vee.validation import MULTIPLIER_CHANGES, Inputs, daily_kwh, facts_table, validate

METERS = int(os.environ.get("M2C_BENCH_VEE_METERS", "100000"))
DAY = date(2026, 7, 15)
TZ = zone("Asia/Shanghai")


def _data(
    rng: np.random.Generator,
) -> tuple[pa.Table, pa.Table, pd.DataFrame, pd.DataFrame, dict[str, int]]:
    meters = np.array([f"M{i:07d}" for i in range(METERS)])
    classes = rng.choice(
        ["residential", "commercial", "industrial", "supply"], METERS, p=[0.85, 0.10, 0.04, 0.01]
    )
    base = np.where(classes == "residential", 0.1, np.where(classes == "commercial", 1.0, 5.0))
    shape = 1 + 0.5 * np.sin(np.linspace(0, 2 * np.pi, 96))
    values = base[:, None] * shape[None, :] * rng.uniform(0.7, 1.3, (METERS, 96))
    past = pd.DataFrame(  # two ordinary weeks before the day
        {
            "meter_no": np.repeat(meters, 14),
            "local_date": np.tile([DAY - timedelta(days=d) for d in range(14, 0, -1)], METERS),
            "kwh": np.repeat(values.sum(axis=1), 14),
            "peak": np.repeat(values.max(axis=1), 14),
        }
    )
    planted = {}
    negative = rng.choice(METERS, METERS // 1000, replace=False)
    values[negative, 30] = -0.2
    spikes = rng.choice(METERS, METERS // 1000, replace=False)
    values[spikes, 60] = base[spikes] * 50
    planted["negative_interval"], planted["spike"] = len(negative), len(spikes)
    keep = np.ones((METERS, 96), dtype=bool)
    gappy = rng.choice(METERS, METERS // 100, replace=False)
    keep[gappy, 10:14] = False
    planted["missing_intervals"] = len(gappy)
    start_us = int(local_midnight(DAY, TZ).timestamp()) * 1_000_000
    slot_us = start_us + np.arange(96, dtype=np.int64) * 900_000_000
    m_idx, s_idx = np.nonzero(keep)
    intervals = pa.table(
        {
            "meter_no": pa.array(meters).take(pa.array(m_idx)),
            "channel": pa.array(["kWh"]).take(pa.array(np.zeros(len(m_idx), dtype=np.int64))),
            "ts": pa.array(slot_us[s_idx], pa.timestamp("us", tz="UTC")),
            "value": np.round(values[m_idx, s_idx], 4),
        }
    )
    opening = np.round(rng.uniform(1_000, 50_000, METERS), 2)
    closing = np.round(opening + np.round(values, 4).sum(axis=1), 2)
    falling = rng.choice(METERS, METERS // 1000, replace=False)
    closing[falling] = opening[falling] - 10
    planted["register_decrease"] = len(falling)
    stamps = [local_midnight(DAY, TZ), local_midnight(DAY + timedelta(days=1), TZ)]
    registers = pa.table(
        {
            "meter_no": np.concatenate([meters, meters]),
            "channel": ["A+"] * (2 * METERS),
            "ts": pa.array(
                [stamps[0]] * METERS + [stamps[1]] * METERS, pa.timestamp("us", tz="UTC")
            ),
            "value": np.concatenate([opening, closing]),
            "read_type": ["daily_frozen"] * (2 * METERS),
        }
    )
    facts = pd.DataFrame(
        {
            "meter_no": meters,
            "meter_class": classes,
            "transformer_area": [f"TA{i // 200:05d}" for i in range(METERS)],
            "register_digits": 6,
            "records_intervals": True,
            "multiplier": 1,
            "capacity_kva": np.nan,
        }
    )
    return intervals, registers, facts, past, planted


def run() -> dict[str, float]:
    """Figures of one validation run (see the module docstring)."""
    rng = np.random.default_rng(7)
    intervals, registers, facts, past, planted = _data(rng)
    with tempfile.TemporaryDirectory() as root:
        store = MeasurementStore(Path(root) / "measurements", TZ)
        store.ingest_intervals(intervals, source="bench")
        store.ingest_register_reads(registers, source="bench")
        engine = DuckDBEngine(store)
        history = fold(HISTORY.empty_table(), past)
        began = time.perf_counter()
        inputs = Inputs(
            intervals=engine.measurements("intervals", DAY, DAY),
            registers=engine.measurements("register_reads", DAY, DAY + timedelta(days=1)),
            facts=facts_table(engine, facts),
            history=engine.table("history", history),
            days=engine.table(
                "days",
                pa.table(
                    {
                        "local_date": pa.array([DAY], pa.date32()),
                        "day_start": pa.array(
                            [local_midnight(DAY, TZ)], pa.timestamp("us", tz="UTC")
                        ),
                    }
                ),
            ),
            events=engine.measurements("events", DAY, DAY),
            alarms=engine.table(
                "alarms",
                pa.table(
                    {
                        "meter_no": pa.array([], pa.string()),
                        "kind": pa.array([], pa.string()),
                        "ts": pa.array([], pa.timestamp("us", tz="UTC")),
                        "detail": pa.array([], pa.string()),
                    }
                ),
            ),
            multiplier_changes=engine.table("changes", MULTIPLIER_CHANGES.empty_table()),
            first=DAY,
            last=DAY,
        )
        found = validate(engine, inputs).to_pandas()
        validated = time.perf_counter()
        daily = engine.to_arrow(daily_kwh(inputs)).to_pandas()
        gaps = found[found["rule"] == "missing_intervals"]
        filled = estimate_intervals(engine, store, gaps, daily, DAY, DAY)
        wall = time.perf_counter() - began
        engine.close()
    figures = {
        "meters": float(METERS),
        "intervals": float(intervals.num_rows),
        "validate_s": validated - began,
        "wall_s": wall,
        "intervals_per_s": intervals.num_rows / wall,
        "meter_days_estimated": float(len(filled)),
        "findings": float(len(found)),
    }
    for rule, planted_count in planted.items():
        figures[f"{rule}_found_of_{planted_count}"] = float(
            found.loc[found["rule"] == rule, "meter_no"].nunique()
        )
    return figures
