"""VEE queries: the facts about each installed meter that the rule chain needs."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from meter2cash.assets.models import (
    Account,
    Customer,
    Meter,
    MeterInstallation,
    ServicePoint,
    TransformerArea,
)
from meter2cash.core.clock import Clock
from meter2cash.db.idempotent import insert_new
from meter2cash.vee.models import VeeFinding


def meter_facts(session: Session) -> pd.DataFrame:
    """Installed meters: ``meter_no``, ``meter_class`` (the customer's class, ``supply`` for a
    transformer supply meter), ``transformer_area``, ``register_digits``,
    ``records_intervals``, ``multiplier`` and ``capacity_kva`` (contracted, or the
    transformer's for a supply meter; NaN when unknown)."""
    stmt = (
        select(
            Meter.meter_no,
            Customer.customer_class,
            ServicePoint.role,
            TransformerArea.code,
            Meter.register_digits,
            Meter.records_intervals,
            MeterInstallation.multiplier,
            ServicePoint.contracted_kva,
            TransformerArea.capacity_kva,
        )
        .join(MeterInstallation, MeterInstallation.meter_id == Meter.id)
        .join(ServicePoint, ServicePoint.id == MeterInstallation.service_point_id)
        .join(TransformerArea, TransformerArea.id == ServicePoint.transformer_area_id)
        .join(Account, Account.id == ServicePoint.account_id, isouter=True)
        .join(Customer, Customer.id == Account.customer_id, isouter=True)
        .where(MeterInstallation.removed_at.is_(None))
    )
    rows = session.execute(stmt).tuples().all()
    frame = pd.DataFrame(
        rows,
        columns=[
            "meter_no",
            "customer_class",
            "role",
            "transformer_area",
            "register_digits",
            "records_intervals",
            "multiplier",
            "contracted_kva",
            "area_kva",
        ],
    )
    supply = frame["role"] == "supply"
    frame["meter_class"] = frame["customer_class"].where(~supply, "supply").fillna("supply")
    capacity = frame["contracted_kva"].where(~supply, frame["area_kva"])
    frame["capacity_kva"] = pd.to_numeric(capacity, errors="coerce").astype("float64")
    frame["records_intervals"] = frame["records_intervals"].astype(bool)
    frame["multiplier"] = frame["multiplier"].astype("int64")
    frame["register_digits"] = frame["register_digits"].astype("int64")
    return frame[
        [
            "meter_no",
            "meter_class",
            "transformer_area",
            "register_digits",
            "records_intervals",
            "multiplier",
            "capacity_kva",
        ]
    ]


def multiplier_changes(session: Session, start: datetime, end: datetime) -> pd.DataFrame:
    """Installations in [start, end) whose multiplier (CT × PT) differs from the one before
    them at the same service point: ``meter_no`` (the new installation's meter),
    ``changed_at`` (UTC), ``multiplier_before``, ``multiplier_after``."""
    rows = (
        session.execute(
            select(
                MeterInstallation.service_point_id,
                Meter.meter_no,
                MeterInstallation.installed_at,
                MeterInstallation.multiplier,
            )
            .join(Meter, Meter.id == MeterInstallation.meter_id)
            .order_by(MeterInstallation.service_point_id, MeterInstallation.installed_at)
        )
        .tuples()
        .all()
    )
    frame = pd.DataFrame(rows, columns=["service_point", "meter_no", "changed_at", "multiplier"])
    frame["multiplier_before"] = frame.groupby("service_point")["multiplier"].shift()
    changed = frame[
        frame["multiplier_before"].notna()
        & (frame["multiplier_before"] != frame["multiplier"])
        & (frame["changed_at"] >= start)
        & (frame["changed_at"] < end)
    ]
    return pd.DataFrame(
        {
            "meter_no": changed["meter_no"].astype(str),
            "changed_at": pd.to_datetime(changed["changed_at"], utc=True),
            "multiplier_before": changed["multiplier_before"].astype("int64"),
            "multiplier_after": changed["multiplier"].astype("int64"),
        }
    )


def save_findings(session: Session, clock: Clock, found: pd.DataFrame) -> None:
    """Store findings (``meter_no``, ``channel``, ``ts``, ``rule``, ``severity``, ``detail``,
    ``status``) not stored before, stamped found now (idempotent on meter, channel, ts, rule)."""
    columns = ["meter_no", "channel", "ts", "rule", "severity", "detail", "status"]
    insert_new(
        session,
        VeeFinding,
        ("meter_no", "channel", "ts", "rule"),
        found[columns],
        {"found_at": clock.now()},
    )
