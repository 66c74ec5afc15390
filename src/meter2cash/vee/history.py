"""Per-meter history statistics, kept up to date so validation never rescans history.

For each meter: the exponentially weighted mean of its daily energy (``mean_kwh``) and of its
largest 15-minute interval of the day (``peak_kwh``) [kWh, meter side], the days folded in
(``history_days``) and the last day folded (``through``). Each VEE run folds in only the
days after ``through``, so the state is O(meters) and a run costs O(its own window). Kept as
one Parquet file beside the measurement store (``derived/meter_history.parquet``).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from meter2cash.engines.base import BatchEngine
from meter2cash.measurements.files import write_durable
from meter2cash.measurements.store import MeasurementStore

WEIGHT: Final = 1 / 14
"""Weight of a new day in the running means (about a two-week memory) [-]."""
HISTORY: Final = pa.schema(
    [
        ("meter_no", pa.string()),
        ("mean_kwh", pa.float64()),
        ("peak_kwh", pa.float64()),
        ("history_days", pa.int64()),
        ("through", pa.date32()),
    ]
)


def history_path(store: MeasurementStore) -> Path:
    return store.root / "derived" / "meter_history.parquet"


def load_history(store: MeasurementStore) -> pa.Table:
    """The stored statistics (empty before the first run)."""
    path = history_path(store)
    return pq.read_table(path, schema=HISTORY) if path.exists() else HISTORY.empty_table()


def fold(history: pa.Table, days: pd.DataFrame) -> pa.Table:
    """``history`` with ``days`` folded in — ``meter_no``, ``local_date``, ``kwh`` (the day's
    energy) and ``peak`` (its largest interval, NaN without a curve) — skipping each meter's
    days up to its ``through``. Pure: vectorised over meters, one step per date."""
    state = history.to_pandas().set_index("meter_no")
    meters = sorted(set(state.index) | set(days["meter_no"]))
    state = state.reindex(meters)
    mean = state["mean_kwh"].to_numpy(dtype=np.float64, copy=True)
    peak = state["peak_kwh"].to_numpy(dtype=np.float64, copy=True)
    count = state["history_days"].fillna(0).to_numpy(dtype=np.int64, copy=True)
    through = np.array(
        [-1 if t is None or pd.isna(t) else t.toordinal() for t in state["through"]],
        dtype=np.int64,
    )
    position = {m: i for i, m in enumerate(meters)}
    for day, group in days.sort_values("local_date").groupby("local_date", sort=True):
        i = group["meter_no"].map(position).to_numpy()
        fresh = through[i] < day.toordinal()
        i = i[fresh]
        kwh = group["kwh"].to_numpy(dtype=np.float64)[fresh]
        top = group["peak"].to_numpy(dtype=np.float64)[fresh]
        ok = np.isfinite(kwh) & (kwh >= 0)
        mean[i[ok]] = np.where(
            np.isnan(mean[i[ok]]), kwh[ok], mean[i[ok]] + WEIGHT * (kwh[ok] - mean[i[ok]])
        )
        has_peak = np.isfinite(top)
        j = i[has_peak]
        peak[j] = np.where(
            np.isnan(peak[j]), top[has_peak], peak[j] + WEIGHT * (top[has_peak] - peak[j])
        )
        count[i[ok]] += 1
        through[i] = day.toordinal()
    return pa.table(
        {
            "meter_no": meters,
            "mean_kwh": mean,
            "peak_kwh": peak,
            "history_days": count,
            "through": [None if t < 0 else date.fromordinal(int(t)) for t in through],
        },
        schema=HISTORY,
    )


def daily_figures(engine: BatchEngine, first: date, last: date, daily: pa.Table) -> pd.DataFrame:
    """Per meter and day: ``kwh`` (from ``daily``: the A+ freeze deltas) and ``peak`` (the
    largest kWh interval, from the store)."""
    intervals = engine.measurements("intervals", first, last)
    i = intervals.filter(intervals.channel == "kWh")
    peaks = engine.to_arrow(
        i.group_by("meter_no", "local_date").aggregate(peak=i.value.max().cast("float64"))
    ).to_pandas()
    frame = daily.to_pandas().merge(peaks, on=["meter_no", "local_date"], how="left")
    return frame[["meter_no", "local_date", "kwh", "peak"]]


def save_history(store: MeasurementStore, history: pa.Table) -> None:
    write_durable(history_path(store), history)
