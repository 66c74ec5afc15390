"""Head-end queries: where each meter sits in the grid, and the event counters last read."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import (
    Account,
    Concentrator,
    Customer,
    Meter,
    MeterInstallation,
    ServicePoint,
    TransformerArea,
    Zone,
)
from meter2cash.headend.models import EventCounter


def meter_places(session: Session) -> pd.DataFrame:
    """Installed meters with their concentrator, transformer area and zone codes."""
    stmt = (
        select(
            Meter.meter_no,
            Concentrator.code.label("concentrator"),
            TransformerArea.code.label("transformer_area"),
            Zone.code.label("zone"),
        )
        .join(MeterInstallation, MeterInstallation.meter_id == Meter.id)
        .join(ServicePoint, ServicePoint.id == MeterInstallation.service_point_id)
        .join(TransformerArea, TransformerArea.id == ServicePoint.transformer_area_id)
        .join(Zone, Zone.id == TransformerArea.zone_id)
        .join(Concentrator, Concentrator.id == ServicePoint.concentrator_id, isouter=True)
        .where(MeterInstallation.removed_at.is_(None))
    )
    frame = pd.DataFrame(
        session.execute(stmt).tuples().all(),
        columns=["meter_no", "concentrator", "transformer_area", "zone"],
    )
    frame["concentrator"] = frame["concentrator"].fillna("(none)")
    return frame


def meter_classes(session: Session) -> pd.DataFrame:
    """Installed meters with their multiplier and customer class ('supply' for transformer
    supply meters): meter_no, multiplier, customer_class."""
    stmt = (
        select(Meter.meter_no, MeterInstallation.multiplier, Customer.customer_class)
        .join(MeterInstallation, MeterInstallation.meter_id == Meter.id)
        .join(ServicePoint, ServicePoint.id == MeterInstallation.service_point_id)
        .join(Account, Account.id == ServicePoint.account_id, isouter=True)
        .join(Customer, Customer.id == Account.customer_id, isouter=True)
        .where(MeterInstallation.removed_at.is_(None))
    )
    frame = pd.DataFrame(
        session.execute(stmt).tuples().all(), columns=["meter_no", "multiplier", "customer_class"]
    )
    frame["customer_class"] = frame["customer_class"].fillna("supply")
    return frame


def event_counters(session: Session) -> dict[tuple[str, str], Decimal]:
    """The event counters last read: (meter_no, counter DI) → value."""
    rows = session.execute(select(EventCounter.meter_no, EventCounter.counter, EventCounter.value))
    return {(meter_no, counter): Decimal(value) for meter_no, counter, value in rows}


def store_event_counters(
    session: Session, counters: Mapping[tuple[str, str], Decimal], read_on: date
) -> None:
    """Keep the counters just read (replacing what an earlier sweep read)."""
    if not counters:
        return
    by_counter: dict[str, list[str]] = {}
    for meter_no, di in counters:
        by_counter.setdefault(di, []).append(meter_no)
    for di, meters in by_counter.items():
        for chunk in range(0, len(meters), 500):
            session.execute(
                delete(EventCounter).where(
                    EventCounter.counter == di,
                    EventCounter.meter_no.in_(meters[chunk : chunk + 500]),
                )
            )
    session.execute(
        insert(EventCounter),
        [
            {"meter_no": meter_no, "counter": di, "value": value, "read_on": read_on}
            for (meter_no, di), value in counters.items()
        ],
    )
