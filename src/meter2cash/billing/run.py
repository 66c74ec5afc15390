"""The bill run: determinants through the batch engine, rating, review, and persistence.

Determinants for every account of a month are computed in one engine query (intervals
for interval meters, register deltas for the rest); rating is the pure tariff functions;
bills and lines are written in bulk. Bills that pass review are ``approved``; the others
wait ``in_review`` for a person. :func:`price_accounts` is the pricing path of one period for
any set of accounts — the whole cycle here, one account in a rebill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from meter2cash.billing import repository
from meter2cash.billing.cycles import MonthPeriod, ensure_cycles
from meter2cash.billing.determinants import interval_determinants, register_determinants
from meter2cash.billing.models import Bill, BillLine
from meter2cash.billing.pricing import (
    DETERMINANT_COLUMNS,
    KWH_SCALE,
    IntArray,
    PricedLines,
    price_cycle,
)
from meter2cash.billing.review import DEFAULT_LIMITS, ReviewLimits, review
from meter2cash.core.calendar import HolidayCalendar
from meter2cash.core.clock import Clock
from meter2cash.core.money import to_minor
from meter2cash.core.timezones import local_day_bounds
from meter2cash.db.bulk import insert_columns
from meter2cash.db.session import unit_of_work
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
            "register_digits": pa.array(meters["register_digits"].astype("int64"), pa.int64()),
            "tou_schedule": pa.array(meters["tariff_code"], pa.string()),
        }
    )


def expected_intervals(period: MonthPeriod, tz: ZoneInfo) -> int:
    """15-minute intervals in the period's local days (DST days have 92 or 100)."""
    start, end = local_day_bounds(period.period_start, period.period_end, tz)
    return int((end - start) / timedelta(minutes=15))


def _q4(values: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.float64]:
    """Quantities [DECIMAL(18,4)] as floats of 0.0001 units, NaN where null: exact, since
    x × 10⁴ of a 4-dp value is within float rounding of an integer and ``rint`` lands on it."""
    floats = np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), np.float64)
    rounded: npt.NDArray[np.float64] = np.rint(floats * KWH_SCALE)
    return rounded


def _int4(values: npt.NDArray[np.float64]) -> IntArray:
    """0.0001 units as int64, ``-1`` (none) where NaN."""
    return np.where(np.isnan(values), -1, values).astype(np.int64)


def determinant_frame(
    engine: BatchEngine,
    meters: pd.DataFrame,
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
    calendar: HolidayCalendar,
) -> pd.DataFrame:
    """``meters`` (rows of :func:`repository.billable_meters`) with their determinants, only
    the accounts with the reads to bill.

    Adds the int64 quantities of :data:`DETERMINANT_COLUMNS` but ``kwh_before`` and ``days``
    [0.0001 kWh, kvarh, kW, kVA; ``-1`` = none] and ``estimated``. Energy comes from the
    15-minute curve when it is complete for the period, otherwise from the register deltas
    (the meter's legal registers, VEE-estimated where a freeze was missed), flagged
    ``estimated`` if either read was estimated or the meter records a curve (it had gaps).
    Maximum demand and reactive energy come from the curve.
    """
    meters = meters.reset_index(drop=True)
    accounts = pd.Index(meters["account_no"])
    periods = engine.table("bill_periods", _periods(meters, period))
    deltas = engine.to_arrow(
        register_determinants(
            engine.measurements(
                "register_reads", period.period_start, period.period_end + timedelta(days=1)
            ),
            periods,
        )
    )
    reads = pd.DataFrame(
        {
            "account_no": deltas["account_no"].to_numpy(zero_copy_only=False),
            "channel": deltas["channel"].to_numpy(zero_copy_only=False),
            "delta": _q4(deltas["delta"]),
            "estimated": deltas["estimated"].to_numpy(zero_copy_only=False),
        }
    ).dropna(subset=["delta"])
    wide = reads.pivot(index="account_no", columns="channel", values="delta").reindex(accounts)
    total = reads["channel"] == "A+"
    estimated_reads = accounts.isin(reads.loc[total & reads["estimated"], "account_no"])

    n = len(meters)
    curve = pd.DataFrame(index=accounts)
    interval_meters = meters[meters["records_intervals"].astype(bool)]
    if len(interval_meters):
        expr = interval_determinants(
            engine.measurements("intervals", period.period_start, period.period_end),
            engine.table("interval_periods", _periods(interval_meters, period)),
            engine.table("tou_slots", _tou_slots(tariffs, period.period_start)),
            engine.table("calendar", day_types(period.period_start, period.period_end, calendar)),
        )
        table = engine.to_arrow(expr)
        curve = pd.DataFrame(
            {
                name: _q4(table[name])
                for name in ("kwh_total", *(f"kwh_{p}" for p in TOU_PERIODS), "kvarh_total")
            }
            | {
                "max_demand_kw": _q4(table["max_demand_kw"]),
                "interval_count": table["interval_count"].to_numpy(zero_copy_only=False),
            },
            index=pd.Index(table["account_no"].to_numpy(zero_copy_only=False)),
        ).reindex(accounts)
    has_curve = accounts.isin(interval_meters["account_no"])
    count = curve.get("interval_count", pd.Series(np.nan, index=accounts)).to_numpy(np.float64)
    complete = count == expected_intervals(period, engine.store.tz)
    some = np.nan_to_num(count) > 0

    def curve_of(name: str) -> npt.NDArray[np.float64]:
        if name not in curve:
            return np.full(n, np.nan)
        return np.asarray(curve[name].to_numpy(np.float64))

    def register(channel: str) -> npt.NDArray[np.float64]:
        if channel not in wide:
            return np.full(n, np.nan)
        return np.asarray(wide[channel].to_numpy(np.float64))

    register_kwh = register("A+")
    billable = complete | ~np.isnan(register_kwh)
    by_register = {p: register(c) for c, p in REGISTER_PERIODS.items()}
    out = meters.assign(
        kwh_total=_int4(np.where(complete, curve_of("kwh_total"), register_kwh)),
        **{
            f"kwh_{p}": _int4(
                np.where(complete, curve_of(f"kwh_{p}"), by_register.get(p, np.full(n, np.nan)))
            )
            for p in TOU_PERIODS
        },
        kvarh_total=_int4(np.where(some, np.nan_to_num(curve_of("kvarh_total")), np.nan)),
        max_demand_kw=_int4(np.where(some, np.nan_to_num(curve_of("max_demand_kw")), np.nan)),
        kwh_export_total=_int4(register("A-")),
        contracted_kva=_int4(
            np.rint(pd.to_numeric(meters["contracted_kva"]).to_numpy(np.float64) * KWH_SCALE)
        ),
        estimated=~complete & (estimated_reads | has_curve),
    )
    return out[billable].reset_index(drop=True)


def determinants_of(row: Mapping[str, Any], period: MonthPeriod) -> Determinants:
    """The scalar :class:`Determinants` of one row of :func:`determinant_frame`."""

    def decimal(name: str) -> Decimal | None:
        value = int(row[name])
        return None if value < 0 else Decimal(value) / KWH_SCALE

    by_period = {p: decimal(f"kwh_{p}") for p in TOU_PERIODS}
    return Determinants(
        period_start=period.period_start,
        period_end=period.period_end,
        kwh_total=Decimal(int(row["kwh_total"])) / KWH_SCALE,
        kwh_by_period={p: kwh for p, kwh in by_period.items() if kwh},
        kvarh_total=decimal("kvarh_total"),
        max_demand_kw=decimal("max_demand_kw"),
        contracted_kva=decimal("contracted_kva"),
        kwh_export_total=decimal("kwh_export_total"),
        estimated=bool(row["estimated"]),
    )


LINE_COLUMNS: Final = (
    "bill",
    "seq",
    "kind",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "amount_minor",
)
"""Columns of :attr:`PricedBills.lines`: ``bill`` is the row of :attr:`PricedBills.bills`,
``quantity`` [kWh, kW, …] a float of at most 4 dp, ``unit_price`` [yuan] a float,
``amount_minor`` [fen]."""


@dataclass(frozen=True, slots=True)
class PricedBills:
    """Accounts of one period rated and reviewed, column-wise.

    ``bills``: the :func:`determinant_frame` rows that were billed, plus ``version_id``,
    ``currency``, ``total_minor`` [fen] and ``review_reasons`` ("" = may be issued);
    ``lines``: :data:`LINE_COLUMNS`, ordered by bill then ``seq``.
    """

    bills: pd.DataFrame
    lines: pd.DataFrame


def _columnar_lines(priced: PricedLines, rows: IntArray) -> pd.DataFrame:
    """The lines of ``priced`` as :data:`LINE_COLUMNS`, ``bill`` mapped through ``rows``."""
    templates = priced.templates
    field = {
        name: np.array([getattr(t, name) for t in templates] + [None], dtype=object)
        for name in ("kind", "description", "unit")
    } | {"unit_price": np.array([float(t.unit_price) for t in templates] + [0.0])}
    to_q4 = np.array([KWH_SCALE // t.quantity_scale for t in templates] + [1], np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(priced.row)) + 1]
    counts = np.diff(np.r_[starts, len(priced.row)])
    return pd.DataFrame(
        {
            "bill": rows[priced.row],
            "seq": np.arange(len(priced.row)) - np.repeat(starts, counts) + 1,
            **{name: values[priced.template] for name, values in field.items()},
            "quantity": priced.quantity * to_q4[priced.template] / KWH_SCALE,
            "amount_minor": priced.amount,
        },
        columns=list(LINE_COLUMNS),
    )


def _scalar_lines(rated: RatedBill, bill: int) -> list[tuple[object, ...]]:
    return [
        (
            bill,
            seq,
            line.kind,
            line.description,
            float(line.quantity),
            line.unit,
            float(line.unit_price),
            to_minor(line.amount),
        )
        for seq, line in enumerate(rated.lines, start=1)
    ]


def rate_frame(
    frame: pd.DataFrame, tariffs: Mapping[str, TariffDocument], period: MonthPeriod
) -> tuple[IntArray, pd.DataFrame]:
    """Bill totals [fen] and lines (:data:`LINE_COLUMNS`) of every row of ``frame``
    (:data:`DETERMINANT_COLUMNS`, ``tariff_code``, ``estimated``): each tariff's rows
    column-wise by :func:`price_cycle`, the rows it leaves by the scalar ``rate``."""
    totals = np.zeros(len(frame), np.int64)
    parts: list[pd.DataFrame] = []
    scalar: list[tuple[object, ...]] = []
    codes = frame["tariff_code"].to_numpy()
    for code in pd.unique(codes):
        rows = np.flatnonzero(codes == code)
        version = tariffs[str(code)].version_on(period.period_start)
        subset = frame.iloc[rows]
        priced = price_cycle(version, subset[list(DETERMINANT_COLUMNS)])
        left = rows
        if priced is not None:
            totals[rows] = priced.totals(len(rows))
            parts.append(_columnar_lines(priced, rows))
            left = rows[~priced.rows_priced]
        for row in left:
            values = frame.iloc[row]
            ctx = TierContext(
                kwh_before_in_tier_year=Decimal(int(values["kwh_before"])) / KWH_SCALE
            )
            rated = rate(version, determinants_of(values, period), ctx)
            totals[row] = to_minor(rated.total)
            scalar.extend(_scalar_lines(rated, int(row)))
    parts.append(pd.DataFrame(scalar, columns=list(LINE_COLUMNS)))
    lines = pd.concat([p for p in parts if len(p)] or parts, ignore_index=True)
    lines = lines.sort_values(["bill", "seq"], kind="stable", ignore_index=True)
    return totals, lines


def price_accounts(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
    meters: pd.DataFrame,
    limits: ReviewLimits = DEFAULT_LIMITS,
) -> PricedBills:
    """Determinants, rating and review of ``meters``' accounts (rows of
    :func:`repository.billable_meters`) for ``period``, from the current reads, tariffs and
    multipliers — the whole cycle in a bill run, one account in a rebill. Accounts without
    the reads to bill are left out."""
    version_ids = store_tariffs(session, clock, tariffs)
    frame = determinant_frame(engine, meters, tariffs, period, utility_calendar(session))
    few = list(frame["account_id"]) if len(frame) <= FEW_ACCOUNTS else None
    tier_year = date(period.period_start.year, 1, 1)
    before = repository.kwh_billed_since(session, tier_year, period.period_start, few)
    billed_before = (
        frame["account_id"].map(pd.Series(before, dtype=object)).fillna(0).astype(np.float64)
    )
    versions = {
        code: (version_ids[(doc.code, doc.version_on(period.period_start).version)], doc.currency)
        for code, doc in tariffs.items()
    }
    frame = frame.assign(
        kwh_before=np.rint(billed_before.to_numpy(np.float64) * KWH_SCALE).astype(np.int64),
        days=period.days,
        version_id=frame["tariff_code"].map({c: v[0] for c, v in versions.items()}),
        currency=frame["tariff_code"].map({c: v[1] for c, v in versions.items()}),
    )
    totals, lines = rate_frame(frame, tariffs, period)
    frame["total_minor"] = totals
    frame["review_reasons"] = _review(session, period, frame, limits)
    return PricedBills(frame, lines)


def _review(
    session: Session, period: MonthPeriod, bills: pd.DataFrame, limits: ReviewLimits
) -> npt.NDArray[np.object_]:
    """Review's reasons per row of ``bills`` (a priced :func:`determinant_frame`)."""
    if bills.empty:
        return np.zeros(0, dtype=object)
    account_ids = bills["account_id"].tolist()
    few = account_ids if len(account_ids) <= FEW_ACCOUNTS else None
    places = repository.account_places(session, account_ids).set_index("account_id")
    closed = places["closed_on"].reindex(account_ids)
    demand = bills["max_demand_kw"].to_numpy()
    facts = pd.DataFrame(
        {
            "account_id": account_ids,
            "customer_class": bills["customer_class"].to_numpy(),
            "tariff_code": bills["tariff_code"].to_numpy(),
            "zone": places["zone"].reindex(account_ids).to_numpy(),
            "transformer_area": places["transformer_area"].reindex(account_ids).to_numpy(),
            "active": (closed.isna() | (closed > period.period_end)).to_numpy(),
            "days": period.days,
            "kwh": bills["kwh_total"].to_numpy() / KWH_SCALE,
            "total": bills["total_minor"].to_numpy() / 100,
            "estimated": bills["estimated"].to_numpy(bool),
            "multiplier": bills["multiplier"].to_numpy(np.int64),
            "max_demand_kw": np.where(demand < 0, np.nan, demand / KWH_SCALE),
        }
    )
    history = repository.recent_bills(session, period.period_start, account_ids=few)
    peers = repository.period_peers(
        session, period.period_start, set(facts["tariff_code"]), account_ids
    )
    reasons: npt.NDArray[np.object_] = review(facts, history, peers, limits).to_numpy(object)
    return reasons


def bill_records(
    bills: pd.DataFrame,
    period: MonthPeriod,
    cycle_id: npt.ArrayLike,
    bill_date: npt.ArrayLike,
    due_date: npt.ArrayLike,
    revision: npt.ArrayLike,
    replaces_bill_id: npt.ArrayLike,
) -> dict[str, Any]:
    """Columns of the ``bills`` table for priced ``bills``: ``approved``, or ``in_review``
    where review held them. Dates are ISO strings; quantities floats of 4 dp."""
    revision = np.asarray(revision, np.int64)
    demand = bills["max_demand_kw"].to_numpy()
    return {
        "bill_no": f"{period.period_start:%Y%m}-"
        + bills["account_no"].astype(str)
        + "-"
        + pd.Series(revision, index=bills.index).astype(str),
        "account_id": bills["account_id"].to_numpy(np.int64),
        "cycle_id": np.asarray(cycle_id, np.int64),
        "revision": revision,
        "tariff_version_id": bills["version_id"].to_numpy(np.int64),
        "period_start": period.period_start.isoformat(),
        "period_end": period.period_end.isoformat(),
        "kwh": bills["kwh_total"].to_numpy() / KWH_SCALE,
        "max_demand_kw": np.where(demand < 0, np.nan, demand / KWH_SCALE),
        "multiplier": bills["multiplier"].to_numpy(np.int64),
        "total_minor": bills["total_minor"].to_numpy(np.int64),
        "currency": bills["currency"].to_numpy(),
        "estimated": bills["estimated"].to_numpy(np.int64),
        "status": np.where(bills["review_reasons"].to_numpy() != "", "in_review", "approved"),
        "bill_date": bill_date,
        "due_date": due_date,
        "replaces_bill_id": replaces_bill_id,
        "review_reasons": bills["review_reasons"].to_numpy(),
    }


def insert_bills(
    session: Session, records: Mapping[str, Any], lines: pd.DataFrame
) -> npt.NDArray[np.int64]:
    """Insert bills (:func:`bill_records`, in ``lines``' bill order) and their lines in
    bulk; returns the new bill ids in order."""
    count = insert_columns(
        session, Bill.__tablename__, {k: _column(v, records) for k, v in records.items()}
    )
    if not count:
        return np.zeros(0, np.int64)
    ids = np.asarray(repository.bill_ids(session, list(records["bill_no"])), np.int64)
    insert_lines(session, ids, lines)
    return ids


def _column(value: Any, records: Mapping[str, Any]) -> Any:
    """``value`` broadcast to the length of ``records``' bill numbers when a scalar."""
    if np.ndim(value) == 0:
        return [value] * len(records["bill_no"])
    return value


def insert_lines(session: Session, bill_ids: npt.NDArray[np.int64], lines: pd.DataFrame) -> int:
    """Insert ``lines`` (:data:`LINE_COLUMNS`) of the bills ``bill_ids`` (by ``bill``)."""
    return insert_columns(
        session,
        BillLine.__tablename__,
        {
            "bill_id": bill_ids[lines["bill"].to_numpy(np.int64)],
            "seq": lines["seq"],
            "kind": lines["kind"],
            "description": lines["description"],
            "quantity": lines["quantity"],
            "unit": lines["unit"],
            "unit_price": lines["unit_price"],
            "amount_minor": lines["amount_minor"],
        },
    )


BATCH_ACCOUNTS: Final = 100_000
"""Accounts per bill-run batch: each batch's bills and lines commit together."""


def bill_month(
    records: Engine,
    clock: Clock,
    engine: BatchEngine,
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
    limits: ReviewLimits = DEFAULT_LIMITS,
    batch: int = BATCH_ACCOUNTS,
) -> BillRunReport:
    """Bill every billable account for ``period`` that has no live bill yet.

    The cycle is priced and reviewed at once, then written ``batch`` accounts at a time,
    each batch's bills and lines in one transaction: a crash leaves whole batches, and
    running again bills only the accounts still without a bill. An account whose bill was
    rejected gets the next revision, replacing it.
    """
    with unit_of_work(records) as session:
        cycles = ensure_cycles(session, period)
        cycle_ids = list(cycles.values())
        meters = repository.billable_meters(session, period.period_start, period.period_end)
        if meters.empty:
            return BillRunReport(period, 0, 0, 0, 0, 0)
        done = repository.already_billed(session, cycle_ids)
        meters = meters[~meters["account_id"].isin(done)].reset_index(drop=True)
        if meters.empty:
            return BillRunReport(period, 0, 0, 0, 0, 0)
        priced = price_accounts(session, clock, engine, tariffs, period, meters, limits)
        dates = repository.cycle_dates(session, cycle_ids)
        rejected = repository.latest_revisions(session, cycle_ids)
    bills = priced.bills
    cycle_id = bills["route_id"].map(cycles)
    revision = bills["account_id"].map({a: r for a, (r, _) in rejected.items()})
    replaces = bills["account_id"].map({a: b for a, (_, b) in rejected.items()})
    records_all = bill_records(
        bills,
        period,
        cycle_id.to_numpy(np.int64),
        cycle_id.map({c: d.isoformat() for c, (d, _) in dates.items()}).to_numpy(),
        cycle_id.map({c: d.isoformat() for c, (_, d) in dates.items()}).to_numpy(),
        revision.fillna(-1).to_numpy(np.int64) + 1,
        replaces.to_numpy(np.float64),
    )
    line_bill = priced.lines["bill"].to_numpy(np.int64)
    for start in range(0, len(bills), batch):
        stop = min(start + batch, len(bills))
        lo, hi = np.searchsorted(line_bill, [start, stop])
        lines = priced.lines.iloc[lo:hi].assign(bill=line_bill[lo:hi] - start)
        part = {k: _slice(v, start, stop) for k, v in records_all.items()}
        with unit_of_work(records) as session:
            insert_bills(session, part, lines)
    held = bills["review_reasons"].to_numpy() != ""
    return BillRunReport(
        period=period,
        accounts=len(meters),
        billed=len(bills),
        in_review=int(held.sum()),
        unbillable=len(meters) - len(bills),
        amount_minor=int(bills["total_minor"].sum()),
    )


def _slice(value: Any, start: int, stop: int) -> Any:
    if np.ndim(value) == 0:
        return value
    if isinstance(value, pd.Series):
        return value.iloc[start:stop].to_numpy()
    return value[start:stop]
