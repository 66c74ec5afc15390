"""VEE over daily register reads: gaps estimated, bad reads queued, raw kept."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import Engine, select

from meter2cash.core.clock import FixedClock
from meter2cash.core.timezones import zone
from meter2cash.db.session import unit_of_work
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee import rules
from meter2cash.vee.freezes import freeze_instants, run_vee
from meter2cash.vee.models import VeeFinding

TZ = zone("Asia/Shanghai")


def _reads(meter: str, values: dict[date, float]) -> pa.Table:
    instants = freeze_instants(min(values), max(values), TZ)
    by_day = {d.date(): v for d, v in zip(instants.tz_convert(TZ), instants, strict=True)}
    return pa.table(
        {
            "meter_no": [meter] * len(values),
            "channel": ["A+"] * len(values),
            "ts": pa.array([by_day[d] for d in values], pa.timestamp("us", tz="UTC")),
            "value": list(values.values()),
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> MeasurementStore:
    return MeasurementStore(tmp_path / "m", TZ)


def test_a_gap_is_estimated_between_its_neighbours_and_raw_is_untouched(
    records: Engine, store: MeasurementStore
) -> None:
    """
    Meter M1 reads 100 on 1 Jul and 130 on 4 Jul; 2 and 3 Jul were missed.
    VEE estimates 110 and 120, stored as estimated versions; the raw reads stay as they were.
    Meter M2 stops after 2 Jul: its last two days have no closing read and wait for a person.
    """
    clock = FixedClock(datetime(2026, 7, 5, tzinfo=UTC))
    store.ingest_register_reads(
        _reads("M1", {date(2026, 7, 1): 100.0, date(2026, 7, 4): 130.0}), source="test"
    )
    store.ingest_register_reads(
        _reads("M2", {date(2026, 7, 1): 50.0, date(2026, 7, 2): 51.0}), source="test"
    )
    with unit_of_work(records) as session:
        report = run_vee(session, clock, store, ["M1", "M2"], date(2026, 7, 1), date(2026, 7, 4))
    assert (report.expected_reads, report.missing, report.estimated) == (8, 4, 2)
    assert report.open_exceptions == 2
    current = store.scan("register_reads").to_pandas()
    m1 = current[current["meter_no"] == "M1"].sort_values("ts")
    assert [float(v) for v in m1["value"]] == [100.0, 110.0, 120.0, 130.0]
    assert list(m1["quality"]) == ["raw", "estimated", "estimated", "raw"]
    assert store.count("register_reads", current=False) == 6
    with unit_of_work(records) as session:
        statuses = session.execute(select(VeeFinding.meter_no, VeeFinding.status)).all()
    assert sorted(statuses) == [("M1", "estimated")] * 2 + [("M2", "open")] * 2


def test_a_decrease_and_a_conflicting_redelivery_go_to_a_person(
    records: Engine, store: MeasurementStore
) -> None:
    clock = FixedClock(datetime(2026, 7, 5, tzinfo=UTC))
    store.ingest_register_reads(
        _reads("M3", {date(2026, 7, 1): 200.0, date(2026, 7, 2): 190.0}), source="test"
    )
    store.ingest_register_reads(_reads("M3", {date(2026, 7, 1): 201.0}), source="resend")
    with unit_of_work(records) as session:
        report = run_vee(session, clock, store, ["M3"], date(2026, 7, 1), date(2026, 7, 2))
        rules_found = sorted(session.scalars(select(VeeFinding.rule)))
    assert report.decreasing == 1 and report.conflicts == 1
    assert rules_found == [rules.DUPLICATE_CONFLICT, rules.DECREASING]
