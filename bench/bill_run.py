"""Bill run: determinants, pricing, review, persistence and issue of one month.

Setup (untimed, kept apart): ``M2C_BENCH_ACCOUNTS`` accounts (default 1,000,000) written
straight into the records database from numpy columns with :func:`insert_columns` — zones,
transformer areas, routes, customers, accounts, one customer service point, meter and
installation each — in the simulator's proportions (1,000 accounts a zone, 95 an area,
3 areas a route; 88 % residential, 9 % commercial, 3 % industrial; a quarter of the
residential accounts on RES-TOU-TIER, the rest RES-TIER-ZJ, commercial on COM-TOU,
industrial on the two-part IND-TWO-PART with a contracted capacity, current transformers on the
larger commercial and all industrial meters). Every meter is billed from its registers: two
daily-frozen reads per channel (A+ and the rate registers A+1..A+4, the two-rate residential
meters showing nothing on 尖 and 平) bracketing July 2026; the industrial meters also carry
their reactive register (R+, two reads: power factor) and the maximum-demand freeze closing
the month (MD+: the demand charge), ingested through the measurement store's normal write
path in a few large batches. Timed stages: determinants (the engine query), pricing
(:func:`price_cycle` per tariff plus the scalar fallback), a raw DuckDB aggregation of the
same register deltas over the same Parquet (for comparison), review, then the bill run itself
(:func:`bill_month`, which does its own selection, pricing and review again) split into its
selection of the billable meters (``select_s``), its pricing path (``price_accounts_s``) and
writing the bills and lines in batches (``persist_s``: everything after pricing, commits
included), and issue with postings. ``run_s`` is the bill run plus issue.

The records database is embedded SQLite in a temporary directory, or, with
``M2C_BENCH_DATABASE_URL`` set to a PostgreSQL database, a fresh schema in it, dropped
afterwards.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from sqlalchemy.orm import Session

ACCOUNTS = int(os.environ.get("M2C_BENCH_ACCOUNTS", "1000000"))
DATABASE_URL = os.environ.get("M2C_BENCH_DATABASE_URL")
"""A PostgreSQL database to bench on (a fresh schema in it); embedded SQLite if unset."""
CLASS_SHARES = (0.88, 0.09, 0.03)
"""Residential, commercial, industrial (the simulator's shares)."""
ACCOUNTS_PER_ZONE = 1000
ACCOUNTS_PER_AREA = 95
AREAS_PER_ROUTE = 3
RATE_SHARES = np.array([0.04, 0.46, 0.12, 0.38])
"""Typical split of energy over the rate registers A+1..A+4 (尖/峰/平/谷)."""
READ_BATCH_METERS = 250_000
"""Meters per register-read ingest (ten reads each)."""
T = TypeVar("T")


def _timed(stages: dict[str, float], name: str, fn: Callable[[], T]) -> T:
    began = time.perf_counter()
    result = fn()
    stages[name] = time.perf_counter() - began
    return result


@contextmanager
def _records_url(home: str) -> Iterator[str]:
    """The records database to bench on: SQLite under ``home``, or a fresh schema in
    :data:`DATABASE_URL`, dropped afterwards."""
    if not DATABASE_URL:
        yield f"sqlite:///{home}/records.sqlite"
        return
    from sqlalchemy import create_engine, text

    schema = f"m2c_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(DATABASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in DATABASE_URL else "?"
    try:
        yield f"{DATABASE_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def _pricing_marked(marks: dict[str, float]) -> Iterator[None]:
    """While open, :func:`bill_month`'s call of ``price_accounts`` records when it began
    (``priced_from``) and ended (``priced_to``), splitting the run into its stages."""
    from meter2cash.billing import run

    price_accounts = run.price_accounts

    def marked(*args: Any, **kwargs: Any) -> Any:
        marks["priced_from"] = time.perf_counter()
        priced = price_accounts(*args, **kwargs)
        marks["priced_to"] = time.perf_counter()
        return priced

    run.price_accounts = marked
    try:
        yield
    finally:
        run.price_accounts = price_accounts


def _codes(prefix: str, n: int, width: int, first: int = 1) -> npt.NDArray[np.str_]:
    return np.char.add(prefix, np.char.zfill(np.arange(first, first + n).astype(str), width))


def _ids(n: int) -> npt.NDArray[np.int64]:
    return np.arange(1, n + 1, dtype=np.int64)


def _insert_assets(
    session: Session, n: int, rng: np.random.Generator, installed: str
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.str_], npt.NDArray[np.int64]]:
    """The asset records of ``n`` accounts, ids 1..n in every per-account table; returns
    (meter numbers, tariff codes) per account."""
    from meter2cash.assets.models import (
        Account,
        Customer,
        Meter,
        MeterInstallation,
        Route,
        ServicePoint,
        TransformerArea,
        Zone,
    )
    from meter2cash.db.bulk import insert_columns

    n_zones = max(2, round(n / ACCOUNTS_PER_ZONE))
    n_areas = max(n_zones, round(n / ACCOUNTS_PER_AREA))
    area_zone = np.arange(n_areas) * n_zones // n_areas
    area_route_in_zone = (np.arange(n_areas) - np.searchsorted(area_zone, area_zone)) // (
        AREAS_PER_ROUTE
    )
    route_keys, area_route = np.unique(area_zone * 10_000 + area_route_in_zone, return_inverse=True)
    account_area = np.sort(rng.integers(0, n_areas, n))
    klass = rng.choice(3, n, p=CLASS_SHARES)
    tariff = np.where(
        klass == 0,
        np.where(rng.random(n) < 0.25, "RES-TOU-TIER", "RES-TIER-ZJ"),
        np.where(klass == 1, "COM-TOU", "IND-TWO-PART"),
    )
    ct = np.ones(n, np.int64)
    big = (klass == 2) | ((klass == 1) & (rng.random(n) < 0.2))
    ct[big] = rng.choice([10, 20, 40, 60, 100], int(big.sum()))
    contracted = np.where(klass == 2, rng.choice([315.0, 400, 500, 630], n), np.nan)
    ids = _ids(n)
    meter_no = _codes("ZJ", n, 10, 3300000000)

    insert_columns(
        session,
        Zone.__tablename__,
        {"id": _ids(n_zones), "code": _codes("Z", n_zones, 3), "name": _codes("区", n_zones, 3)},
    )
    insert_columns(
        session,
        TransformerArea.__tablename__,
        {
            "id": _ids(n_areas),
            "code": _codes("TA", n_areas, 6),
            "zone_id": area_zone + 1,
            "name": _codes("台区", n_areas, 6),
            "capacity_kva": rng.choice([200.0, 315, 400, 630], n_areas),
        },
    )
    insert_columns(
        session,
        Route.__tablename__,
        {
            "id": _ids(len(route_keys)),
            "code": _codes("R", len(route_keys), 5),
            "zone_id": route_keys // 10_000 + 1,
            "read_day": np.ones(len(route_keys), np.int64),
        },
    )
    insert_columns(
        session,
        Customer.__tablename__,
        {
            "id": ids,
            "customer_no": _codes("9", n, 9),
            "name": _codes("客户", n, 7),
            "customer_class": np.array(["residential", "commercial", "industrial"])[klass],
        },
    )
    insert_columns(
        session,
        Account.__tablename__,
        {
            "id": ids,
            "account_no": _codes("33", n, 8),
            "customer_id": ids,
            "zone_id": area_zone[account_area] + 1,
            "route_id": area_route[account_area] + 1,
            "tariff_code": tariff,
            "household_size": np.where(klass == 0, rng.integers(1, 6, n), 0),
            "payment_terms_days": np.array([20, 15, 10])[klass],
            "opened_on": np.full(n, "2020-01-01"),
            "closed_on": np.full(n, None),
        },
    )
    insert_columns(
        session,
        ServicePoint.__tablename__,
        {
            "id": ids,
            "code": _codes("SP", n, 7),
            "account_id": ids,
            "transformer_area_id": account_area + 1,
            "concentrator_id": np.full(n, None),
            "role": np.full(n, "customer"),
            "contracted_kva": contracted,
        },
    )
    insert_columns(
        session,
        Meter.__tablename__,
        {
            "id": ids,
            "meter_no": meter_no,
            "address": _codes("", n, 12),
            "protocol": np.full(n, "dlt645-2007"),
            "register_digits": np.full(n, 6),
            "records_intervals": np.zeros(n, np.int64),
        },
    )
    insert_columns(
        session,
        MeterInstallation.__tablename__,
        {
            "id": ids,
            "meter_id": ids,
            "service_point_id": ids,
            "installed_at": np.full(n, installed),
            "removed_at": np.full(n, None),
            "ct_ratio": ct,
            "pt_ratio": np.ones(n, np.int64),
            "multiplier": ct,
            "initial_read_kwh": np.zeros(n),
        },
    )
    return meter_no, tariff, ct


def _register_reads(
    meter_no: npt.NDArray[np.str_],
    tariff: npt.NDArray[np.str_],
    multiplier: npt.NDArray[np.int64],
    first: datetime,
    last: datetime,
) -> Iterator[pa.Table]:
    """Two daily-frozen reads per meter and channel (A+, A+1..A+4), at ``first`` and
    ``last`` [kWh, meter side], ``READ_BATCH_METERS`` meters a table. A+ is the sum of the
    rate registers, to the hundredth; two-rate meters (the residential tariffs) only move
    A+2 and A+4. Every meter moves at least 1 kWh: a TOU account with no energy in any
    period cannot be rated (``TariffError``), which would stop the run. Two-part meters
    also give R+ at both instants [kvarh; tan φ 0.3–0.7] and MD+ at ``last`` [kW; the
    month's mean load over a load factor of 0.4–0.8], in a last table of their own."""
    rng = np.random.default_rng(7)
    n = len(meter_no)
    shares = RATE_SHARES * np.exp(0.2 * rng.standard_normal((n, 4)))
    two_rate = tariff != "COM-TOU"
    shares[two_rate, 0] = shares[two_rate, 2] = 0.0
    shares /= shares.sum(axis=1, keepdims=True)
    business = tariff != "RES-TIER-ZJ"
    business &= tariff != "RES-TOU-TIER"
    used = np.maximum(rng.gamma(1.5, 150, n) * np.where(business, 8.0, 1.0) / multiplier, 1.0)
    start_cents = np.rint(rng.uniform(0, 50_000, n)[:, None] * shares * 100).astype(np.int64)
    end_cents = start_cents + np.rint(used[:, None] * shares * 100).astype(np.int64)
    channels = ["A+", "A+1", "A+2", "A+3", "A+4"]
    stamps = np.repeat(
        np.array([t.astimezone(UTC).replace(tzinfo=None) for t in (first, last)], "datetime64[us]"),
        len(channels),
    )
    for lo in range(0, n, READ_BATCH_METERS):
        hi = min(lo + READ_BATCH_METERS, n)
        m = hi - lo
        values = []
        for cents in (start_cents[lo:hi], end_cents[lo:hi]):
            values.append(np.column_stack([cents.sum(axis=1), cents]))  # (m, 5)
        value = np.stack(values, axis=1)  # (m, 2 reads, 5 channels)
        yield pa.table(
            {
                "meter_no": pa.array(np.repeat(meter_no[lo:hi], 10), pa.string()),
                "channel": pa.array(np.tile(np.array(channels * 2), m), pa.string()),
                "ts": pa.array(np.tile(stamps, m), pa.timestamp("us", tz="UTC")),
                "value": pa.array(value.reshape(-1) / 100, pa.float64()),
            }
        )
    two_part = np.flatnonzero(tariff == "IND-TWO-PART")
    kwh = used[two_part]
    kvarh_start = np.rint(rng.uniform(0, 20_000, len(two_part)) * 100) / 100
    kvarh_end = kvarh_start + np.rint(kwh * rng.uniform(0.3, 0.7, len(two_part)) * 100) / 100
    hours = (last - first) / timedelta(hours=1)
    demand_kw = np.round(kwh / hours / rng.uniform(0.4, 0.8, len(two_part)), 4)
    yield pa.table(
        {
            "meter_no": pa.array(np.tile(meter_no[two_part], 3), pa.string()),
            "channel": pa.array(np.repeat(["R+", "R+", "MD+"], len(two_part)), pa.string()),
            "ts": pa.array(
                np.repeat(stamps[[0, len(channels), len(channels)]], len(two_part)),
                pa.timestamp("us", tz="UTC"),
            ),
            "value": pa.array(np.concatenate([kvarh_start, kvarh_end, demand_kw]), pa.float64()),
        }
    )


def _raw_duckdb(root: Path) -> int:
    """Register deltas of every meter and channel over the store's Parquet, in plain SQL
    (the maximum-demand freeze is a maximum, not a delta)."""
    import duckdb

    query = f"""
        SELECT meter_no, channel,
               CASE WHEN channel = 'MD+' THEN max(value) ELSE max(value) - min(value) END
                   AS delta
        FROM read_parquet('{root}/register_reads/**/*.parquet', hive_partitioning = true)
        WHERE read_type = 'daily_frozen'
        GROUP BY meter_no, channel
    """
    return len(duckdb.sql(query).fetchnumpy()["delta"])


def run() -> dict[str, float]:
    from meter2cash.assets.loader import claim_utility
    from meter2cash.billing import repository
    from meter2cash.billing.cycles import ensure_cycles, month_period
    from meter2cash.billing.determinant_frame import determinant_frame
    from meter2cash.billing.issue import issue_approved
    from meter2cash.billing.rate_frame import rate_frame
    from meter2cash.billing.review import DEFAULT_LIMITS
    from meter2cash.billing.run import _review, bill_month
    from meter2cash.core.clock import FixedClock
    from meter2cash.core.settings import Settings
    from meter2cash.core.timezones import local_midnight
    from meter2cash.db.migrate import upgrade_database
    from meter2cash.db.session import unit_of_work
    from meter2cash.holidays.repository import utility_calendar
    from meter2cash.tariffs.loader import load_catalogue
    from meter2cash.workspace import open_workspace

    stages: dict[str, float] = {}
    marks: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="m2c-bench-") as home,
        _records_url(home) as url,
    ):
        settings = Settings.from_env({"M2C_HOME": home, "M2C_DATABASE_URL": url})
        Path(home).mkdir(exist_ok=True)
        upgrade_database(settings.database_url)
        with open_workspace(settings) as ws:
            tz = settings.tz
            july = month_period(2026, 7)
            ws.clock = FixedClock(local_midnight(date(2026, 8, 2), tz))
            installed = datetime(2025, 1, 1, 2, tzinfo=UTC)
            with unit_of_work(ws.records) as session:
                sqlite = session.get_bind().dialect.name == "sqlite"
                stamp = f"{installed:%Y-%m-%d %H:%M:%S.%f}" if sqlite else installed.isoformat()
                claim_utility(session, ws.clock, "bench utility", "bench", settings.timezone_name)
                meter_no, tariff, multiplier = _timed(
                    stages,
                    "setup_assets",
                    lambda: _insert_assets(session, ACCOUNTS, np.random.default_rng(7), stamp),
                )
            began = time.perf_counter()
            for table in _register_reads(
                meter_no,
                tariff,
                multiplier,
                local_midnight(july.period_start, tz),
                local_midnight(july.period_end + timedelta(days=1), tz),
            ):
                ws.store.ingest_register_reads(table, source="bench")
            stages["setup_reads"] = time.perf_counter() - began
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
            began = time.perf_counter()
            with _pricing_marked(marks):
                report = bill_month(ws.records, ws.clock, ws.batch, catalogue, july)
            ended = time.perf_counter()
            stages["bill_month"] = ended - began
            stages["select"] = marks["priced_from"] - began
            stages["price_accounts"] = marks["priced_to"] - marks["priced_from"]
            stages["persist"] = ended - marks["priced_to"]
            with unit_of_work(ws.records) as session:
                issued = _timed(stages, "issue", lambda: issue_approved(session, ws.clock))
    run_seconds = stages["bill_month"] + stages["issue"]
    return {
        "accounts": float(ACCOUNTS),
        "bills": float(report.billed),
        "bills_in_review": float(report.in_review),
        "bills_issued": float(issued.issued),
        **{f"{name}_s": seconds for name, seconds in stages.items()},
        "run_s": run_seconds,
        "bills_per_s": report.billed / run_seconds,
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:>16} {value:12.2f}")
