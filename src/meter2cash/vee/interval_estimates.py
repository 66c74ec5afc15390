"""Estimation of the missing kWh intervals that the rule chain finds, stored as versions."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from meter2cash.core.calendar import CHINA, HolidayCalendar
from meter2cash.core.timezones import local_midnight
from meter2cash.engines.base import BatchEngine
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee.estimation import LIKE_DAY, REGISTER, Grid, RegisterSpans, estimate, make_grid
from meter2cash.weather.temperatures import MeterTemperatures, describe

REFERENCE_DAYS: Final = 28
"""History read before the window for like-day estimation [days]."""


def estimate_intervals(
    engine: BatchEngine,
    store: MeasurementStore,
    gaps: pd.DataFrame,
    daily: pd.DataFrame,
    first: date,
    last: date,
    *,
    calendar: HolidayCalendar = CHINA,
    temperatures: MeterTemperatures | None = None,
) -> dict[tuple[str, pd.Timestamp], str]:
    """Fill the missing kWh intervals of the meter-days in ``gaps`` (``missing_intervals``
    findings: ``meter_no``, ``ts`` the day's start) and store them as versions (quality
    ``estimated``, source ``vee:<method>``). Each day whose freeze delta is known (``daily``:
    ``meter_no``, ``local_date``, ``kwh``) is filled register-anchored, so it sums to the
    delta; else like-day over the :data:`REFERENCE_DAYS` before. Like days follow the day
    types of ``calendar`` (holidays stand in for holidays) and, given ``temperatures``, each
    meter's daily mean temperature [°C] (the same value on every interval of a day).

    Returns (meter, day start) → method for the days filled whole, e.g. ``register`` or
    ``like_day with the temperature of zone Z1`` where a temperature weighed the like days."""
    if gaps.empty:
        return {}
    tz = store.tz
    meters = sorted(set(gaps["meter_no"]))
    start = first - timedelta(days=REFERENCE_DAYS)
    intervals = engine.measurements("intervals", start, last)
    wanted = intervals.filter(intervals.channel == "kWh", intervals.meter_no.isin(meters))
    rows = engine.to_arrow(wanted.select("meter_no", "ts", "value")).to_pandas()
    slots = pd.date_range(
        local_midnight(start, tz),
        local_midnight(last + timedelta(days=1), tz),
        freq="15min",
        inclusive="left",
    ).as_unit("us")
    matrix = (
        rows.assign(
            value=rows["value"].astype("float64"),
            ts=pd.to_datetime(rows["ts"], utc=True).dt.as_unit("us"),  # Spark: naive UTC
        )
        .pivot_table(index="meter_no", columns="ts", values="value", aggfunc="first")
        .reindex(index=meters, columns=slots)
    )
    grid = make_grid(slots, tz, holidays=calendar.holidays, workdays=calendar.workdays)
    per_day = grid.points_per_day
    known = daily[daily["meter_no"].isin(meters)]
    spans = [
        (m, (d - start).days * per_day, ((d - start).days + 1) * per_day, float(k))
        for m, d, k in zip(known["meter_no"], known["local_date"], known["kwh"], strict=True)
        if np.isfinite(k) and k >= 0
    ]
    groups = {None: meters} if temperatures is None else temperatures.groups(meters)
    filled: dict[tuple[str, int], str] = {}
    for key, members in groups.items():
        temperature = None
        if key is not None and temperatures is not None:
            daily_t = temperatures.series(key).reindex(
                grid.dates(np.arange(grid.days)).astype(object)
            )
            temperature = daily_t.to_numpy(dtype=np.float64)[grid.day]
        values = matrix.loc[members].to_numpy(dtype=np.float64)
        filled |= _estimate_group(
            store, members, values, grid, slots, first, spans, temperature, key
        )
    by_day: dict[tuple[str, pd.Timestamp], str] = {}
    for meter, day_start in zip(gaps["meter_no"], gaps["ts"], strict=True):
        day = (pd.Timestamp(day_start).tz_convert(tz).date() - start).days
        if (meter, day) in filled:
            by_day[(meter, day_start)] = filled[(meter, day)]
    return by_day


def _estimate_group(
    store: MeasurementStore,
    meters: list[str],
    values: npt.NDArray[np.float64],
    grid: Grid,
    slots: pd.DatetimeIndex,
    first: date,
    spans: list[tuple[str, int, int, float]],
    temperature: npt.NDArray[np.float64] | None,
    weather_of: str | None,
) -> dict[tuple[str, int], str]:
    """Estimate and store the gaps of ``meters`` sharing one temperature series (or none);
    (meter, day of the grid) → method for every day with a gap in the window, filled whole."""
    tz = store.tz
    per_day = grid.points_per_day
    position = {m: i for i, m in enumerate(meters)}
    own = RegisterSpans.of([(position[m], a, b, k) for m, a, b, k in spans if m in position])
    if temperature is not None and not np.isfinite(temperature).any():
        temperature = None
    result = estimate(
        values,
        grid,
        temperature=temperature,
        spans=own if len(own.series) else None,
        fill_from=REFERENCE_DAYS * per_day,
    )
    window = slots >= pd.Timestamp(local_midnight(first, tz))
    was_gap = np.isnan(values) & window[None, :] & np.isfinite(result.values)
    series, point = np.nonzero(was_gap)
    methods = result.method[series, point]
    for method in sorted(set(methods)):
        pick = methods == method
        store.write_versions(
            "intervals",
            pa.table(
                {
                    "meter_no": pa.array(np.array(meters)[series[pick]], pa.string()),
                    "channel": pa.array(["kWh"] * int(pick.sum()), pa.string()),
                    "ts": pa.array(slots[point[pick]], pa.timestamp("us", tz="UTC")),
                    "value": np.round(result.values[series[pick], point[pick]], 4),
                }
            ),
            quality="estimated",
            source=f"vee:{method}",
        )
    filled: dict[tuple[str, int], str] = {}
    for pair in np.unique(series * grid.days + grid.day[point]).tolist():
        i, day = divmod(pair, grid.days)
        span = slice(day * per_day, (day + 1) * per_day)
        if not np.isfinite(result.values[i, span]).all():
            continue
        labels = sorted(set(result.method[i, span]) - {"actual"})
        label = "/".join(labels) or "actual"
        if (
            weather_of is not None
            and temperature is not None
            and np.isfinite(temperature[span]).all()
            and {LIKE_DAY, REGISTER} & set(labels)
        ):
            label += f" with the temperature of {describe(weather_of)}"
        filled[(meters[i], day)] = label
    return filled
