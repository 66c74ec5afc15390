"""Status monitoring: sudden load changes against a meter's own recent days, and voltage
without current read over the wire."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from meter2cash.core.clock import FixedClock
from meter2cash.db.session import unit_of_work
from meter2cash.headend.dispatch import meter_routes
from meter2cash.headend.link import RetryPolicy
from meter2cash.headend.models import Alarm
from meter2cash.headend.monitoring import (
    InstantReading,
    InstantScan,
    MeterRating,
    Phases,
    load_change_alarms,
    meter_rating,
    raise_instantaneous_alarms,
    read_instantaneous,
    voltage_without_current,
)
from meter2cash.simulator import SimulatedUtility
from meter2cash.simulator.wire import Fleet
from tests.headend.wire_scenarios import (
    NEWEST,
    TODAY,
    TZ,
    dispatch_on,
    on_fleet,
    request,
    residential_meters,
)


def test_a_sudden_drop_and_a_sudden_rise_raise_alarms_and_steady_load_does_not() -> None:
    """
    A shop uses 100 kWh a day for a week, then 20 (bypass?) — a load_drop alarm.
    A flat uses 8 kWh a day, then 30 on one day (3.75×) — a load_rise alarm.
    A factory wobbles ±10 % — nothing.
    """
    days = [date(2026, 9, 1) + timedelta(days=i) for i in range(8)]
    rows = (
        [("S1", "commercial", d, 100.0) for d in days[:7]]
        + [("S1", "commercial", days[7], 20.0)]
        + [("F1", "residential", d, 8.0) for d in days[:7]]
        + [("F1", "residential", days[7], 30.0)]
        + [("P1", "industrial", d, 5000.0 * (1.1 if i % 2 else 0.9)) for i, d in enumerate(days)]
    )
    daily = pd.DataFrame(rows, columns=["meter_no", "customer_class", "day", "kwh"])
    found = load_change_alarms(daily)
    assert found[["meter_no", "day", "kind"]].values.tolist() == [
        ["F1", days[7], "load_rise"],
        ["S1", days[7], "load_drop"],
    ]
    assert found.loc[1, "detail"] == "20.0 kWh against a 7-day mean of 100.0 kWh"


def test_voltage_without_current_is_a_phase_with_voltage_and_less_than_starting_current() -> None:
    """
    meter                         volts A/B/C          amps A/B/C           relay  alarm
    flat, bypassed at night       221.5                0.004                closed A
    flat, honest                  221.5                1.250                closed -
    flat, cut off by command      221.5                0.000                open   -
    flat, supply down             0.0                  0.000                closed -
    shop, phase C bypassed        219/220/221          4.1/4.0/0.000        closed C
    shop, reversed CT on A        219/220/221          -4.1/4.0/4.2         closed -
    plant behind CT and PT        57.9/57.7/38.0       0.0010/0.8/0.0012    closed A
    """

    def phases(values: tuple[str | None, str | None, str | None]) -> Phases:
        a, b, c = (None if v is None else Decimal(v) for v in values)
        return a, b, c

    low = meter_rating(1, 1)
    cases = [
        ("bypassed", low, ("221.5", None, None), ("0.004", None, None), False, ("A",)),
        ("honest", low, ("221.5", None, None), ("1.250", None, None), False, ()),
        ("cut off", low, ("221.5", None, None), ("0.000", None, None), True, ()),
        ("supply down", low, ("0.0", None, None), ("0.000", None, None), False, ()),
        ("phase C", low, ("219", "220", "221"), ("4.1", "4.0", "0.000"), False, ("C",)),
        ("reversed", low, ("219", "220", "221"), ("-4.1", "4.0", "4.2"), False, ()),
        (
            "CT and PT",
            meter_rating(40, 100),
            ("57.9", "57.7", "38.0"),
            ("0.0010", "0.8", "0.0012"),
            False,
            ("A",),
        ),
    ]
    at = datetime(2026, 8, 10, 0, 5, tzinfo=UTC)
    for name, rating, volts, amps, relay_open, expected in cases:
        reading = InstantReading(name, at, phases(volts), phases(amps))
        found = voltage_without_current(reading, rating, relay_open=relay_open)
        assert found == expected, name
    assert low == MeterRating(Decimal("220"), Decimal("0.020"))


def test_bypassed_meters_raise_alarms_over_the_wire_and_a_meter_cut_off_by_command_does_not(
    wire_records: Engine, clock: FixedClock, wire_utility: SimulatedUtility
) -> None:
    """
    The simulator's partial-bypass thieves draw current past their meters at night: read
    over DL/T 645, their meters show voltage on a phase with no current, and each raises one
    voltage_without_current alarm. A meter the head-end tripped for arrears shows the same
    picture legitimately and raises none; nor does reversed wiring (current flows, reversed).
    Reading again the same day raises nothing new.
    """
    truth = wire_utility.ground_truth().theft
    silent = set(np.asarray(wire_utility.meters["meter_no"])[wire_utility.faults.silent(NEWEST)])
    active = truth[(truth["start"] <= TODAY - timedelta(days=1)) & ~truth["meter_no"].isin(silent)]
    bypassed = set(active.loc[active["kind"] == "partial_bypass", "meter_no"])
    assert len(bypassed) == 3 and set(active["kind"]) == {"partial_bypass", "reversed_wiring"}
    cut_off = residential_meters(wire_utility)[0]
    request(wire_records, clock, cut_off, "relay_trip")

    async def scenario(fleet: Fleet) -> tuple[InstantScan, InstantScan]:
        assert (await dispatch_on(fleet, wire_records, clock)).counts()["confirmed"] == 1
        with unit_of_work(wire_records) as session:
            routes = meter_routes(session)
        patient = RetryPolicy(retries=4, backoff_s=(0.01, 0.05))
        first, second = [
            await read_instantaneous(
                fleet.endpoints, routes, tz=TZ, now=fleet.now, timeout_s=0.2, retry=patient
            )
            for _ in range(2)
        ]
        return first, second

    first, second = on_fleet(wire_utility, scenario, loss=0.03)
    assert set(first.unanswered) == silent
    tripped = next(r for r in first.readings if r.meter_no == cut_off)
    assert tripped.current_a[0] == 0 and tripped.voltage_v[0] is not None
    with unit_of_work(wire_records) as session:
        report = raise_instantaneous_alarms(session, clock, first.readings, tz=TZ)
        again = raise_instantaneous_alarms(session, clock, second.readings, tz=TZ)
        alarms = session.scalars(select(Alarm).order_by(Alarm.meter_no)).all()
    assert report.raised == 3 and report.relay_open == (cut_off,)
    assert again.raised == 0
    assert {a.meter_no for a in alarms} == bypassed
    assert {a.kind for a in alarms} == {"voltage_without_current"}
    assert all(re.fullmatch(r"phase [ABC]: \d+\.\d V, 0\.000 A.*", a.detail) for a in alarms)
