"""Determinants of every account of a bill period as one int64 frame.

The engine computes energy by TOU period, reactive energy and maximum demand from the
15-minute curve, and register deltas for every meter (:mod:`meter2cash.billing.determinants`);
where a tariff prices demand or power factor and the curve is not complete, reactive energy
and maximum demand come from the R+ and MD+ registers. This module joins them into the frame
that pricing reads: quantities in units of 0.0001 kWh (kvarh, kW, kVA), ``-1`` where a
quantity is absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from meter2cash.billing.account_terms import versions_in_force
from meter2cash.billing.cycles import MonthPeriod
from meter2cash.billing.determinants import (
    SEGMENT,
    demand_register_determinants,
    interval_determinants,
    register_determinants,
    segment_register_determinants,
)
from meter2cash.billing.pricing import KWH_SCALE, IntArray
from meter2cash.core.calendar import HolidayCalendar
from meter2cash.core.timezones import local_day_bounds, local_midnight
from meter2cash.engines import BatchEngine
from meter2cash.measurements.schema import ENERGY_REGISTERS, REACTIVE_REGISTER
from meter2cash.tariffs.schema import (
    TOU_PERIODS,
    DemandCharge,
    MonthlyDemand,
    PeriodEnergy,
    PfAdjustment,
    TariffDocument,
    TariffVersion,
    tou_slot_table,
)

REGISTER_PERIODS = {"A+1": "sharp", "A+2": "peak", "A+3": "flat", "A+4": "valley"}
RegisterInput = Literal["demand", "kvarh"]


def register_inputs(version: TariffVersion) -> frozenset[RegisterInput]:
    """What ``version`` prices that the R+ / MD+ registers can stand in for when the curve
    cannot: ``demand`` (maximum demand: a demand charge on actual or contract demand, a
    monthly demand charge, blocks in kWh/kW) and ``kvarh`` (a power-factor adjustment)."""
    used: set[RegisterInput] = set()
    for component in version.components:
        match component:
            case DemandCharge() if component.basis != "contracted_kva":
                used.add("demand")
            case MonthlyDemand():
                used.add("demand")
            case PeriodEnergy() if component.tier_unit.startswith("kWh/kW"):
                used.add("demand")
            case PfAdjustment():
                used.add("kvarh")
    return frozenset(used)


def _register_users(
    tariffs: Mapping[str, TariffDocument], period: MonthPeriod, wanted: RegisterInput
) -> list[str]:
    """Codes of the tariffs with a version in force in ``period`` that prices ``wanted``."""
    return sorted(
        code
        for code, doc in tariffs.items()
        if any(wanted in register_inputs(v) for v in versions_in_force(doc, period))
    )


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


def _periods(rows: pd.DataFrame, *, segments: bool = False) -> pa.Table:
    """The engine's periods table of ``rows`` (:func:`installation_segments` rows): one
    row per account, or with ``segments`` one per installation segment, numbered
    (:data:`SEGMENT`), with its change instants and the installation's recorded A+ reads."""
    columns = {
        "meter_no": pa.array(rows["meter_no"], pa.string()),
        "account_no": pa.array(rows["account_no"], pa.string()),
        "period_start": pa.array(rows["period_start"].to_numpy("datetime64[D]"), pa.date32()),
        "period_end": pa.array(rows["period_end"].to_numpy("datetime64[D]"), pa.date32()),
        "multiplier": pa.array(rows["multiplier"].astype("int64"), pa.int64()),
        "register_digits": pa.array(rows["register_digits"].astype("int64"), pa.int64()),
        "tou_schedule": pa.array(rows["tariff_code"], pa.string()),
    }
    if segments:
        columns[SEGMENT] = pa.array(np.arange(len(rows), dtype=np.int64), pa.int64())
        for name in ("open_at", "close_at"):
            columns[name] = pa.array(rows[name], pa.timestamp("us", tz="UTC"))
        for name, source in (
            ("initial_read", "initial_read_kwh"),
            ("final_read", "final_read_kwh"),
        ):
            values = rows[source] if source in rows else pd.Series(None, index=rows.index)
            columns[name] = pa.array(
                [None if pd.isna(v) else Decimal(f"{v:.4f}") for v in values],
                pa.decimal128(18, 4),
            )
    return pa.table(columns)


def _days(values: pd.Series, default: date) -> npt.NDArray[np.datetime64]:
    """Local dates as datetime64[D], ``default`` where missing."""
    days = pd.to_datetime(values, errors="coerce").to_numpy("datetime64[D]")
    return np.where(np.isnat(days), np.datetime64(default, "D"), days)


def _midnights(days: npt.NDArray[np.datetime64], tz: ZoneInfo) -> pd.Series:
    """The UTC instant each local day begins."""
    unique = np.unique(days)
    starts = pd.DatetimeIndex([local_midnight(d.astype(date), tz) for d in unique])
    return pd.Series(starts[np.searchsorted(unique, days)])


def installation_segments(meters: pd.DataFrame, period: MonthPeriod, tz: ZoneInfo) -> pd.DataFrame:
    """``meters`` (rows of :func:`repository.billable_meters`, one per installation)
    clipped to each account's billed days, with the segment's local dates.

    An account is billed from ``max(period_start, opened_on)`` to ``min(period_end,
    closed_on)`` (``first_day`` / ``last_day``). A segment opens at the first day's freeze
    unless installed later (``open_at`` = installed_at) and closes at the freeze after the
    last day unless removed earlier (``close_at`` = removed_at); ``period_start`` /
    ``period_end`` are its local dates. Installations outside the billed days are dropped;
    ``segmented`` marks every row of an account with more than one segment or a change
    instant (its registers are read per segment).
    """
    rows = meters.reset_index(drop=True)
    first = _days(rows.get("opened_on", pd.Series(pd.NaT, index=rows.index)), period.period_start)
    last = _days(rows.get("closed_on", pd.Series(pd.NaT, index=rows.index)), period.period_end)
    first = np.maximum(first, np.datetime64(period.period_start, "D"))
    last = np.minimum(last, np.datetime64(period.period_end, "D"))
    opens, closes = _midnights(first, tz), _midnights(last + np.timedelta64(1, "D"), tz)
    n = len(rows)
    installed = pd.to_datetime(
        rows.get("installed_at", pd.Series(pd.NaT, index=rows.index)), utc=True
    )
    removed = pd.to_datetime(rows.get("removed_at", pd.Series(pd.NaT, index=rows.index)), utc=True)
    late = (installed > opens).to_numpy(bool)
    early = (removed < closes).to_numpy(bool)
    inside = (
        (first <= last) & ~(installed >= closes).to_numpy(bool) & ~(removed <= opens).to_numpy(bool)
    )
    local_day = np.datetime64("NaT", "D")

    def local_dates(instants: pd.Series) -> npt.NDArray[np.datetime64]:
        if not len(instants) or instants.isna().all():
            return np.full(len(instants), local_day)
        local = instants.dt.tz_convert(tz).dt.tz_localize(None)
        return np.asarray(local.to_numpy("datetime64[D]"))

    rows = rows.assign(
        first_day=first,
        last_day=last,
        period_start=np.where(late, local_dates(installed), first),
        period_end=np.where(early, local_dates(removed), last),
        open_at=installed.where(late),
        close_at=removed.where(early),
    )[inside if n else np.zeros(0, bool)]
    segments = rows.groupby("account_id", sort=False)["account_id"].transform("size")
    rows["segmented"] = (segments > 1) | rows["open_at"].notna() | rows["close_at"].notna()
    return rows.reset_index(drop=True)


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


def _delta_frame(deltas: pa.Table) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_no": deltas["account_no"].to_numpy(zero_copy_only=False),
            "channel": deltas["channel"].to_numpy(zero_copy_only=False),
            "delta": _q4(deltas["delta"]),
            "estimated": deltas["estimated"].to_numpy(zero_copy_only=False).astype(bool),
        }
    )


def _account_registers(
    engine: BatchEngine,
    rows: pd.DataFrame,
    period: MonthPeriod,
    channels: Sequence[str] = ENERGY_REGISTERS,
    name: str = "bill",
) -> pd.DataFrame:
    """Register deltas [0.0001 kWh, kvarh; NaN = missing] per account and channel of
    ``channels``, with ``estimated``: accounts of one plain segment by
    :func:`register_determinants`, the others summed over their segments by
    :func:`segment_register_determinants` (missing when any segment's is). ``name``
    prefixes the engine's side tables."""
    reads = engine.measurements(
        "register_reads", period.period_start, period.period_end + timedelta(days=1)
    )
    segmented = rows["segmented"].to_numpy(bool)
    parts = []
    if (~segmented).any():
        periods = engine.table(f"{name}_periods", _periods(rows[~segmented]))
        parts.append(_delta_frame(engine.to_arrow(register_determinants(reads, periods, channels))))
    if segmented.any():
        segments = engine.table(f"{name}_segments", _periods(rows[segmented], segments=True))
        each = _delta_frame(
            engine.to_arrow(segment_register_determinants(reads, segments, channels))
        )
        grouped = each.assign(missing=each["delta"].isna()).groupby(
            ["account_no", "channel"], sort=False
        )
        summed = grouped.agg(
            delta=("delta", "sum"), missing=("missing", "any"), estimated=("estimated", "any")
        ).reset_index()
        summed["delta"] = summed["delta"].mask(summed["missing"])
        parts.append(summed.drop(columns="missing"))
    return pd.concat(parts, ignore_index=True)


def _account_demand(engine: BatchEngine, rows: pd.DataFrame, period: MonthPeriod) -> pd.DataFrame:
    """Maximum demand from the MD+ register [0.0001 kW, NaN = no freeze] per account of
    ``rows``, indexed by account_no, with ``estimated``: each segment's own freezes at its
    own multiplier (:func:`demand_register_determinants`), the largest over the segments;
    estimated when the closing freeze of the segment running to the period's end is
    missing or an estimate."""
    reads = engine.measurements(
        "register_reads",
        period.period_start + timedelta(days=1),
        period.period_end + timedelta(days=1),
    )
    segments = engine.table("demand_segments", _periods(rows, segments=True))
    table = engine.to_arrow(demand_register_determinants(reads, segments))
    each = pd.DataFrame(
        {
            "account_no": table["account_no"].to_numpy(zero_copy_only=False),
            "max_demand_kw": _q4(table["max_demand_kw"]),
            "estimated": table["estimated"].to_numpy(zero_copy_only=False).astype(bool),
        }
    )
    return each.groupby("account_no", sort=False).agg(
        max_demand_kw=("max_demand_kw", "max"), estimated=("estimated", "any")
    )


def _account_curves(
    engine: BatchEngine,
    rows: pd.DataFrame,
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
    calendar: HolidayCalendar,
) -> pd.DataFrame:
    """Curve determinants [0.0001 kWh, kvarh, kW] per account with curve meters, indexed
    by account_no: segments' energy and interval counts summed, the largest demand."""
    names = ("kwh_total", *(f"kwh_{p}" for p in TOU_PERIODS), "kvarh_total", "max_demand_kw")
    segmented = rows["segmented"].to_numpy(bool)
    parts = []
    for subset, with_segments in ((rows[~segmented], False), (rows[segmented], True)):
        if subset.empty:
            continue
        expr = interval_determinants(
            engine.measurements("intervals", period.period_start, period.period_end),
            engine.table(
                "interval_segments" if with_segments else "interval_periods",
                _periods(subset, segments=with_segments),
            ),
            engine.table("tou_slots", _tou_slots(tariffs, period.period_start)),
            engine.table("calendar", day_types(period.period_start, period.period_end, calendar)),
        )
        table = engine.to_arrow(expr)
        parts.append(
            pd.DataFrame(
                {name: _q4(table[name]) for name in names}
                | {"interval_count": table["interval_count"].to_numpy(zero_copy_only=False)},
            ).assign(account_no=table["account_no"].to_numpy(zero_copy_only=False))
        )
    curves = pd.concat(parts, ignore_index=True)
    if not segmented.any():
        return curves.set_index("account_no")
    sums = {name: "sum" for name in names if name != "max_demand_kw"}
    return curves.groupby("account_no", sort=False).agg(
        {**sums, "max_demand_kw": "max", "interval_count": "sum"}
    )


def _register_stand_ins(
    engine: BatchEngine,
    rows: pd.DataFrame,
    accounts: pd.Index,
    codes: npt.NDArray[np.object_],
    short: npt.NDArray[np.bool_],
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
) -> pd.DataFrame:
    """Per account of ``accounts`` (tariff ``codes``), ``kvarh`` [0.0001 kvarh] from the R+
    register delta and ``demand`` [0.0001 kW] from the MD+ freezes (NaN = not read or
    none), each with ``<name>_estimated``. Only the ``short`` accounts (billed without a
    complete curve) on a tariff that prices demand or power factor are read, so a cycle of
    other accounts costs no query."""
    out = pd.DataFrame(
        {"kvarh": np.nan, "kvarh_estimated": False, "demand": np.nan, "demand_estimated": False},
        index=accounts,
    )
    for name in ("kvarh", "demand"):
        pick = short & np.isin(codes, _register_users(tariffs, period, name))
        if not pick.any():
            continue
        subset = rows[rows["account_no"].isin(accounts[pick])]
        if name == "kvarh":
            found = _account_registers(
                engine, subset, period, (REACTIVE_REGISTER,), "reactive"
            ).set_index("account_no")
            values = found["delta"]
        else:
            found = _account_demand(engine, subset, period)
            values = found["max_demand_kw"]
        out[name] = values.reindex(accounts).to_numpy(np.float64)
        flags = found["estimated"].reindex(accounts, fill_value=False).to_numpy(bool)
        out[f"{name}_estimated"] = flags
    return out


def determinant_frame(
    engine: BatchEngine,
    meters: pd.DataFrame,
    tariffs: Mapping[str, TariffDocument],
    period: MonthPeriod,
    calendar: HolidayCalendar,
) -> pd.DataFrame:
    """One row per account of ``meters`` (rows of :func:`repository.billable_meters`, one
    per installation) with its determinants, only the accounts with the reads to bill.

    Adds the int64 quantities of :data:`DETERMINANT_COLUMNS` but ``kwh_before`` [0.0001
    kWh, kvarh, kW, kVA; ``-1`` = none], ``days`` (days billed: the account's own, opened or
    closed inside the period), ``cycle_days``, ``first_day`` / ``last_day``,
    ``installed_in_period`` (an installation began inside the billed days: a meter
    exchange or CT/PT change, or a first meter), ``from_curve`` (energy from the complete
    curve), ``demand_from_register`` (maximum demand from the MD+ register) and
    ``estimated``. The meter columns are those of the installation in force at the end.

    Energy, reactive energy and maximum demand come from the 15-minute curve when it is
    complete for the billed days. Otherwise energy comes from the register deltas (the
    meter's legal registers, VEE-estimated where a freeze was missed), flagged
    ``estimated`` if a read was estimated or the account records a curve (it had gaps);
    and on a tariff that prices them (:func:`register_inputs`), reactive energy from the
    R+ delta and maximum demand from the largest MD+ freeze of the period, each ×
    multiplier, flagged ``estimated`` when an R+ read is an estimate or the closing MD+
    freeze is missing or an estimate. Without those registers, reactive energy and demand
    are the partial curve's, or none. Across a meter exchange or CT/PT change each
    installation segment counts at its own multiplier (:func:`installation_segments`).
    """
    tz = engine.store.tz
    rows = installation_segments(meters, period, tz)
    last = rows.drop_duplicates("account_id", keep="last").reset_index(drop=True)
    accounts = pd.Index(last["account_no"])
    n = len(last)
    reads = (
        _account_registers(engine, rows, period)
        if n
        else pd.DataFrame(columns=["account_no", "channel", "delta", "estimated"])
    )
    wide = reads.pivot(index="account_no", columns="channel", values="delta").reindex(accounts)
    total = reads["channel"] == "A+"
    estimated_reads = accounts.isin(reads.loc[total & reads["estimated"], "account_no"])

    curve_rows = rows["records_intervals"].astype(bool).to_numpy()
    curve = pd.DataFrame(index=accounts)
    if curve_rows.any():
        curve = _account_curves(engine, rows[curve_rows], tariffs, period, calendar).reindex(
            accounts
        )
    has_curve = accounts.isin(rows.loc[curve_rows, "account_no"])
    count = curve.get("interval_count", pd.Series(np.nan, index=accounts)).to_numpy(np.float64)
    complete = count == _expected_by_row(last, tz)
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
    codes = last["tariff_code"].to_numpy(object) if n else np.zeros(0, object)
    stand_in = _register_stand_ins(
        engine, rows, accounts, codes, ~complete & ~np.isnan(register_kwh), tariffs, period
    )
    kvarh_by_register = stand_in["kvarh"].notna().to_numpy()
    demand_by_register = stand_in["demand"].notna().to_numpy()
    estimated_stand_in = (kvarh_by_register & stand_in["kvarh_estimated"].to_numpy(bool)) | (
        demand_by_register & stand_in["demand_estimated"].to_numpy(bool)
    )

    def partial_curve(name: str) -> npt.NDArray[np.float64]:
        return np.where(some, np.nan_to_num(curve_of(name)), np.nan)

    by_register = {p: register(c) for c, p in REGISTER_PERIODS.items()}
    installed = rows.groupby("account_id", sort=False)["open_at"].count()
    days = (last["last_day"] - last["first_day"]).to_numpy("timedelta64[D]").astype(np.int64) + 1
    out = last.drop(
        columns=["period_start", "period_end", "open_at", "close_at", "segmented"]
    ).assign(
        kwh_total=_int4(np.where(complete, curve_of("kwh_total"), register_kwh)),
        **{
            f"kwh_{p}": _int4(
                np.where(complete, curve_of(f"kwh_{p}"), by_register.get(p, np.full(n, np.nan)))
            )
            for p in TOU_PERIODS
        },
        kvarh_total=_int4(
            np.where(kvarh_by_register, stand_in["kvarh"], partial_curve("kvarh_total"))
        ),
        max_demand_kw=_int4(
            np.where(demand_by_register, stand_in["demand"], partial_curve("max_demand_kw"))
        ),
        kwh_export_total=_int4(register("A-")),
        contracted_kva=_int4(
            np.rint(pd.to_numeric(last["contracted_kva"]).to_numpy(np.float64) * KWH_SCALE)
        ),
        days=days,
        cycle_days=period.days,
        supplied_days=days,
        installed_in_period=last["account_id"].map(installed).to_numpy() > 0,
        from_curve=complete,
        demand_from_register=demand_by_register,
        estimated=(~complete & (estimated_reads | has_curve)) | estimated_stand_in,
    )
    return out[billable].reset_index(drop=True)


def _expected_by_row(rows: pd.DataFrame, tz: ZoneInfo) -> npt.NDArray[np.int64]:
    """15-minute intervals in each row's billed local days (``first_day`` … ``last_day``)."""
    spans = pd.MultiIndex.from_arrays([rows["first_day"], rows["last_day"]])
    unique = spans.unique()
    counts = {
        (first, last): expected_intervals(
            MonthPeriod(pd.Timestamp(first).date(), pd.Timestamp(last).date()), tz
        )
        for first, last in unique
    }
    per_span = np.array([counts[k] for k in unique], np.int64)
    expected: IntArray = per_span[unique.get_indexer(spans)]
    return expected
