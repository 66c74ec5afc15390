"""Remote commands and the voltage-without-current check through `m2c`, as an operator runs
them against the simulated utility's concentrators."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np

from meter2cash.simulator import UtilitySpec, build_utility
from tests.cli.test_spine import m2c

SIMULATION = ["--accounts", "300", "--start", "2026-07-01", "--days", "40"]
SPEC = UtilitySpec(accounts=300, start=date(2026, 7, 1), days=40)


def test_an_operator_trips_a_meter_and_the_live_check_flags_only_the_bypasses(
    tmp_path: Path,
) -> None:
    """
    m2c simulate; m2c headend command request (a trip, for arrears); m2c headend command
    dispatch; m2c headend command list; m2c headend live-check. The trip is confirmed; the
    live check raises an alarm for each partial-bypass thief and passes over the tripped
    meter, whose relay the head-end opened.
    """
    utility = build_utility(SPEC)
    newest = SPEC.days - 1
    faults = utility.faults
    numbers = np.asarray(utility.meters["meter_no"])
    answering = ~faults.silent(newest)
    honest = numbers[(faults.theft_kind < 0) & answering]
    bypass = numbers[(faults.theft_kind == 0) & (faults.theft_start <= newest) & answering]
    meter = str(honest[0])

    assert m2c(tmp_path, "simulate", *SIMULATION).returncode == 0
    refused = m2c(
        tmp_path, "headend", "command", "request", "--meter", meter, "--kind", "relay_trip",
        "--reason", " ", "--actor", "collector-7",
    )  # fmt: skip
    assert refused.returncode != 0 and "needs a reason" in refused.stderr
    assert "Traceback" not in refused.stderr
    asked = m2c(
        tmp_path, "headend", "command", "request", "--meter", meter, "--kind", "relay_trip",
        "--reason", "arrears 91 days, notice served", "--actor", "collector-7",
    )  # fmt: skip
    assert asked.stdout.strip() == f"command 1: relay_trip for {meter} is requested"

    sent = json.loads(
        m2c(tmp_path, "headend", "command", "dispatch", "--loss", "0", "--json").stdout
    )
    assert (sent["confirmed"], sent["failed"]) == (1, 0)
    assert sent["outcomes"][0]["detail"] == "relay open: trip count 0 → 1"
    (listed,) = json.loads(m2c(tmp_path, "headend", "command", "list", "--json").stdout)
    assert listed["status"] == "confirmed" and listed["requested_by"] == "collector-7"
    assert listed["frame_hex"].startswith("68") and listed["sent_at"] is not None
    table = m2c(tmp_path, "headend", "command", "list").stdout
    assert meter in table and "confirmed" in table and "relay open" in table

    checked = json.loads(m2c(tmp_path, "headend", "live-check", "--loss", "0", "--json").stdout)
    assert checked["relay_open_passed_over"] == [meter]
    assert {a["meter"] for a in checked["alarms"]} == set(bypass) and checked["raised"] > 0
    again = json.loads(m2c(tmp_path, "headend", "live-check", "--loss", "0", "--json").stdout)
    assert again["raised"] == 0 and again["alarms"] == checked["alarms"]
