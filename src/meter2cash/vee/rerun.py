"""Re-running what depends on the points a person acted on.

After an edit, an approval or a resolution (:mod:`meter2cash.vee.editing`,
:func:`meter2cash.vee.queue.resolve`), each meter's affected days are run through VEE again:

- a register point's window runs from the nearest real daily freeze of its channel before it
  to the nearest after (the point's day on a side with none); the daily-read job
  (:func:`~meter2cash.vee.freezes.run_vee`) runs for the meter over those freezes, and the
  rule chain over the consumption days they close;
- an interval point's window is its local day, run through the rule chain.

When a value changed, the estimates derived from it are stale and are redone by the same
estimators that made them: the register estimates of the channel between its anchors, and the
``kWh`` interval estimates of the days whose register delta or intervals changed. They are
redone by running the VEE jobs over a view of the data without them (:class:`StaleReadsHidden`,
:class:`StaleIntervalsHidden`): the jobs see the points as missing and estimate them again; a
result equal to the stored estimate is a no-op in the store. Person-edited values are real
data and are never redone; an approved estimate is kept until a value it derives from changes.

Then open findings the data no longer bears out are cleared (actor ``vee``, audited), and the
bills of the periods whose reads changed go back to review or are reported for a rebill.
Several points of one meter whose windows overlap or touch share one re-run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Meter, MeterInstallation, ServicePoint
from meter2cash.billing.models import Bill
from meter2cash.core.clock import Clock
from meter2cash.core.timezones import local_midnight
from meter2cash.db import audit
from meter2cash.engines.base import BatchEngine
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee import rules
from meter2cash.vee.chain import ChainReport, run_rule_chain
from meter2cash.vee.findings import (
    ESTIMATED,
    OPEN,
    RESOLVED,
    SYSTEM_ACTOR,
    close_findings,
    open_count,
)
from meter2cash.vee.freezes import freeze_instants, run_vee
from meter2cash.vee.models import VeeFinding
from meter2cash.vee.points import Point, neighbours

MISSING_DAY: Final = "missing_day"
"""The rule chain's "no daily freeze closing the day", stamped on the day it is about."""
DEMAND_FALL: Final = "demand_register_fall"
NEGATIVE_DEMAND: Final = "negative_demand"
REJUDGED_READS: Final = (
    rules.MISSING,
    MISSING_DAY,
    rules.NEGATIVE,
    rules.DECREASING,
    DEMAND_FALL,
    NEGATIVE_DEMAND,
)
"""Rules whose open findings on a re-run register channel are judged again on its freezes."""
REJUDGED_DAYS: Final = (
    "missing_intervals",
    "negative_interval",
    "interval_vs_register",
    "demand_over_capacity",
)
"""Chain rules judged on the meter's own data of the day alone (stamped in the day)."""
REJUDGED_CLOSING: Final = ("tou_vs_total",)
"""Chain rules judged on the freezes closing the window's days (stamped on the freeze)."""
# Not re-judged: rules on history or peers (spike, daily_high/low, peer_high), whose verdict
# moves with statistics a person's act did not change; streak rules (zero_consumption,
# consecutive_estimates), which a short window cuts; and head-end facts (clock_drift,
# voltage_without_current, multiplier_change), which no edit changes.
DAY: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Change:
    """A point a person acted on, and whether its value changed (an edit) or not."""

    point: Point
    value_changed: bool


@dataclass(frozen=True, slots=True)
class Window:
    """One meter's re-run.

    ``freezes``: the daily freezes the read job re-runs over (None for intervals alone);
    ``days``: the consumption days the rule chain re-runs over; ``stale_reads``: register
    estimates to redo, per (channel, first freeze day, last freeze day); ``stale_days``: days
    whose ``kWh`` interval estimates to redo (first, last).
    """

    meter_no: str
    freezes: tuple[date, date] | None
    days: tuple[date, date]
    stale_reads: tuple[tuple[str, date, date], ...]
    stale_days: tuple[tuple[date, date], ...]
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class RerunReport:
    """What a re-run did for one meter.

    ``first``…``last`` are the local freeze days the read job ran over (``ran_vee``), or the
    days of an interval window; ``reestimated`` counts earlier estimates (reads and
    intervals) that changed value, ``estimated`` gaps newly filled; ``cleared`` the ids of
    open findings that no longer hold; ``new_open`` the exceptions the run added;
    ``bills_to_review`` unissued bills put back to review, ``bills_to_rebill`` issued bills
    whose reads changed (cancel and rebill, 退补).
    """

    meter_no: str
    first: date
    last: date
    reestimated: int
    estimated: int
    cleared: list[int]
    new_open: int
    bills_to_review: list[str] = field(default_factory=list)
    bills_to_rebill: list[str] = field(default_factory=list)
    ran_vee: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "meter_no": self.meter_no,
            "vee_first": self.first.isoformat(),
            "vee_last": self.last.isoformat(),
            "reestimated": self.reestimated,
            "estimated": self.estimated,
            "cleared_findings": self.cleared,
            "new_open": self.new_open,
            "bills_to_review": self.bills_to_review,
            "bills_to_rebill": self.bills_to_rebill,
            "ran_vee": self.ran_vee,
        }


# ---------------------------------------------------------------------------- planning


def window_of(store: MeasurementStore, change: Change) -> Window:
    """The re-run one change needs on its own (see the module docstring)."""
    point = change.point
    tz = store.tz
    day = point.ts.astimezone(tz).date()
    if not point.is_register:
        stale = change.value_changed and point.channel == "kWh"
        own = Window(
            point.meter_no, None, (day, day), (), ((day, day),) if stale else (), (change,)
        )
        freeze = _estimated_freeze(store, point.meter_no, day) if stale else None
        if freeze is None:
            return own
        return _merge(own, window_of(store, Change(Point(point.meter_no, "A+", freeze), True)))
    before, after = neighbours(store, point, daily_only=True)
    first = before.ts.astimezone(tz).date() if before else day
    last = after.ts.astimezone(tz).date() if after else day
    closed = (first - DAY, last - DAY)  # the freeze stamped D closes day D − 1
    return Window(
        point.meter_no,
        (first, last),
        closed,
        ((point.channel, first, last),) if change.value_changed else (),
        (closed,) if change.value_changed and point.channel == "A+" else (),
        (change,),
    )


def _estimated_freeze(store: MeasurementStore, meter_no: str, day: date) -> datetime | None:
    """The ``A+`` freeze opening or closing ``day`` that holds an estimate, if any: the read
    job may have derived it from the day's intervals, so an interval edit makes it stale."""
    start, end = _freeze_span((day, day + DAY), store.tz)
    reads = store.scan("register_reads", start=start, end=end, meters=[meter_no])
    for row in reads.to_pylist():
        if (row["channel"], row["read_type"], row["quality"]) == ("A+", "daily_frozen", ESTIMATED):
            stamp: datetime = row["ts"]
            return stamp
    return None


def plan(store: MeasurementStore, changes: Sequence[Change]) -> list[Window]:
    """One window per meter and run of overlapping or touching days, by meter and day."""
    windows = sorted((window_of(store, c) for c in changes), key=lambda w: (w.meter_no, w.days))
    merged: list[Window] = []
    for window in windows:
        last = merged[-1] if merged else None
        if last and last.meter_no == window.meter_no and window.days[0] <= last.days[1] + DAY:
            merged[-1] = _merge(last, window)
        else:
            merged.append(window)
    return merged


def _merge(a: Window, b: Window) -> Window:
    spans = [f for f in (a.freezes, b.freezes) if f is not None]
    return Window(
        a.meter_no,
        (min(f[0] for f in spans), max(f[1] for f in spans)) if spans else None,
        (min(a.days[0], b.days[0]), max(a.days[1], b.days[1])),
        a.stale_reads + b.stale_reads,
        a.stale_days + b.stale_days,
        a.changes + b.changes,
    )


# ---------------------------------------------------------------------------- re-running


def rerun(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    changes: Sequence[Change],
    *,
    actor: str,
    why: str,
) -> list[RerunReport]:
    """Re-run what depends on ``changes`` (already stored and audited): one report per
    window of :func:`plan`."""
    windows = plan(engine.store, changes)
    return rerun_windows(session, clock, engine, windows, actor=actor, why=why)


def rerun_windows(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    windows: Sequence[Window],
    *,
    actor: str,
    why: str,
    tick: Callable[[], None] = lambda: None,
) -> list[RerunReport]:
    """Re-run each of ``windows`` (:func:`plan`), calling ``tick`` after each."""
    reports = []
    for window in windows:
        reports.append(_rerun_window(session, clock, engine, window, actor=actor, why=why))
        tick()
    return reports


def _rerun_window(
    session: Session, clock: Clock, engine: BatchEngine, window: Window, *, actor: str, why: str
) -> RerunReport:
    store = engine.store
    tz = store.tz
    meter = window.meter_no
    first_day, last_day = window.days
    reads_span = _freeze_span(window.freezes, tz) if window.freezes else None
    days_span = (local_midnight(first_day, tz), local_midnight(last_day + DAY, tz))
    reads_before = _versions(store, "register_reads", meter, reads_span)
    intervals_before = _versions(store, "intervals", meter, days_span)
    open_before = open_count(session, meter)
    if window.freezes:
        run_vee(
            session,
            clock,
            StaleReadsHidden(store, clock, meter, window.stale_reads),
            [meter],
            *window.freezes,
        )
        session.flush()
    chain = run_rule_chain(
        session,
        clock,
        StaleIntervalsHidden(engine, meter, window.stale_days) if window.stale_days else engine,
        store,
        first_day,
        last_day,
        meters=[meter],
        fold_history=False,
    )
    session.flush()
    reads_after = _versions(store, "register_reads", meter, reads_span)
    intervals_after = _versions(store, "intervals", meter, days_span)
    cleared = sorted(
        _clear_reads(session, clock, store, window, why=why)
        + _clear_days(session, clock, window, chain, tz, why=why)
    )
    freeze_days = _changed_days(reads_before, reads_after, tz)
    interval_days = _changed_days(intervals_before, intervals_after, tz)
    for change in window.changes:
        if not change.value_changed:
            continue
        day = change.point.ts.astimezone(tz).date()
        if not change.point.is_register:
            interval_days.add(day)
        elif change.point.ts == local_midnight(day, tz):
            freeze_days.add(day)  # bills read daily freezes only, not on-demand reads
    review, rebill = _flag_bills(
        session,
        clock,
        meter,
        window.changes[0].point.ts,
        freeze_days,
        interval_days,
        actor=actor,
        why=why,
    )
    reestimated, estimated = _estimate_counts(reads_before, reads_after)
    redone, filled = _estimate_counts(intervals_before, intervals_after)
    first, last = window.freezes or window.days
    return RerunReport(
        meter_no=meter,
        first=first,
        last=last,
        reestimated=reestimated + redone,
        estimated=estimated + filled,
        cleared=cleared,
        new_open=max(0, open_count(session, meter) - open_before + len(cleared)),
        bills_to_review=review,
        bills_to_rebill=rebill,
        ran_vee=window.freezes is not None,
    )


# ---------------------------------------------------------------------------- views


class StaleReadsHidden(MeasurementStore):
    """The store, with the current register estimates of one meter's ``stale`` spans —
    (channel, first freeze day, last freeze day) — left out of current-version scans.

    Estimates fill only keys with no raw or edited value, so a hidden one reads as missing
    and the read job estimates it again. Writes go to the store's files as usual.
    """

    def __init__(
        self,
        store: MeasurementStore,
        clock: Clock,
        meter_no: str,
        stale: Sequence[tuple[str, date, date]],
    ) -> None:
        super().__init__(store.root, store.tz, clock=clock)
        self._meter_no = meter_no
        self._stale = [(c, *_freeze_span((f, lst), store.tz)) for c, f, lst in stale]

    def scan(
        self,
        kind: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        meters: Sequence[str] | None = None,
        current: bool = True,
    ) -> pa.Table:
        rows = super().scan(kind, start=start, end=end, meters=meters, current=current)
        if kind != "register_reads" or not current or not self._stale or rows.num_rows == 0:
            return rows
        hide = pc.and_(
            pc.equal(rows["meter_no"], self._meter_no),
            pc.equal(rows["quality"], ESTIMATED),
        )
        within = None
        for channel, lo, hi in self._stale:
            span = pc.and_(
                pc.equal(rows["channel"], channel),
                pc.and_(
                    pc.greater_equal(rows["ts"], pa.scalar(lo, rows.schema.field("ts").type)),
                    pc.less(rows["ts"], pa.scalar(hi, rows.schema.field("ts").type)),
                ),
            )
            within = span if within is None else pc.or_(within, span)
        return rows.filter(pc.invert(pc.and_(hide, within)))


class StaleIntervalsHidden(BatchEngine):
    """An engine over ``inner``'s backend that leaves out one meter's ``kWh`` interval
    estimates on the ``stale`` days, so the rule chain finds them missing and estimates them
    again. Everything else is ``inner``'s."""

    def __init__(
        self, inner: BatchEngine, meter_no: str, stale: Sequence[tuple[date, date]]
    ) -> None:
        super().__init__(inner.store, inner.backend)
        self.name = inner.name
        self._inner = inner
        self._meter_no = meter_no
        self._stale = list(stale)

    def _read_kind(self, kind: str) -> ir.Table:
        rows = self._inner._read_kind(kind)
        if kind != "intervals":
            return rows
        day = rows.local_date.cast("date")
        on_stale_day = None
        for first, last in self._stale:
            span = (day >= first) & (day <= last)
            on_stale_day = span if on_stale_day is None else on_stale_day | span
        stale = (
            (rows.meter_no == self._meter_no)
            & (rows.channel == "kWh")
            & (rows.quality == ESTIMATED)
            & on_stale_day
        )
        return rows.filter(~stale)

    def table(self, name: str, data: pa.Table) -> ir.Table:
        return self._inner.table(name, data)

    def close(self) -> None:
        """Nothing to release: ``inner`` belongs to the caller."""


# ---------------------------------------------------------------------------- findings


def _clear_reads(
    session: Session, clock: Clock, store: MeasurementStore, window: Window, *, why: str
) -> list[int]:
    """Clear open :data:`REJUDGED_READS` findings of the window's register channels that the
    current freezes no longer bear out (:func:`_settled_status`)."""
    channels = sorted({c.point.channel for c in window.changes if c.point.is_register})
    if window.freezes is None or not channels:
        return []
    grid = _freeze_grid(store, window.meter_no, channels, *window.freezes)
    grid = grid.assign(
        negative=rules.flag_negative(grid).to_numpy(),
        decreasing=rules.flag_decreasing(grid).to_numpy(),
    ).set_index(["channel", "ts"])
    start, end = _freeze_span(window.freezes, store.tz)
    findings = session.scalars(
        select(VeeFinding)
        .where(
            VeeFinding.meter_no == window.meter_no,
            VeeFinding.channel.in_(channels),
            VeeFinding.status == OPEN,
            VeeFinding.rule.in_(REJUDGED_READS),
            VeeFinding.ts >= start - DAY,
            VeeFinding.ts < end,
        )
        .order_by(VeeFinding.id)
    ).all()
    settled: dict[str, list[VeeFinding]] = {ESTIMATED: [], RESOLVED: []}
    for finding in findings:
        status = _settled_status(finding, grid, store.tz, opening=pd.Timestamp(start))
        if status is not None:
            settled[status].append(finding)
    return _close_settled(session, clock, settled, why=why)


def _settled_status(
    finding: VeeFinding, grid: pd.DataFrame, tz: ZoneInfo, *, opening: pd.Timestamp
) -> str | None:
    """The status ``finding`` settles to on the current freezes in ``grid`` (indexed by
    channel and ts), or None while it still holds or cannot be judged from the window.

    A missing freeze that now has a value is ``estimated`` when VEE filled it, else
    ``resolved`` (``missing_day`` is stamped on the day and is about the freeze closing it,
    the next midnight's). A negative or decreasing register that no longer is, is
    ``resolved``; a decrease on the window's ``opening`` freeze cannot be judged, having no
    read before it in the window.
    """
    stamp = finding.ts
    if finding.rule == MISSING_DAY:
        stamp = local_midnight(stamp.astimezone(tz).date() + DAY, tz)
    key = (finding.channel, pd.Timestamp(stamp))
    if key not in grid.index or pd.isna(grid.at[key, "value"]):
        return None
    if finding.rule in (rules.MISSING, MISSING_DAY):
        return ESTIMATED if grid.at[key, "quality"] == ESTIMATED else RESOLVED
    if finding.rule == rules.NEGATIVE and not grid.at[key, "negative"]:
        return RESOLVED
    if finding.rule == rules.DECREASING and key[1] != opening and not grid.at[key, "decreasing"]:
        return RESOLVED
    if finding.rule == NEGATIVE_DEMAND and grid.at[key, "value"] >= 0:
        return RESOLVED
    if finding.rule == DEMAND_FALL and not _demand_falls(grid, key, tz):
        return RESOLVED
    return None


def _demand_falls(grid: pd.DataFrame, key: tuple[str, pd.Timestamp], tz: ZoneInfo) -> bool:
    """The maximum-demand freeze at ``key`` is still below the one before it in the same
    settlement month (the month of the day a freeze closes); True when that cannot be told."""
    channel, stamp = key
    earlier = grid.loc[channel]
    earlier = earlier[(earlier.index < stamp) & earlier["value"].notna()]
    if earlier.empty:
        return True

    def settles(at: pd.Timestamp) -> tuple[int, int]:
        closed = at.tz_convert(tz).date() - DAY
        return closed.year, closed.month

    before = earlier.index[-1]
    same_month = settles(before) == settles(stamp)
    return bool(same_month and grid.at[key, "value"] < earlier["value"].iloc[-1])


def _clear_days(
    session: Session,
    clock: Clock,
    window: Window,
    chain: ChainReport,
    tz: ZoneInfo,
    *,
    why: str,
) -> list[int]:
    """Clear open findings of the chain rules :data:`REJUDGED_DAYS` and
    :data:`REJUDGED_CLOSING` in the window that the chain did not find again: ``estimated``
    when it found and filled the day, else ``resolved``. A meter the chain does not judge
    (not installed) keeps its findings."""
    if chain.meters == 0:
        return []
    start = local_midnight(window.days[0], tz)
    end = local_midnight(window.days[1] + DAY, tz)
    found = chain.found
    status_of = {
        (c, pd.Timestamp(t), r): s
        for c, t, r, s in zip(
            found["channel"], found["ts"], found["rule"], found["status"], strict=True
        )
    }
    findings = session.scalars(
        select(VeeFinding)
        .where(
            VeeFinding.meter_no == window.meter_no,
            VeeFinding.status == OPEN,
            VeeFinding.rule.in_(REJUDGED_DAYS + REJUDGED_CLOSING),
            VeeFinding.ts >= start,
            VeeFinding.ts <= end,
        )
        .order_by(VeeFinding.id)
    ).all()
    settled: dict[str, list[VeeFinding]] = {ESTIMATED: [], RESOLVED: []}
    for finding in findings:
        judged = start < finding.ts if finding.rule in REJUDGED_CLOSING else finding.ts < end
        if not judged:
            continue
        now = status_of.get((finding.channel, pd.Timestamp(finding.ts), finding.rule))
        if now is None:
            settled[RESOLVED].append(finding)
        elif now == ESTIMATED:
            settled[ESTIMATED].append(finding)
    return _close_settled(session, clock, settled, why=why)


def _close_settled(
    session: Session, clock: Clock, settled: dict[str, list[VeeFinding]], *, why: str
) -> list[int]:
    ids: list[int] = []
    for status, closing in settled.items():
        ids += close_findings(
            session,
            clock,
            closing,
            status=status,
            actor=SYSTEM_ACTOR,
            reason=f"no longer found when VEE re-ran after {why}",
            action="vee.clear",
        )
    return ids


# ---------------------------------------------------------------------------- data


def _freeze_span(freezes: tuple[date, date], tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC [first freeze, just after the last freeze) of freeze days ``freezes``."""
    return local_midnight(freezes[0], tz), local_midnight(freezes[1], tz) + timedelta(
        microseconds=1
    )


def _freeze_grid(
    store: MeasurementStore, meter_no: str, channels: Sequence[str], first: date, last: date
) -> pd.DataFrame:
    """``channels`` of the meter on every daily freeze ``first``…``last``: current ``value``
    (NaN where none) and ``quality``, sorted by channel and ``ts``."""
    instants = freeze_instants(first, last, store.tz)
    start, end = _freeze_span((first, last), store.tz)
    reads = store.scan("register_reads", start=start, end=end, meters=[meter_no]).to_pandas()
    reads = reads[reads["read_type"] == "daily_frozen"]
    observed = reads.assign(value=reads["value"].astype("float64")).set_index(["channel", "ts"])
    index = pd.MultiIndex.from_product([list(channels), instants], names=["channel", "ts"])
    grid = observed[["value", "quality"]].reindex(index).reset_index()
    return grid.assign(meter_no=meter_no)[["meter_no", "channel", "ts", "value", "quality"]]


def _versions(
    store: MeasurementStore, kind: str, meter_no: str, span: tuple[datetime, datetime] | None
) -> pd.DataFrame:
    """The current ``version`` and ``quality`` of the meter's ``kind`` in ``span``, by
    (channel, ts); daily freezes only for register reads (what bills read)."""
    if span is None:
        return pd.DataFrame(
            {"version": [], "quality": []},
            index=pd.MultiIndex.from_arrays([[], []], names=["channel", "ts"]),
        )
    rows = store.scan(kind, start=span[0], end=span[1], meters=[meter_no]).to_pandas()
    if "read_type" in rows.columns:
        rows = rows[rows["read_type"] == "daily_frozen"]
    return rows.set_index(["channel", "ts"])[["version", "quality"]]


def _estimate_counts(before: pd.DataFrame, after: pd.DataFrame) -> tuple[int, int]:
    """(estimates redone with another value, gaps newly estimated) between two snapshots."""
    joined = before.merge(
        after, how="outer", left_index=True, right_index=True, suffixes=("_before", "_after")
    )
    now_estimated = joined["quality_after"].eq(ESTIMATED)
    was_estimated = joined["quality_before"].eq(ESTIMATED)
    moved = joined["version_before"].ne(joined["version_after"])
    redone = int((now_estimated & was_estimated & moved).sum())
    filled = int((now_estimated & joined["quality_before"].isna()).sum())
    return redone, filled


def _changed_days(before: pd.DataFrame, after: pd.DataFrame, tz: ZoneInfo) -> set[date]:
    """Local days of the keys whose current version differs between two snapshots."""
    joined = before[["version"]].merge(
        after[["version"]], how="outer", left_index=True, right_index=True, suffixes=("", "_after")
    )
    changed = joined[joined["version"].ne(joined["version_after"])]
    stamps = changed.index.get_level_values("ts")
    return {pd.Timestamp(t).tz_convert(tz).date() for t in stamps}


# ---------------------------------------------------------------------------- bills


def _flag_bills(
    session: Session,
    clock: Clock,
    meter_no: str,
    at: datetime,
    freeze_days: set[date],
    interval_days: set[date],
    *,
    actor: str,
    why: str,
) -> tuple[list[str], list[str]]:
    """Bills of the account the meter served at ``at`` whose period reads changed.

    A register freeze stamped day D closes the period ending D − 1 and opens the period
    starting D; an interval counts in the period holding its day. Bills not yet issued go
    back to review with the reason (audited); issued bills are returned for a rebill.
    """
    if not freeze_days and not interval_days:
        return [], []
    account_id = session.scalar(
        select(ServicePoint.account_id)
        .join(MeterInstallation, MeterInstallation.service_point_id == ServicePoint.id)
        .join(Meter, Meter.id == MeterInstallation.meter_id)
        .where(
            Meter.meter_no == meter_no,
            MeterInstallation.installed_at <= at,
            or_(MeterInstallation.removed_at.is_(None), MeterInstallation.removed_at > at),
        )
    )
    if account_id is None:
        return [], []
    touches = or_(
        Bill.period_start.in_(sorted(freeze_days)),
        Bill.period_end.in_(sorted(d - DAY for d in freeze_days)),
        *(and_(Bill.period_start <= d, Bill.period_end >= d) for d in sorted(interval_days)),
    )
    bills = session.scalars(
        select(Bill)
        .where(Bill.account_id == account_id, Bill.status != "cancelled", touches)
        .order_by(Bill.bill_no)
    ).all()
    review: list[str] = []
    rebill: list[str] = []
    for bill in bills:
        if bill.status == "issued":
            rebill.append(bill.bill_no)
            continue
        note = f"reads changed after billing ({why}): reject and re-run the bill"
        before = {"status": bill.status, "review_reasons": bill.review_reasons}
        bill.status = "in_review"
        if note not in bill.review_reasons:
            bill.review_reasons = "; ".join(r for r in (bill.review_reasons, note) if r)
        audit.record(
            session,
            clock,
            actor=actor,
            action="bill.hold",
            object_type="bill",
            object_key=bill.bill_no,
            reason=note,
            before=before,
            after={"status": bill.status, "review_reasons": bill.review_reasons},
        )
        review.append(bill.bill_no)
    return review, rebill
