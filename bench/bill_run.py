"""Bill run: rate, review, persist and issue one month for 100,000 simulated accounts.

Setup (simulate, load, collect 32 days) is not timed; the figure is bills per second for
``bill_month`` + ``issue_approved`` with bills, lines, entries and postings persisted to
the embedded SQLite records database.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import date
from pathlib import Path

ACCOUNTS = int(os.environ.get("M2C_BENCH_ACCOUNTS", "100000"))


def run() -> dict[str, float]:
    from meter2cash import spine
    from meter2cash.core.settings import Settings
    from meter2cash.db.migrate import upgrade_database
    from meter2cash.simulator import UtilitySpec
    from meter2cash.workspace import open_workspace

    with tempfile.TemporaryDirectory(prefix="m2c-bench-") as home:
        settings = Settings.from_env({"M2C_HOME": home})
        Path(home).mkdir(exist_ok=True)
        upgrade_database(settings.database_url)
        with open_workspace(settings) as ws:
            spec = UtilitySpec(seed=7, accounts=ACCOUNTS, start=date(2026, 6, 30), days=32)
            sim = spine.simulate(ws, spec)
            spine.collect(ws, sim, spine.simulated_days(ws), lambda: None)
            (period,) = spine.billing_months(ws)
            began = time.perf_counter()
            report = spine.bill(ws, period)
            issued = spine.issue(ws)
            elapsed = time.perf_counter() - began
    return {
        "accounts": float(ACCOUNTS),
        "bills": float(report.billed),
        "bills_issued": float(issued.issued),
        "seconds": elapsed,
        "bills_per_s": report.billed / elapsed,
    }


if __name__ == "__main__":
    print(run())
