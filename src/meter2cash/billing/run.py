"""The bill run: determinants through the batch engine, rating, review, and persistence.

Determinants for every account of a month are computed in one engine query (intervals
for interval meters, register deltas for the rest); rating is the pure tariff functions;
bills and lines are written in bulk. Bills that pass review are ``approved``; the others
wait ``in_review`` for a person. :func:`price_accounts` is the pricing path of one period for
any set of accounts — the whole cycle here, one account in a rebill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import insert
from sqlalchemy.orm import Session

from meter2cash.billing import repository
from meter2cash.billing.cycles import MonthPeriod, ensure_cycles
from meter2cash.billing.determinants import interval_determinants, register_determinants
from meter2cash.billing.models import Bill, BillLine
from meter2cash.billing.review import DEFAULT_LIMITS, ReviewLimits, review
from meter2cash.core.calendar import HolidayCalendar
from meter2cash.core.clock import Clock
from meter2cash.core.money import energy, to_minor
from meter2cash.core.timezones import local_day_bounds
from meter2cash.engines import BatchEngine
from meter2cash.holidays.repository import utility_calendar
from meter2cash.tariffs.rating import Determinants, RatedBill, TierContext, rate
from meter2cash.tariffs.schema import TOU_PERIODS, TariffDocument, tou_slot_table
from meter2cash.tariffs.service import store_tariffs

REGISTER_PERIODS = {"A+1": "sharp", "A+2": "peak", "A+3": "flat", "A+4": "valley"}
FEW_ACCOUNTS = 5000
"""Up to this many accounts, history queries name them; beyond, they read every account."""


@dataclass(frozen=True, slots=True)
class BillRunReport:
    period: MonthPeriod
    accounts: int
    billed: int
    in_review: int
    unbillable: int
    amount_minor: int


def day_types(first: date, last: date, calendar: HolidayCalendar) -> pa.Table:
    """Local calendar of the period: workday, weekend or public holiday (adjusted workdays
    count as workdays)."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return pa.table(
        {
            "local_date": pa.array(days, pa.date32()),
            "day_type": pa.array(calendar.day_types(days).tolist(), pa.string()),
        }
    )


def _tou_slots(tariffs: Mapping[str, TariffDocument], day: date) -> pa.Table:
    rows: dict[str, list[object]] = {
        "tou_schedule": [],
        "month": [],
        "day_type": [],
        "slot": [],
        "tou_period": [],
    }
    for code, doc in tariffs.items():
        schedule = doc.version_on(day).tou_schedule
        if schedule is None:
            continue
        for month, day_type, slot, period in tou_slot_table(schedule):
            rows["tou_schedule"].append(code)
            rows["month"].append(month)
            rows["day_type"].append(day_type)
            rows["slot"].append(slot)
            rows["tou_period"].append(period)
    return pa.table(
        {
            "tou_schedule": pa.array(rows["tou_schedule"], pa.string()),
            "month": pa.array(rows["month"], pa.int32()),
            "day_type": pa.array(rows["day_type"], pa.string()),
            "slot": pa.array(rows["slot"], pa.int16()),
            "tou_period": pa.array(rows["tou_period"], pa.string()),
        }
    )


def _periods(meters: pd.DataFrame, period: MonthPeriod) -> pa.Table:
    n = len(meters)
    return pa.table(
        {
            "meter_no": pa.array(meters["meter_no"], pa.string()),
            "account_no": pa.array(meters["account_no"], pa.string()),
            "period_start": pa.array([period.period_start] * n, pa.date32()),
            "period_end": pa.array([period.period_end] * n, pa.date32()),
            "multiplier": pa.array(meters["multiplier"].astype("int64"), pa.int64()),
            "tou_schedule": pa.array(meters["tariff_code"], pa.string()),
        }
    )


def expected_intervals(period: MonthPeriod, tz: ZoneInfo) -> int:
    """15-minute intervals in the period's local days (DST days have 92 or 100)."""
    start, end = local_day_bounds(period.period_start, period.period_end, tz)
    return int((end - start) / timedelta(minutes=15))


def compute_determinants(
    engine: BatchEngine,
    meters: pd.DataFrame,
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
    calendar: HolidayCalendar,
) -> dict[str, Determinants]:
    """Determinants per account_no; accounts without the reads to bill are left out.

    Energy comes from the 15-minute curve when it is complete for the period, otherwise
    from the register deltas (the meter's legal registers, VEE-estimated where a freeze was
    missed), flagged ``estimated`` if either read was estimated or the curve had gaps.
    Maximum demand and reactive energy come from the curve.
    """
    periods = engine.table("bill_periods", _periods(meters, period))
    deltas = engine.to_arrow(
        register_determinants(
            engine.measurements(
                "register_reads", period.period_start, period.period_end + timedelta(days=1)
            ),
            periods,
        )
    ).to_pandas()
    deltas = deltas[deltas["delta"].notna()]
    wide = deltas.pivot(index="account_no", columns="channel", values="delta")
    estimated_reads = set(
        deltas.loc[(deltas["channel"] == "A+") & deltas["estimated"], "account_no"]
    )
    registers: dict[str, tuple[dict[str, Decimal], bool]] = {
        str(account_no): (
            {c: energy(v) for c, v in row.items() if v is not None and not pd.isna(v)},
            account_no in estimated_reads,
        )
        for account_no, row in zip(wide.index, wide.to_dict("records"), strict=True)
    }

    curves: dict[str, dict[str, Any]] = {}
    interval_meters = meters[meters["records_intervals"].astype(bool)]
    if len(interval_meters):
        expr = interval_determinants(
            engine.measurements("intervals", period.period_start, period.period_end),
            engine.table("interval_periods", _periods(interval_meters, period)),
            engine.table("tou_slots", _tou_slots(tariffs, period.period_start)),
            engine.table("calendar", day_types(period.period_start, period.period_end, calendar)),
        )
        curves = {row["account_no"]: row for row in engine.to_arrow(expr).to_pylist()}

    complete = expected_intervals(period, engine.store.tz)
    kva = dict(zip(meters["account_no"], meters["contracted_kva"], strict=True))
    out: dict[str, Determinants] = {}
    for account_no in meters["account_no"]:
        curve = curves.get(account_no)
        demand = kvarh = None
        if curve is not None and curve["interval_count"]:
            demand = energy(curve["max_demand_kw"] or 0)
            kvarh = energy(curve["kvarh_total"] or 0)
        contracted = kva.get(account_no)
        common: dict[str, Any] = {
            "period_start": period.period_start,
            "period_end": period.period_end,
            "kvarh_total": kvarh,
            "max_demand_kw": demand,
            "contracted_kva": None if contracted is None else Decimal(contracted),
        }
        if curve is not None and curve["interval_count"] == complete:
            out[account_no] = Determinants(
                kwh_total=energy(curve["kwh_total"]),
                kwh_by_period={
                    p: energy(curve[f"kwh_{p}"]) for p in TOU_PERIODS if curve[f"kwh_{p}"]
                },
                **common,
            )
        elif account_no in registers and "A+" in registers[account_no][0]:
            by_channel, estimated = registers[account_no]
            out[account_no] = Determinants(
                kwh_total=by_channel["A+"],
                kwh_by_period={
                    p: by_channel[c] for c, p in REGISTER_PERIODS.items() if by_channel.get(c)
                },
                estimated=estimated or curve is not None,
                **common,
            )
    return out


@dataclass(frozen=True, slots=True)
class PricedBill:
    """One account's period rated under its tariff, with review's reasons to hold it."""

    account_id: int
    account_no: str
    route_id: int
    tariff_version_id: int
    currency: str
    multiplier: int
    determinants: Determinants
    rated: RatedBill
    review_reasons: str = ""


def price_accounts(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
    meters: pd.DataFrame,
    limits: ReviewLimits = DEFAULT_LIMITS,
) -> list[PricedBill]:
    """Determinants, rating and review of ``meters``' accounts (rows of
    :func:`repository.billable_meters`) for ``period``, from the current reads, tariffs and
    multipliers; accounts without the reads to bill are left out."""
    version_ids = store_tariffs(session, clock, tariffs)
    determinants = compute_determinants(engine, meters, tariffs, period, utility_calendar(session))
    few = list(meters["account_id"]) if len(meters) <= FEW_ACCOUNTS else None
    tier_year = date(period.period_start.year, 1, 1)
    before = repository.kwh_billed_since(session, tier_year, period.period_start, few)
    priced: list[PricedBill] = []
    for row in meters.itertuples(index=False):
        det = determinants.get(row.account_no)
        if det is None:
            continue
        doc = tariffs[row.tariff_code]
        version = doc.version_on(period.period_start)
        ctx = TierContext(kwh_before_in_tier_year=Decimal(str(before.get(row.account_id, 0) or 0)))
        priced.append(
            PricedBill(
                account_id=row.account_id,
                account_no=row.account_no,
                route_id=row.route_id,
                tariff_version_id=version_ids[(doc.code, version.version)],
                currency=doc.currency,
                multiplier=int(row.multiplier),
                determinants=det,
                rated=rate(version, det, ctx),
            )
        )
    reasons = _review(session, period, meters, priced, limits)
    return [replace(p, review_reasons=r) for p, r in zip(priced, reasons, strict=True)]


def _review(
    session: Session,
    period: MonthPeriod,
    meters: pd.DataFrame,
    priced: list[PricedBill],
    limits: ReviewLimits,
) -> list[str]:
    if not priced:
        return []
    account_ids = [p.account_id for p in priced]
    few = account_ids if len(account_ids) <= FEW_ACCOUNTS else None
    places = repository.account_places(session, account_ids).set_index("account_id")
    accounts = meters.set_index("account_id")
    closed = places["closed_on"].reindex(account_ids)
    bills = pd.DataFrame(
        {
            "account_id": account_ids,
            "customer_class": accounts["customer_class"].reindex(account_ids).to_numpy(),
            "tariff_code": accounts["tariff_code"].reindex(account_ids).to_numpy(),
            "zone": places["zone"].reindex(account_ids).to_numpy(),
            "transformer_area": places["transformer_area"].reindex(account_ids).to_numpy(),
            "active": (closed.isna() | (closed > period.period_end)).to_numpy(),
            "days": period.days,
            "kwh": [float(p.rated.kwh_total) for p in priced],
            "total": [float(p.rated.total) for p in priced],
            "estimated": [p.determinants.estimated for p in priced],
            "multiplier": [p.multiplier for p in priced],
            "max_demand_kw": [
                np.nan
                if p.determinants.max_demand_kw is None
                else float(p.determinants.max_demand_kw)
                for p in priced
            ],
        }
    )
    history = repository.recent_bills(session, period.period_start, account_ids=few)
    peers = repository.period_peers(
        session, period.period_start, set(bills["tariff_code"]), account_ids
    )
    return list(review(bills, history, peers, limits))


def bill_row(
    priced: PricedBill,
    cycle_id: int,
    bill_date: date,
    due_date: date,
    revision: int = 0,
    replaces_bill_id: int | None = None,
) -> dict[str, object]:
    """The bill record of ``priced``: ``approved``, or ``in_review`` when review held it."""
    det = priced.determinants
    return {
        "bill_no": f"{det.period_start:%Y%m}-{priced.account_no}-{revision}",
        "account_id": priced.account_id,
        "cycle_id": cycle_id,
        "revision": revision,
        "tariff_version_id": priced.tariff_version_id,
        "period_start": det.period_start,
        "period_end": det.period_end,
        "kwh": priced.rated.kwh_total,
        "max_demand_kw": det.max_demand_kw,
        "multiplier": priced.multiplier,
        "total_minor": to_minor(priced.rated.total),
        "currency": priced.currency,
        "estimated": det.estimated,
        "status": "in_review" if priced.review_reasons else "approved",
        "bill_date": bill_date,
        "due_date": due_date,
        "replaces_bill_id": replaces_bill_id,
        "review_reasons": priced.review_reasons,
    }


def bill_month(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
    limits: ReviewLimits = DEFAULT_LIMITS,
) -> BillRunReport:
    """Bill every billable account for ``period`` that has no live bill yet.

    An account whose bill was rejected gets the next revision, replacing it.
    """
    cycles = ensure_cycles(session, period)
    meters = repository.billable_meters(session, period.period_start, period.period_end)
    if meters.empty:
        return BillRunReport(period, 0, 0, 0, 0, 0)
    done = repository.already_billed(session, list(cycles.values()))
    meters = meters[~meters["account_id"].isin(done)]
    if meters.empty:
        return BillRunReport(period, 0, 0, 0, 0, 0)
    priced = price_accounts(session, clock, engine, tariffs, period, meters, limits)
    dates = repository.cycle_dates(session, list(cycles.values()))
    rejected = repository.latest_revisions(session, list(cycles.values()))
    bills = []
    for p in priced:
        cycle_id = cycles[p.route_id]
        revision, replaces = rejected.get(p.account_id, (-1, None))
        bills.append(bill_row(p, cycle_id, *dates[cycle_id], revision + 1, replaces))
    insert_bills(session, bills, [p.rated for p in priced])
    return BillRunReport(
        period=period,
        accounts=len(meters),
        billed=len(bills),
        in_review=sum(bool(p.review_reasons) for p in priced),
        unbillable=len(meters) - len(bills),
        amount_minor=sum(to_minor(p.rated.total) for p in priced),
    )


def insert_bills(
    session: Session, bills: list[dict[str, object]], rated: list[RatedBill]
) -> list[int]:
    """Insert bills and their lines in bulk; returns the new bill ids in order."""
    if not bills:
        return []
    session.execute(insert(Bill), bills)
    ids = repository.bill_ids(session, [str(b["bill_no"]) for b in bills])
    lines = [
        {
            "bill_id": bill_id,
            "seq": seq,
            "kind": line.kind,
            "description": line.description,
            "quantity": line.quantity,
            "unit": line.unit,
            "unit_price": line.unit_price,
            "amount_minor": to_minor(line.amount),
        }
        for bill_id, result in zip(ids, rated, strict=True)
        for seq, line in enumerate(result.lines, start=1)
    ]
    if lines:
        session.execute(insert(BillLine), lines)
    return ids
