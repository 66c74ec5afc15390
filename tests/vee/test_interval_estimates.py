"""The VEE job's interval estimates follow the holiday calendar and, where loaded, the
weather: a holiday gap is filled from holiday-like days, a hot day's gap from hot days."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Engine

from meter2cash.core.calendar import CHINA, HolidayCalendar
from meter2cash.core.clock import FixedClock
from meter2cash.core.timezones import local_midnight, zone
from meter2cash.db.session import unit_of_work
from meter2cash.engines.duckdb_engine import DuckDBEngine
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee.interval_estimates import estimate_intervals
from meter2cash.weather.files import WeatherRow
from meter2cash.weather.repository import meter_temperatures, store_weather
from meter2cash.weather.temperatures import MeterTemperatures
from tests.vee.test_editing import place_meter

TZ = zone("Asia/Shanghai")
FIRST_DAY = date(2026, 9, 1)
NATIONAL_DAY_2 = date(2026, 10, 2)
"""A Friday inside the National Day break (1–7 October 2026)."""
NO_HOLIDAYS = HolidayCalendar(frozenset(), frozenset())
DAYTIME = slice(32, 72)
"""08:00–18:00 [slots]."""


def _days(last: date) -> list[date]:
    return [FIRST_DAY + timedelta(days=n) for n in range((last - FIRST_DAY).days + 1)]


def _curves(meter: str, days: list[date], shape: dict[date, np.ndarray]) -> pa.Table:
    rows = [
        pd.DataFrame(
            {
                "meter_no": meter,
                "channel": "kWh",
                "ts": [local_midnight(d, TZ) + timedelta(minutes=15 * k) for k in range(96)],
                "value": shape[d],
            }
        )
        for d in days
    ]
    return pa.Table.from_pandas(pd.concat(rows), preserve_index=False)


def _job(
    home: Path,
    meter: str,
    shape: dict[date, np.ndarray],
    gap_day: date,
    calendar: HolidayCalendar,
    temperatures: MeterTemperatures | None = None,
) -> tuple[str, float]:
    """Store ``shape`` without ``gap_day``, run the job over that day: its method and the
    day's estimated energy [kWh]."""
    store = MeasurementStore(home, TZ)
    store.ingest_intervals(_curves(meter, _days(gap_day - timedelta(days=1)), shape), source="t")
    gaps = pd.DataFrame({"meter_no": [meter], "ts": [local_midnight(gap_day, TZ)]})
    daily = pd.DataFrame({"meter_no": [], "local_date": [], "kwh": []})
    engine = DuckDBEngine(store)
    filled = estimate_intervals(
        engine,
        store,
        gaps,
        daily,
        gap_day,
        gap_day,
        calendar=calendar,
        temperatures=temperatures,
    )
    day = engine.to_arrow(engine.measurements("intervals", gap_day, gap_day)).to_pandas()
    assert len(day) == 96 and set(day["quality"]) == {"estimated"}
    return filled[(meter, gaps["ts"][0])], float(day["value"].astype(float).sum())


def test_a_national_day_gap_is_estimated_from_holiday_like_days(tmp_path: Path) -> None:
    """A factory runs 08:00–18:00 on workdays and idles on weekends and holidays. Its lost
    2 October is a holiday: estimated from holidays and weekends, about an idle day; read as
    the Friday it would be without the calendar, it comes out a working day."""
    days = _days(NATIONAL_DAY_2)
    working = np.full(96, 2.0)
    working[DAYTIME] = 10.0
    idle = np.full(96, 1.5)
    shape = {d: idle if CHINA.day_type(d) != "workday" else working for d in days}
    method, holiday_kwh = _job(tmp_path / "cal", "FAB", shape, NATIONAL_DAY_2, CHINA)
    _, as_friday_kwh = _job(tmp_path / "none", "FAB", shape, NATIONAL_DAY_2, NO_HOLIDAYS)
    assert method == "like_day"
    assert abs(holiday_kwh - 96 * 1.5) < 0.1 * 96 * 1.5
    assert as_friday_kwh > 2 * holiday_kwh


def test_the_weather_of_the_meters_zone_weighs_the_like_days(
    records: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    """A shop's daytime load follows the temperature (air conditioning). Every third day is
    hot; the lost day is hot. With the zone's weather loaded the like days are the hot days,
    and the finding's method says so."""
    gap_day = date(2026, 9, 28)
    days = _days(gap_day)
    hot = {d: (d - FIRST_DAY).days % 3 == 0 for d in days}
    temperature_c = {d: 34.0 if hot[d] else 24.0 for d in days}
    shape = {}
    for d in days:
        load = np.full(96, 1.0)
        load[DAYTIME] = 1.0 + 0.2 * (temperature_c[d] - 20.0)
        shape[d] = load
    truth = float(shape[gap_day].sum())
    with unit_of_work(records) as session:
        place_meter(session, "SHOP", zone_code="Z1", records_intervals=True)
        place_meter(session, "OTHER", zone_code="Z2")
        store_weather(
            session,
            clock,
            [WeatherRow("Z1", d, Decimal(str(t))) for d, t in temperature_c.items()],
            "bureau.csv",
        )
        temperatures = meter_temperatures(session, days[0], gap_day)
    assert temperatures.series_key("SHOP") == "Z1"
    assert temperatures.series_key("OTHER") is None  # no weather for zone Z2, none utility-wide

    method, with_weather = _job(tmp_path / "t", "SHOP", shape, gap_day, CHINA, temperatures)
    plain, without = _job(tmp_path / "p", "SHOP", shape, gap_day, CHINA)
    assert method == "like_day with the temperature of zone Z1"
    assert plain == "like_day"
    assert abs(with_weather - truth) < 0.5 * abs(without - truth)
    assert abs(with_weather - truth) < 0.05 * truth
