"""Status monitoring: alarms from meter events and from sudden changes in daily load.

Event alarms come from the codes meters log (tamper, power down, reverse energy); load
alarms compare each meter's day with its own trailing mean, with a threshold per customer
class. Pure detection (:func:`load_change_alarms`) is separate from storing
(:func:`raise_alarms`), which is idempotent on (meter, kind, time).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import pandas as pd
from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.core.timezones import local_midnight
from meter2cash.db.idempotent import insert_new
from meter2cash.engines import BatchEngine
from meter2cash.headend.models import Alarm
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
