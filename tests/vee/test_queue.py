"""The exception queue: counts by rule, zone and age; resolving re-runs what depends on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from meter2cash.billing.models import Bill
from meter2cash.core.clock import FixedClock
from meter2cash.db.audit import AuditEvent
from meter2cash.db.session import unit_of_work
from meter2cash.engines.base import BatchEngine
from meter2cash.engines.duckdb_engine import DuckDBEngine
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee import editing, queue
from meter2cash.vee.freezes import run_vee
from meter2cash.vee.models import VeeFinding
from tests.factories import create_account, create_bill
from tests.vee.test_editing import TZ, current, freeze, place_meter, reads

JUL = [date(2026, 7, d) for d in range(1, 5)]


@pytest.fixture
def store(tmp_path: Path) -> MeasurementStore:
    return MeasurementStore(tmp_path / "m", TZ)


@pytest.fixture
def batch(store: MeasurementStore) -> Iterator[BatchEngine]:
    engine = DuckDBEngine(store)
    yield engine
    engine.close()


def open_findings(records: Engine) -> list[tuple[str, str, date]]:
    with unit_of_work(records) as session:
        rows = session.execute(
            select(VeeFinding.meter_no, VeeFinding.rule, VeeFinding.ts).where(
                VeeFinding.status == "open"
            )
        ).tuples()
        return sorted((m, r, ts.astimezone(TZ).date()) for m, r, ts in rows)


@pytest.fixture
def queued(records: Engine, store: MeasurementStore) -> FixedClock:
    """
    Zone Z1: M2 reads 50 and 51 on 1–2 Jul, then stops (3 and 4 Jul wait: no closing read).
    Zone Z2: M3 reads 200, 190, 195, 196 — 2 Jul is a decrease — checked on 20 Aug.
    Nowhere: X1, a meter with no installation, reads 7 on 2 Jul only (1, 3, 4 Jul wait).
    """
    clock = FixedClock(datetime(2026, 7, 5, tzinfo=UTC))
    with unit_of_work(records) as session:
        place_meter(session, "M2", zone_code="Z1")
        place_meter(session, "M3", zone_code="Z2")
    store.ingest_register_reads(
        reads("M2", dict(zip(JUL[:2], [50.0, 51.0], strict=True))), source="t"
    )
    store.ingest_register_reads(reads("X1", {JUL[1]: 7.0}), source="t")
    store.ingest_register_reads(
        reads("M3", dict(zip(JUL, [200.0, 190.0, 195.0, 196.0], strict=True))), source="t"
    )
    with unit_of_work(records) as session:
        run_vee(session, clock, store, ["M2", "X1"], JUL[0], JUL[-1])
    clock.set(datetime(2026, 8, 20, 4, tzinfo=UTC))
    with unit_of_work(records) as session:
        run_vee(session, clock, store, ["M3"], JUL[0], JUL[-1])
    clock.set(datetime(2026, 8, 21, 4, tzinfo=UTC))
    return clock


def test_the_queue_counts_open_exceptions_by_rule_zone_and_age(
    records: Engine, queued: FixedClock
) -> None:
    with unit_of_work(records) as session:
        summary = queue.summary(session, queued, TZ, oldest=3)
    assert open_findings(records) == [
        ("M2", "missing_read", JUL[2]),
        ("M2", "missing_read", JUL[3]),
        ("M3", "register_decrease", JUL[1]),
        ("X1", "missing_read", JUL[0]),
        ("X1", "missing_read", JUL[2]),
        ("X1", "missing_read", JUL[3]),
    ]
    assert summary.open == 6
    assert summary.by_rule == [("missing_read", 5), ("register_decrease", 1)]
    assert summary.by_zone == [("(none)", 3), ("Z1", 2), ("Z2", 1)]
    assert summary.by_age == [("0-1 d", 1), ("2-7 d", 0), ("8-30 d", 0), (">30 d", 5)]
    assert [(e.meter_no, e.ts.astimezone(TZ).date(), e.age_days) for e in summary.oldest] == [
        ("X1", JUL[0], 47),
        ("M2", JUL[2], 47),
        ("X1", JUL[2], 47),
    ]


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (0, "0-1 d"),
        (1, "0-1 d"),
        (2, "2-7 d"),
        (7, "2-7 d"),
        (8, "8-30 d"),
        (30, "8-30 d"),
        (31, ">30 d"),
        (400, ">30 d"),
    ],
)
def test_age_buckets(days: int, bucket: str) -> None:
    assert queue.age_bucket(days) == bucket


def test_resolving_is_audited_reruns_vee_and_leaves_the_queue(
    records: Engine, store: MeasurementStore, batch: BatchEngine, queued: FixedClock
) -> None:
    with unit_of_work(records) as session:
        decrease = session.scalars(
            select(VeeFinding).where(VeeFinding.rule == "register_decrease")
        ).one()
        report = queue.resolve(
            session,
            queued,
            batch,
            decrease.id,
            reason="meter exchanged on 2 Jul, new meter starts at 190",
            actor="zhao.min",
        )
    assert report.changed and report.rerun is not None
    assert (report.rerun.first, report.rerun.last) == (JUL[0], JUL[2])
    assert ("M3", "register_decrease", JUL[1]) not in open_findings(records)
    with unit_of_work(records) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "vee.resolve")).one()
        summary = queue.summary(session, queued, TZ)
        again = queue.resolve(session, queued, batch, decrease.id, reason="x", actor="zhao.min")
    assert (event.actor, event.object_key) == ("zhao.min", str(decrease.id))
    assert event.before == {"status": "open", "rule": "register_decrease"}
    assert event.after == {"status": "resolved", "rule": "register_decrease"}
    assert summary.open == 5 and ("register_decrease", 1) not in summary.by_rule
    assert not again.changed


def test_an_edit_closing_a_gap_resolves_it_and_the_rerun_estimates_the_rest(
    records: Engine, store: MeasurementStore, batch: BatchEngine, queued: FixedClock
) -> None:
    """
    M2 stopped after 51 on 2 Jul. A manual read gives 55 on 4 Jul: that finding is resolved
    by the edit, and re-running VEE over 2–4 Jul estimates 3 Jul (53) and clears its finding.
    """
    with unit_of_work(records) as session:
        point = editing.locate(session, queued, "M2", "A+", freeze(JUL[3]))
        report = editing.edit(
            session, queued, batch, point, Decimal(55), reason="manual read", actor="li"
        )
    assert report.rerun is not None
    assert (report.rerun.first, report.rerun.last, report.rerun.estimated) == (JUL[1], JUL[3], 1)
    assert len(report.resolved) == 1 and len(report.rerun.cleared) == 1
    assert [f for f in open_findings(records) if f[0] == "M2"] == []
    assert current(store, "M2")[JUL[2]] == (Decimal("53.0000"), "estimated")
    with unit_of_work(records) as session:
        cleared = session.get(VeeFinding, report.rerun.cleared[0])
        clear_event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "vee.clear")
        ).one()
    assert cleared is not None and cleared.status == "estimated"
    assert clear_event.actor == "vee" and "edit of M2/A+" in clear_event.reason


def test_a_changed_period_read_sends_unissued_bills_to_review_and_reports_issued_ones(
    records: Engine, store: MeasurementStore, batch: BatchEngine
) -> None:
    """
    Account A001's meter M4 reads 200 on 30 Jun, 210 on 1 Jul and 220 on 2 Jul. June's bill
    is issued; July's is approved, not yet issued. The freeze of 1 Jul closes June and opens
    July: editing it sends July's bill back to review and reports June's for a rebill.
    Editing 2 Jul, inside July, touches neither bill.
    """
    clock = FixedClock(datetime(2026, 8, 5, tzinfo=UTC))
    with unit_of_work(records) as session:
        account = create_account(session, "A001")
        place_meter(session, "M4", account=account)
        create_bill(session, account, 9_000, date(2026, 6, 30), status="issued")
        create_bill(session, account, 9_500, date(2026, 7, 31), status="approved")
    store.ingest_register_reads(
        reads("M4", {date(2026, 6, 30): 200.0, JUL[0]: 210.0, JUL[1]: 220.0}), source="t"
    )
    with unit_of_work(records) as session:
        inside = editing.edit(
            session,
            clock,
            batch,
            editing.locate(session, clock, "M4", "A+", freeze(JUL[1])),
            Decimal(219),
            reason="photo of the register",
            actor="li",
        )
        edge = editing.edit(
            session,
            clock,
            batch,
            editing.locate(session, clock, "M4", "A+", freeze(JUL[0])),
            Decimal(212),
            reason="photo of the register",
            actor="li",
        )
    assert inside.rerun is not None and edge.rerun is not None
    assert (inside.rerun.bills_to_review, inside.rerun.bills_to_rebill) == ([], [])
    assert edge.rerun.bills_to_review == ["20260731-A001"]
    assert edge.rerun.bills_to_rebill == ["20260630-A001"]
    with unit_of_work(records) as session:
        july = session.scalars(select(Bill).where(Bill.bill_no == "20260731-A001")).one()
        june = session.scalars(select(Bill).where(Bill.bill_no == "20260630-A001")).one()
        holds = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "bill.hold")
        )
    assert july.status == "in_review" and "reads changed after billing" in july.review_reasons
    assert june.status == "issued"
    assert holds == 1
