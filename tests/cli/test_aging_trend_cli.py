"""`m2c aging --trend` as a collections manager runs it: the buckets at every month end,
as a table and as JSON, and one-line errors for options that do not go together."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from meter2cash.billing.issue import issue_approved
from meter2cash.core.clock import FixedClock
from meter2cash.core.settings import Settings
from meter2cash.db.session import make_engine, unit_of_work
from tests.cli.test_bad_input import _one_line_error
from tests.cli.test_spine import m2c
from tests.factories import create_account, create_bill


@pytest.fixture
def home(tmp_path: Path, clock: FixedClock) -> Path:
    """A data home where A001 owes 120.00 and A002 owes 50.00, billed on 2 Aug."""
    assert m2c(tmp_path, "db", "upgrade").returncode == 0
    engine = make_engine(Settings.from_env({"M2C_HOME": str(tmp_path)}).database_url)
    with unit_of_work(engine) as session:
        create_bill(session, create_account(session, "A001"), 12_000, date(2026, 8, 2))
        create_bill(session, create_account(session, "A002", "commercial"), 5_000, date(2026, 8, 2))
        issue_approved(session, clock)
    engine.dispose()
    return tmp_path


def test_the_trend_shows_the_bills_aging_month_by_month(home: Path) -> None:
    args = ("aging", "--trend", "--from", "2026-07", "--to", "2026-10")
    result = m2c(home, *args, "--json")
    assert result.returncode == 0, result.stderr
    trend = json.loads(result.stdout)
    assert (trend["from"], trend["to"], trend["by"]) == ("2026-07", "2026-10", "total")
    rows = [(r["month"], r["as_of"], r["0-30"], r["31-60"], r["61-90"]) for r in trend["rows"]]
    assert rows == [
        ("2026-07", "2026-07-31", "0.00", "0.00", "0.00"),
        ("2026-08", "2026-08-31", "170.00", "0.00", "0.00"),  # 29 days old
        ("2026-09", "2026-09-30", "0.00", "170.00", "0.00"),  # 59
        ("2026-10", "2026-10-31", "0.00", "0.00", "170.00"),  # 90
    ]
    by_class = json.loads(m2c(home, *args, "--by", "class", "--json").stdout)["rows"]
    september = {r["group"]: r["total"] for r in by_class if r["month"] == "2026-09"}
    assert september == {"commercial": "50.00", "residential": "120.00"}
    table = m2c(home, *args, "--by", "class")
    assert table.returncode == 0, table.stderr
    assert "aging at month ends by class" in table.stdout and "2026-10-31" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-07"), "--from and --to go with --trend"),
        (("--trend", "--as-of", "2026-09-30"), "--as-of and --trend do not go together"),
        (("--trend", "--by", "account"), "cannot show an aging trend by 'account'"),
        (("--trend", "--from", "2026-13"), "--from '2026-13' is not a month (YYYY-MM)"),
        (("--trend", "--from", "2026-09", "--to", "2026-07"), "starts (2026-09) after"),
    ],
)
def test_options_that_do_not_go_together_are_refused_in_one_line(
    home: Path, args: tuple[str, ...], message: str
) -> None:
    assert message in _one_line_error(m2c(home, "aging", *args))
