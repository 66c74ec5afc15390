"""Editing meter data: new versions above raw, audited with before and after, bad input refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import (
    Account,
    Meter,
    MeterInstallation,
    ServicePoint,
    TransformerArea,
    Zone,
)
from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import InputError
from meter2cash.core.timezones import local_midnight, zone
from meter2cash.db.audit import AuditEvent
from meter2cash.db.session import unit_of_work
from meter2cash.engines.base import BatchEngine
from meter2cash.engines.duckdb_engine import DuckDBEngine
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee import editing
from meter2cash.vee.freezes import run_vee
from meter2cash.vee.models import VeeFinding

TZ = zone("Asia/Shanghai")
NOW = datetime(2026, 7, 10, tzinfo=UTC)


def place_meter(
    session: Session,
    meter_no: str,
    *,
    zone_code: str = "Z1",
    account: Account | None = None,
    records_intervals: bool = False,
) -> Meter:
    """A meter installed at a service point in transformer area T-<zone> of ``zone_code``."""
    place = session.scalar(select(Zone).where(Zone.code == zone_code))
    if place is None:
        place = Zone(code=zone_code, name=f"供电所 {zone_code}")
        session.add(place)
        session.flush()
    area = session.scalar(select(TransformerArea).where(TransformerArea.code == f"T-{zone_code}"))
    if area is None:
        area = TransformerArea(
            code=f"T-{zone_code}", zone_id=place.id, name="台区", capacity_kva=Decimal(400)
        )
        session.add(area)
        session.flush()
    point = ServicePoint(
        code=f"SP-{meter_no}",
        account_id=account.id if account else None,
        transformer_area_id=area.id,
    )
    meter = Meter(
        meter_no=meter_no,
        address=meter_no.rjust(12, "0")[-12:],
        records_intervals=records_intervals,
    )
    session.add_all([point, meter])
    session.flush()
    session.add(
        MeterInstallation(
            meter_id=meter.id,
            service_point_id=point.id,
            installed_at=datetime(2026, 1, 1, tzinfo=UTC),
            ct_ratio=1,
            pt_ratio=1,
            multiplier=1,
        )
    )
    session.flush()
    return meter


def freeze(day: date) -> datetime:
    """The daily freeze stamped local midnight of ``day``, in UTC."""
    return local_midnight(day, TZ)


def reads(meter: str, values: dict[date, float], channel: str = "A+") -> pa.Table:
    return pa.table(
        {
            "meter_no": [meter] * len(values),
            "channel": [channel] * len(values),
            "ts": pa.array([freeze(d) for d in values], pa.timestamp("us", tz="UTC")),
            "value": list(values.values()),
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> MeasurementStore:
    return MeasurementStore(tmp_path / "m", TZ)


@pytest.fixture
def batch(store: MeasurementStore) -> Iterator[BatchEngine]:
    """The embedded engine over ``store``."""
    engine = DuckDBEngine(store)
    yield engine
    engine.close()


@pytest.fixture
def gap(records: Engine, store: MeasurementStore) -> FixedClock:
    """
    Meter M1 reads 100 on 1 Jul and 130 on 4 Jul; VEE estimated 110 and 120 between.
    """
    clock = FixedClock(NOW)
    with unit_of_work(records) as session:
        place_meter(session, "M1")
    store.ingest_register_reads(
        reads("M1", {date(2026, 7, 1): 100.0, date(2026, 7, 4): 130.0}), source="test"
    )
    with unit_of_work(records) as session:
        run_vee(session, clock, store, ["M1"], date(2026, 7, 1), date(2026, 7, 4))
    return clock


def current(store: MeasurementStore, meter: str) -> dict[date, tuple[Decimal, str]]:
    rows = store.scan("register_reads", meters=[meter]).to_pandas()
    return {
        r.ts.tz_convert(TZ).date(): (r.value, r.quality)
        for r in rows[rows["channel"] == "A+"].itertuples()
    }


def test_an_edit_is_a_new_version_audited_with_before_and_after(
    records: Engine, store: MeasurementStore, batch: BatchEngine, gap: FixedClock
) -> None:
    """
    A site visit finds 125 on the register on 3 Jul, where VEE had estimated 120.
    The edit is version 1 (edited, by li.wei) above the estimate; raw reads are untouched; the
    estimate of 2 Jul is redone between 100 and the new 125; the finding at 3 Jul is resolved.
    """
    with unit_of_work(records) as session:
        point = editing.locate(session, gap, "M1", "A+", "2026-07-03T00:00:00+08:00")
        report = editing.edit(
            session, gap, batch, point, Decimal("125"), reason="site visit read", actor="li.wei"
        )
    assert report.changed and report.before and report.after
    assert (report.before.value, report.before.quality) == (Decimal("120.0000"), "estimated")
    assert [(v.version, v.quality, v.value, v.source) for v in editing.versions(store, point)] == [
        (0, "estimated", Decimal("120.0000"), "vee:linear"),
        (1, "edited", Decimal("125.0000"), "edit:li.wei"),
    ]
    assert current(store, "M1") == {
        date(2026, 7, 1): (Decimal("100.0000"), "raw"),
        date(2026, 7, 2): (Decimal("112.5000"), "estimated"),
        date(2026, 7, 3): (Decimal("125.0000"), "edited"),
        date(2026, 7, 4): (Decimal("130.0000"), "raw"),
    }
    assert report.rerun is not None and report.rerun.reestimated == 1
    assert (report.rerun.first, report.rerun.last) == (date(2026, 7, 1), date(2026, 7, 4))
    with unit_of_work(records) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "vee.edit")).one()
        status = session.scalar(
            select(VeeFinding.status).where(VeeFinding.ts == freeze(date(2026, 7, 3)))
        )
        history = editing.point_history(session, store, point)
    assert (event.actor, event.reason, event.at) == ("li.wei", "site visit read", NOW)
    assert (event.object_type, event.object_key) == ("register_read", "M1/A+/2026-07-02T16:00Z")
    assert event.before is not None and event.after is not None
    assert (event.before["value"], event.before["quality"]) == ("120.0000", "estimated")
    assert (event.after["value"], event.after["quality"], event.after["version"]) == (
        "125.0000",
        "edited",
        1,
    )
    assert status == "resolved"
    assert [a.action for a in history.acts] == ["vee.edit"]
    assert [(f.rule, f.status) for f in history.findings] == [("missing_read", "resolved")]
    raw = store.scan("register_reads", current=False).to_pandas()
    assert sorted(raw[raw["quality"] == "raw"]["value"]) == [Decimal("100"), Decimal("130")]


def test_the_same_edit_twice_changes_nothing_the_second_time(
    records: Engine, store: MeasurementStore, batch: BatchEngine, gap: FixedClock
) -> None:
    for _ in range(2):
        with unit_of_work(records) as session:
            point = editing.locate(session, gap, "M1", "A+", "2026-07-02T00:00+08:00")
            report = editing.edit(
                session, gap, batch, point, Decimal("111.5"), reason="read", actor="li"
            )
    assert not report.changed
    with unit_of_work(records) as session:
        edits = session.scalars(select(AuditEvent).where(AuditEvent.action == "vee.edit")).all()
    assert len(edits) == 1
    assert len(editing.versions(store, point)) == 2


def test_approving_an_estimate_resolves_its_finding_and_keeps_it_an_estimate(
    records: Engine, store: MeasurementStore, batch: BatchEngine, gap: FixedClock
) -> None:
    with unit_of_work(records) as session:
        point = editing.locate(session, gap, "M1", "A+", freeze(date(2026, 7, 2)))
        report = editing.approve(
            session, gap, batch, point, reason="usage as expected", actor="wang.fang"
        )
        again = editing.approve(session, gap, batch, point, reason="again", actor="wang.fang")
    assert report.changed and not again.changed
    assert len(report.resolved) == 1
    assert [v.quality for v in editing.versions(store, point)] == ["estimated"]
    with unit_of_work(records) as session:
        finding = session.get(VeeFinding, report.resolved[0])
        approvals = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "vee.approve")
        ).all()
    assert finding is not None and finding.status == "resolved"
    assert [(a.actor, a.reason) for a in approvals] == [("wang.fang", "usage as expected")]
    assert approvals[0].after is not None and approvals[0].after["approved"] is True


def test_a_raw_read_is_not_an_estimate_to_approve(
    records: Engine, store: MeasurementStore, batch: BatchEngine, gap: FixedClock
) -> None:
    with unit_of_work(records) as session:
        point = editing.locate(session, gap, "M1", "A+", freeze(date(2026, 7, 1)))
        with pytest.raises(InputError, match="holds a raw value"):
            editing.approve(session, gap, batch, point, reason="ok", actor="wang")


def test_forcing_a_decrease_is_allowed_and_said_in_the_audit(
    records: Engine, store: MeasurementStore, batch: BatchEngine, gap: FixedClock
) -> None:
    with unit_of_work(records) as session:
        point = editing.locate(session, gap, "M1", "A+", freeze(date(2026, 7, 3)))
        editing.edit(
            session,
            gap,
            batch,
            point,
            Decimal("90"),
            reason="meter exchanged on 3 Jul",
            actor="li",
            force=True,
        )
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "vee.edit")).one()
    assert event.after is not None and event.after["forced"] is True
    assert current(store, "M1")[date(2026, 7, 3)] == (Decimal("90.0000"), "edited")


def test_an_interval_edit_keeps_the_raw_interval(
    records: Engine, store: MeasurementStore, batch: BatchEngine
) -> None:
    clock = FixedClock(NOW)
    start = freeze(date(2026, 7, 1))
    with unit_of_work(records) as session:
        place_meter(session, "C1", records_intervals=True)
    store.ingest_intervals(
        pa.table(
            {
                "meter_no": ["C1"] * 4,
                "channel": ["kWh"] * 4,
                "ts": pa.array(
                    [start + timedelta(minutes=15 * i) for i in range(4)],
                    pa.timestamp("us", tz="UTC"),
                ),
                "value": [1.0, 1.2, 9.9, 1.1],
            }
        ),
        source="test",
    )
    with unit_of_work(records) as session:
        point = editing.locate(session, clock, "C1", "kWh", start + timedelta(minutes=30))
        report = editing.edit(
            session, clock, batch, point, Decimal("1.15"), reason="spike: CT wiring", actor="li"
        )
    assert report.rerun is not None and not report.rerun.ran_vee
    assert [(v.quality, v.value) for v in editing.versions(store, point)] == [
        ("raw", Decimal("9.9000")),
        ("edited", Decimal("1.1500")),
    ]


BAD_EDITS = [
    ("M9", "A+", "2026-07-03T00:00+08:00", "125", "unknown meter 'M9'"),
    ("M1", "A+9", "2026-07-03T00:00+08:00", "125", "unknown channel 'A+9'"),
    ("M1", "A+", "2026-07-03T00:00", "125", "naive timestamp"),
    ("M1", "A+", "3 July", "125", "not an ISO 8601 timestamp"),
    ("M1", "A+", "2026-08-03T00:00+08:00", "125", "is in the future"),
    ("M1", "kWh", "2026-07-03T00:00+08:00", "1", "records no 15-minute intervals"),
    ("M1", "A+", "2026-07-03T00:00+08:00", "12x", "is not a number"),
    ("M1", "A+", "2026-07-03T00:00+08:00", "-5", "is negative"),
    ("M1", "A+", "2026-07-03T00:00+08:00", "NaN", "not a finite number"),
    ("M1", "A+", "2026-07-03T00:00+08:00", "125.00001", "more than 4 decimal places"),
    ("M1", "A+", "2026-07-03T00:00+08:00", "95", "below the read before it (100.0000"),
    ("M1", "A+", "2026-07-02T00:00+08:00", "131", "above the read after it (130.0000"),
    ("M1", "A+", "2026-07-03T09:00+08:00", "125", "no read of M1/A+ at 2026-07-03T09:00+08:00"),
    ("M1", "A-", "2026-07-03T00:00+08:00", "5", "no reads of M1/A- within a year"),
]


@pytest.mark.parametrize(("meter", "channel", "at", "value", "message"), BAD_EDITS)
def test_bad_edits_are_refused_with_a_clear_error_and_nothing_written(
    records: Engine,
    store: MeasurementStore,
    batch: BatchEngine,
    gap: FixedClock,
    meter: str,
    channel: str,
    at: str,
    value: str,
    message: str,
) -> None:
    stored = store.count("register_reads", current=False)
    with pytest.raises(InputError, match=re.escape(message)), unit_of_work(records) as session:
        point = editing.locate(session, gap, meter, channel, at)
        editing.edit(session, gap, batch, point, editing.parse_value(value), reason="r", actor="li")
    assert store.count("register_reads", current=False) == stored
    with unit_of_work(records) as session:
        assert session.scalars(select(AuditEvent)).all() == []


def test_an_edit_needs_a_reason_and_an_actor(
    records: Engine, store: MeasurementStore, batch: BatchEngine, gap: FixedClock
) -> None:
    with unit_of_work(records) as session:
        point = editing.locate(session, gap, "M1", "A+", freeze(date(2026, 7, 3)))
        with pytest.raises(InputError, match="a reason is required"):
            editing.edit(session, gap, batch, point, Decimal(125), reason=" ", actor="li")
        with pytest.raises(InputError, match="an actor is required"):
            editing.edit(session, gap, batch, point, Decimal(125), reason="r", actor="")


def test_an_interval_instant_must_start_a_quarter_hour(records: Engine) -> None:
    clock = FixedClock(NOW)
    with unit_of_work(records) as session:
        place_meter(session, "C2", records_intervals=True)
        with pytest.raises(InputError, match="does not start a 15-minute interval"):
            editing.locate(session, clock, "C2", "kWh", "2026-07-01T10:20+08:00")
