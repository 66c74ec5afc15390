"""Status monitoring: alarms from meter events, from sudden changes in daily load, and from
instantaneous values read over the wire (voltage without current).

Event alarms come from the codes meters log (tamper, power down, reverse energy); load
alarms compare each meter's day with its own trailing mean, with a threshold per customer
class; a phase with voltage but no current (失流) while the relay is closed points at a
bypass or a shorted CT. Pure detection (:func:`load_change_alarms`,
:func:`voltage_without_current`) is separate from storing (:func:`raise_alarms`,
:func:`raise_instantaneous_alarms`), which is idempotent on (meter, kind, time).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Meter, MeterInstallation
from meter2cash.core.clock import Clock
from meter2cash.core.timezones import local_midnight
from meter2cash.db.idempotent import insert_new
from meter2cash.engines import BatchEngine
from meter2cash.headend.commands import relay_open_meters
from meter2cash.headend.link import ConcentratorLink, Endpoint, QuarantinedFrame, RetryPolicy, ask
from meter2cash.headend.models import Alarm
from meter2cash.headend.protocols.dlt645 import Value, read_request
from meter2cash.headend.repository import meter_classes

EVENT_ALARMS: Final = {
    "cover_open": "tamper",
    "terminal_box_open": "tamper",
    "magnetic_tamper": "tamper",
    "power_down": "power_down",
    "reverse_energy": "reverse_energy",
}
"""Meter event code → alarm kind."""


@dataclass(frozen=True, slots=True)
class LoadChangeRule:
    """A day above ``rise`` × or below ``drop`` × the meter's trailing mean raises an alarm,
    when the mean is at least ``min_kwh`` [kWh/day]."""

    rise: float
    drop: float
    min_kwh: float


LOAD_RULES: Final = {
    "residential": LoadChangeRule(rise=3.0, drop=0.2, min_kwh=3.0),
    "commercial": LoadChangeRule(rise=2.0, drop=0.3, min_kwh=50.0),
    "industrial": LoadChangeRule(rise=1.8, drop=0.4, min_kwh=500.0),
    "supply": LoadChangeRule(rise=1.8, drop=0.4, min_kwh=500.0),
}
TRAILING_DAYS: Final = 7


def load_change_alarms(daily: pd.DataFrame) -> pd.DataFrame:
    """Days whose kWh departs from the meter's trailing mean beyond its class's rule.

    ``daily``: meter_no, customer_class, day, kwh (one row per meter and day, × multiplier).
    Returns meter_no, day, kind ('load_rise' | 'load_drop'), detail.
    """
    frame = daily.sort_values(["meter_no", "day"]).reset_index(drop=True)
    before = frame.groupby("meter_no")["kwh"].shift()
    mean = (
        before.groupby(frame["meter_no"])
        .rolling(TRAILING_DAYS, min_periods=TRAILING_DAYS)
        .mean()
        .reset_index(level=0, drop=True)
    )
    klass = frame["customer_class"]
    rise = klass.map({c: r.rise for c, r in LOAD_RULES.items()})
    drop = klass.map({c: r.drop for c, r in LOAD_RULES.items()})
    floor = klass.map({c: r.min_kwh for c, r in LOAD_RULES.items()})
    usable = mean >= floor
    up = usable & (frame["kwh"] > mean * rise)
    down = usable & (frame["kwh"] < mean * drop)
    found = frame.assign(mean=mean)[up | down].copy()
    found["kind"] = ["load_rise" if u else "load_drop" for u in up[up | down]]
    found["detail"] = [
        f"{k:.1f} kWh against a {TRAILING_DAYS}-day mean of {m:.1f} kWh"
        for k, m in zip(found["kwh"], found["mean"], strict=True)
    ]
    return found[["meter_no", "day", "kind", "detail"]].reset_index(drop=True)


def daily_consumption(
    session: Session, engine: BatchEngine, first: date, last: date
) -> pd.DataFrame:
    """kWh per meter and day from consecutive daily freezes (× multiplier), with the class."""
    reads = engine.measurements("register_reads", first, last + timedelta(days=1))
    frozen = reads.filter((reads.channel == "A+") & (reads.read_type == "daily_frozen"))
    table = engine.to_arrow(frozen.select("meter_no", "local_date", "value")).to_pandas()
    table = table.sort_values(["meter_no", "local_date"])
    table["value"] = table["value"].astype("float64")
    nxt = table.groupby("meter_no").shift(-1)
    gap = (pd.to_datetime(nxt["local_date"]) - pd.to_datetime(table["local_date"])).dt.days
    table = table.assign(kwh=nxt["value"] - table["value"])[gap == 1]
    table["day"] = pd.to_datetime(table["local_date"]).dt.date
    places = meter_classes(session)
    merged = table.merge(places, on="meter_no")
    merged["kwh"] = merged["kwh"] * merged["multiplier"]
    return merged[["meter_no", "customer_class", "day", "kwh"]]


def event_alarms(engine: BatchEngine, first: date, last: date) -> pd.DataFrame:
    """Alarm-worthy meter events in [first, last]: meter_no, ts, kind, detail."""
    events = engine.measurements("events", first, last)
    wanted = events.filter(events.code.isin(tuple(EVENT_ALARMS)))
    table = engine.to_arrow(wanted.select("meter_no", "ts", "code", "detail")).to_pandas()
    table["kind"] = table["code"].map(EVENT_ALARMS)
    table["detail"] = table["code"] + ": " + table["detail"].fillna("")
    return table[["meter_no", "ts", "kind", "detail"]]


def raise_alarms(
    session: Session, clock: Clock, engine: BatchEngine, first: date, last: date
) -> dict[str, int]:
    """Raise event and load-change alarms for [first, last]; returns new alarms by kind."""
    tz = engine.store.tz
    loads = load_change_alarms(
        daily_consumption(session, engine, first - timedelta(days=TRAILING_DAYS), last)
    )
    loads = loads[loads["day"] >= first]
    loads = loads.assign(ts=[local_midnight(d, tz) for d in loads["day"]])
    found = pd.concat(
        [event_alarms(engine, first, last), loads[["meter_no", "ts", "kind", "detail"]]]
    )
    rows = insert_new(
        session,
        Alarm,
        ("meter_no", "kind", "ts"),
        found,
        {"status": "open", "raised_at": clock.now()},
    )
    return dict(Counter(str(row["kind"]) for row in rows))


# --- instantaneous values: voltage without current (失流) -------------------------------------

VOLTAGE_WITHOUT_CURRENT: Final = "voltage_without_current"
VOLTAGE_DI: Final = "0201FF00"
CURRENT_DI: Final = "0202FF00"
PHASES: Final = ("A", "B", "C")
VOLTAGE_PRESENT_SHARE: Final = Decimal("0.7")
"""A phase has voltage at 70 % of nominal or more (the usual 失流 voltage threshold of
State Grid smart meters, parameter ``04090301``) [-]."""
PHASE_VOLTS: Final = (Decimal("220"), Decimal("57.7"))
"""Nominal phase voltage [V]: low-voltage meters (220/380 V), meters behind a PT (57.7/100 V)."""
DIRECT_BASIC_A: Final = Decimal("5")
"""Basic current Ib [A] of a direct-connected meter (5(60) A)."""
DIRECT_STARTING_SHARE: Final = Decimal("0.004")
"""Starting current of a direct-connected class 1 meter: 0.004 Ib (GB/T 17215.321, IEC
62053-21) [-]."""
CT_RATED_A: Final = Decimal("1.5")
"""Rated current In [A] of a transformer-operated meter (1.5(6) A)."""
CT_STARTING_SHARE: Final = Decimal("0.001")
"""Starting current of a transformer-operated class 0.5S meter: 0.001 In (GB/T 17215.322,
IEC 62053-22) [-]."""


@dataclass(frozen=True, slots=True)
class MeterRating:
    """Nominal phase voltage ``nominal_v`` [V] and starting current ``starting_a`` [A], both
    on the meter's (secondary) side."""

    nominal_v: Decimal
    starting_a: Decimal


def meter_rating(ct_ratio: int, pt_ratio: int) -> MeterRating:
    """The rating of a meter installed with these CT and PT ratios: direct-connected
    5(60) A class 1 without a CT, 1.5(6) A class 0.5S with one; 57.7 V behind a PT, else
    220 V.

    >>> meter_rating(1, 1)
    MeterRating(nominal_v=Decimal('220'), starting_a=Decimal('0.020'))
    >>> meter_rating(40, 100).starting_a
    Decimal('0.0015')
    """
    nominal = PHASE_VOLTS[1] if pt_ratio > 1 else PHASE_VOLTS[0]
    starting = (
        CT_RATED_A * CT_STARTING_SHARE if ct_ratio > 1 else DIRECT_BASIC_A * (DIRECT_STARTING_SHARE)
    )
    return MeterRating(nominal, starting)


Phases = tuple[Decimal | None, Decimal | None, Decimal | None]
"""Per-phase values A, B, C; ``None`` where the meter has no such phase (filler)."""


@dataclass(frozen=True, slots=True)
class InstantReading:
    """One meter's phase voltages [V] and signed currents [A] read at ``at`` (aware)."""

    meter_no: str
    at: datetime
    voltage_v: Phases
    current_a: Phases


def voltage_without_current(
    reading: InstantReading,
    rating: MeterRating,
    *,
    relay_open: bool = False,
    voltage_share: Decimal = VOLTAGE_PRESENT_SHARE,
) -> tuple[str, ...]:
    """Phases showing voltage — at least ``voltage_share`` × the nominal — with a current
    below the meter's starting current (in magnitude): current bypassing the meter or a
    shorted CT (失流). None while the relay is open: an open relay passes no current.

    >>> r = InstantReading("M1", datetime(2026, 8, 9), (Decimal("221.5"), None, None),
    ...                    (Decimal("0.004"), None, None))
    >>> voltage_without_current(r, meter_rating(1, 1))
    ('A',)
    >>> voltage_without_current(r, meter_rating(1, 1), relay_open=True)
    ()
    """
    if relay_open:
        return ()
    floor = rating.nominal_v * voltage_share
    return tuple(
        phase
        for phase, volts, amps in zip(PHASES, reading.voltage_v, reading.current_a, strict=True)
        if volts is not None
        and amps is not None
        and volts >= floor
        and abs(amps) < rating.starting_a
    )


@dataclass(frozen=True)
class InstantScan:
    """Instantaneous readings of the meters that answered, those that did not, and frames
    that could not be decoded."""

    readings: tuple[InstantReading, ...]
    unanswered: tuple[str, ...]
    quarantined: tuple[QuarantinedFrame, ...]


async def read_instantaneous(
    endpoints: Mapping[str, Endpoint],
    meters_by_concentrator: Mapping[str, Sequence[tuple[str, str]]],
    *,
    tz: ZoneInfo,
    now: Callable[[], datetime],
    timeout_s: float = 0.5,
    retry: RetryPolicy | None = None,
    concurrency_per_concentrator: int = 4,
) -> InstantScan:
    """Read the phase voltages (``0201FF00``) and currents (``0202FF00``) of every meter
    ((meter_no, address) by concentrator code) through its concentrator, stamped with the
    head-end's ``now``; concentrators concurrently, retries with backoff."""
    policy = retry or RetryPolicy()
    quarantined: list[QuarantinedFrame] = []
    readings: list[InstantReading] = []
    unanswered: list[str] = []

    async def concentrator(code: str, meters: Sequence[tuple[str, str]]) -> None:
        link = ConcentratorLink(code, endpoints[code], tz, timeout_s, 8, quarantined)
        queue = deque(meters)

        async def work() -> None:
            while queue:
                meter_no, address = queue.popleft()
                phases = []
                for di in (VOLTAGE_DI, CURRENT_DI):
                    answer = await ask(link, policy, address, read_request(address, di), di)
                    if not answer.ok or answer.reading is None:
                        break
                    phases.append(_phases(answer.reading.values))
                if len(phases) == 2:
                    readings.append(InstantReading(meter_no, now(), phases[0], phases[1]))
                else:
                    unanswered.append(meter_no)

        try:
            workers = max(1, min(concurrency_per_concentrator, len(meters)))
            await asyncio.gather(*(work() for _ in range(workers)))
        finally:
            await link.close()

    await asyncio.gather(
        *(concentrator(code, meters) for code, meters in meters_by_concentrator.items())
    )
    readings.sort(key=lambda r: r.meter_no)
    return InstantScan(tuple(readings), tuple(sorted(unanswered)), tuple(quarantined))


def _phases(values: Sequence[Value]) -> Phases:
    numbers = [v.value if isinstance(v.value, Decimal) else None for v in values[:3]]
    numbers += [None] * (3 - len(numbers))
    return numbers[0], numbers[1], numbers[2]


@dataclass(frozen=True)
class InstantAlarmReport:
    """New alarms, and the meters passed over because their relay is open by command."""

    raised: int
    relay_open: tuple[str, ...] = ()


def raise_instantaneous_alarms(
    session: Session,
    clock: Clock,
    readings: Sequence[InstantReading],
    *,
    tz: ZoneInfo,
    voltage_share: Decimal = VOLTAGE_PRESENT_SHARE,
) -> InstantAlarmReport:
    """Raise a ``voltage_without_current`` alarm for every meter with such a phase, once per
    meter and local day (stamped at the day's local midnight). A meter's rating comes from
    its installation's CT and PT; meters whose relay the head-end opened are passed over."""
    ratios = _ratios(session)
    cut_off = relay_open_meters(session)
    rows = []
    for reading in readings:
        ct, pt = ratios.get(reading.meter_no, (1, 1))
        rating = meter_rating(ct, pt)
        phases = voltage_without_current(
            reading, rating, relay_open=reading.meter_no in cut_off, voltage_share=voltage_share
        )
        if not phases:
            continue
        shown = "; ".join(
            f"phase {p}: {reading.voltage_v[PHASES.index(p)]} V, "
            f"{reading.current_a[PHASES.index(p)]} A"
            for p in phases
        )
        rows.append(
            {
                "meter_no": reading.meter_no,
                "kind": VOLTAGE_WITHOUT_CURRENT,
                "ts": local_midnight(reading.at.astimezone(tz).date(), tz),
                "detail": f"{shown} (starting current {rating.starting_a} A) at "
                f"{reading.at.astimezone(tz):%H:%M}",
            }
        )
    found = pd.DataFrame(rows, columns=["meter_no", "kind", "ts", "detail"])
    new = insert_new(
        session,
        Alarm,
        ("meter_no", "kind", "ts"),
        found,
        {"status": "open", "raised_at": clock.now()},
    )
    passed = sorted(cut_off & {r.meter_no for r in readings})
    return InstantAlarmReport(len(new), tuple(passed))


def _ratios(session: Session) -> dict[str, tuple[int, int]]:
    """CT and PT ratio of each installed meter."""
    stmt = (
        select(Meter.meter_no, MeterInstallation.ct_ratio, MeterInstallation.pt_ratio)
        .join(MeterInstallation, MeterInstallation.meter_id == Meter.id)
        .where(MeterInstallation.removed_at.is_(None))
    )
    return {no: (ct, pt) for no, ct, pt in session.execute(stmt).tuples()}
