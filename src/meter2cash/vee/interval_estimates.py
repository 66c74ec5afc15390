"""Estimation of the missing kWh intervals that the rule chain finds, stored as versions."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa

from meter2cash.core.timezones import local_midnight
from meter2cash.engines.base import BatchEngine
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee.estimation import RegisterSpans, estimate, make_grid

REFERENCE_DAYS: Final = 28
"""History read before the window for like-day estimation [days]."""


def estimate_intervals(
    engine: BatchEngine,
    store: MeasurementStore,
    gaps: pd.DataFrame,
    daily: pd.DataFrame,
    first: date,
    last: date,
) -> dict[tuple[str, pd.Timestamp], str]:
    """Fill the missing kWh intervals of the meter-days in ``gaps`` (``missing_intervals``
    findings: ``meter_no``, ``ts`` the day's start) and store them as versions (quality
    ``estimated``, source ``vee:<method>``). Each day whose freeze delta is known (``daily``:
    ``meter_no``, ``local_date``, ``kwh``) is filled register-anchored, so it sums to the
    delta; else like-day over the :data:`REFERENCE_DAYS` before. Returns (meter, day start) →
    method for the days filled whole."""
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
    values = matrix.to_numpy(dtype=np.float64)
    grid = make_grid(slots, tz)
    per_day = grid.points_per_day
    position = {m: i for i, m in enumerate(meters)}
    known = daily[daily["meter_no"].isin(meters)]
    spans = RegisterSpans.of(
        [
            (position[m], (d - start).days * per_day, ((d - start).days + 1) * per_day, float(k))
            for m, d, k in zip(known["meter_no"], known["local_date"], known["kwh"], strict=True)
            if np.isfinite(k) and k >= 0
        ]
    )
    result = estimate(
        values,
        grid,
        spans=spans if len(spans.series) else None,
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
    filled: dict[tuple[str, pd.Timestamp], str] = {}
    for meter, day_start in zip(gaps["meter_no"], gaps["ts"], strict=True):
        i = position[meter]
        day = (pd.Timestamp(day_start).tz_convert(tz).date() - start).days
        span = slice(day * per_day, (day + 1) * per_day)
        if np.isfinite(result.values[i, span]).all():
            labels = sorted(set(result.method[i, span]) - {"actual"})
            filled[(meter, day_start)] = "/".join(labels) or "actual"
    return filled
