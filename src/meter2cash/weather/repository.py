"""Queries of the ``weather_daily`` table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Meter, MeterInstallation, ServicePoint, TransformerArea, Zone
from meter2cash.core.clock import Clock
from meter2cash.weather.files import WeatherRow
from meter2cash.weather.models import WeatherDay
from meter2cash.weather.temperatures import MeterTemperatures


def zone_codes(session: Session) -> set[str]:
    return set(session.scalars(select(Zone.code)))


@dataclass(frozen=True, slots=True)
class WeatherLoad:
    added: int
    changed: int
    """Days given again with another value (the bureau's correction replaces the old one)."""
    unchanged: int


def store_weather(
    session: Session, clock: Clock, rows: Sequence[WeatherRow], source: str
) -> WeatherLoad:
    """Store ``rows``: new days are added, days already held with another value take the new
    one, days held with the same value change nothing (loading a file twice is a no-op)."""
    if not rows:
        return WeatherLoad(0, 0, 0)
    first = min(r.local_date for r in rows)
    last = max(r.local_date for r in rows)
    held = {
        (w.zone_code, w.local_date): w
        for w in session.scalars(
            select(WeatherDay).where(
                WeatherDay.zone_code.in_({r.zone_code for r in rows}),
                WeatherDay.local_date.between(first, last),
            )
        )
    }
    added = changed = 0
    now = clock.now()
    for r in rows:
        old = held.get((r.zone_code, r.local_date))
        if old is None:
            session.add(
                WeatherDay(
                    zone_code=r.zone_code,
                    local_date=r.local_date,
                    temperature_c=r.temperature_c,
                    source=source,
                    loaded_at=now,
                )
            )
            added += 1
        elif old.temperature_c != r.temperature_c:
            old.temperature_c, old.source, old.loaded_at = r.temperature_c, source, now
            changed += 1
    return WeatherLoad(added, changed, len(rows) - added - changed)


@dataclass(frozen=True, slots=True)
class WeatherSeries:
    """What is held for one zone (or the whole utility)."""

    zone_code: str
    days: int
    first: date
    last: date
    missing_days: int
    """Days between ``first`` and ``last`` with no value."""
    min_c: float
    mean_c: float
    max_c: float


def weather_series(session: Session) -> list[WeatherSeries]:
    rows = session.execute(
        select(
            WeatherDay.zone_code,
            func.count(),
            func.min(WeatherDay.local_date),
            func.max(WeatherDay.local_date),
            func.min(WeatherDay.temperature_c),
            func.avg(WeatherDay.temperature_c),
            func.max(WeatherDay.temperature_c),
        )
        .group_by(WeatherDay.zone_code)
        .order_by(WeatherDay.zone_code)
    ).all()
    return [
        WeatherSeries(
            str(zone),
            int(n),
            first,
            last,
            (last - first).days + 1 - int(n),
            float(low),
            float(mean),
            float(high),
        )
        for zone, n, first, last, low, mean, high in rows
    ]


def meter_temperatures(session: Session, first: date, last: date) -> MeterTemperatures:
    """Daily mean temperatures of local days ``first``…``last`` and each meter's zone (through
    its current installation → service point → transformer area)."""
    held = session.execute(
        select(WeatherDay.local_date, WeatherDay.zone_code, WeatherDay.temperature_c).where(
            WeatherDay.local_date.between(first, last)
        )
    ).all()
    frame = pd.DataFrame(held, columns=["local_date", "zone_code", "temperature_c"])
    daily = (
        frame.assign(temperature_c=frame["temperature_c"].astype("float64"))
        .pivot(index="local_date", columns="zone_code", values="temperature_c")
        .reindex(pd.Index(pd.date_range(first, last).date, name="local_date"))
    )
    placed = session.execute(
        select(Meter.meter_no, Zone.code)
        .join(
            MeterInstallation,
            and_(MeterInstallation.meter_id == Meter.id, MeterInstallation.removed_at.is_(None)),
        )
        .join(ServicePoint, ServicePoint.id == MeterInstallation.service_point_id)
        .join(TransformerArea, TransformerArea.id == ServicePoint.transformer_area_id)
        .join(Zone, Zone.id == TransformerArea.zone_id)
    ).all()
    return MeterTemperatures(daily, {str(m): str(z) for m, z in placed})
