"""Clock check and broadcast time sync over the simulated wire."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

import numpy as np
from sqlalchemy import Engine, select

from meter2cash.core.clock import FixedClock
from meter2cash.core.timezones import zone
from meter2cash.db.audit import AuditEvent
from meter2cash.db.session import unit_of_work
from meter2cash.headend.clocks import ClockReport, check_clocks, record_syncs
from meter2cash.headend.models import MeterCommand
from meter2cash.simulator import SimulatedUtility, UtilitySpec, build_utility
from meter2cash.simulator.wire import start_concentrators

TZ = zone("Asia/Shanghai")


def test_drifting_meters_are_found_and_a_broadcast_sync_brings_them_back() -> None:
    """
    The simulator gives some meters a clock error. Reading every clock finds them within a
    second or two of the truth; a broadcast time sync behind their concentrators sets them
    right, and a second check finds nothing.
    """
    utility = build_utility(UtilitySpec(seed=5, accounts=200, start=date(2026, 7, 1), days=40))
    today = date(2026, 8, 9)
    newest = (today - utility.spec.start).days - 1
    offsets = dict(
        zip(utility.meters["meter_no"], utility.faults.clock_offset_s(newest), strict=True)
    )
    silent = set(np.asarray(utility.meters["meter_no"])[utility.faults.silent(newest)])

    async def scenario() -> tuple[ClockReport, ClockReport]:
        fleet = await start_concentrators(utility, today, loss=0.0)
        try:
            kwargs = {"tz": TZ, "now": fleet.now, "threshold_s": 10.0, "timeout_s": 0.3}
            first = await check_clocks(fleet.endpoints, fleet.meters_by_concentrator, **kwargs)
            second = await check_clocks(fleet.endpoints, fleet.meters_by_concentrator, **kwargs)
        finally:
            await fleet.close()
        return first, second

    first, second = asyncio.run(asyncio.wait_for(scenario(), 60))
    late = {r.meter_no: r.drift_s for r in first.drifted(10.0)}
    expected = {m for m, off in offsets.items() if abs(off) > 12 and m not in silent}
    assert expected and expected <= set(late)
    for meter_no in expected:
        assert abs(late[meter_no] - offsets[meter_no]) < 2.5
    assert first.synced
    assert second.drifted(10.0) == []
    unanswered = {r.meter_no for r in first.readings if r.drift_s is None}
    assert unanswered == silent


def test_each_sync_is_a_confirmed_command_with_its_audit_trail(
    wire_records: Engine, wire_utility: SimulatedUtility
) -> None:
    """The clock check's syncs appear as time-sync commands the head-end raised: sent with the
    broadcast frame, confirmed by the read-back, audited; recording the check again adds
    nothing."""
    today = wire_utility.spec.end

    async def scenario() -> ClockReport:
        fleet = await start_concentrators(wire_utility, today, loss=0.0)
        try:
            return await check_clocks(
                fleet.endpoints,
                fleet.meters_by_concentrator,
                tz=TZ,
                now=fleet.now,
                threshold_s=60.0,
                timeout_s=0.3,
            )
        finally:
            await fleet.close()

    report = asyncio.run(asyncio.wait_for(scenario(), 60))
    drifted = {r.meter_no for r in report.drifted(60.0)}
    assert drifted and {r.meter_no for r in report.after_sync} == drifted
    clock = FixedClock(datetime(2026, 8, 9, 1, tzinfo=TZ))
    with unit_of_work(wire_records) as session:
        assert record_syncs(session, clock, report, tz=TZ, threshold_s=60.0) == len(drifted)
        assert record_syncs(session, clock, report, tz=TZ, threshold_s=60.0) == 0
        syncs = session.scalars(select(MeterCommand).where(MeterCommand.kind == "time_sync"))
        rows = {c.meter_no: c for c in syncs}
        trail = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.like("command.time_sync.%"))
        ).all()
    assert set(rows) == drifted
    assert all(c.status == "confirmed" and c.requested_by == "headend" for c in rows.values())
    assert all(c.frame_hex and c.frame_hex.startswith("68999999999999") for c in rows.values())
    assert sorted(set(trail)) == [
        "command.time_sync.confirmed",
        "command.time_sync.requested",
        "command.time_sync.sent",
    ]
    assert len(trail) == 3 * len(drifted)
