"""Determinants of every account of a bill period as one int64 frame.

The engine computes energy by TOU period, reactive energy and maximum demand from the
15-minute curve, and register deltas for every meter (:mod:`meter2cash.billing.determinants`);
this module joins them into the frame that pricing reads: quantities in units of 0.0001 kWh
(kvarh, kW, kVA), ``-1`` where a quantity is absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from meter2cash.billing.cycles import MonthPeriod
from meter2cash.billing.determinants import interval_determinants, register_determinants
from meter2cash.billing.pricing import KWH_SCALE, IntArray
from meter2cash.core.calendar import HolidayCalendar
from meter2cash.core.timezones import local_day_bounds
from meter2cash.engines import BatchEngine
from meter2cash.tariffs.schema import TOU_PERIODS, TariffDocument, tou_slot_table

REGISTER_PERIODS = {"A+1": "sharp", "A+2": "peak", "A+3": "flat", "A+4": "valley"}


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
