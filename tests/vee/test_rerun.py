"""Re-running what depends on an edit, an approval or a resolution; files of edits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import Engine, func, select

from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import InputError
from meter2cash.db.audit import AuditEvent
from meter2cash.db.session import unit_of_work
from meter2cash.engines.base import BatchEngine
from meter2cash.engines.duckdb_engine import DuckDBEngine
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee import edit_files, editing, queue
from meter2cash.vee.chain import run_rule_chain
from meter2cash.vee.freezes import run_vee
from meter2cash.vee.history import HISTORY, load_history, save_history
from meter2cash.vee.models import VeeFinding
from tests.vee.test_editing import TZ, current, freeze, place_meter, reads

DAY = date(2026, 7, 1)
NOW = datetime(2026, 7, 10, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> MeasurementStore:
    return MeasurementStore(tmp_path / "m", TZ)


@pytest.fixture
def batch(store: MeasurementStore) -> Iterator[BatchEngine]:
    engine = DuckDBEngine(store)
    yield engine
    engine.close()


def slot(i: int) -> datetime:
    return freeze(DAY) + timedelta(minutes=15 * i)


def curve(meter: str, values: dict[int, float]) -> pa.Table:
    return pa.table(
        {
            "meter_no": [meter] * len(values),
            "channel": ["kWh"] * len(values),
            "ts": pa.array([slot(i) for i in values], pa.timestamp("us", tz="UTC")),
            "value": list(values.values()),
        }
    )


def findings(records: Engine, meter: str) -> dict[str, str]:
    with unit_of_work(records) as session:
        rows = session.execute(
            select(VeeFinding.rule, VeeFinding.status).where(VeeFinding.meter_no == meter)
        ).tuples()
        return {rule: status for rule, status in rows}


def day_intervals(store: MeasurementStore, meter: str) -> dict[int, tuple[Decimal, str, int]]:
    rows = store.scan("intervals", start=slot(0), end=slot(96), meters=[meter]).to_pandas()
    return {
        int((r.ts - slot(0)).total_seconds() // 900): (r.value, r.quality, r.version)
        for r in rows.itertuples()
    }


@pytest.fixture
def curves(records: Engine, store: MeasurementStore, batch: BatchEngine) -> FixedClock:
    """
    Three curve meters in one area, their A+ freezes rising 24 kWh over 1 Jul, and a
    history of a 0.3 kWh typical peak. The rule chain has run over 1 Jul.
    C1: 95 intervals of 0.2 and 9.8 at slot 40 — a spike, and 28.8 kWh against 24.
    C2: the same, left alone.
    C3: 89 intervals of 0.2 and 3.0 at slot 40; slots 90–95 missing, estimated to 24 (3.2).
    """
    clock = FixedClock(NOW)
    meters = ("C1", "C2", "C3")
    with unit_of_work(records) as session:
        for meter in meters:
            place_meter(session, meter, records_intervals=True)
    for meter in meters:
        store.ingest_register_reads(
            reads(meter, {DAY: 100.0, DAY + timedelta(1): 124.0}), source="t"
        )
    spiky = {i: 0.2 for i in range(96)} | {40: 9.8}
    store.ingest_intervals(curve("C1", spiky), source="t")
    store.ingest_intervals(curve("C2", spiky), source="t")
    store.ingest_intervals(curve("C3", {i: 0.2 for i in range(90)} | {40: 3.0}), source="t")
    save_history(
        store,
        pa.table(
            {
                "meter_no": list(meters),
                "mean_kwh": [20.0] * 3,
                "peak_kwh": [0.3] * 3,
                "history_days": [30] * 3,
                "through": [DAY - timedelta(1)] * 3,
            },
            schema=HISTORY,
        ),
    )
    with unit_of_work(records) as session:
        run_rule_chain(session, clock, batch, store, DAY, DAY)
    return clock


def test_an_interval_edit_reruns_its_day_and_clears_what_it_fixed(
    records: Engine, store: MeasurementStore, batch: BatchEngine, curves: FixedClock
) -> None:
    """
    Fixing C1's spike resolves the spike finding on the point, and the re-run of 1 Jul finds
    the intervals adding up to the register again: that finding is cleared. C2's findings
    and everyone's history are untouched.
    """
    assert findings(records, "C1") == {"spike": "open", "interval_vs_register": "open"}
    history = load_history(store)
    with unit_of_work(records) as session:
        point = editing.locate(session, curves, "C1", "kWh", slot(40))
        report = editing.edit(
            session, curves, batch, point, Decimal("5.0"), reason="CT wiring", actor="li"
        )
    assert report.rerun is not None
    assert (report.rerun.first, report.rerun.last, report.rerun.ran_vee) == (DAY, DAY, False)
    assert len(report.resolved) == 1 and len(report.rerun.cleared) == 1
    assert findings(records, "C1") == {"spike": "resolved", "interval_vs_register": "resolved"}
    assert findings(records, "C2") == {"spike": "open", "interval_vs_register": "open"}
    assert load_history(store).equals(history)


def test_an_interval_edit_redoes_the_days_estimates_to_the_register_delta(
    records: Engine, store: MeasurementStore, batch: BatchEngine, curves: FixedClock
) -> None:
    before = day_intervals(store, "C3")
    assert sum(v for v, _, _ in before.values()) == pytest.approx(Decimal(24), abs=Decimal("0.001"))
    assert {before[i][1] for i in range(90, 96)} == {"estimated"}
    with unit_of_work(records) as session:
        point = editing.locate(session, curves, "C3", "kWh", slot(40))
        report = editing.edit(
            session, curves, batch, point, Decimal("0.2"), reason="spike", actor="li"
        )
    after = day_intervals(store, "C3")
    assert report.rerun is not None and report.rerun.reestimated == 6
    assert sum(v for v, _, _ in after.values()) == pytest.approx(Decimal(24), abs=Decimal("0.001"))
    assert all(after[i][1] == "estimated" and after[i][0] > before[i][0] for i in range(90, 96))
    assert after[40][1] == "edited"
    assert {i: after[i] for i in range(90) if i != 40} == {
        i: before[i] for i in range(90) if i != 40
    }


def test_approving_an_interval_estimate_redoes_nothing(
    records: Engine, store: MeasurementStore, batch: BatchEngine, curves: FixedClock
) -> None:
    before = day_intervals(store, "C3")
    with unit_of_work(records) as session:
        point = editing.locate(session, curves, "C3", "kWh", slot(92))
        report = editing.approve(session, curves, batch, point, reason="ok", actor="wang")
    assert report.rerun is not None and report.rerun.reestimated == 0
    assert day_intervals(store, "C3") == before


@pytest.fixture
def gap(records: Engine, store: MeasurementStore) -> FixedClock:
    """M1 reads 100 on 1 Jul and 130 on 4 Jul; VEE estimated 2 and 3 Jul."""
    clock = FixedClock(NOW)
    with unit_of_work(records) as session:
        place_meter(session, "M1")
    store.ingest_register_reads(reads("M1", {DAY: 100.0, date(2026, 7, 4): 130.0}), source="t")
    with unit_of_work(records) as session:
        run_vee(session, clock, store, ["M1"], DAY, date(2026, 7, 4))
    return clock


def test_a_register_edit_has_the_read_job_redo_the_estimates_between_its_anchors(
    records: Engine, store: MeasurementStore, batch: BatchEngine, gap: FixedClock
) -> None:
    with unit_of_work(records) as session:
        point = editing.locate(session, gap, "M1", "A+", freeze(date(2026, 7, 4)))
        report = editing.edit(session, gap, batch, point, Decimal(160), reason="r", actor="li")
    assert report.rerun is not None and report.rerun.ran_vee
    assert (report.rerun.first, report.rerun.last) == (DAY, date(2026, 7, 4))
    assert report.rerun.reestimated == 2
    reads_now = current(store, "M1")
    estimates = [reads_now[date(2026, 7, d)] for d in (2, 3)]
    assert [q for _, q in estimates] == ["estimated", "estimated"]
    assert Decimal(100) < estimates[0][0] <= estimates[1][0] < Decimal(160)
    assert estimates[1][0] > Decimal(120)  # rose with the new anchor


def test_resolving_a_register_finding_reruns_the_read_job(
    records: Engine, store: MeasurementStore, batch: BatchEngine
) -> None:
    """
    M2 read 50 and 51 on 1–2 Jul, then nothing: 3 and 4 Jul wait. A late read of 4 Jul
    arrives; resolving the 3 Jul finding re-runs the read job, which estimates 3 Jul.
    """
    clock = FixedClock(NOW)
    with unit_of_work(records) as session:
        place_meter(session, "M2")
    store.ingest_register_reads(reads("M2", {DAY: 50.0, date(2026, 7, 2): 51.0}), source="t")
    with unit_of_work(records) as session:
        run_vee(session, clock, store, ["M2"], DAY, date(2026, 7, 4))
    store.ingest_register_reads(reads("M2", {date(2026, 7, 4): 55.0}), source="late")
    with unit_of_work(records) as session:
        waiting = session.scalars(
            select(VeeFinding).where(
                VeeFinding.meter_no == "M2", VeeFinding.ts == freeze(date(2026, 7, 3))
            )
        ).one()
        report = queue.resolve(session, clock, batch, waiting.id, reason="late read", actor="z")
    assert report.rerun is not None and report.rerun.ran_vee
    assert (report.rerun.first, report.rerun.last) == (date(2026, 7, 2), date(2026, 7, 4))
    assert current(store, "M2")[date(2026, 7, 3)][1] == "estimated"
    assert report.rerun.estimated == 1
    assert findings(records, "M2") == {"missing_read": "resolved"}


def test_editing_a_fallen_demand_freeze_clears_its_finding(
    records: Engine, store: MeasurementStore, batch: BatchEngine
) -> None:
    """M3's maximum demand reads 0.15, 0.25 and then 0.18 kW on the freezes of 2–4 Jul: a
    fall inside July, found on the 4 Jul freeze. The 0.25 was misread (the meter's record
    says 0.17); with the 3 Jul freeze edited to it the fall is gone, and the re-run resolves
    the finding on the freeze after the edited one. The energy register is not touched."""
    clock = FixedClock(NOW)
    days = [date(2026, 7, d) for d in range(1, 6)]
    with unit_of_work(records) as session:
        place_meter(session, "M3")
    store.ingest_register_reads(reads("M3", {d: 10.0 * d.day for d in days}), source="t")
    demand = dict(zip(days[1:4], (0.15, 0.25, 0.18), strict=True))
    store.ingest_register_reads(reads("M3", demand, "MD+"), source="t")
    with unit_of_work(records) as session:
        run_rule_chain(session, clock, batch, store, days[0], days[3])
    assert findings(records, "M3") == {"demand_register_fall": "open"}
    with unit_of_work(records) as session:
        point = editing.locate(session, clock, "M3", "MD+", freeze(days[2]))
        editing.edit(session, clock, batch, point, Decimal("0.17"), reason="meter", actor="li")
    assert findings(records, "M3") == {"demand_register_fall": "resolved"}
    assert current(store, "M3")[days[3]] == (Decimal(40), "raw")


# ---------------------------------------------------------------------------- files of edits


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edits.csv"
    path.write_text(text)
    return path


GOOD = """meter_no,channel,timestamp,value,reason
M1,A+,2026-07-02T00:00+08:00,111,site visit
M1,A+,2026-07-03T00:00+08:00,121,
"""


def test_a_file_of_edits_is_applied_as_one_and_twice_changes_nothing(
    records: Engine,
    store: MeasurementStore,
    batch: BatchEngine,
    gap: FixedClock,
    tmp_path: Path,
) -> None:
    path = write(tmp_path, GOOD)
    with unit_of_work(records) as session:
        report = edit_files.edit_file(session, gap, batch, path, reason="manual reads", actor="li")
    assert (report.rows, report.edited, report.unchanged) == (2, 2, 0)
    assert len(report.reruns) == 1 and report.reruns[0].meter_no == "M1"
    assert current(store, "M1")[date(2026, 7, 2)] == (Decimal("111.0000"), "edited")
    assert current(store, "M1")[date(2026, 7, 3)] == (Decimal("121.0000"), "edited")
    stored = store.count("register_reads", current=False)
    with unit_of_work(records) as session:
        reasons = session.scalars(
            select(AuditEvent.reason).where(AuditEvent.action == "vee.edit").order_by(AuditEvent.id)
        ).all()
        again = edit_files.edit_file(session, gap, batch, path, reason="manual reads", actor="li")
        edits = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "vee.edit")
        )
    assert reasons == ["site visit", "manual reads"]
    assert (again.edited, again.unchanged, again.reruns) == (0, 2, [])
    assert edits == 2 and store.count("register_reads", current=False) == stored


BAD_FILES = [
    ("meter_no,channel,timestamp\nM1,A+,2026-07-02T00:00+08:00\n", ":1: no column value"),
    ("meter_no,channel,timestamp,value\n", "holds no edits"),
    (
        "meter_no,channel,timestamp,value\nM1,A+,2026-07-02T00:00,111\n",
        ":2: naive timestamp",
    ),
    ("meter_no,channel,timestamp,value\nM1,A+,2026-07-02T00:00+08:00,1l1\n", ":2: value '1l1'"),
    ("meter_no,channel,timestamp,value\nM9,A+,2026-07-02T00:00+08:00,111\n", ":2: unknown meter"),
    ("meter_no,channel,timestamp,value\nM1,B+,2026-07-02T00:00+08:00,111\n", ":2: unknown channel"),
    (
        "meter_no,channel,timestamp,value\nM1,A+,2026-07-03T00:00+08:00,121\n"
        "M1,A+,2026-07-02T00:00+08:00,111\n",
        ":3: M1/A+/2026-07-01T16:00Z is earlier than line 2",
    ),
    (
        "meter_no,channel,timestamp,value\nM1,A+,2026-07-02T00:00+08:00,111\n"
        "M1,A+,2026-07-02T00:00+08:00,112\n",
        ":3: M1/A+/2026-07-01T16:00Z repeats line 2",
    ),
    (
        "meter_no,channel,timestamp,value\nM1,A+,2026-07-02T00:00+08:00,125\n"
        "M1,A+,2026-07-03T00:00+08:00,121\n",
        ":2: 125.0000 for M1/A+ at 2026-07-02T00:00+08:00 is above the read after it (121",
    ),
    ("meter_no,channel,timestamp,value\nM1,A+,2026-07-02T00:00+08:00,111,x\n", ":2: not 4 fields"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_a_bad_file_of_edits_names_its_line_and_writes_nothing(
    records: Engine,
    store: MeasurementStore,
    batch: BatchEngine,
    gap: FixedClock,
    tmp_path: Path,
    text: str,
    message: str,
) -> None:
    path = write(tmp_path, text)
    stored = store.count("register_reads", current=False)
    with pytest.raises(InputError, match=re.escape(message)), unit_of_work(records) as session:
        edit_files.edit_file(session, gap, batch, path, reason="r", actor="li")
    assert store.count("register_reads", current=False) == stored
    with unit_of_work(records) as session:
        assert session.scalars(select(AuditEvent)).all() == []
