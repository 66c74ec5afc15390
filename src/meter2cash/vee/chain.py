"""The validation rule chain over a window of days: findings, interval estimates, history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.core.timezones import local_midnight
from meter2cash.engines.base import BatchEngine
from meter2cash.headend.models import Alarm
from meter2cash.holidays.repository import utility_calendar
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee.history import daily_figures, fold, load_history, save_history
from meter2cash.vee.interval_estimates import REFERENCE_DAYS, estimate_intervals
from meter2cash.vee.repository import meter_facts, multiplier_changes, save_findings
from meter2cash.vee.validation import (
    MULTIPLIER_CHANGES,
    Inputs,
    daily_kwh,
    facts_table,
    validate,
)
from meter2cash.weather.repository import meter_temperatures


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What the rule chain found over a window: findings per rule and how much it read."""

    by_rule: dict[str, int]
    meters: int
    days: int
    days_estimated: int
    """Meter-days whose missing intervals were estimated whole."""
    found: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)
    """Every finding of the run (``meter_no``, ``channel``, ``ts``, ``rule``, ``status``…),
    stored before or not: what a re-run compares the queue against."""

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
    *,
    meters: Sequence[str] | None = None,
    fold_history: bool = True,
) -> ChainReport:
    """Run the validation rule chain (:mod:`meter2cash.vee.validation`) over local days
    ``first``…``last``: store its findings (``open`` for issues and terminations, ``noted`` for
    information; idempotent), then fold the window into each meter's history statistics.

    ``meters`` narrows the run to those meters: their findings, estimates and history only.
    Their peers (same class in the same transformer area) are read for their daily freezes
    alone, so ``peer_high`` judges as on a fleet run. ``fold_history=False`` leaves the
    history as it is: :func:`~meter2cash.vee.history.fold` skips days already folded, but a
    run over a past window not yet folded would advance ``through`` past the days between.
    """
    tz = store.tz
    facts = meter_facts(session)
    wanted = None if meters is None else sorted(set(meters))
    scope = None if wanted is None else _with_peers(facts, wanted)
    if scope is not None:
        facts = facts[facts["meter_no"].isin(scope)]
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    registers = _of(engine.measurements("register_reads", first, last + timedelta(days=1)), scope)
    changes = multiplier_changes(
        session, local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)
    )
    history = load_history(store)
    if wanted is not None:
        changes = changes[changes["meter_no"].isin(wanted)]
        history = history.filter(pc.is_in(history["meter_no"], pa.array(wanted, pa.string())))
    inputs = Inputs(
        intervals=_of(engine.measurements("intervals", first, last), wanted),
        registers=registers.filter(registers.read_type == "daily_frozen"),
        facts=facts_table(engine, facts),
        history=engine.table("vee_history", history),
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
        events=_of(engine.measurements("events", first, last + timedelta(days=1)), wanted),
        alarms=engine.table("vee_alarms", _alarms(session, first, last, tz, wanted)),
        multiplier_changes=engine.table(
            "vee_multiplier_changes",
            pa.Table.from_pandas(changes, schema=MULTIPLIER_CHANGES, preserve_index=False),
        ),
        first=first,
        last=last,
    )
    found = validate(engine, inputs).to_pandas()
    daily = engine.to_arrow(daily_kwh(inputs)).to_pandas()
    if wanted is not None:
        found = found[found["meter_no"].isin(wanted)].reset_index(drop=True)
        daily = daily[daily["meter_no"].isin(wanted)].reset_index(drop=True)
    found["status"] = np.where(found["severity"] == "information", "noted", "open")
    gaps = found[found["rule"] == "missing_intervals"]
    filled = estimate_intervals(
        engine,
        store,
        gaps,
        daily,
        first,
        last,
        calendar=utility_calendar(session),
        temperatures=meter_temperatures(session, first - timedelta(days=REFERENCE_DAYS), last),
    )
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
    if fold_history:
        figures = daily_figures(engine, first, last, pa.Table.from_pandas(daily))
        if wanted is not None:
            figures = figures[figures["meter_no"].isin(wanted)]
        save_history(store, fold(load_history(store), figures))
    return ChainReport(
        {str(k): int(v) for k, v in found["rule"].value_counts().items()},
        len(facts) if wanted is None else int(facts["meter_no"].isin(wanted).sum()),
        len(days),
        len(filled),
        found,
    )


def _with_peers(facts: pd.DataFrame, meters: Sequence[str]) -> list[str]:
    """``meters`` and the installed meters of the same class in the same transformer area."""
    own = facts[facts["meter_no"].isin(meters)]
    groups = own[["meter_class", "transformer_area"]].drop_duplicates()
    peers = facts.merge(groups, on=["meter_class", "transformer_area"])["meter_no"]
    return sorted(set(meters) | set(peers))


def _of(table: ir.Table, meters: Sequence[str] | None) -> ir.Table:
    """``table``'s rows of ``meters`` (all rows when None)."""
    return table if meters is None else table.filter(table.meter_no.isin(list(meters)))


def _alarms(
    session: Session, first: date, last: date, tz: ZoneInfo, meters: Sequence[str] | None
) -> pa.Table:
    """Head-end alarms raised for instants in the window (of ``meters`` when given):
    meter_no, kind, ts, detail."""
    start = local_midnight(first, tz)
    end = local_midnight(last + timedelta(days=1), tz)
    stmt = select(Alarm.meter_no, Alarm.kind, Alarm.ts, Alarm.detail).where(
        Alarm.ts >= start, Alarm.ts < end
    )
    if meters is not None:
        stmt = stmt.where(Alarm.meter_no.in_(meters))
    rows = session.execute(stmt).tuples().all()
    return pa.table(
        {
            "meter_no": pa.array([r[0] for r in rows], pa.string()),
            "kind": pa.array([r[1] for r in rows], pa.string()),
            "ts": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
            "detail": pa.array([r[3] for r in rows], pa.string()),
        }
    )
