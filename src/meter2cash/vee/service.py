"""The VEE job over daily register reads: validate, estimate what can be, queue the rest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.core.timezones import local_midnight
from meter2cash.db.idempotent import insert_new
from meter2cash.engines.base import BatchEngine
from meter2cash.headend.models import Alarm
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee import rules
from meter2cash.vee.estimation import RegisterSpans, estimate, make_grid
from meter2cash.vee.history import daily_figures, fold, load_history, save_history
from meter2cash.vee.models import VeeFinding
from meter2cash.vee.repository import meter_facts, multiplier_changes
from meter2cash.vee.validation import (
    MULTIPLIER_CHANGES,
    Inputs,
    daily_kwh,
    facts_table,
    validate,
)


@dataclass(frozen=True, slots=True)
class VeeReport:
    expected_reads: int
    missing: int
    estimated: int
    decreasing: int
    negative: int
    conflicts: int
    open_exceptions: int


def freeze_instants(first: date, last: date, tz: ZoneInfo) -> pd.DatetimeIndex:
    """The daily-freeze instants (local midnights) stamped on days ``first``…``last``, in UTC."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return pd.DatetimeIndex([local_midnight(d, tz) for d in days]).as_unit("us")


def _grid(store: MeasurementStore, meters: list[str], first: date, last: date) -> pd.DataFrame:
    instants = freeze_instants(first, last, store.tz)
    reads = store.scan(
        "register_reads",
        start=instants[0].to_pydatetime(),
        end=(instants[-1] + pd.Timedelta(microseconds=1)).to_pydatetime(),
    ).to_pandas()
    reads = reads[reads["read_type"] == "daily_frozen"]
    channels = sorted(reads["channel"].unique()) if len(reads) else ["A+"]
    index = pd.MultiIndex.from_product(
        [sorted(meters), channels, instants], names=["meter_no", "channel", "ts"]
    )
    observed = reads.assign(value=reads["value"].astype("float64")).set_index(
        ["meter_no", "channel", "ts"]
    )["value"]
    observed = observed[~observed.index.duplicated()]
    return observed.reindex(index).rename("value").reset_index()


def run_vee(
    session: Session,
    clock: Clock,
    store: MeasurementStore,
    meters: list[str],
    first: date,
    last: date,
) -> VeeReport:
    """Validate daily freezes stamped ``first``…``last`` and estimate gaps by interpolation.

    Estimates are stored as new versions (quality ``estimated``, source ``vee:linear``);
    raw reads are untouched. Findings go to ``vee_findings``: ``estimated`` when fixed,
    ``open`` when a person must act (gap with no anchor on one side, decrease, negative).
    """
    grid = _grid(store, meters, first, last)
    missing = grid["value"].isna()
    negative = rules.flag_negative(grid)
    decreasing = rules.flag_decreasing(grid)
    estimate = rules.estimate_linear(grid)
    estimated = missing & estimate.notna()

    conflicts = _conflicts(store, meters, first, last)
    found = pd.concat(
        [
            conflicts,
            grid[estimated].assign(
                rule=rules.MISSING,
                severity="issue",
                status="estimated",
                detail="estimated by linear interpolation",
            ),
            grid[missing & ~estimated].assign(
                rule=rules.MISSING, severity="issue", status="open", detail="no read on one side"
            ),
            grid[decreasing].assign(
                rule=rules.DECREASING,
                severity="terminate",
                status="open",
                detail="register below the previous read",
            ),
            grid[negative].assign(
                rule=rules.NEGATIVE,
                severity="terminate",
                status="open",
                detail="negative register value",
            ),
        ]
    )
    _save_findings(session, clock, found)
    if estimated.any():
        rows = grid[estimated].assign(value=estimate[estimated].round(4))
        store.write_versions(
            "register_reads",
            pa.table(
                {
                    "meter_no": rows["meter_no"].to_numpy(),
                    "channel": rows["channel"].to_numpy(),
                    "ts": pa.array(rows["ts"], pa.timestamp("us", tz="UTC")),
                    "value": rows["value"].to_numpy(),
                    "read_type": np.full(len(rows), "daily_frozen"),
                }
            ),
            quality="estimated",
            source="vee:linear",
        )
    return VeeReport(
        expected_reads=len(grid),
        missing=int(missing.sum()),
        estimated=int(estimated.sum()),
        decreasing=int(decreasing.sum()),
        negative=int(negative.sum()),
        conflicts=len(conflicts),
        open_exceptions=int((found["status"] == "open").sum()),
    )


def _conflicts(store: MeasurementStore, meters: list[str], first: date, last: date) -> pd.DataFrame:
    """Reads of ``meters`` delivered again with a different value (the store kept the
    first), as findings."""
    rows = store.conflicts("register_reads").to_pandas()
    rows = rows[
        (rows["local_date"] >= first) & (rows["local_date"] <= last) & rows["meter_no"].isin(meters)
    ]
    return pd.DataFrame(
        {
            "meter_no": rows["meter_no"],
            "channel": rows["channel"],
            "ts": rows["ts"],
            "value": rows["value"].astype("float64"),
            "rule": rules.DUPLICATE_CONFLICT,
            "severity": "issue",
            "status": "open",
            "detail": [
                f"delivered again as {new}, first value {old} kept"
                for new, old in zip(rows["value"], rows["existing_value"], strict=True)
            ],
        }
    )


def _save_findings(session: Session, clock: Clock, found: pd.DataFrame) -> None:
    columns = ["meter_no", "channel", "ts", "rule", "severity", "detail", "status"]
    insert_new(
        session,
        VeeFinding,
        ("meter_no", "channel", "ts", "rule"),
        found[columns],
        {"found_at": clock.now()},
    )


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What the rule chain found over a window: findings per rule and how much it read."""

    by_rule: dict[str, int]
    meters: int
    days: int
    days_estimated: int
    """Meter-days whose missing intervals were estimated whole."""

    @property
    def findings(self) -> int:
        return sum(self.by_rule.values())


def run_rule_chain(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    store: MeasurementStore,
    first: date,
    last: date,
) -> ChainReport:
    """Run the validation rule chain (:mod:`meter2cash.vee.validation`) over local days
    ``first``…``last``: store its findings (``open`` for issues and terminations, ``noted`` for
    information; idempotent), then fold the window into each meter's history statistics."""
    tz = store.tz
    facts = meter_facts(session)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    registers = engine.measurements("register_reads", first, last + timedelta(days=1))
    inputs = Inputs(
        intervals=engine.measurements("intervals", first, last),
        registers=registers.filter(registers.read_type == "daily_frozen"),
        facts=facts_table(engine, facts),
        history=engine.table("vee_history", load_history(store)),
        days=engine.table(
            "vee_days",
            pa.table(
                {
                    "local_date": pa.array(days, pa.date32()),
                    "day_start": pa.array(
                        [local_midnight(d, tz) for d in days], pa.timestamp("us", tz="UTC")
                    ),
                }
            ),
        ),
        events=engine.measurements("events", first, last + timedelta(days=1)),
        alarms=engine.table("vee_alarms", _alarms(session, first, last, tz)),
        multiplier_changes=engine.table(
            "vee_multiplier_changes",
            pa.Table.from_pandas(
                multiplier_changes(
                    session, local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)
                ),
                schema=MULTIPLIER_CHANGES,
                preserve_index=False,
            ),
        ),
        first=first,
        last=last,
    )
    found = validate(engine, inputs).to_pandas()
    found["status"] = np.where(found["severity"] == "information", "noted", "open")
    daily = engine.to_arrow(daily_kwh(inputs))
    gaps = found[found["rule"] == "missing_intervals"]
    filled = estimate_intervals(engine, store, gaps, daily.to_pandas(), first, last)
    fixed = gaps.index[
        [(m, t) in filled for m, t in zip(gaps["meter_no"], gaps["ts"], strict=True)]
    ]
    found.loc[fixed, "status"] = "estimated"
    found.loc[fixed, "detail"] = [
        f"{d}; estimated by {filled[(m, t)]}"
        for d, m, t in zip(
            found.loc[fixed, "detail"],
            gaps.loc[fixed, "meter_no"],
            gaps.loc[fixed, "ts"],
            strict=True,
        )
    ]
    _save_findings(session, clock, found)
    figures = daily_figures(engine, first, last, daily)
    save_history(store, fold(load_history(store), figures))
    return ChainReport(
        {str(k): int(v) for k, v in found["rule"].value_counts().items()},
        len(facts),
        len(days),
        len(filled),
    )


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


def _alarms(session: Session, first: date, last: date, tz: ZoneInfo) -> pa.Table:
    """Head-end alarms raised for instants in the window: meter_no, kind, ts, detail."""
    start = local_midnight(first, tz)
    end = local_midnight(last + timedelta(days=1), tz)
    rows = (
        session.execute(
            select(Alarm.meter_no, Alarm.kind, Alarm.ts, Alarm.detail).where(
                Alarm.ts >= start, Alarm.ts < end
            )
        )
        .tuples()
        .all()
    )
    return pa.table(
        {
            "meter_no": pa.array([r[0] for r in rows], pa.string()),
            "kind": pa.array([r[1] for r in rows], pa.string()),
            "ts": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
            "detail": pa.array([r[3] for r in rows], pa.string()),
        }
    )
