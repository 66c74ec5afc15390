"""Bill run: determinants, pricing, review, persistence and issue of one month.

Setup (timed apart): the simulator's assets for ``M2C_BENCH_ACCOUNTS`` accounts (default
1,000,000), every meter billed from its registers — two daily-frozen reads per channel
(A+, peak A+2 and valley A+4) bracketing July 2026, ingested straight into the measurement
store. Registers carry no maximum demand, so the simulator's two-part industrial accounts
are billed on COM-TOU here (two-part needs the 15-minute curve). Timed
stages: determinants (the engine query), pricing (:func:`price_cycle` per tariff plus the
scalar fallback), a raw DuckDB aggregation of the same register deltas over the same
Parquet (for comparison), review, persisting bills and lines in batches, and issue with
postings. ``M2C_DATABASE_URL`` selects the records database (embedded SQLite by default).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa

ACCOUNTS = int(os.environ.get("M2C_BENCH_ACCOUNTS", "1000000"))
CHANNEL_SHARES = {"A+2": 0.45, "A+4": 0.55}
"""Peak and valley registers: every catalogue TOU tariff prices both."""
T = TypeVar("T")


def _timed(stages: dict[str, float], name: str, fn: Callable[[], T]) -> T:
    began = time.perf_counter()
    result = fn()
    stages[name] = time.perf_counter() - began
    return result


def _register_reads(meter_no: np.ndarray, first: datetime, last: datetime) -> pa.Table:
    """Two daily-frozen reads per meter and channel, at ``first`` and ``last`` [kWh]."""
    rng = np.random.default_rng(7)
    n = len(meter_no)
    start = np.round(rng.uniform(0, 50_000, n), 2)
    used = np.round(rng.gamma(1.5, 150, n), 2)
    channels: list[tuple[str, np.ndarray, np.ndarray]] = [("A+", start, start + used)]
    peak_start = np.round(start * CHANNEL_SHARES["A+2"], 2)
    peak_used = np.round(used * CHANNEL_SHARES["A+2"], 2)
    channels.append(("A+2", peak_start, peak_start + peak_used))
    channels.append(("A+4", start - peak_start, start - peak_start + used - peak_used))
    meters = np.concatenate([meter_no] * 2 * len(channels))
    names = np.concatenate([np.full(2 * n, c) for c, _, _ in channels])
    values = np.concatenate([v for _, s, e in channels for v in (s, e)])
    stamps = np.concatenate([np.full(n, t) for _ in channels for t in (first, last)])
    return pa.table(
        {
            "meter_no": pa.array(meters, pa.string()),
            "channel": pa.array(names, pa.string()),
            "ts": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "value": pa.array(values, pa.float64()),
        }
    )


def _raw_duckdb(root: Path) -> int:
    """Register deltas of every meter and channel over the store's Parquet, in plain SQL."""
    import duckdb

    query = f"""
        SELECT meter_no, channel, max(value) - min(value) AS delta
        FROM read_parquet('{root}/register_reads/**/*.parquet', hive_partitioning = true)
        WHERE read_type = 'daily_frozen'
        GROUP BY meter_no, channel
    """
    return len(duckdb.sql(query).fetchnumpy()["delta"])


def run() -> dict[str, float]:
    from sqlalchemy import update

    from meter2cash import spine
    from meter2cash.assets.models import Account, Meter
    from meter2cash.billing import repository
    from meter2cash.billing.cycles import ensure_cycles, month_period
    from meter2cash.billing.issue import issue_approved
    from meter2cash.billing.review import DEFAULT_LIMITS
    from meter2cash.billing.run import (
        _review,
        bill_month,
        determinant_frame,
        rate_frame,
    )
    from meter2cash.core.settings import Settings
    from meter2cash.core.timezones import local_midnight, zone
    from meter2cash.db.migrate import upgrade_database
    from meter2cash.db.session import unit_of_work
    from meter2cash.holidays.repository import utility_calendar
    from meter2cash.simulator import UtilitySpec
    from meter2cash.tariffs.loader import load_catalogue
    from meter2cash.workspace import open_workspace

    stages: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="m2c-bench-") as home:
        env = {"M2C_HOME": home}
        if url := os.environ.get("M2C_DATABASE_URL"):
            env["M2C_DATABASE_URL"] = url
        settings = Settings.from_env(env)
        Path(home).mkdir(exist_ok=True)
        upgrade_database(settings.database_url)
        with open_workspace(settings) as ws:
            spec = UtilitySpec(seed=7, accounts=ACCOUNTS, start=date(2026, 6, 30), days=33)
            sim = _timed(stages, "setup_assets", lambda: spine.simulate(ws, spec))
            with unit_of_work(ws.records) as session:
                session.execute(update(Meter).values(records_intervals=False))
                session.execute(
                    update(Account)
                    .where(Account.tariff_code == "IND-TWO-PART")
                    .values(tariff_code="COM-TOU")
                )
            tz = zone(spec.timezone)
            july = month_period(2026, 7)
            reads = _register_reads(
                sim.meters["meter_no"].to_numpy(),
                local_midnight(july.period_start, tz),
                local_midnight(july.period_end + timedelta(days=1), tz),
            )
            _timed(
                stages,
                "setup_reads",
                lambda: ws.store.ingest_register_reads(reads, source="bench"),
            )
            catalogue = load_catalogue()
            with unit_of_work(ws.records) as session:
                ensure_cycles(session, july)
                meters = repository.billable_meters(session, july.period_start, july.period_end)
                calendar = utility_calendar(session)
            frame = _timed(
                stages,
                "determinants",
                lambda: determinant_frame(ws.batch, meters, catalogue, july, calendar),
            )
            priced_frame = frame.assign(kwh_before=0, days=july.days)
            totals, _ = _timed(stages, "pricing", lambda: rate_frame(priced_frame, catalogue, july))
            _timed(stages, "raw_duckdb", lambda: _raw_duckdb(ws.store.root))
            with unit_of_work(ws.records) as session:
                _timed(
                    stages,
                    "review",
                    lambda: _review(
                        session, july, priced_frame.assign(total_minor=totals), DEFAULT_LIMITS
                    ),
                )
            report = _timed(
                stages,
                "bill_month",
                lambda: bill_month(ws.records, ws.clock, ws.batch, catalogue, july),
            )
            with unit_of_work(ws.records) as session:
                issued = _timed(stages, "issue", lambda: issue_approved(session, ws.clock))
    run_seconds = stages["bill_month"] + stages["issue"]
    return {
        "accounts": float(ACCOUNTS),
        "bills": float(report.billed),
        "bills_issued": float(issued.issued),
        **{f"{name}_s": seconds for name, seconds in stages.items()},
        "persist_s": stages["bill_month"]
        - stages["determinants"]
        - stages["pricing"]
        - stages["review"],
        "run_s": run_seconds,
        "bills_per_s": report.billed / run_seconds,
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:>16} {value:12.2f}")
