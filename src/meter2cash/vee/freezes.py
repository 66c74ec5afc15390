"""The VEE job over daily register reads: validate freezes, estimate what can be, queue the rest.

It works on the cumulative registers (A+, A+1…A+4, A−, R+). The maximum-demand register
(MD+) is a running maximum, not an energy count: it is neither estimated nor checked for
decreases here; the rule chain judges it (``demand_register_fall``, ``negative_demand`` in
:mod:`meter2cash.vee.validation`) and billing takes the largest freeze it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from meter2cash.core.calendar import HolidayCalendar
from meter2cash.core.clock import Clock
from meter2cash.core.timezones import local_midnight
from meter2cash.holidays.repository import utility_calendar
from meter2cash.measurements.store import MeasurementStore, connect
from meter2cash.vee import daily_reads as dr
from meter2cash.vee import rules
from meter2cash.vee.history import load_history
from meter2cash.vee.repository import meter_facts, save_findings

CONTEXT_DAYS: Final = 14
"""Days of freezes before the window read for anchors, usage history and open-end estimates
to redo [days]."""
SLOT: Final = pd.Timedelta(minutes=15)
OPEN_END_SOURCE: Final = f"vee:{dr.USAGE_HISTORY}"


@dataclass(frozen=True, slots=True)
class VeeReport:
    expected_reads: int
    missing: int
    estimated: int
    estimated_interval_sum: int
    estimated_profile: int
    estimated_usage_history: int
    estimated_linear: int
    reestimated: int
    """Earlier estimates redone because a later read closed their gap."""
    decreasing: int
    negative: int
    conflicts: int
    open_exceptions: int


@dataclass(frozen=True, slots=True)
class FreezeMatrix:
    """Current daily freezes as a matrix: one row per (meter, channel), one column per
    freeze instant."""

    meter_no: npt.NDArray[np.object_]
    channel: npt.NDArray[np.object_]
    instants: pd.DatetimeIndex
    values: dr.FloatArray
    """[kWh, as the register shows it]; NaN where there is no read."""
    estimated: dr.BoolArray
    """The current version is a VEE estimate."""
    open_end: dr.BoolArray
    """… one made past the last read (``vee:usage_history``)."""


def freeze_instants(first: date, last: date, tz: ZoneInfo) -> pd.DatetimeIndex:
    """The daily-freeze instants (local midnights) stamped on days ``first``…``last``, in UTC."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return pd.DatetimeIndex([local_midnight(d, tz) for d in days]).as_unit("us")


def freeze_matrix(
    store: MeasurementStore, meters: list[str], first: date, last: date
) -> FreezeMatrix:
    """The current daily freezes of ``meters`` stamped ``first``…``last``, on every
    cumulative channel read in the span (``A+`` when none; :data:`daily_reads.NOT_ESTIMATED`
    left out): a row for every meter's ``A+``, and for its other channels when it has a read
    of them in the span (a single-phase meter has no R+ to miss).

    Freezes are read straight from the store's files in one DuckDB query (the newest version
    of each key); then every meter with a missing or estimated freeze is read again through
    :meth:`MeasurementStore.scan`, so a store view that hides estimates to have them redone
    (the re-run after an edit) is honoured.
    """
    instants = freeze_instants(first, last, store.tz)
    meter_list = sorted(meters)
    channels, row, column, reads = _files_freezes(store, meter_list, first, last)
    shape = (len(meter_list) * len(channels), len(instants))
    values = np.full(shape, np.nan)
    estimated = np.zeros(shape, dtype=np.bool_)
    open_end = np.zeros(shape, dtype=np.bool_)

    def place(row: dr.IntArray, column: dr.IntArray, reads: dict[str, npt.NDArray[Any]]) -> None:
        at_midnight = instants.asi8[column] == reads["ts"]
        row, column = row[at_midnight], column[at_midnight]
        values[row, column] = reads["value"][at_midnight]
        estimated[row, column] = reads["estimated"][at_midnight]
        open_end[row, column] = reads["open_end"][at_midnight]

    place(row, column, reads)
    channel = np.tile(np.array(channels, dtype=object), len(meter_list))
    kept = (channel == "A+") | ~np.isnan(values).all(axis=1)  # meters without an R+ have no row
    holes = (np.isnan(values) | estimated) & kept[:, None]
    unsettled = holes.reshape(len(meter_list), -1).any(axis=1)
    if unsettled.any():
        again = [meter_list[i] for i in np.flatnonzero(unsettled)]
        rows = np.flatnonzero(unsettled)[:, None] * len(channels) + np.arange(len(channels))
        values[rows.ravel()], estimated[rows.ravel()], open_end[rows.ravel()] = np.nan, False, False
        scanned = store.scan(
            "register_reads",
            start=instants[0].to_pydatetime(),
            end=(instants[-1] + pd.Timedelta(microseconds=1)).to_pydatetime(),
            meters=again,
        ).to_pandas()
        scanned = scanned[scanned["read_type"] == "daily_frozen"]
        m = pd.Index(meter_list).get_indexer(scanned["meter_no"])
        c = pd.Index(channels).get_indexer(scanned["channel"])
        ok = (m >= 0) & (c >= 0)
        place(
            (m * len(channels) + c)[ok],
            np.minimum(np.searchsorted(instants.asi8, _micros(scanned["ts"])), len(instants) - 1)[
                ok
            ],
            {
                "ts": _micros(scanned["ts"])[ok],
                "value": scanned["value"].astype("float64").to_numpy()[ok],
                "estimated": (scanned["quality"] == "estimated").to_numpy()[ok],
                "open_end": (scanned["source"] == OPEN_END_SOURCE).to_numpy()[ok],
            },
        )
    return FreezeMatrix(
        meter_no=np.repeat(np.array(meter_list, dtype=object), len(channels))[kept],
        channel=channel[kept],
        instants=instants,
        values=values[kept],
        estimated=estimated[kept],
        open_end=open_end[kept],
    )


def _micros(ts: pd.Series) -> dr.IntArray:
    return np.asarray(pd.DatetimeIndex(ts).as_unit("us").asi8, dtype=np.int64)


def _files_freezes(
    store: MeasurementStore, meters: list[str], first: date, last: date
) -> tuple[list[str], dr.IntArray, dr.IntArray, dict[str, npt.NDArray[Any]]]:
    """Current daily freezes of ``meters`` on local days ``first``…``last`` from the store's
    files: the channels read, and per read its matrix row and column and ``ts`` [µs],
    ``value``, ``estimated``, ``open_end``."""
    if not store.has_data("register_reads"):
        empty = np.zeros(0, dtype=np.int64)
        return ["A+"], empty, empty, {k: empty for k in ("ts", "value", "estimated", "open_end")}
    con = connect()
    files = (
        f"read_parquet('{store.glob('register_reads')}', hive_partitioning = true) "
        f"WHERE CAST(local_date AS DATE) BETWEEN DATE '{first}' AND DATE '{last}' "
        "AND read_type = 'daily_frozen' "
        f"AND channel NOT IN ({', '.join(repr(c) for c in dr.NOT_ESTIMATED)})"
    )
    channels = sorted(c for (c,) in con.execute(f"SELECT DISTINCT channel FROM {files}").fetchall())
    channels = channels or ["A+"]
    con.register(
        "wanted", pa.table({"meter_no": meters, "m": np.arange(len(meters), dtype=np.int64)})
    )
    con.register(
        "channels", pa.table({"channel": channels, "c": np.arange(len(channels), dtype=np.int64)})
    )
    current = con.execute(
        f"""
        WITH src AS (
            SELECT meter_no, channel, ts, CAST(local_date AS DATE) AS day, version, value,
                   quality, source
            FROM {files}
        ),
        revised AS (
            SELECT * FROM src WHERE version > 0
            QUALIFY row_number() OVER (PARTITION BY meter_no, channel, ts ORDER BY version DESC) = 1
        ),
        latest AS (
            SELECT s.* FROM src s ANTI JOIN revised USING (meter_no, channel, ts)
            WHERE s.version = 0
            UNION ALL SELECT * FROM revised
        )
        SELECT w.m * {len(channels)} + k.c AS row, date_diff('day', DATE '{first}', day) AS col,
               epoch_us(ts) AS ts, CAST(value AS DOUBLE) AS value,
               quality = 'estimated' AS estimated, source = '{OPEN_END_SOURCE}' AS open_end
        FROM latest JOIN wanted w USING (meter_no) JOIN channels k USING (channel)
        """
    ).to_arrow_table()
    con.close()
    columns = {k: current[k].to_numpy() for k in ("ts", "value", "estimated", "open_end")}
    return (
        channels,
        current["row"].to_numpy().astype(np.int64),
        current["col"].to_numpy().astype(np.int64),
        columns,
    )


def run_vee(
    session: Session,
    clock: Clock,
    store: MeasurementStore,
    meters: list[str],
    first: date,
    last: date,
    *,
    limits: dr.DailyReadLimits = dr.LIMITS,
    calendar: HolidayCalendar | None = None,
) -> VeeReport:
    """Validate daily freezes stamped ``first``…``last`` and estimate the missing ones.

    Reads :data:`CONTEXT_DAYS` of freezes before the window too. Estimates
    (:mod:`~meter2cash.vee.daily_reads`) are new versions, quality ``estimated``, source
    ``vee:<method>``; raw and edited reads are untouched. A gap that a later real read now
    closes and that still holds a missing read or an open-end estimate is estimated again
    whole, so its reads rise to that read. Findings go to ``vee_findings``: ``estimated``
    with the method and its inputs, ``open`` when a person must act (no anchor, too far past
    the last read, falling reads around the gap, a decrease, a negative read). Day types
    come from ``calendar`` (default: the utility's, ``m2c calendar``).
    """
    span = freeze_matrix(store, meters, first - timedelta(days=CONTEXT_DAYS), last)
    window = np.asarray(span.instants >= local_midnight(first, store.tz))
    wrap = _wrap(session, span.meter_no)
    values = span.values
    missing = np.isnan(values) & window[None, :]
    negative = (values < 0) & window[None, :]
    decreasing = dr.falls(values, wrap) & window[None, :]

    real = ~np.isnan(values) & ~span.estimated
    redo = dr.stale_estimates(real, span.estimated, span.open_end)
    asked = np.where(real | (span.estimated & ~redo), values, np.nan)
    days = [t.date() for t in span.instants.tz_convert(store.tz)]
    calendar = utility_calendar(session) if calendar is None else calendar
    day_type = calendar.day_type_index([d - timedelta(days=1) for d in days]).astype(np.int64)
    usage = dr.usage_by_day_type(
        np.where(real, values, np.nan),
        wrap,
        day_type,
        prior=_history_prior(store, span, limits),
        limits=limits,
    )
    est = dr.estimate_daily_reads(
        asked,
        wrap,
        day_type,
        usage,
        real=real,
        interval_kwh=_interval_kwh(store, span, np.isnan(asked), days),
        limits=limits,
    )
    wanted = missing[est.series, est.column] | redo[est.series, est.column]
    filled = est.method != dr.METHODS.index(dr.MISSING)
    in_window = missing[est.series, est.column]

    found = pd.concat(
        [
            _conflicts(store, meters, first, last),
            _estimate_findings(span, est, in_window, days, limits),
            _flag_findings(span, decreasing, rules.DECREASING, "register below the previous read"),
            _flag_findings(span, negative, rules.NEGATIVE, "negative register value"),
        ]
    )
    save_findings(session, clock, found)
    accepted = _write_estimates(store, span, est, wanted & filled)
    by_method = pd.Series(est.method_names()[in_window & filled]).value_counts()
    return VeeReport(
        expected_reads=int(window.sum()) * len(span.meter_no),
        missing=int(missing.sum()),
        estimated=int((in_window & filled).sum()),
        estimated_interval_sum=int(by_method.get(dr.INTERVAL_SUM, 0)),
        estimated_profile=int(by_method.get(dr.PROFILE, 0)),
        estimated_usage_history=int(by_method.get(dr.USAGE_HISTORY, 0)),
        estimated_linear=int(by_method.get(dr.LINEAR, 0)),
        reestimated=accepted - int((in_window & filled).sum()),
        decreasing=int(decreasing.sum()),
        negative=int(negative.sum()),
        conflicts=int((found["rule"] == rules.DUPLICATE_CONFLICT).sum()),
        open_exceptions=int((found["status"] == "open").sum()),
    )


def _wrap(session: Session, meter_no: npt.NDArray[np.object_]) -> dr.FloatArray:
    """Per row: where the meter's register wraps, 10^digits [kWh]; inf for a meter with no
    installation on record."""
    facts = meter_facts(session)
    at = pd.Index(facts["meter_no"]).get_indexer(meter_no)
    digits = np.append(facts["register_digits"].to_numpy(dtype=np.float64), np.inf)
    wrap: dr.FloatArray = 10.0 ** digits[at]  # at = −1 (unknown) takes the appended inf
    return wrap


def _history_prior(
    store: MeasurementStore, span: FreezeMatrix, limits: dr.DailyReadLimits
) -> dr.FloatArray:
    """Per row: the meter's running mean daily energy (``vee/history.py``) for its ``A+``
    row once it covers ``limits.min_history_days``; NaN otherwise [kWh/day]."""
    history = load_history(store).to_pandas()
    history = history[history["history_days"] >= limits.min_history_days]
    at = pd.Index(history["meter_no"]).get_indexer(span.meter_no)
    mean = np.append(history["mean_kwh"].to_numpy(dtype=np.float64), np.nan)
    return np.where(span.channel == "A+", mean[at], np.nan)  # at = −1 takes the NaN


def _interval_kwh(
    store: MeasurementStore, span: FreezeMatrix, asked: dr.BoolArray, days: list[date]
) -> dr.FloatArray | None:
    """Per row and freeze: the kWh intervals of the day the freeze closes, summed, where
    that day is complete [kWh, meter side] — for ``A+`` rows with a read to estimate."""
    rows = np.flatnonzero((span.channel == "A+") & asked.any(axis=1))
    if not len(rows):
        return None
    tz = store.tz
    intervals = store.scan(
        "intervals",
        start=local_midnight(days[0] - timedelta(days=1), tz),
        end=span.instants[-1].to_pydatetime(),
        meters=list(span.meter_no[rows]),
    )
    intervals = intervals.filter(pc.equal(intervals["channel"], "kWh"))
    daily = (
        intervals.select(["meter_no", "local_date", "value"])
        .set_column(2, "value", intervals["value"].cast(pa.float64()))
        .group_by(["meter_no", "local_date"])
        .aggregate([("value", "sum"), ("value", "count")])
        .to_pandas()
    )
    closing = pd.Index(days).get_indexer([d + timedelta(days=1) for d in daily["local_date"]])
    row = rows[np.maximum(pd.Index(span.meter_no[rows]).get_indexer(daily["meter_no"]), 0)]
    day_slots = np.array(
        [(local_midnight(d, tz) - local_midnight(d - timedelta(days=1), tz)) // SLOT for d in days]
    )
    complete = (closing >= 0) & (daily["value_count"].to_numpy() == day_slots[closing])
    out = np.full(span.values.shape, np.nan)
    out[row[complete], closing[complete]] = daily["value_sum"].to_numpy()[complete]
    return out


def _estimate_findings(
    span: FreezeMatrix,
    est: dr.DailyReadEstimates,
    chosen: dr.BoolArray,
    days: list[date],
    limits: dr.DailyReadLimits,
) -> pd.DataFrame:
    """A ``missing_read`` finding per ``chosen`` read asked for: ``estimated`` with the method
    and the reads and energy it used, or ``open`` with why not."""
    series, column = est.series[chosen], est.column[chosen]
    before, after = est.before[chosen], est.after[chosen]
    start = span.values[series, np.maximum(before, 0)]
    end = span.values[series, np.maximum(after, 0)]
    why = [r.format(max_open_days=limits.max_open_days) for r in dr.REASONS]
    detail = [
        _detail(m, dr.unit_of(ch), why[r], days[b], s, days[a] if a >= 0 else None, e, kwh, c - b)
        for m, ch, r, b, s, a, e, kwh, c in zip(
            est.method_names()[chosen],
            span.channel[series],
            est.reason[chosen],
            before,
            start,
            after,
            end,
            est.added_kwh[chosen],
            column,
            strict=True,
        )
    ]
    filled = est.method[chosen] != dr.METHODS.index(dr.MISSING)
    return pd.DataFrame(
        {
            "meter_no": span.meter_no[series],
            "channel": span.channel[series],
            "ts": span.instants[column],
            "rule": rules.MISSING,
            "severity": "issue",
            "status": np.where(filled, "estimated", "open"),
            "detail": detail,
        }
    )


def _detail(
    method: str,
    unit: str,
    why: str,
    start_day: date,
    start: float,
    end_day: date | None,
    end: float,
    kwh: float,
    days: int,
) -> str:
    if method == dr.MISSING:
        return f"not estimated: {why}"
    if method in (dr.PROFILE, dr.LINEAR):
        return f"estimated by {method} between {start_day} {start:.4f} and {end_day} {end:.4f}"
    what = "of intervals" if method == dr.INTERVAL_SUM else "of expected use"
    return f"estimated by {method}: {start_day} {start:.4f} + {kwh:.4f} {unit} {what} over {days} d"


def _flag_findings(span: FreezeMatrix, flag: dr.BoolArray, rule: str, detail: str) -> pd.DataFrame:
    series, column = np.nonzero(flag)
    return pd.DataFrame(
        {
            "meter_no": span.meter_no[series],
            "channel": span.channel[series],
            "ts": span.instants[column],
            "rule": rule,
            "severity": "terminate",
            "status": "open",
            "detail": detail,
        }
    )


def _write_estimates(
    store: MeasurementStore, span: FreezeMatrix, est: dr.DailyReadEstimates, chosen: dr.BoolArray
) -> int:
    """Store the ``chosen`` estimates as versions, source ``vee:<method>``; how many were new."""
    accepted = 0
    names = est.method_names()
    for method in np.unique(names[chosen]):
        pick = chosen & (names == method)
        series, column = est.series[pick], est.column[pick]
        report = store.write_versions(
            "register_reads",
            pa.table(
                {
                    "meter_no": pa.array(span.meter_no[series], pa.string()),
                    "channel": pa.array(span.channel[series], pa.string()),
                    "ts": pa.array(span.instants[column], pa.timestamp("us", tz="UTC")),
                    "value": est.value[pick],
                    "read_type": pa.array(["daily_frozen"] * int(pick.sum()), pa.string()),
                }
            ),
            quality="estimated",
            source=f"vee:{method}",
        )
        accepted += report.accepted
    return accepted


def _conflicts(store: MeasurementStore, meters: list[str], first: date, last: date) -> pd.DataFrame:
    """Reads of ``meters`` delivered again with a different value (the store kept the
    first), as findings."""
    rows = store.conflicts("register_reads").to_pandas()
    rows = rows[
        (rows["local_date"] >= first) & (rows["local_date"] <= last) & rows["meter_no"].isin(meters)
    ]
    return pd.DataFrame(
        {
            "meter_no": rows["meter_no"],
            "channel": rows["channel"],
            "ts": rows["ts"],
            "rule": rules.DUPLICATE_CONFLICT,
            "severity": "issue",
            "status": "open",
            "detail": [
                f"delivered again as {new}, first value {old} kept"
                for new, old in zip(rows["value"], rows["existing_value"], strict=True)
            ],
        }
    )
