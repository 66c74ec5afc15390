"""Shared scenario pieces for the head-end's wire tests: a small simulated utility whose
meters answer DL/T 645 on TCP, its assets in the records database, and helpers to request and
dispatch commands and read the audit trail as a user sees it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import TypeVar

import numpy as np
from sqlalchemy import Engine, select

from meter2cash.assets.loader import AssetFrames, load_assets
from meter2cash.core.clock import FixedClock
from meter2cash.core.timezones import zone
from meter2cash.db.audit import AuditEvent
from meter2cash.db.session import unit_of_work
from meter2cash.headend import commands
from meter2cash.headend.dispatch import DispatchPolicy, DispatchReport, dispatch_async
from meter2cash.headend.link import RetryPolicy
from meter2cash.headend.models import MeterCommand
from meter2cash.measurements.store import MeasurementStore
from meter2cash.simulator import SimulatedUtility, UtilitySpec
from meter2cash.simulator.wire import Fleet, start_concentrators

TZ = zone("Asia/Shanghai")
SPEC = UtilitySpec(seed=7, accounts=400, start=date(2026, 7, 1), days=40)
TODAY = SPEC.end
NEWEST = SPEC.days - 1
"""Day index of the newest freeze the meters hold on ``TODAY``."""
FAST = DispatchPolicy(timeout_s=0.2, retry=RetryPolicy(retries=2, backoff_s=(0.01, 0.02)))
T = TypeVar("T")


def load_utility(records: Engine, utility: SimulatedUtility) -> Engine:
    """``records`` with the simulated utility's assets."""
    with unit_of_work(records) as session:
        load_assets(
            session,
            AssetFrames(
                zones=utility.zones,
                transformer_areas=utility.transformer_areas,
                concentrators=utility.concentrators,
                routes=utility.routes,
                customers=utility.customers,
                accounts=utility.accounts,
                service_points=utility.service_points,
                meters=utility.meters,
            ),
        )
    return records


def residential_meters(utility: SimulatedUtility) -> list[str]:
    """Honest residential meters that answer on ``TODAY``."""
    faults = utility.faults
    klass = (
        utility.meters["service_point_code"]
        .map(utility.service_points.set_index("code")["account_no"])
        .map(utility.accounts.set_index("account_no")["customer_no"])
        .map(utility.customers.set_index("customer_no")["customer_class"])
    )
    keep = (klass == "residential").to_numpy() & (faults.theft_kind < 0)
    keep &= ~faults.silent(NEWEST)
    return list(np.asarray(utility.meters["meter_no"])[keep])


def silent_meter(utility: SimulatedUtility) -> str:
    return str(np.asarray(utility.meters["meter_no"])[utility.faults.silent(NEWEST)][0])


def on_fleet(
    utility: SimulatedUtility, job: Callable[[Fleet], Awaitable[T]], loss: float = 0.0
) -> T:
    async def scenario() -> T:
        fleet = await start_concentrators(utility, TODAY, loss=loss)
        try:
            return await job(fleet)
        finally:
            await fleet.close()

    return asyncio.run(asyncio.wait_for(scenario(), 60))


def dispatch_on(
    fleet: Fleet,
    records: Engine,
    clock: FixedClock,
    store: MeasurementStore | None = None,
    policy: DispatchPolicy = FAST,
    now: Callable[[], datetime] | None = None,
) -> Awaitable[DispatchReport]:
    """Dispatch every requested command through ``fleet``; the head-end's time source is the
    simulation's true time unless ``now`` says otherwise."""
    return dispatch_async(
        records, clock, store, fleet.endpoints, tz=TZ, now=now or fleet.now, policy=policy
    )


def request(records: Engine, clock: FixedClock, meter: str, kind: str, **kw: str) -> int:
    with unit_of_work(records) as session:
        return commands.request(
            session,
            clock,
            meter_no=meter,
            kind=kind,
            actor=kw.get("actor", "collector-7"),
            reason=kw.get("reason", "arrears 91 days, notice served"),
            request_key=kw.get("key", f"{meter}-{kind}"),
        ).id


def trail(records: Engine, meter: str) -> str:
    """The audit log of ``meter`` as an auditor reads it, measured currents masked."""
    with unit_of_work(records) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.object_key == meter).order_by(AuditEvent.id)
        ).all()
        text = "\n".join(f"{e.actor:<12}{e.action:<34}{e.reason}" for e in events)
    return re.sub(r"\d+\.\d{3} A", "<current> A", text)


def command_list(records: Engine) -> str:
    with unit_of_work(records) as session:
        rows = session.scalars(select(MeterCommand).order_by(MeterCommand.id)).all()
        text = "\n".join(f"{c.kind:<16}{c.status:<11}{c.outcome}" for c in rows)
    return re.sub(r"\d+\.\d{3} A", "<current> A", text)
