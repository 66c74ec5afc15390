"""The spine end to end through the `m2c` command, as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

SMALL = ["--accounts", "150", "--start", "2026-06-30", "--days", "65"]


def m2c(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("M2C_")}
    environ.update({"M2C_HOME": str(home), "COLUMNS": "200"}, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "meter2cash.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    result = m2c(home, "demo", *SMALL)
    assert result.returncode == 0, result.stderr
    assert "read success rate" in result.stdout and "receivables by age" in result.stdout
    return home


def test_status_reports_a_balanced_ledger_with_money_that_adds_up(demo_home: Path) -> None:
    status = json.loads(m2c(demo_home, "status", "--json").stdout)
    assert status["accounts"] == 150
    assert status["meters"] > 150  # customer meters plus transformer supply meters
    assert status["reads_stored"] > 150 * 60
    assert status["bills_issued"] > 0
    assert status["ledger_balanced"] is True
    billed, paid = Decimal(status["amount_billed"]), Decimal(status["amount_paid"])
    assert Decimal(status["receivables"]) <= billed
    assert 0 < paid < billed + Decimal(status["receivables"])


def test_aging_buckets_sum_to_the_receivables_of_the_trial_balance(demo_home: Path) -> None:
    aging = json.loads(m2c(demo_home, "aging", "--json").stdout)
    trial = json.loads(m2c(demo_home, "ledger", "trial-balance", "--json").stdout)
    receivable = next(a for a in trial["accounts"] if a["code"] == "1122")
    (row,) = aging["rows"]
    assert sum(Decimal(row[b]) for b in aging["buckets"]) == Decimal(row["total"])
    assert Decimal(row["total"]) == Decimal(receivable["balance"])
    assert trial["balanced"] is True
    by_zone = json.loads(m2c(demo_home, "aging", "--by", "zone", "--json").stdout)
    assert sum(Decimal(r["total"]) for r in by_zone["rows"]) == Decimal(row["total"])


def test_running_the_demo_again_changes_nothing(demo_home: Path) -> None:
    before = m2c(demo_home, "status", "--json").stdout
    again = m2c(demo_home, "demo", *SMALL)
    assert again.returncode == 0, again.stderr
    assert m2c(demo_home, "status", "--json").stdout == before


def test_a_data_home_holding_another_utility_is_refused_unharmed(demo_home: Path) -> None:
    before = m2c(demo_home, "status", "--json").stdout
    other = m2c(demo_home, "demo", "--accounts", "151", "--start", "2026-06-30", "--days", "65")
    assert other.returncode != 0
    assert "already holds" in other.stderr and "Traceback" not in other.stderr
    assert m2c(demo_home, "status", "--json").stdout == before
