"""Head-end queries: where each meter sits in the grid."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from meter2cash.assets.models import (
    Concentrator,
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
