"""The read-success report: build the read grid through the batch engine, analyse it, and
raise field work-order suggestions for what it finds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.engines import BatchEngine
from meter2cash.headend import analysis
from meter2cash.headend.analysis import SignalLossRules
from meter2cash.headend.exchanges import exchanges_between
from meter2cash.headend.repository import meter_places
from meter2cash.operations.models import WorkOrder

SOURCE = "headend.read_success"


@dataclass(frozen=True)
class ReadSuccessReport:
    first: date
    last: date
    daily: pd.DataFrame
    by_zone: pd.DataFrame
    by_transformer_area: pd.DataFrame
    by_concentrator: pd.DataFrame
    unreachable: pd.DataFrame
    falling: pd.DataFrame
    work_orders_raised: int


def read_grid(session: Session, engine: BatchEngine, first: date, last: date) -> pd.DataFrame:
    """One row per (installed meter, day in [first, last]) with ``read`` = its daily freeze
    arrived from the meter (raw, not estimated). The freeze that closes day D is stamped at
    local midnight D+1, so it lives in partition D+1."""
    reads = engine.measurements(
        "register_reads", first + timedelta(days=1), last + timedelta(days=1)
    )
    arrived = (
        reads.filter(
            (reads.channel == "A+") & (reads.quality == "raw") & (reads.read_type == "daily_frozen")
        )
        .select("meter_no", "local_date")
        .distinct()
    )
    seen = engine.to_arrow(arrived).to_pandas()
    seen["day"] = pd.to_datetime(seen["local_date"]).dt.date - timedelta(days=1)
    places = meter_places(session)
    days = pd.DataFrame(
        {"day": [first + timedelta(days=i) for i in range((last - first).days + 1)]}
    )
    grid = places.merge(days, how="cross")
    marked = grid.merge(
        seen[["meter_no", "day"]].assign(read=True), on=["meter_no", "day"], how="left"
    )
    marked["read"] = marked["read"].fillna(False).astype(bool)
    return _with_attempts(marked, exchanges_between(session, first, last))


def _with_attempts(grid: pd.DataFrame, exchanges: pd.DataFrame) -> pd.DataFrame:
    """Add ``first_try`` and ``after_retries``: how a read arrived on the day it was due.

    ``read`` counts every freeze in the store, so it is success after backfill. Days without
    an exchange log (collected from a feed, not over the wire) count a read as a first try.
    """
    on_day = exchanges[exchanges["day"] == exchanges["collected_on"]]
    outcome = grid.merge(
        on_day[["meter_no", "day", "outcome"]], on=["meter_no", "day"], how="left"
    )["outcome"]
    logged = outcome.notna().to_numpy()
    first_try = (outcome == "first_try").to_numpy()
    retried = outcome.isin(["first_try", "after_retry"]).to_numpy()
    read = grid["read"].to_numpy()
    return grid.assign(
        first_try=np.where(logged, first_try, read), after_retries=np.where(logged, retried, read)
    )


def read_success_report(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    first: date,
    last: date,
    rules: SignalLossRules | None = None,
) -> ReadSuccessReport:
    """Read success per day and by concentrator, transformer area and zone; meters
    persistently unreachable; concentrators whose success falls. Each finding raises a
    work-order suggestion, once per target and day."""
    rules = rules or SignalLossRules()
    grid = read_grid(session, engine, first, last)
    unreachable = analysis.unreachable_meters(grid, rules)
    falling = analysis.falling_concentrators(grid, rules)
    suggestions = [
        (
            "inspect_meter",
            "meter",
            row.meter_no,
            f"no daily freeze for {row.silent_days} days (concentrator {row.concentrator})",
        )
        for row in unreachable.itertuples(index=False)
    ] + [
        ("inspect_concentrator", "concentrator", row.concentrator, row.reason)
        for row in falling.itertuples(index=False)
    ]
    raised = _raise(session, clock, last, suggestions)
    return ReadSuccessReport(
        first=first,
        last=last,
        daily=analysis.success_by_day(grid),
        by_zone=analysis.success_overall(grid, "zone"),
        by_transformer_area=analysis.success_overall(grid, "transformer_area"),
        by_concentrator=analysis.success_overall(grid, "concentrator"),
        unreachable=unreachable,
        falling=falling,
        work_orders_raised=raised,
    )


def _raise(
    session: Session, clock: Clock, on: date, suggestions: list[tuple[str, str, str, str]]
) -> int:
    existing = set(
        session.execute(
            select(WorkOrder.kind, WorkOrder.target_code).where(WorkOrder.raised_on == on)
        ).tuples()
    )
    now = clock.now()
    rows = [
        {
            "kind": kind,
            "target_type": target_type,
            "target_code": code,
            "reason": reason,
            "status": "suggested",
            "source": SOURCE,
            "raised_on": on,
            "raised_at": now,
        }
        for kind, target_type, code, reason in suggestions
        if (kind, code) not in existing
    ]
    if rows:
        session.execute(insert(WorkOrder), rows)
    return len(rows)
