"""`m2c vee edit | approve | history | queue | resolve` as a person runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from meter2cash.core.settings import Settings
from meter2cash.db.audit import AuditEvent
from meter2cash.db.session import make_engine, unit_of_work
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee.models import VeeFinding
from tests.cli.test_bad_input import _one_line_error
from tests.cli.test_spine import Home
from tests.conftest import postgres_schema
from tests.vee.test_editing import TZ, place_meter, reads

JUL_3 = "2026-07-03T00:00+08:00"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def home(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Home]:
    """
    A data home with two meters after `m2c vee run` over 1–4 Jul:
    M1 (zone Z1) reads 100 on 1 Jul and 130 on 4 Jul — VEE estimates 110 and 120 between;
    M2 (zone Z2) reads 50, 51 and then 49 on 3 Jul — a decrease — and nothing on 4 Jul.
    """
    if request.param == "sqlite":
        yield _prepared(Home(tmp_path, {}))
        return
    with postgres_schema() as url:
        yield _prepared(Home(tmp_path, {"M2C_DATABASE_URL": url}))


def _prepared(home: Home) -> Home:
    assert home.run("db", "upgrade").returncode == 0
    settings = Settings.from_env({"M2C_HOME": str(home.path), **home.env})
    engine = make_engine(settings.database_url)
    with unit_of_work(engine) as session:
        place_meter(session, "M1", zone_code="Z1")
        place_meter(session, "M2", zone_code="Z2")
    engine.dispose()
    store = MeasurementStore(settings.measurements_dir, TZ)
    jul = [date(2026, 7, d) for d in range(1, 5)]
    store.ingest_register_reads(reads("M1", {jul[0]: 100.0, jul[3]: 130.0}), source="test")
    store.ingest_register_reads(
        reads("M2", {jul[0]: 50.0, jul[1]: 51.0, jul[2]: 49.0}), source="test"
    )
    result = home.run("vee", "run", "--from", "2026-07-01", "--to", "2026-07-04")
    assert result.returncode == 0, result.stderr
    return home


def _open_findings(home: Home) -> list[VeeFinding]:
    settings = Settings.from_env({"M2C_HOME": str(home.path), **home.env})
    engine = make_engine(settings.database_url)
    with unit_of_work(engine) as session:
        found = list(session.scalars(select(VeeFinding).where(VeeFinding.status == "open")))
    engine.dispose()
    return found


def _audit(home: Home, action: str) -> list[AuditEvent]:
    settings = Settings.from_env({"M2C_HOME": str(home.path), **home.env})
    engine = make_engine(settings.database_url)
    with unit_of_work(engine) as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
    engine.dispose()
    return events


def test_an_edit_adds_a_version_keeps_raw_and_is_audited(home: Home) -> None:
    point = ["--meter", "M1", "--channel", "A+", "--at", JUL_3]
    result = home.run(
        "vee", "edit", *point, "--value", "125", "--reason", "site visit", "--actor", "li.wei"
    )
    assert result.returncode == 0, result.stderr
    assert "120.0000 (estimated v0) → 125.0000 (edited v1)" in result.stdout
    history = json.loads(home.run("vee", "history", *point, "--json").stdout)
    assert [(v["version"], v["quality"], v["value"], v["source"]) for v in history["versions"]] == [
        (0, "estimated", "120.0000", "vee:linear"),
        (1, "edited", "125.0000", "edit:li.wei"),
    ]
    assert [a["action"] for a in history["acts"]] == ["vee.edit"]
    table = home.run("vee", "history", *point).stdout
    assert "edit:li.wei" in table and "vee:linear" in table and "site visit" in table
    raw = json.loads(
        home.run(
            "vee",
            "history",
            "--meter",
            "M1",
            "--channel",
            "A+",
            "--at",
            "2026-07-01T00:00+08:00",
            "--json",
        ).stdout
    )
    assert [(v["quality"], v["value"]) for v in raw["versions"]] == [("raw", "100.0000")]
    (event,) = _audit(home, "vee.edit")
    assert (event.actor, event.reason) == ("li.wei", "site visit")
    assert event.before is not None and event.before["value"] == "120.0000"
    assert event.after is not None and event.after["value"] == "125.0000"


def test_approve_resolves_the_estimate_finding(home: Home) -> None:
    point = ["--meter", "M1", "--channel", "A+", "--at", "2026-07-02T00:00+08:00"]
    result = home.run("vee", "approve", *point, "--reason", "usage as usual", "--actor", "wang")
    assert result.returncode == 0, result.stderr
    assert "approved the estimate" in result.stdout
    history = json.loads(home.run("vee", "history", *point, "--json").stdout)
    assert [(f["rule"], f["status"]) for f in history["findings"]] == [("missing_read", "resolved")]
    assert [v["quality"] for v in history["versions"]] == ["estimated"]


def test_the_queue_counts_match_the_open_findings(home: Home) -> None:
    found = _open_findings(home)
    summary = json.loads(home.run("vee", "queue", "--json").stdout)
    assert summary["open"] == len(found) > 0
    by_rule: dict[str, int] = {}
    for f in found:
        by_rule[f.rule] = by_rule.get(f.rule, 0) + 1
    assert summary["by_rule"] == by_rule
    assert summary["by_zone"] == {"Z2": len(found)}
    assert summary["by_age"]["0-1 d"] == len(found)
    assert {e["id"] for e in summary["oldest"]} == {f.id for f in found}
    text = home.run("vee", "queue").stdout
    assert "by rule" in text and "by zone" in text and "register_decrease" in text


def test_resolving_reruns_vee_and_the_exception_leaves_the_queue(home: Home) -> None:
    (decrease,) = [f for f in _open_findings(home) if f.rule == "register_decrease"]
    result = home.run(
        "vee", "resolve", str(decrease.id), "--reason", "meter exchanged", "--actor", "zhao"
    )
    assert result.returncode == 0, result.stderr
    assert (
        "→ resolved" in result.stdout and "VEE re-ran over 2026-07-02…2026-07-03" in result.stdout
    )
    summary = json.loads(home.run("vee", "queue", "--json").stdout)
    assert decrease.id not in {e["id"] for e in summary["oldest"]}
    assert "register_decrease" not in summary["by_rule"]
    assert [e.object_key for e in _audit(home, "vee.resolve")] == [str(decrease.id)]


def test_an_edit_filling_the_last_gap_empties_the_queue_of_that_meter(home: Home) -> None:
    result = home.run(
        "vee",
        "edit",
        "--meter",
        "M2",
        "--channel",
        "A+",
        "--at",
        "2026-07-04T00:00+08:00",
        "--value",
        "49.5",
        "--reason",
        "manual read",
        "--actor",
        "li",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["after"]["quality"] == "edited" and report["resolved_findings"]
    remaining = {f.rule for f in _open_findings(home) if f.meter_no == "M2"}
    assert remaining == {"register_decrease"}


BAD_EDITS = [
    (["--meter", "M9", "--at", JUL_3, "--value", "5"], "unknown meter 'M9'"),
    (["--meter", "M1", "--at", "2026-07-03T00:00", "--value", "5"], "naive timestamp"),
    (["--meter", "M1", "--at", JUL_3, "--value", "five"], "is not a number"),
    (["--meter", "M1", "--at", JUL_3, "--value=-5"], "is negative"),
    (["--meter", "M1", "--at", JUL_3, "--value", "95"], "below the read before it"),
]


def test_bad_input_exits_non_zero_with_one_clear_line_and_changes_nothing(home: Home) -> None:
    for args, message in BAD_EDITS:
        result = home.run("vee", "edit", *args, "--channel", "A+", "--reason", "r", "--actor", "li")
        assert message in _one_line_error(result), args
    unknown = ["--meter", "M1", "--channel", "XX", "--at", JUL_3, "--value", "5"]
    line = _one_line_error(home.run("vee", "edit", *unknown, "--reason", "r", "--actor", "li"))
    assert "unknown channel 'XX'" in line
    raw = ["--meter", "M1", "--channel", "A+", "--at", "2026-07-01T00:00+08:00"]
    line = _one_line_error(home.run("vee", "approve", *raw, "--reason", "ok", "--actor", "w"))
    assert "holds a raw value" in line
    line = _one_line_error(home.run("vee", "resolve", "99999", "--reason", "r", "--actor", "w"))
    assert "no VEE finding 99999" in line
    assert _audit(home, "vee.edit") == _audit(home, "vee.approve") == []


def test_a_forced_decrease_is_accepted(home: Home) -> None:
    result = home.run(
        "vee",
        "edit",
        "--meter",
        "M1",
        "--channel",
        "A+",
        "--at",
        JUL_3,
        "--value",
        "95",
        "--force",
        "--reason",
        "meter exchanged on 3 Jul",
        "--actor",
        "li",
    )
    assert result.returncode == 0, result.stderr
    (event,) = _audit(home, "vee.edit")
    assert event.after is not None and event.after["forced"] is True
