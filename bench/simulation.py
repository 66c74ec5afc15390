"""Simulator speed: build a 10,000-account utility and collect 30 days.

Run from the repository root: ``python -m bench.simulation``. Throughput counts the build
(which generates every day once to accumulate registers) and the collection together.
"""

from __future__ import annotations

import time
from datetime import timedelta

from meter2cash.simulator import UtilitySpec, build_utility

ACCOUNTS = 10_000
DAYS = 30


def run() -> dict[str, float]:
    """meter_days_per_s [meter-days/s] and interval_rows_per_s [rows/s], build included."""
    began = time.perf_counter()
    utility = build_utility(UtilitySpec(accounts=ACCOUNTS, days=DAYS))
    meter_days = interval_rows = 0
    for offset in range(DAYS):
        collection = utility.collect_day(utility.spec.start + timedelta(days=offset))
        meter_days += collection.meters_expected
        interval_rows += collection.intervals.num_rows
    elapsed = time.perf_counter() - began
    return {
        "meter_days_per_s": meter_days / elapsed,
        "interval_rows_per_s": interval_rows / elapsed,
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name}: {value:,.0f}")
