"""Head-end queries: where each meter sits in the grid."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
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
