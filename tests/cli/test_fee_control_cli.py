"""`m2c fee-control enrol | run | report` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meter2cash.core.settings import Settings
from meter2cash.db.session import make_engine, unit_of_work
from tests.cli.test_spine import m2c
from tests.factories import create_account


def _json(home: Path, *args: str) -> Any:
    result = m2c(home, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_an_operator_enrols_an_account_runs_fee_control_and_reads_the_report(
    tmp_path: Path,
) -> None:
    assert m2c(tmp_path, "db", "upgrade").returncode == 0
    engine = make_engine(Settings.from_env({"M2C_HOME": str(tmp_path)}).database_url)
    with unit_of_work(engine) as session:
        create_account(session, "A001")
    engine.dispose()
    enrol = ("fee-control", "enrol", "A001", "--actor", "王班长", "--reason", "费控改造")
    refused = m2c(tmp_path, *enrol, "--from", "2026-07-15")
    assert refused.returncode == 2
    assert "prepay starts on the first day of a month" in refused.stderr
    assert _json(tmp_path, *enrol, "--from", "2026-07-01")["enrolled"] is True
    assert _json(tmp_path, *enrol, "--from", "2026-07-01")["enrolled"] is False

    # No meter reads yet and nothing paid in: not charged, told the balance is used up.
    run = _json(tmp_path, "fee-control", "run", "--day", "2026-07-02")
    assert (run["accounts"], run["charges_posted"], run["awaiting_reads"]) == (1, 0, 1)
    assert run["actions"] == [
        {"account": "A001", "balance": "0.00", "actions": ["zero_notice"], "command_id": None}
    ]
    table = m2c(tmp_path, "fee-control", "run", "--day", "2026-07-02")
    assert table.returncode == 0, table.stderr
    assert "awaiting reads 待抄表" in table.stdout
    report = _json(tmp_path, "fee-control", "report", "--from", "2000-01-01", "--to", "2100-01-01")
    assert (report["notices"], report["trips_requested"]) == (1, 0)
    shown = m2c(tmp_path, "fee-control", "report", "--from", "2000-01-01", "--to", "2100-01-01")
    assert "top-up to supply restored" in shown.stdout
