"""The spine end to end through the `m2c` command, as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import postgres_schema, require_spark

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


@dataclass(frozen=True)
class Home:
    """A data home after the demo, and the environment that points `m2c` at it."""

    path: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return m2c(self.path, *args, env=self.env)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def demo_home(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Home]:
    """The demo run once per records database: embedded SQLite, and PostgreSQL when configured."""
    path = tmp_path_factory.mktemp("home")
    if request.param == "sqlite":
        home = Home(path, {})
        result = home.run("demo", *SMALL)
        assert result.returncode == 0, result.stderr
        assert "read success rate" in result.stdout and "receivables by age" in result.stdout
        yield home
        return
    with postgres_schema() as url:
        home = Home(path, {"M2C_DATABASE_URL": url})
        result = home.run("demo", *SMALL)
        assert result.returncode == 0, result.stderr
        yield home


def test_status_reports_a_balanced_ledger_with_money_that_adds_up(demo_home: Home) -> None:
    status = json.loads(demo_home.run("status", "--json").stdout)
    assert status["accounts"] == 150
    assert status["meters"] > 150  # customer meters plus transformer supply meters
    assert status["reads_stored"] > 150 * 60
    assert status["bills_issued"] > 0
    assert status["ledger_balanced"] is True
    billed, paid = Decimal(status["amount_billed"]), Decimal(status["amount_paid"])
    assert Decimal(status["receivables"]) <= billed
    assert 0 < paid < billed + Decimal(status["receivables"])


def test_aging_buckets_sum_to_the_receivables_of_the_trial_balance(demo_home: Home) -> None:
    aging = json.loads(demo_home.run("aging", "--json").stdout)
    trial = json.loads(demo_home.run("ledger", "trial-balance", "--json").stdout)
    receivable = next(a for a in trial["accounts"] if a["code"] == "1122")
    (row,) = aging["rows"]
    assert sum(Decimal(row[b]) for b in aging["buckets"]) == Decimal(row["total"])
    assert Decimal(row["total"]) == Decimal(receivable["balance"])
    assert trial["balanced"] is True
    by_zone = json.loads(demo_home.run("aging", "--by", "zone", "--json").stdout)
    assert sum(Decimal(r["total"]) for r in by_zone["rows"]) == Decimal(row["total"])


def test_running_the_demo_again_changes_nothing(demo_home: Home) -> None:
    before = demo_home.run("status", "--json").stdout
    again = demo_home.run("demo", *SMALL)
    assert again.returncode == 0, again.stderr
    assert demo_home.run("status", "--json").stdout == before


def test_a_data_home_holding_another_utility_is_refused_unharmed(demo_home: Home) -> None:
    before = demo_home.run("status", "--json").stdout
    other = demo_home.run("demo", "--accounts", "151", "--start", "2026-06-30", "--days", "65")
    assert other.returncode != 0
    assert "already holds" in other.stderr and "Traceback" not in other.stderr
    assert demo_home.run("status", "--json").stdout == before


@pytest.mark.spark
def test_the_spine_on_spark_bills_exactly_what_duckdb_bills(tmp_path: Path) -> None:
    """The same utility run with M2C_ENGINE=spark and with the default: the same money."""
    require_spark()
    small = ["--accounts", "60", "--start", "2026-06-30", "--days", "35"]
    duck = Home(tmp_path / "duckdb", {})
    spark = Home(tmp_path / "spark", {"M2C_ENGINE": "spark", "M2C_SPARK_MASTER": "local[2]"})
    for home in (duck, spark):  # the simulator's feed: reads over TCP vary with timing
        result = home.run("demo", *small, "--from-feed")
        assert result.returncode == 0, result.stderr
    for command in (["status", "--json"], ["aging", "--by", "account", "--json"]):
        assert spark.run(*command).stdout == duck.run(*command).stdout


def test_the_read_success_report_covers_every_zone_and_raises_suggestions_once(
    demo_home: Home,
) -> None:
    first = json.loads(demo_home.run("headend", "report", "--json").stdout)
    again = json.loads(demo_home.run("headend", "report", "--json").stdout)
    zones = {row["zone"] for row in first["by_zone"]}
    assert zones and all(0.9 < row["rate"] <= 1 for row in first["by_zone"])
    expected = sum(row["expected"] for row in first["by_zone"])
    assert expected == sum(row["expected"] for row in first["by_concentrator"])
    assert first["work_orders_raised"] == len(first["unreachable_meters"]) + len(
        first["falling_concentrators"]
    )
    assert again["work_orders_raised"] == 0


def test_alarms_come_from_the_meters_events_and_are_raised_once(demo_home: Home) -> None:
    args = ("headend", "alarms", "--from", "2026-07-01", "--to", "2026-08-31", "--json")
    first = json.loads(demo_home.run(*args).stdout)
    again = json.loads(demo_home.run(*args).stdout)
    kinds = {row["kind"] for row in first["open"]}
    assert kinds & {"tamper", "power_down", "reverse_energy", "load_drop", "load_rise"}
    from_events = [row for row in first["open"] if row["kind"] != "voltage_without_current"]
    assert sum(first["raised"].values()) == len(from_events)  # live values: raised by collect
    assert again["raised"] == {} and len(again["open"]) == len(first["open"])


def test_the_demo_reads_its_meters_over_dlt645_on_tcp(tmp_path: Path) -> None:
    """By default the demo reads through simulated concentrators: lost PLC attempts are
    retried, so read success beats the simulator's own feed; curves and events come over
    the wire too, and the bills still balance."""
    small = ["--accounts", "60", "--start", "2026-06-30", "--days", "35"]
    wire, feed = Home(tmp_path / "wire", {}), Home(tmp_path / "feed", {})
    assert wire.run("demo", *small).returncode == 0
    assert feed.run("demo", *small, "--from-feed").returncode == 0
    statuses = [json.loads(home.run("status", "--json").stdout) for home in (wire, feed)]
    assert statuses[0]["ledger_balanced"] is True and statuses[0]["bills_issued"] > 50
    assert statuses[0]["reads_stored"] > 0.9 * statuses[1]["reads_stored"]  # curves included
    rates = [
        json.loads(
            home.run(
                "headend", "report", "--from", "2026-07-01", "--to", "2026-08-02", "--json"
            ).stdout
        )["by_zone"]
        for home in (wire, feed)
    ]
    wire_rate = sum(r["read"] for r in rates[0]) / sum(r["expected"] for r in rates[0])
    feed_rate = sum(r["read"] for r in rates[1]) / sum(r["expected"] for r in rates[1])
    assert wire_rate > feed_rate
    for zone in rates[0]:  # the wire's exchange log splits how reads arrived
        assert zone["rate_first_try"] <= zone["rate_after_retries"] <= zone["rate"]
    assert any(z["rate_first_try"] < z["rate_after_retries"] for z in rates[0])
