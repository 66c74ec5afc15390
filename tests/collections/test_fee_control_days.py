"""Fee control over a simulated utility's days: its prepay customers enrolled, charged every
day, warned, told at zero, cut off through the meters' relays over DL/T 645, and restored
minutes after they top up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import select

from meter2cash import spine
from meter2cash.assets.models import Account, Meter, MeterInstallation, ServicePoint
from meter2cash.collections.fee_control_report import fee_control_report
from meter2cash.collections.models import FeeControlState
from meter2cash.db.session import unit_of_work
from meter2cash.headend.commands import relay_open_meters
from meter2cash.ledger.receivables import reconcile
from meter2cash.ledger.service import trial_balance
from meter2cash.simulator import UtilitySpec
from meter2cash.spine_fee_control import FeeControlDays, enrol_customers, fee_control_days
from meter2cash.workspace import Workspace
from tests.factories import simulated_workspace

SPEC = UtilitySpec(seed=2026, accounts=200, start=date(2026, 8, 31), days=24)
FIRST, LAST = date(2026, 9, 1), date(2026, 9, 22)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, FeeControlDays]]:
    """The utility's prepay customers enrolled from 1 September and 1–22 September run."""
    with simulated_workspace(tmp_path_factory.mktemp("home"), SPEC) as ws:
        sim = spine.simulated_utility(ws)
        assert enrol_customers(ws, sim, FIRST) == int(sim.accounts["prepay"].sum()) > 0
        assert enrol_customers(ws, sim, FIRST) == 0
        ticks: list[None] = []
        days = fee_control_days(ws, sim, FIRST, LAST, lambda: ticks.append(None))
        assert len(ticks) == (LAST - FIRST).days + 1
        yield ws, days


def test_every_day_is_charged_and_the_cut_off_are_restored_minutes_after_a_top_up(
    ran: tuple[Workspace, FeeControlDays],
) -> None:
    ws, days = ran
    with unit_of_work(ws.records) as session:
        report = fee_control_report(session, FIRST, SPEC.end, ws.settings.tz)
        charged = set(session.scalars(select(FeeControlState.charged_through)))
        assert trial_balance(session).balanced
        reconcile(session)
    assert charged == {LAST}
    assert report.charges_posted == days.accounts * ((LAST - FIRST).days + 1)
    assert days.top_ups > days.accounts  # the opening top-ups and more
    assert report.warnings > 0 and report.notices > 0
    assert report.trips_requested > 0 and report.reconnects_requested > 0
    assert report.trips_confirmed == report.trips_requested
    assert report.reconnects_confirmed == report.reconnects_requested
    assert (
        days.commands_confirmed
        == days.commands_sent
        == (report.trips_requested + report.reconnects_requested)
    )
    assert report.reconnects_timed == report.reconnects_confirmed
    assert report.reconnect_hours_p95 is not None and report.reconnect_hours_p95 < 0.1


def test_the_relays_left_open_are_those_of_the_accounts_still_cut_off(
    ran: tuple[Workspace, FeeControlDays],
) -> None:
    ws, _ = ran
    with unit_of_work(ws.records) as session:
        cut = set(
            session.scalars(
                select(Meter.meter_no)
                .join(MeterInstallation, MeterInstallation.meter_id == Meter.id)
                .join(ServicePoint, ServicePoint.id == MeterInstallation.service_point_id)
                .join(FeeControlState, FeeControlState.account_id == ServicePoint.account_id)
                .where(FeeControlState.tripped)
            )
        )
        assert relay_open_meters(session) == cut


def test_going_through_the_days_again_posts_nothing_more(
    ran: tuple[Workspace, FeeControlDays],
) -> None:
    ws, days = ran
    before = ws.clock.now()
    again = fee_control_days(ws, spine.simulated_utility(ws), FIRST, LAST, lambda: None)
    assert (again.top_ups, again.accounts) == (0, days.accounts)
    assert ws.clock.now() == before
    with unit_of_work(ws.records) as session:
        assert session.scalar(select(Account.id).where(Account.prepay).limit(1)) is not None
        report = fee_control_report(session, FIRST, SPEC.end, ws.settings.tz)
    assert report.charges_posted == days.accounts * ((LAST - FIRST).days + 1)
