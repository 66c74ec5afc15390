"""Daily collection: take what the meters delivered for a local day and store it durably.

The source is anything that answers :meth:`DaySource.collect_day` — today the simulator's
head-end; the DL/T 645 collector over TCP plugs in here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.headend.models import CollectionDay
from meter2cash.measurements.store import MeasurementStore


class DayDelivery(Protocol):
    """What the head-end received for one local day."""

    @property
    def register_reads(self) -> pa.Table: ...
    @property
    def intervals(self) -> pa.Table: ...
    @property
    def events(self) -> pa.Table: ...
    @property
    def meters_expected(self) -> int: ...
    @property
    def meters_read(self) -> int: ...


class DaySource(Protocol):
    def collect_day(self, day: date) -> DayDelivery: ...


@dataclass(frozen=True, slots=True)
class ReadSuccess:
    """Read success rate (采集成功率) over the days collected."""

    days: int
    meters_expected: int
    meters_read: int
    rows_accepted: int

    @property
    def rate(self) -> float:
        return self.meters_read / self.meters_expected if self.meters_expected else 0.0


def collect_days(
    session: Session,
    clock: Clock,
    store: MeasurementStore,
    source: DaySource,
    days: Iterable[date],
    *,
    source_name: str,
    on_day: Callable[[date], None] | None = None,
) -> int:
    """Collect each day not yet collected; returns the number of days collected now.

    Reads are durable in the store before the day's record is written, so a crash
    between the two repeats the day harmlessly (ingest is idempotent).
    """
    done = set(session.scalars(select(CollectionDay.local_date)))
    collected = 0
    for day in days:
        if day in done:
            if on_day:
                on_day(day)
            continue
        delivery = source.collect_day(day)
        reports = [
            store.ingest_register_reads(delivery.register_reads, source=source_name),
            store.ingest_intervals(delivery.intervals, source=source_name),
            store.ingest_events(delivery.events, source=source_name),
        ]
        session.add(
            CollectionDay(
                local_date=day,
                source=source_name,
                meters_expected=delivery.meters_expected,
                meters_read=delivery.meters_read,
                rows_received=sum(r.received for r in reports),
                rows_accepted=sum(r.accepted for r in reports),
                rows_duplicate=sum(r.duplicates for r in reports),
                rows_conflicting=sum(r.conflicts for r in reports),
                rows_quarantined=sum(r.quarantined for r in reports),
                collected_at=clock.now(),
            )
        )
        session.flush()
        collected += 1
        if on_day:
            on_day(day)
    return collected


def read_success(session: Session) -> ReadSuccess:
    days, expected, read, accepted = session.execute(
        select(
            func.count(CollectionDay.id),
            func.coalesce(func.sum(CollectionDay.meters_expected), 0),
            func.coalesce(func.sum(CollectionDay.meters_read), 0),
            func.coalesce(func.sum(CollectionDay.rows_accepted), 0),
        )
    ).one()
    return ReadSuccess(int(days), int(expected), int(read), int(accepted))
