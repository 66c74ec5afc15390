"""A dunning run as a collector sees it: an overdue account climbs one step per run with the
waits between, a hospital is never cut off, paying ends dunning and reconnects, and the
evidence pack shows the unpaid bills with their estimated reads."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest
from pypdf import PdfReader
from sqlalchemy import Engine, select

from meter2cash.assets.models import (
    Account,
    Meter,
    MeterInstallation,
    ServicePoint,
    TransformerArea,
    Utility,
    Zone,
)
from meter2cash.billing.issue import issue_approved
from meter2cash.billing.models import Bill
from meter2cash.collections.dunning import load_policy
from meter2cash.collections.dunning_run import DunningReport, run_dunning
from meter2cash.collections.evidence import evidence_pack, render_evidence
from meter2cash.collections.models import DunningState, DunningStep, OutboxMessage
from meter2cash.core.clock import FixedClock
from meter2cash.db.session import unit_of_work
from meter2cash.headend.models import MeterCommand
from meter2cash.ledger.payments import PAYMENT_COLUMNS, post_payments
from meter2cash.measurements.store import MeasurementStore
from tests.factories import create_account, create_bill

TZ = ZoneInfo("Asia/Shanghai")
BILLED = date(2026, 8, 2)
"""Both bills are dated, and due, on 2 August 2026 (period 1–2 August)."""


@dataclass
class Scene:
    records: Engine
    store: MeasurementStore
    clock: FixedClock
    documents: Path

    def run(self, on: date) -> DunningReport:
        self.clock.set(datetime.combine(on, time(9), TZ))
        with unit_of_work(self.records) as session:
            return run_dunning(session, self.store, self.clock, load_policy(), on, self.documents)

    def state(self, account_no: str) -> tuple[str, bool] | None:
        with unit_of_work(self.records) as session:
            state = session.scalar(
                select(DunningState)
                .join(Account, Account.id == DunningState.account_id)
                .where(Account.account_no == account_no)
            )
            return None if state is None else (state.step_name, state.disconnected)

    def commands(self) -> list[tuple[str, str, str]]:
        with unit_of_work(self.records) as session:
            return [
                (c.meter_no, c.kind, c.status)
                for c in session.scalars(select(MeterCommand).order_by(MeterCommand.id))
            ]


@pytest.fixture
def utility(records: Engine, clock: FixedClock, tmp_path: Path) -> Iterator[Scene]:
    """A001, a household, owes 120.00 on an estimated bill; H001, a hospital, owes 500.00.
    Each has a meter at its service point; A001's closing read was estimated by VEE."""
    store = MeasurementStore(tmp_path / "measurements", TZ)
    with unit_of_work(records) as session:
        session.add(
            Utility(
                name="示范供电公司", fingerprint="test", timezone=TZ.key, created_at=clock.now()
            )
        )
        household = create_account(session, "A001")
        hospital = create_account(session, "H001", "commercial")
        hospital.dunning_exemption = "hospital"
        zone = session.query(Zone).one()
        area = TransformerArea(
            code="T1", zone_id=zone.id, name="一号台区", capacity_kva=Decimal(400)
        )
        session.add(area)
        session.flush()
        for account in (household, hospital):
            point = ServicePoint(
                code=f"SP-{account.account_no}", account_id=account.id, transformer_area_id=area.id
            )
            meter = Meter(meter_no=f"M-{account.account_no}", address=f"0000000{account.id:05d}")
            session.add_all([point, meter])
            session.flush()
            session.add(
                MeterInstallation(
                    meter_id=meter.id,
                    service_point_id=point.id,
                    installed_at=datetime(2025, 1, 1, tzinfo=UTC),
                )
            )
        estimated = create_bill(session, household, 12_000, BILLED)
        estimated.estimated = True
        create_bill(session, hospital, 50_000, BILLED)
        issue_approved(session, clock)
    opening = datetime(2026, 8, 1, tzinfo=TZ)
    closing = datetime(2026, 8, 3, tzinfo=TZ)
    store.ingest_register_reads(
        pa.table(
            {
                "meter_no": ["M-A001"],
                "channel": ["A+"],
                "ts": pa.array([opening], pa.timestamp("us", tz="UTC")),
                "value": [1000.0],
            }
        ),
        source="test",
    )
    store.write_versions(
        "register_reads",
        pa.table(
            {
                "meter_no": ["M-A001"],
                "channel": ["A+"],
                "ts": pa.array([closing], pa.timestamp("us", tz="UTC")),
                "value": [1100.0],
                "read_type": ["daily_frozen"],
            }
        ),
        quality="estimated",
        source="vee:linear",
    )
    store.ingest_events(
        pa.table(
            {
                "meter_no": ["M-A001"],
                "ts": pa.array([datetime(2026, 8, 20, 3, tzinfo=TZ)], pa.timestamp("us", tz="UTC")),
                "code": ["cover_open"],
                "detail": ["meter cover opened"],
            }
        ),
        source="test",
    )
    yield Scene(records, store, clock, tmp_path / "documents")


def _pdf_text(path: Path | bytes) -> str:
    data = path if isinstance(path, bytes) else path.read_bytes()
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_an_overdue_account_climbs_one_step_per_run_with_the_waits(utility: Scene) -> None:
    first = utility.run(date(2026, 8, 3))
    assert first.moved == {"reminder": 2}
    assert first.messages_queued == 2  # one SMS each
    assert utility.state("A001") == ("reminder", False)

    assert utility.run(date(2026, 8, 10)).moved == {}  # 8 days late: the notice needs 15
    notice = utility.run(date(2026, 8, 17))
    assert notice.moved == {"formal_notice": 2}
    assert (notice.messages_queued, notice.notices_written, notice.evidence_written) == (4, 2, 2)
    assert utility.run(date(2026, 9, 1)).moved == {"disconnection_warning": 2}
    assert utility.run(date(2026, 9, 3)).moved == {}  # 32 days late: the cut needs 33
    cut = utility.run(date(2026, 9, 4))
    assert cut.moved == {"disconnection": 1}
    assert cut.trips_requested == 1
    assert utility.state("A001") == ("disconnection", True)
    assert utility.commands() == [("M-A001", "relay_trip", "requested")]
    with unit_of_work(utility.records) as session:
        steps = session.scalars(
            select(DunningStep).where(DunningStep.step_name == "disconnection")
        ).all()
        assert [s.command_id is not None for s in steps] == [True]
        letters = session.scalars(
            select(OutboxMessage).where(OutboxMessage.channel == "letter")
        ).all()
    assert all(m.document_path and Path(m.document_path).exists() for m in letters)
    warning = next(m for m in letters if "停电通知书" in m.subject and "A001" in m.subject)
    assert "120.00 元" in warning.body and "2026-08-02" in warning.body
    assert "如 2026-09-04 前仍未缴清，将依规停止供电" in warning.body


def test_a_hospital_is_warned_but_never_cut_off(utility: Scene) -> None:
    for day in (date(2026, 8, 3), date(2026, 8, 17), date(2026, 9, 1)):
        utility.run(day)
    for day in (date(2026, 9, 4), date(2026, 10, 30)):
        report = utility.run(day)
        assert report.exempt_held == {"hospital": 1}
    assert utility.state("H001") == ("disconnection_warning", False)
    assert all(meter != "M-H001" for meter, _, _ in utility.commands())


def test_paying_ends_dunning_and_requests_reconnection(utility: Scene) -> None:
    for day in (date(2026, 8, 3), date(2026, 8, 17), date(2026, 9, 1), date(2026, 9, 4)):
        utility.run(day)
    with unit_of_work(utility.records) as session:
        post_payments(
            session,
            utility.clock,
            pd.DataFrame(
                [("counter", "R1", "A001", 12_000, date(2026, 9, 5))],
                columns=list(PAYMENT_COLUMNS),
            ),
        )
    paid = utility.run(date(2026, 9, 6))
    assert paid.moved == {"ended": 1}
    assert paid.reconnections_requested == 1
    assert utility.state("A001") == ("", False)
    assert utility.commands() == [
        ("M-A001", "relay_trip", "requested"),
        ("M-A001", "relay_close", "requested"),
    ]
    assert utility.run(date(2026, 9, 7)).moved == {}


def test_running_twice_the_same_day_queues_nothing_new(utility: Scene) -> None:
    for day in (date(2026, 8, 3), date(2026, 8, 17)):
        utility.run(day)
    again = utility.run(date(2026, 8, 17))
    assert (again.moved, again.messages_queued, again.notices_written) == ({}, 0, 0)
    with unit_of_work(utility.records) as session:
        assert len(session.scalars(select(DunningStep)).all()) == 4
        assert len(session.scalars(select(OutboxMessage)).all()) == 6


def test_the_evidence_pack_shows_unpaid_bills_estimates_events_and_notices(
    utility: Scene,
) -> None:
    for day in (date(2026, 8, 3), date(2026, 8, 17)):
        utility.run(day)
    with unit_of_work(utility.records) as session:
        step = session.scalars(
            select(DunningStep)
            .join(Account, Account.id == DunningStep.account_id)
            .where(Account.account_no == "A001", DunningStep.step_name == "formal_notice")
        ).one()
        bill_no = session.scalars(
            select(Bill.bill_no).join(Account).where(Account.account_no == "A001")
        ).one()
        pack = evidence_pack(session, utility.store, "A001", date(2026, 8, 20))
    assert step.evidence_path is not None
    stored = _pdf_text(Path(step.evidence_path))
    assert bill_no in stored and "estimated" in stored
    text = _pdf_text(render_evidence(pack))
    assert bill_no in text
    assert "估算 estimated" in text and "(linear)" in text  # the estimated read, its method
    assert "开表盖 cover opened" in text
    assert "120.00" in text
    assert [m.channel for m in pack.messages] == ["sms", "sms", "letter"]
    assert pack.overdue == Decimal("120.00")
