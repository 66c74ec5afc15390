"""Remote commands sent over DL/T 645 on TCP to the simulated meters, as a user sees them:
the command list and the audit trail."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, select

from meter2cash.core.clock import FixedClock
from meter2cash.db.session import unit_of_work
from meter2cash.headend import commands
from meter2cash.headend.dispatch import DispatchPolicy, DispatchReport, dispatch_async
from meter2cash.headend.link import RetryPolicy
from meter2cash.headend.models import MeterCommand
from meter2cash.measurements.store import MeasurementStore
from meter2cash.simulator import SimulatedUtility
from meter2cash.simulator.wire import Fleet
from tests.headend.wire_scenarios import (
    FAST,
    NEWEST,
    TZ,
    command_list,
    dispatch_on,
    on_fleet,
    request,
    residential_meters,
    silent_meter,
    trail,
)


def test_a_meter_is_tripped_then_closed_and_the_audit_trail_tells_the_story(
    wire_records: Engine, clock: FixedClock, wire_utility: SimulatedUtility
) -> None:
    """
    A collector asks for a trip (arrears); the head-end sends it, the meter acknowledges and
    its trip count rises; it now passes no current. The customer pays; a cashier asks for a
    close; current flows again. Every step is in the audit log with who and why.
    """
    meter = residential_meters(wire_utility)[0]
    address = dict(
        zip(wire_utility.meters["meter_no"], wire_utility.meters["address"], strict=True)
    )[meter]
    request(wire_records, clock, meter, "relay_trip", key="dun-42")

    async def scenario(fleet: Fleet) -> tuple[DispatchReport, bool, DispatchReport, bool]:
        tripped = await dispatch_on(fleet, wire_records, clock)
        open_after_trip = fleet.bank.relay_open(address)
        request(wire_records, clock, meter, "relay_close", actor="cashier-1", reason="paid in full")
        closed = await dispatch_on(fleet, wire_records, clock)
        return tripped, open_after_trip, closed, fleet.bank.relay_open(address)

    tripped, open_after_trip, closed, open_at_end = on_fleet(wire_utility, scenario)
    assert tripped.counts() == {"confirmed": 1, "failed": 0}
    assert open_after_trip and not open_at_end
    assert closed.counts() == {"confirmed": 1, "failed": 0}
    assert trail(wire_records, meter) == (
        "collector-7 command.relay_trip.requested      arrears 91 days, notice served\n"
        "headend     command.relay_trip.sent           sent over DL/T 645, 4 request(s)\n"
        "headend     command.relay_trip.confirmed      relay open: trip count 0 → 1\n"
        "cashier-1   command.relay_close.requested     paid in full\n"
        "headend     command.relay_close.sent          sent over DL/T 645, 2 request(s)\n"
        "headend     command.relay_close.confirmed     relay closed: phase A <current> A"
    )
    with unit_of_work(wire_records) as session:
        trip = session.scalars(select(MeterCommand).order_by(MeterCommand.id)).first()
        assert trip is not None and trip.frame_hex is not None
        # 68 A0…A5 68 1C 10 …: relay control, 16 data bytes; N1 = 1A (+33 on the wire = 4D)
        assert trip.frame_hex.startswith("68" + bytes.fromhex(address)[::-1].hex().upper())
        assert trip.frame_hex[16:20] == "1C10" and trip.frame_hex[36:38] == "4D"
        assert commands.relay_open_meters(session) == set()


def test_an_expired_or_unauthorised_relay_command_fails_with_the_meters_reason(
    wire_records: Engine, clock: FixedClock, wire_utility: SimulatedUtility
) -> None:
    """
    A head-end whose clock is an hour slow sends a trip that is valid for ten minutes: the
    meter finds it expired and refuses. A trip with the wrong password is refused too. Both
    went out, so each is sent, then failed with the reason.
    """
    late, wrong = residential_meters(wire_utility)[1:3]
    request(wire_records, clock, late, "relay_trip")

    async def scenario(fleet: Fleet) -> tuple[DispatchReport, DispatchReport]:
        slow = await dispatch_on(
            fleet, wire_records, clock, now=lambda: fleet.now() - timedelta(hours=1)
        )
        request(wire_records, clock, wrong, "relay_trip")
        bad = DispatchPolicy(timeout_s=0.2, password="02123456")
        return slow, await dispatch_on(fleet, wire_records, clock, policy=bad)

    slow, unauthorised = on_fleet(wire_utility, scenario)
    assert slow.counts() == unauthorised.counts() == {"confirmed": 0, "failed": 1}
    assert command_list(wire_records) == (
        "relay_trip      failed     meter refused: other error (ERR 01); the meter's clock runs "
        "60 min ahead of the head-end, so the command (10 min valid) had expired for it: sync "
        "its clock and send again\n"
        "relay_trip      failed     meter refused: password wrong or unauthorised (ERR 04)"
    )
    assert trail(wire_records, wrong).splitlines()[1:] == [
        "headend     command.relay_trip.sent           sent over DL/T 645, 2 request(s)",
        "headend     command.relay_trip.failed         "
        "meter refused: password wrong or unauthorised (ERR 04)",
    ]


def test_a_silent_meter_fails_after_retries_and_an_unreachable_concentrator_sends_nothing(
    wire_records: Engine, clock: FixedClock, wire_utility: SimulatedUtility
) -> None:
    """
    A dead meter never answers: its trip goes out three times (and the trip-count reads
    around it), then fails. A concentrator nobody listens on takes nothing: the command goes
    from requested straight to failed, never sent.
    """
    dead = silent_meter(wire_utility)
    request(wire_records, clock, dead, "relay_trip")
    report = on_fleet(wire_utility, lambda fleet: dispatch_on(fleet, wire_records, clock), loss=0.0)
    assert report.counts() == {"confirmed": 0, "failed": 1}
    (outcome,) = report.outcomes
    assert outcome.attempts == 6  # 3 trip-count reads, 3 relay commands
    assert trail(wire_records, dead).splitlines()[1:] == [
        "headend     command.relay_trip.sent           sent over DL/T 645, 6 request(s)",
        "headend     command.relay_trip.failed         "
        "no reply after 3 request(s): no reply within 0.2 s",
    ]

    honest = residential_meters(wire_utility)[3]
    request(wire_records, clock, honest, "on_demand_read", reason="customer disputes the bill")
    nobody = {code: ("127.0.0.1", 9) for code in wire_utility.concentrators["code"]}
    report = asyncio.run(
        dispatch_async(wire_records, clock, None, nobody, tz=TZ, policy=FAST, meters=[honest])
    )
    (outcome,) = report.outcomes
    assert not outcome.confirmed and outcome.frame_hex is None
    assert outcome.detail.startswith("no reply after 3 request(s): cannot connect")
    assert [line.split()[1] for line in trail(wire_records, honest).splitlines()] == [
        "command.on_demand_read.requested",
        "command.on_demand_read.failed",
    ]


def test_an_on_demand_read_is_stored_and_a_time_sync_is_confirmed_by_the_clock(
    wire_records: Engine, clock: FixedClock, wire_utility: SimulatedUtility, tmp_path: Path
) -> None:
    """
    An on-demand read of the forward active block lands in the measurement store as
    read type on_demand (total and four rates); a time sync to a meter whose clock runs
    minutes off is broadcast behind its concentrator and confirmed by reading the clock
    back within a few seconds. Both over a lossy PLC (10 % of frames lost).
    """
    store = MeasurementStore(tmp_path / "store", TZ, clock=clock)
    reader = residential_meters(wire_utility)[4]
    offsets = wire_utility.faults.clock_offset_s(NEWEST)
    answering = ~wire_utility.faults.silent(NEWEST)
    drifted = str(
        np.asarray(wire_utility.meters["meter_no"])[(np.abs(offsets) > 60) & answering][0]
    )
    request(wire_records, clock, reader, "on_demand_read", reason="customer disputes the bill")
    request(wire_records, clock, drifted, "time_sync", actor="headend", reason="clock drift")

    patient = DispatchPolicy(timeout_s=0.2, retry=RetryPolicy(retries=4, backoff_s=(0.01, 0.05)))
    report = on_fleet(
        wire_utility,
        lambda fleet: dispatch_on(fleet, wire_records, clock, store, policy=patient),
        loss=0.1,
    )
    assert report.counts() == {"confirmed": 2, "failed": 0}
    assert report.reads_stored == 5
    read, sync = report.outcomes
    assert sync.detail.startswith("clock off by ") and sync.detail.endswith("(within 5 s)")
    assert abs(float(sync.detail.split()[3])) <= 2.5
    stored = store.scan("register_reads").to_pandas()
    assert set(stored["read_type"]) == {"on_demand"}
    assert sorted(stored["channel"]) == ["A+", "A+1", "A+2", "A+3", "A+4"]
    total = stored.loc[stored["channel"] == "A+", "value"].iloc[0]
    assert f"A+ {total:.2f} kWh" in read.detail
    i = list(wire_utility.meters["meter_no"]).index(reader)
    newest_freeze = np.round(wire_utility.rate_registers[NEWEST, i], 2)
    assert float(total) == pytest.approx(round(float(newest_freeze.sum()), 2))
