"""The validation rule chain over a window of days: findings, interval estimates, history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.core.timezones import local_midnight
from meter2cash.engines.base import BatchEngine
from meter2cash.headend.models import Alarm
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee.history import daily_figures, fold, load_history, save_history
from meter2cash.vee.interval_estimates import estimate_intervals
from meter2cash.vee.repository import meter_facts, multiplier_changes, save_findings
from meter2cash.vee.validation import (
    MULTIPLIER_CHANGES,
    Inputs,
    daily_kwh,
    facts_table,
    validate,
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
    save_findings(session, clock, found)
    figures = daily_figures(engine, first, last, daily)
    save_history(store, fold(load_history(store), figures))
    return ChainReport(
        {str(k): int(v) for k, v in found["rule"].value_counts().items()},
        len(facts),
        len(days),
        len(filled),
    )


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
