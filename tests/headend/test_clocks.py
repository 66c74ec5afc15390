"""Clock check and broadcast time sync over the simulated wire."""

from __future__ import annotations

import asyncio
from datetime import date

import numpy as np

from meter2cash.core.timezones import zone
from meter2cash.headend.clocks import ClockReport, check_clocks
from meter2cash.simulator import UtilitySpec, build_utility
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
