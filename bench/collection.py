"""Benchmark: daily DL/T 645 collection of ~10,000 simulated meters behind 50 concentrators
over localhost TCP, 3 % PLC loss per attempt, day after day with backfill.

The meters are served from a child process (:class:`~meter2cash.simulator.fleet_process.
FleetProcess`, the other core); the collector reads each day's freezes with 2 retries and
backfills the days it missed from the meters' history, and reads the curves of commercial,
industrial and supply meters and the event sweeps of a seventh of the meters, as the demo
does. ``run()`` → the mean and worst wall time of a day's collection [s], read success on
the day (first try, after retries) and **after backfill** — the share of meter-days of the
first ``M2C_BENCH_COLLECTION_DAYS − 11`` days read by the last day (comm-loss spells last up
to 10 days) — and the share a dead meter can never give.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import date, timedelta

import numpy as np

from meter2cash.core.timezones import zone
from meter2cash.headend.collector import DAILY_FREEZES, collect
from meter2cash.simulator import UtilitySpec, build_utility
from meter2cash.simulator.fleet_process import FleetProcess
from meter2cash.spine import due_today

LOSS = 0.03
"""PLC loss per attempt [-]."""
CONCENTRATORS = 50
DAYS = int(os.environ.get("M2C_BENCH_COLLECTION_DAYS", "16"))
"""Consecutive days collected (≥ 12) [days]."""
SETTLE = 11
"""Days a missed freeze has to be backfilled before it counts as lost [days]."""


def run() -> dict[str, float]:
    """Figures of ``DAYS`` collection days."""
    spec = UtilitySpec(accounts=10_000, start=date(2026, 7, 1), days=DAYS + 1)
    utility = build_utility(spec)
    meters = utility.meters
    curves = set(meters.loc[meters["records_intervals"], "meter_no"])
    tz = zone(spec.timezone)
    missed: dict[str, set[date]] = {}
    read: dict[date, set[str]] = {}
    walls: list[float] = []
    first_try = after_retry = expected = 0
    with FleetProcess(spec, loss=LOSS, concentrators=CONCENTRATORS) as fleet_process:
        for k in range(DAYS):
            day = spec.start + timedelta(days=k)
            fleet = fleet_process.open_day(day + timedelta(days=1))
            earliest = day - timedelta(days=DAILY_FREEZES - 1)
            missing = {m: sorted(d for d in ds if d >= earliest) for m, ds in missed.items() if ds}
            began = time.perf_counter()
            result = asyncio.run(
                collect(
                    fleet.endpoints,
                    fleet.meters_by_concentrator,
                    day,
                    tz=tz,
                    missing=missing,
                    curves_for=curves,
                    sweep_for={no for no in meters["meter_no"] if due_today(no, day)},
                    timeout_s=0.1,
                )
            )
            walls.append(time.perf_counter() - began)
            counts = result.outcome_counts()
            expected += sum(counts.values())
            first_try += counts.get("first_try", 0)
            after_retry += counts.get("after_retry", 0)
            for e in result.exchanges:
                if e.outcome in ("first_try", "after_retry", "backfilled"):
                    read.setdefault(e.day, set()).add(e.meter_no)
                    missed.get(e.meter_no, set()).discard(e.day)
                elif e.day == day:
                    missed.setdefault(e.meter_no, set()).add(day)
    settled = [spec.start + timedelta(days=k) for k in range(DAYS - SETTLE)]
    n = len(meters)
    dead = utility.faults.dead_from
    return {
        "meters": float(n),
        "concentrators": float(CONCENTRATORS),
        "days": float(DAYS),
        "wall_s_per_day": float(np.mean(walls)),
        "wall_s_per_day_max": float(np.max(walls)),
        "read_success_first_try": first_try / expected,
        "read_success_after_retries": (first_try + after_retry) / expected,
        "read_success_after_backfill": sum(len(read.get(d, ())) for d in settled)
        / (n * len(settled)),
        "dead_meter_days_share": sum(int((dead <= (d - spec.start).days).sum()) for d in settled)
        / (n * len(settled)),
    }
