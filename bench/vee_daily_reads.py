"""Benchmark: the daily-read VEE job (``run_vee``) over one 31-day bill cycle for 100,000 meters.

A fresh store is filled (not timed) with the daily freezes of 100,000 meters on six register
channels (A+, A+1…A+4, A-) stamped 17 Jun … 1 Aug 2026 — the 32 freezes of July's cycle and the
14 days before that the job reads for anchors and usage — 27.6 M reads, with gaps planted: 2 %
of meters miss 1–5 days inside the cycle (all channels), 1 % miss the cycle's last 1–4 days
(the billing case), a third of the gap meters have 15-minute kWh intervals over their gap,
and 0.2 % of A+ registers roll over at 10^6 inside a gap. The records database (SQLite) holds
the meters with 6 register digits; the history file their mean daily energy. ``run()`` → wall
time of ``run_vee`` (scan, validate, estimate, store the versions and the findings), reads
per second, and estimates per method. ``M2C_BENCH_VEE_METERS`` changes the size,
``M2C_BENCH_VEE_CHANNELS`` (comma-separated) the channels.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from sqlalchemy import insert

from meter2cash.assets.models import Meter, MeterInstallation, ServicePoint, TransformerArea, Zone
from meter2cash.core.clock import FixedClock
from meter2cash.core.timezones import local_midnight, zone
from meter2cash.db.migrate import upgrade
from meter2cash.db.session import make_engine, unit_of_work
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee.freezes import CONTEXT_DAYS, run_vee
from meter2cash.vee.history import HISTORY, save_history

METERS = int(os.environ.get("M2C_BENCH_VEE_METERS", "100000"))
CHANNELS = os.environ.get("M2C_BENCH_VEE_CHANNELS", "A+,A+1,A+2,A+3,A+4,A-").split(",")
FIRST, LAST = date(2026, 7, 1), date(2026, 8, 1)
TZ = zone("Asia/Shanghai")


def _days() -> list[date]:
    start = FIRST - timedelta(days=CONTEXT_DAYS)
    return [start + timedelta(days=i) for i in range((LAST - start).days + 1)]


def fill(root: Path, rng: np.random.Generator) -> tuple[MeasurementStore, str, list[str]]:
    """The store and records database of the module docstring under ``root``; returns the
    store, the database URL and the meter numbers."""
    store = MeasurementStore(root / "measurements", TZ)
    days = _days()
    meters = np.array([f"M{i:07d}" for i in range(METERS)])
    n_days, n_ch = len(days), len(CHANNELS)
    daily = rng.gamma(2.0, 4.0, METERS)[:, None] * rng.uniform(0.6, 1.4, (METERS, n_days))
    share = np.linspace(1.0, 0.5, n_ch)
    opening = rng.uniform(1_000, 500_000, METERS)
    rolling = rng.choice(METERS, METERS // 500, replace=False)
    opening[rolling] = 1_000_000 - daily[rolling, : n_days - 10].sum(axis=1)
    registers = np.round(
        (opening[:, None] + np.cumsum(daily, axis=1))[:, None, :] * share[None, :, None], 2
    )
    registers[:, 0, :] %= 1_000_000
    present = np.ones((METERS, n_days), dtype=bool)
    cycle = n_days - 32
    inside = rng.choice(METERS, METERS // 50, replace=False)
    starts = rng.integers(cycle + 1, n_days - 6, len(inside))
    lengths = rng.integers(1, 6, len(inside))
    for m, s, n in zip(inside, starts, lengths, strict=True):
        present[m, s : s + n] = False
    present[rolling, n_days - 12 : n_days - 9] = False
    ending = rng.choice(np.setdiff1d(np.arange(METERS), inside), METERS // 100, replace=False)
    for m, n in zip(ending, rng.integers(1, 5, len(ending)), strict=True):
        present[m, n_days - n :] = False
    for d, day in enumerate(days):
        m = np.flatnonzero(present[:, d])
        store.ingest_register_reads(
            pa.table(
                {
                    "meter_no": np.repeat(meters[m], n_ch),
                    "channel": np.tile(CHANNELS, len(m)),
                    "ts": pa.array(
                        [local_midnight(day, TZ)] * (len(m) * n_ch), pa.timestamp("us", tz="UTC")
                    ),
                    "value": registers[m, :, d].ravel(),
                    "read_type": ["daily_frozen"] * (len(m) * n_ch),
                }
            ),
            source="bench",
        )
    with_curves = np.concatenate([inside[::3], ending[::3], rolling[::3]])
    shape = 1 + 0.5 * np.sin(np.linspace(0, 2 * np.pi, 96))
    for g in np.flatnonzero((~present[with_curves]).any(axis=0)).tolist():
        closed = days[g] - timedelta(days=1)  # the day the missing freeze closes
        m = with_curves[~present[with_curves, g]]
        curve = daily[m, g][:, None] * shape / shape.sum()
        start_us = int(local_midnight(closed, TZ).timestamp()) * 1_000_000
        store.ingest_intervals(
            pa.table(
                {
                    "meter_no": np.repeat(meters[m], 96),
                    "channel": ["kWh"] * (len(m) * 96),
                    "ts": pa.array(
                        np.tile(start_us + np.arange(96) * 900_000_000, len(m)),
                        pa.timestamp("us", tz="UTC"),
                    ),
                    "value": np.round(curve, 4).ravel(),
                }
            ),
            source="bench",
        )
    save_history(
        store,
        pa.table(
            {
                "meter_no": meters,
                "mean_kwh": daily.mean(axis=1),
                "peak_kwh": np.full(METERS, np.nan),
                "history_days": np.full(METERS, 60),
                "through": [FIRST - timedelta(days=CONTEXT_DAYS + 1)] * METERS,
            },
            schema=HISTORY,
        ),
    )
    url = f"sqlite:///{root / 'records.sqlite'}"
    _records(url, meters)
    return store, url, list(meters)


def _records(url: str, meters: np.ndarray) -> None:
    engine = make_engine(url)
    upgrade(engine)
    installed = datetime(2026, 1, 1, tzinfo=UTC)
    with unit_of_work(engine) as session:
        session.execute(insert(Zone), [{"id": 1, "code": "Z1", "name": "供电所"}])
        session.execute(
            insert(TransformerArea),
            [{"id": 1, "code": "T1", "zone_id": 1, "name": "台区", "capacity_kva": 400}],
        )
        session.execute(
            insert(ServicePoint),
            [
                {"id": i + 1, "code": f"SP{m}", "transformer_area_id": 1}
                for i, m in enumerate(meters)
            ],
        )
        session.execute(
            insert(Meter),
            [
                {"id": i + 1, "meter_no": m, "address": f"{i:012d}", "register_digits": 6}
                for i, m in enumerate(meters)
            ],
        )
        session.execute(
            insert(MeterInstallation),
            [
                {"meter_id": i + 1, "service_point_id": i + 1, "installed_at": installed}
                for i in range(len(meters))
            ],
        )
    engine.dispose()


def run() -> dict[str, float]:
    """Figures of one ``run_vee`` over the cycle (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="m2c-bench-") as home:
        store, url, meters = fill(Path(home), np.random.default_rng(11))
        records = make_engine(url)
        clock = FixedClock(datetime(2026, 8, 2, tzinfo=UTC))
        began = time.perf_counter()
        with unit_of_work(records) as session:
            report = run_vee(session, clock, store, meters, FIRST, LAST)
        wall = time.perf_counter() - began
        records.dispose()
    return {
        "meters": float(METERS),
        "reads": float(report.expected_reads),
        "wall_s": wall,
        "reads_per_s": report.expected_reads / wall,
        "missing": float(report.missing),
        "interval_sum": float(report.estimated_interval_sum),
        "profile": float(report.estimated_profile),
        "usage_history": float(report.estimated_usage_history),
        "linear": float(report.estimated_linear),
        "open": float(report.open_exceptions),
    }


if __name__ == "__main__":
    print(run())
