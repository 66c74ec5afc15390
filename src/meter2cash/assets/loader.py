"""Load a utility's assets from tables (the simulator's, or a utility's own exports).

Input frames use natural keys (codes and numbers); ids are assigned here. Loading is
idempotent per data home: the same utility loads once, a different one is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import (
    Account,
    Concentrator,
    Customer,
    Meter,
    MeterInstallation,
    Route,
    ServicePoint,
    TransformerArea,
    Utility,
    Zone,
)
from meter2cash.core.clock import Clock
from meter2cash.core.errors import DataHomeError


@dataclass(frozen=True)
class AssetFrames:
    """The asset tables, keyed by natural codes (columns as the simulator emits them).

    ``service_points`` may carry ``contract_demand_kw`` [kW] (合同最大需量, for tariffs billed
    by contract demand); without the column, or where it is empty, none is on file.
    """

    zones: pd.DataFrame
    transformer_areas: pd.DataFrame
    concentrators: pd.DataFrame
    routes: pd.DataFrame
    customers: pd.DataFrame
    accounts: pd.DataFrame
    service_points: pd.DataFrame
    meters: pd.DataFrame


@dataclass(frozen=True)
class LoadReport:
    loaded: bool
    zones: int
    transformer_areas: int
    accounts: int
    meters: int


def claim_utility(session: Session, clock: Clock, name: str, fingerprint: str, tz: str) -> bool:
    """Record which utility this data home holds. True if newly claimed, False if already ours.

    Raises :class:`DataHomeError` if the data home holds a different utility.
    """
    existing = session.scalar(select(Utility))
    if existing is None:
        session.add(
            Utility(name=name, fingerprint=fingerprint, timezone=tz, created_at=clock.now())
        )
        session.flush()
        return True
    if existing.fingerprint != fingerprint:
        raise DataHomeError(
            f"this data home holds utility {existing.fingerprint!r}, not {fingerprint!r}",
            "point M2C_HOME at an empty directory, or run with the same seed and size",
        )
    return False


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if (not isinstance(v, str) and pd.isna(v)) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def _ids(session: Session, column: Any, key: Any) -> dict[str, int]:
    return dict(session.execute(select(column, key)).tuples().all())


def load_assets(session: Session, frames: AssetFrames) -> LoadReport:
    """Insert every asset table in dependency order; a no-op if accounts already exist."""
    if session.scalar(select(func.count(Account.id))):
        return LoadReport(False, 0, 0, 0, 0)
    session.execute(insert(Zone), _records(frames.zones[["code", "name"]]))
    zone_ids = _ids(session, Zone.code, Zone.id)

    ta = frames.transformer_areas
    session.execute(
        insert(TransformerArea),
        [
            {
                "code": r["code"],
                "zone_id": zone_ids[r["zone_code"]],
                "name": r["name"],
                "capacity_kva": Decimal(str(r["capacity_kva"])),
            }
            for r in _records(ta)
        ],
    )
    ta_ids = _ids(session, TransformerArea.code, TransformerArea.id)
    session.execute(
        insert(Concentrator),
        [
            {
                "code": r["code"],
                "address": r["address"],
                "transformer_area_id": ta_ids[r["transformer_area_code"]],
                "channel": r["channel"],
            }
            for r in _records(frames.concentrators)
        ],
    )
    conc_ids = _ids(session, Concentrator.code, Concentrator.id)
    session.execute(
        insert(Route),
        [
            {"code": r["code"], "zone_id": zone_ids[r["zone_code"]], "read_day": int(r["read_day"])}
            for r in _records(frames.routes)
        ],
    )
    route_ids = _ids(session, Route.code, Route.id)
    session.execute(
        insert(Customer),
        _records(frames.customers[["customer_no", "name", "customer_class"]]),
    )
    cust_ids = _ids(session, Customer.customer_no, Customer.id)
    session.execute(
        insert(Account),
        [
            {
                "account_no": r["account_no"],
                "customer_id": cust_ids[r["customer_no"]],
                "zone_id": zone_ids[r["zone_code"]],
                "route_id": route_ids[r["route_code"]],
                "tariff_code": r["tariff_code"],
                "household_size": int(r["household_size"]),
                "payment_terms_days": int(r["payment_terms_days"]),
                "opened_on": r["opened_on"],
            }
            for r in _records(frames.accounts)
        ],
    )
    acct_ids = _ids(session, Account.account_no, Account.id)
    session.execute(
        insert(ServicePoint),
        [
            {
                "code": r["code"],
                "account_id": acct_ids[r["account_no"]] if r["account_no"] else None,
                "transformer_area_id": ta_ids[r["transformer_area_code"]],
                "concentrator_id": conc_ids.get(r["concentrator_code"] or ""),
                "role": r["role"],
                "contracted_kva": (
                    None if r["contracted_kva"] is None else Decimal(str(r["contracted_kva"]))
                ),
                "contract_demand_kw": (
                    None
                    if r.get("contract_demand_kw") is None
                    else Decimal(str(r["contract_demand_kw"]))
                ),
            }
            for r in _records(frames.service_points)
        ],
    )
    sp_ids = _ids(session, ServicePoint.code, ServicePoint.id)
    meters = _records(frames.meters)
    session.execute(
        insert(Meter),
        [
            {
                "meter_no": r["meter_no"],
                "address": r["address"],
                "protocol": r["protocol"],
                "register_digits": int(r["register_digits"]),
                "records_intervals": bool(r["records_intervals"]),
            }
            for r in meters
        ],
    )
    meter_ids = _ids(session, Meter.meter_no, Meter.id)
    session.execute(
        insert(MeterInstallation),
        [
            {
                "meter_id": meter_ids[r["meter_no"]],
                "service_point_id": sp_ids[r["service_point_code"]],
                "installed_at": pd.Timestamp(r["installed_at"]).to_pydatetime(),
                "ct_ratio": int(r["ct_ratio"]),
                "pt_ratio": int(r["pt_ratio"]),
                "multiplier": int(r["ct_ratio"]) * int(r["pt_ratio"]),
                "initial_read_kwh": Decimal(str(round(float(r["initial_read_kwh"]), 4))),
            }
            for r in meters
        ],
    )
    return LoadReport(True, len(zone_ids), len(ta_ids), len(acct_ids), len(meter_ids))
