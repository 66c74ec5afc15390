"""Benchmark: one day's DL/T 645 collection over localhost TCP from a simulated utility.

``run()`` → wall time [s] and read success [-] for ~10,000 meters (``UtilitySpec(accounts=
10_000)`` gives ~148 concentrators of ~68 meters) at 3 % loss per attempt, 2 retries.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from meter2cash.core.timezones import zone
from meter2cash.headend.collector import collect
from meter2cash.simulator import UtilitySpec, build_utility
from meter2cash.simulator.wire import start_concentrators

LOSS = 0.03
"""PLC loss per attempt [-]."""


async def _collect() -> dict[str, float]:
    utility = build_utility(UtilitySpec(accounts=10_000, days=7))
    today = utility.spec.end
    fleet = await start_concentrators(utility, today, LOSS, seed=1)
    try:
        began = time.perf_counter()
        result = await collect(
            fleet.endpoints,
            fleet.meters_by_concentrator,
            today - timedelta(days=1),
            tz=zone(utility.spec.timezone),
        )
        wall = time.perf_counter() - began
    finally:
        await fleet.close()
    counts = result.outcome_counts()
    meters = sum(counts.values())
    silent = len(fleet.bank.silent_meters())
    return {
        "meters": float(meters),
        "concentrators": float(len(fleet.endpoints)),
        "wall_s": wall,
        "read_success": result.read_success,
        "read_success_live_meters": (meters - counts.get("unreachable", 0)) / (meters - silent),
        "first_try_share": counts.get("first_try", 0) / meters,
        "unreachable_silent": float(silent),
        "unreachable_other": float(counts.get("unreachable", 0) - silent),
    }


def run() -> dict[str, float]:
    """Figures of one collection day."""
    return asyncio.run(_collect())
