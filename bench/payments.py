"""Collections: a bank file of a payment per account posted with allocation, then aging.

Setup (untimed): ``M2C_BENCH_ACCOUNTS`` accounts (default 1,000,000) with the bill-run
bench's asset records, one issued July bill each (30–800 yuan, bulk-inserted and issued
through the normal issue path), and a bank file with one payment per account: 70 % pay the
bill exactly, 20 % part of it, 10 % more than it (the rest held as credit). Timed stages:
reading and checking the file, posting it (100,000 payments per transaction, each allocated
oldest first), aging of every account by zone, reconciliation with the control account and
the month's collection rate. ``M2C_DATABASE_URL`` selects the records database (embedded
SQLite by default).
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from bench.bill_run import ACCOUNTS, _codes, _ids, _insert_assets, _timed

VALUE_DATE = date(2026, 8, 20)


def _bank_file(path: Path, account_no: np.ndarray, bill_minor: np.ndarray, seed: int) -> int:
    """Write the bank file; returns its total [fen]."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(3, len(bill_minor), p=(0.7, 0.2, 0.1))
    share = np.select([kind == 1, kind == 2], [rng.uniform(0.2, 0.9, len(kind)), 1.5], 1.0)
    paid = np.maximum(1, np.rint(bill_minor * share)).astype(np.int64)
    text = np.char.add(
        np.char.add((paid // 100).astype(str), "."), np.char.zfill((paid % 100).astype(str), 2)
    )
    lines = np.char.add(
        np.char.add(np.char.add("D,T", _codes("", len(paid), 8)), ","),
        np.char.add(np.char.add(account_no, ","), np.char.add(text, f",{VALUE_DATE}")),
    )
    with path.open("w", encoding="utf-8") as out:
        out.write(f"H,BENCH-{VALUE_DATE},ICBC,{VALUE_DATE},{len(paid)},{paid.sum() / 100:.2f}\n")
        out.write("\n".join(lines.tolist()))
        out.write("\n")
    return int(paid.sum())


def run() -> dict[str, float]:
    from sqlalchemy import select

    from meter2cash.assets.loader import claim_utility
    from meter2cash.assets.models import Account
    from meter2cash.billing.cycles import ensure_cycles, month_period
    from meter2cash.billing.issue import issue_approved
    from meter2cash.billing.models import Bill
    from meter2cash.core.clock import FixedClock
    from meter2cash.core.settings import Settings
    from meter2cash.core.timezones import local_midnight
    from meter2cash.db.bulk import insert_columns
    from meter2cash.db.migrate import upgrade_database
    from meter2cash.db.session import unit_of_work
    from meter2cash.ledger.bank_batches import check_bank_file, post_bank_file
    from meter2cash.ledger.receivables import aging, collection, reconcile
    from meter2cash.tariffs.loader import load_catalogue
    from meter2cash.tariffs.service import store_tariffs
    from meter2cash.workspace import open_workspace

    stages: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="m2c-bench-") as home:
        env = {"M2C_HOME": home}
        if url := os.environ.get("M2C_DATABASE_URL"):
            env["M2C_DATABASE_URL"] = url
        settings = Settings.from_env(env)
        upgrade_database(settings.database_url)
        with open_workspace(settings) as ws:
            july = month_period(2026, 7)
            ws.clock = FixedClock(local_midnight(date(2026, 8, 3), settings.tz))
            installed = datetime(2025, 1, 1, 2, tzinfo=UTC)
            rng = np.random.default_rng(11)
            bill_minor = rng.integers(3_000, 80_000, ACCOUNTS)
            with unit_of_work(ws.records) as session:
                sqlite = session.get_bind().dialect.name == "sqlite"
                stamp = f"{installed:%Y-%m-%d %H:%M:%S.%f}" if sqlite else installed.isoformat()
                claim_utility(session, ws.clock, "bench utility", "bench", settings.timezone_name)
                _timed(
                    stages, "setup_assets", lambda: _insert_assets(session, ACCOUNTS, rng, stamp)
                )
                versions = store_tariffs(session, ws.clock, load_catalogue())
                cycles = ensure_cycles(session, july)
                route = np.fromiter(
                    session.scalars(select(Account.route_id).order_by(Account.id)), np.int64
                )
                cycle_of = np.zeros(max(cycles) + 1, np.int64)
                cycle_of[list(cycles)] = list(cycles.values())
                account_no = _codes("33", ACCOUNTS, 8)
                insert_columns(
                    session,
                    Bill.__tablename__,
                    {
                        "id": _ids(ACCOUNTS),
                        "bill_no": np.char.add("202607-", account_no),
                        "account_id": _ids(ACCOUNTS),
                        "cycle_id": cycle_of[route],
                        "revision": np.zeros(ACCOUNTS, np.int64),
                        "tariff_version_id": np.full(ACCOUNTS, min(versions.values())),
                        "period_start": np.full(ACCOUNTS, july.period_start.isoformat()),
                        "period_end": np.full(ACCOUNTS, july.period_end.isoformat()),
                        "kwh": np.rint(bill_minor / 60.0),
                        "multiplier": np.ones(ACCOUNTS, np.int64),
                        "total_minor": bill_minor,
                        "currency": np.full(ACCOUNTS, "CNY"),
                        "estimated": np.zeros(ACCOUNTS, np.int64),
                        "status": np.full(ACCOUNTS, "approved"),
                        "bill_date": np.full(ACCOUNTS, july.bill_date.isoformat()),
                        "due_date": np.full(
                            ACCOUNTS, (july.bill_date + timedelta(days=15)).isoformat()
                        ),
                        "review_reasons": np.full(ACCOUNTS, ""),
                    },
                )
            with unit_of_work(ws.records) as session:
                _timed(stages, "setup_issue", lambda: issue_approved(session, ws.clock))
            path = Path(home) / "bank.csv"
            total = _bank_file(path, account_no, bill_minor, 12)
            bank = _timed(stages, "check_file", lambda: check_bank_file(ws.records, path))
            report = _timed(
                stages, "post_payments", lambda: post_bank_file(ws.records, ws.clock, bank)
            )
            assert report.posted_minor == total and report.posted == ACCOUNTS
            with unit_of_work(ws.records) as session:
                _timed(stages, "aging_by_zone", lambda: aging(session, date(2026, 9, 30), "zone"))
                _timed(stages, "reconcile", lambda: reconcile(session))
                _timed(
                    stages,
                    "collection",
                    lambda: collection(session, july.bill_date, date(2026, 9, 30)),
                )
    posting = stages["check_file"] + stages["post_payments"]
    return {
        "accounts": float(ACCOUNTS),
        "payments": float(report.posted),
        **{f"{name}_s": seconds for name, seconds in stages.items()},
        "payments_per_s": report.posted / posting,
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:>16} {value:12.2f}")
