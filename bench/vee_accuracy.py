"""Estimation accuracy: remove known data in gaps, estimate it, score the estimate.

Run from the repository root: ``python -m bench vee_accuracy`` (figures on one line) or
``python -m bench.vee_accuracy [--split evaluation|tuning]`` (a table). Datasets:

- ``etth1``, ``etth2``: real hourly distribution-transformer load from
  ``../shared/data/ett/`` (Zhou et al., "Informer", AAAI 2021), column ``HUFL``
  (high-voltage useful load; the other useful-load columns go negative on one transformer
  or the other). ``date`` is local Asia/Shanghai. ETTh1's HUFL turns negative (reverse
  flow) from January 2017, so ``etth1`` is its 2016-07-01 … 2016-12-31 part; ``etth2`` is
  the whole file. No temperature (the oil temperature ``OT`` follows the load itself, so
  it would leak the answer) and no holiday calendar for 2016–2018. Skipped, with the
  reason, when the files are absent.
- ``sim``: the 15-minute kWh curves (``collect_day(day).intervals``) of every C&I and
  supply meter of a simulated 1,000-account utility, 2026-09-01 … 2026-10-31 (Mid-Autumn
  and National Day holidays in it), with the simulator's daily temperature and holiday
  calendar. Days a meter was not read stay missing and are not scored.

Two splits, so that settings chosen on one are scored on the other: ``tuning`` puts the gaps
in the first half of each ETT series (ETTh2 2016-07-01 … 2017-06-28, ETTh1 2016-07-01 …
09-30) and scores a second simulated utility (seed 7), gap seed 11; ``evaluation`` (the
default, the figures in ``docs/vee.md``) puts them in the second half (ETTh2 2017-06-28 …
2018-06-26, ETTh1 2016-10-01 … 12-31) and scores the utility of seed 2026, gap seed
20260401. The whole series stays visible to the estimators either way (like days may come
from the other half); only where gaps are cut differs.

For each gap length (1 h, 6 h, 24 h, 7 days) gaps are removed at random (seeded), apart
from each other and from the first day (so previous-day copy always has a day to copy);
WAPE = Σ|error| / Σ|actual| and bias = Σ error / Σ actual over the removed measured points.
Methods: ``linear`` (any length), ``previous_day`` (baselines), ``like_day``, ``register``
(like-day shape scaled to the true total of each gap, i.e. as if register reads bracketed
the gap) and ``best`` (:func:`meter2cash.vee.estimation.estimate`, the default chain).
Target: for 6 h and longer, like-day WAPE at least 20 % below linear at every length.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from meter2cash.core.calendar import CHINA
from meter2cash.core.timezones import zone
from meter2cash.simulator import UtilitySpec, build_utility
from meter2cash.vee import estimation
from meter2cash.vee.backtest import punch_gaps, score
from meter2cash.vee.estimation import Estimate, Grid, RegisterSpans, make_grid

ROOT = Path(__file__).resolve().parents[1]
ETT_DIR = ROOT.parent / "shared" / "data" / "ett"
TZ = zone("Asia/Shanghai")
SPLITS = ("evaluation", "tuning")
GAP_SEED = {"evaluation": 20260401, "tuning": 11}
SIM_SEED = {"evaluation": 2026, "tuning": 7}
GAPS = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
}
TARGET_GAPS = ("6h", "24h", "7d")
TARGET_GAIN = 0.20
GAPS_WANTED = {"1h": 600, "6h": 600, "24h": 400, "7d": 150}
"""Roughly how many gaps of each length to score per dataset."""
SIM_SPEC = UtilitySpec(seed=2026, accounts=1000, start=date(2026, 9, 1), days=61)


@dataclass(frozen=True)
class Dataset:
    name: str
    values: np.ndarray[Any, np.dtype[np.float64]]  # (series, points)
    grid: Grid
    temperature: np.ndarray[Any, np.dtype[np.float64]] | None
    scored: tuple[int, int]
    """Gaps are cut only in positions ``scored[0]`` … ``scored[1]`` − 1."""


def ett(name: str, split: str = "evaluation") -> Dataset | None:
    """One ETT file's ``HUFL``; gaps go in its first half (tuning) or second (evaluation)."""
    path = ETT_DIR / f"{name}.csv"
    if not path.exists():
        return None
    frame = pd.read_csv(path, usecols=["date", "HUFL"])
    ts = pd.DatetimeIndex(pd.to_datetime(frame["date"])).tz_localize(TZ)
    values = frame["HUFL"].to_numpy(dtype=np.float64)
    if name == "ETTh1":
        keep = ts < pd.Timestamp("2017-01-01", tz=TZ)
        ts, values = ts[keep], values[keep]
    grid = make_grid(ts, TZ)
    half = grid.points // 2
    scored = (grid.points_per_day, half) if split == "tuning" else (half, grid.points)
    return Dataset(name.lower(), values[None, :], grid, None, scored)


def simulated(split: str = "evaluation") -> Dataset:
    """The C&I and supply curves of the utility of the split's seed; gaps anywhere."""
    utility = build_utility(replace(SIM_SPEC, seed=SIM_SEED[split]))
    days = [SIM_SPEC.start + timedelta(days=d) for d in range(SIM_SPEC.days)]
    parts = []
    for day in days:
        table = utility.collect_day(day).intervals.to_pandas()
        parts.append(table[table["channel"] == "kWh"])
    frame = pd.concat(parts, ignore_index=True)
    ts = pd.date_range(
        pd.Timestamp(SIM_SPEC.start, tz=TZ), periods=SIM_SPEC.days * 96, freq="15min"
    ).tz_convert("UTC")
    curves = frame.pivot_table(index="meter_no", columns="ts", values="value", aggfunc="first")
    curves = curves.reindex(columns=ts)
    grid = make_grid(ts, TZ, holidays=CHINA.holidays, workdays=CHINA.workdays)
    daily = utility.temperature.set_index("local_date")["temp_c"]
    temperature = daily.reindex(grid.dates(grid.day).astype(object)).to_numpy(dtype=np.float64)
    return Dataset(
        "sim",
        curves.to_numpy(dtype=np.float64),
        grid,
        temperature,
        (grid.points_per_day, grid.points),
    )


def _spans(
    removed: np.ndarray[Any, np.dtype[np.bool_]], actual: np.ndarray[Any, Any]
) -> RegisterSpans:
    """The true total of each removed run, as a register delta bracketing it; runs with an
    unmeasured point (the meter was not read that day) have no true total and get none."""
    padded = np.zeros((removed.shape[0], removed.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = removed
    edge = np.diff(padded, axis=1)
    series, start = np.nonzero(edge == 1)
    _, stop = np.nonzero(edge == -1)
    zero = np.zeros((actual.shape[0], 1))
    cum = np.concatenate([zero, np.cumsum(np.nan_to_num(actual), axis=1)], axis=1)
    unread = np.concatenate([zero, np.cumsum(np.isnan(actual), axis=1)], axis=1)
    delta = np.round(cum[series, stop] - cum[series, start], 4)
    known = unread[series, stop] == unread[series, start]
    return RegisterSpans(series[known], start[known], stop[known], delta[known])


def evaluate(data: Dataset, rng: np.random.Generator) -> tuple[list[dict[str, Any]], float, int]:
    """Rows (dataset, gap, method, wape, bias, points); seconds and points of ``best``."""
    rows: list[dict[str, Any]] = []
    grid = data.grid
    n_series = data.values.shape[0]
    first, stop = data.scored
    best_seconds, best_points = 0.0, 0
    # Round the data to the store's precision so register deltas are exact in it.
    actual = np.round(data.values, 4)
    for gap, span in GAPS.items():
        length = grid.points_in(span)
        segment = max(grid.points_in(timedelta(days=14)), 5 * length)
        per_series = max(1, (stop - first - 1) // segment)
        trials = max(1, math.ceil(GAPS_WANTED[gap] / (per_series * n_series)))
        results: dict[str, list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]] = {}
        for _ in range(trials):
            removed = punch_gaps(actual.shape, length, per_series, rng, skip_start=first, stop=stop)
            holed = np.where(removed, np.nan, actual)
            began = time.perf_counter()
            best = estimation.estimate(holed, grid, temperature=data.temperature)
            best_seconds += time.perf_counter() - began
            best_points += int(np.isnan(holed).sum())
            runs: dict[str, Estimate] = {
                "linear": estimation.estimate_linear(holed),
                "previous_day": estimation.estimate_previous_day(holed, grid),
                "like_day": estimation.estimate_like_day(holed, grid, temperature=data.temperature),
                "register": estimation.estimate_register_anchored(
                    holed, grid, _spans(removed, actual), temperature=data.temperature
                ),
                "best": best,
            }
            if data.temperature is not None:
                runs["like_day_no_temp"] = estimation.estimate_like_day(holed, grid)
            for method, result in runs.items():
                results.setdefault(method, []).append((removed, result.values))
        for method, parts in results.items():
            removed_all = np.concatenate([p[0] for p in parts], axis=1)
            values_all = np.concatenate([p[1] for p in parts], axis=1)
            actual_all = np.concatenate([actual] * len(parts), axis=1)
            s = score(actual_all, values_all, removed_all)
            rows.append(
                {
                    "dataset": data.name,
                    "gap": gap,
                    "method": method,
                    "wape": s.wape,
                    "bias": s.bias,
                    "points": s.points,
                    "filled": s.filled,
                    "gaps": trials * per_series * n_series,
                }
            )
    return rows, best_seconds, best_points


def measure(split: str = "evaluation") -> tuple[pd.DataFrame, dict[str, float], list[str]]:
    rng = np.random.default_rng(GAP_SEED[split])
    notes: list[str] = []
    datasets: list[Dataset] = []
    for name in ("ETTh1", "ETTh2"):
        data = ett(name, split)
        if data is None:
            notes.append(f"{name}: skipped, {ETT_DIR / (name + '.csv')} is absent")
        else:
            datasets.append(data)
    datasets.append(simulated(split))
    rows: list[dict[str, Any]] = []
    seconds = 0.0
    points = 0
    for data in datasets:
        found, s, p = evaluate(data, rng)
        rows.extend(found)
        seconds += s
        points += p
    table = pd.DataFrame(rows)
    figures: dict[str, float] = {}
    for r in rows:
        figures[f"{r['dataset']}_{r['gap']}_{r['method']}_wape"] = round(r["wape"], 4)
        figures[f"{r['dataset']}_{r['gap']}_{r['method']}_bias"] = round(r["bias"], 4)
    wape = table.pivot_table(index=["dataset", "gap"], columns="method", values="wape")
    met = True
    for dataset in table["dataset"].unique():
        for gap in TARGET_GAPS:
            gain = 1 - wape.loc[(dataset, gap), "like_day"] / wape.loc[(dataset, gap), "linear"]
            figures[f"{dataset}_{gap}_like_day_gain_vs_linear"] = round(float(gain), 4)
            met &= bool(gain >= TARGET_GAIN)
    figures["target_met"] = float(met)
    figures["estimated_points_per_s"] = points / seconds
    return table, figures, notes


def run() -> dict[str, float]:
    """WAPE and bias per dataset, gap and method on the evaluation split; like-day gain over
    linear; throughput."""
    _, figures, notes = measure()
    for note in notes:
        print(f"vee_accuracy: {note}")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Estimation accuracy back-test.")
    parser.add_argument("--split", choices=SPLITS, default="evaluation")
    began = time.perf_counter()
    table, figures, notes = measure(parser.parse_args().split)
    for note in notes:
        print(note)
    order = {g: i for i, g in enumerate(GAPS)}
    table = table.sort_values(
        ["dataset", "gap"], key=lambda c: c.map(order) if c.name == "gap" else c
    )
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    for key in [k for k in figures if "gain" in k or k in ("target_met", "estimated_points_per_s")]:
        print(f"{key}: {figures[key]:,.3f}")
    print(f"({time.perf_counter() - began:.1f} s)")
