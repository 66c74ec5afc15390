"""The exception queue: what failed validation and could not be estimated, waiting for a person.

An exception is a :class:`~meter2cash.vee.models.VeeFinding` with status ``open``.
:func:`summary` counts them by rule, by zone and by age; :func:`resolve` closes one with a
reason. Every resolution — here, or implicitly by an edit or approval of the same point
(:mod:`meter2cash.vee.editing`) — is audited and re-runs what depends on the point
(:func:`rerun`): the meter's estimates between the nearest real reads on either side, the
VEE job over those days, and the bills of the periods whose reads changed.

A finding's statuses: ``open`` (in the queue), ``estimated`` (VEE filled the point),
``noted`` (information only), ``resolved`` (a person closed it, or a re-run no longer finds it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Meter, MeterInstallation, ServicePoint, TransformerArea, Zone
from meter2cash.billing.models import Bill
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.core.timezones import local_midnight
from meter2cash.db import audit
from meter2cash.measurements.schema import Kind
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee import rules
from meter2cash.vee.freezes import freeze_instants, run_vee
from meter2cash.vee.models import VeeFinding

REGISTER_CHANNELS: Final = ("A+", "A+1", "A+2", "A+3", "A+4", "A-")
"""Cumulative register channels [kWh, as the meter shows them] (see docs/architecture.md)."""
INTERVAL_CHANNELS: Final = ("kWh", "kvarh")
"""15-minute interval channels [kWh, kvarh per interval]."""

OPEN: Final = "open"
RESOLVED: Final = "resolved"
UNRESOLVED: Final = ("open", "estimated", "noted")
"""Statuses a person's act on the point closes."""

AGE_BUCKETS: Final = ("0-1 d", "2-7 d", "8-30 d", ">30 d")
"""Age of an exception in local calendar days since it was found."""
NO_ZONE: Final = "(none)"

NEIGHBOUR_SPANS: Final = (timedelta(days=35), timedelta(days=400))
"""How far a search for the nearest real read looks: a billing month first, then a year."""
SYSTEM_ACTOR: Final = "vee"
MISSING_DAY: Final = "missing_day"
"""The rule chain's "no daily freeze closing the day", stamped on the day it is about."""
REJUDGED: Final = (rules.MISSING, MISSING_DAY, rules.NEGATIVE, rules.DECREASING)
"""Rules whose open findings a re-run judges again on the current freezes."""


def age_bucket(days: int) -> str:
    """The :data:`AGE_BUCKETS` label of an exception found ``days`` local days ago.

    >>> [age_bucket(d) for d in (0, 1, 2, 7, 8, 30, 31)]
    ['0-1 d', '0-1 d', '2-7 d', '2-7 d', '8-30 d', '8-30 d', '>30 d']
    """
    if days <= 1:
        return AGE_BUCKETS[0]
    if days <= 7:
        return AGE_BUCKETS[1]
    if days <= 30:
        return AGE_BUCKETS[2]
    return AGE_BUCKETS[3]


# ---------------------------------------------------------------------------- the point


@dataclass(frozen=True, slots=True)
class Point:
    """One measurement key — (meter, channel, instant) — that a finding, an edit or an
    approval is about. ``ts`` is UTC: a register read's instant, or an interval's start."""

    meter_no: str
    channel: str
    ts: datetime

    @property
    def is_register(self) -> bool:
        return self.channel in REGISTER_CHANNELS

    @property
    def kind(self) -> Kind:
        return "register_reads" if self.is_register else "intervals"

    @property
    def key(self) -> str:
        """Short text key for the audit log: ``M/A+/2026-07-02T16:00Z``."""
        return f"{self.meter_no}/{self.channel}/{self.ts.astimezone(UTC):%Y-%m-%dT%H:%MZ}"

    def describe(self, tz: ZoneInfo) -> str:
        """``M/A+ at 2026-07-03T00:00+08:00`` (local time, for people)."""
        return f"{self.meter_no}/{self.channel} at {local_text(self.ts, tz)}"

    def as_json(self) -> dict[str, str]:
        return {"meter_no": self.meter_no, "channel": self.channel, "ts": self.ts.isoformat()}


def local_text(instant: datetime, tz: ZoneInfo) -> str:
    """An instant as local ISO 8601 to the minute, with its offset."""
    return instant.astimezone(tz).isoformat(timespec="minutes")


@dataclass(frozen=True, slots=True)
class Neighbour:
    """The nearest real (not estimated) register read on one side of a point."""

    ts: datetime
    value: Decimal
    quality: str


def neighbours(
    store: MeasurementStore, point: Point, *, daily_only: bool = False
) -> tuple[Neighbour | None, Neighbour | None]:
    """The nearest real reads of ``point``'s register channel before and after it.

    Estimates are skipped: they are derived from real reads and redone when those change.
    Looks :data:`NEIGHBOUR_SPANS` away at most, a month first and only then a year.
    """
    found: dict[str, Neighbour | None] = {"before": None, "after": None}
    near, far = NEIGHBOUR_SPANS
    windows = {
        "before": [(point.ts - near, point.ts), (point.ts - far, point.ts - near)],
        "after": [
            (point.ts + timedelta(microseconds=1), point.ts + near),
            (point.ts + near, point.ts + far),
        ],
    }
    for side, spans in windows.items():
        for start, end in spans:
            reads = _real_reads(store, point, start, end, daily_only=daily_only)
            if len(reads):
                row = reads.iloc[-1] if side == "before" else reads.iloc[0]
                found[side] = Neighbour(
                    row["ts"].to_pydatetime(), Decimal(row["value"]), str(row["quality"])
                )
                break
    return found["before"], found["after"]


def _real_reads(
    store: MeasurementStore,
    point: Point,
    start: datetime,
    end: datetime,
    *,
    daily_only: bool,
) -> pd.DataFrame:
    reads = store.scan("register_reads", start=start, end=end, meters=[point.meter_no]).to_pandas()
    keep = (reads["channel"] == point.channel) & (reads["quality"] != "estimated")
    if daily_only:
        keep &= reads["read_type"] == "daily_frozen"
    return reads[keep].sort_values("ts")


# ---------------------------------------------------------------------------- the queue


@dataclass(frozen=True, slots=True)
class OpenException:
    """One open finding as the queue lists it."""

    id: int
    meter_no: str
    channel: str
    ts: datetime
    rule: str
    severity: str
    detail: str
    found_at: datetime
    age_days: int
    zone: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "meter_no": self.meter_no,
            "channel": self.channel,
            "ts": self.ts.isoformat(),
            "rule": self.rule,
            "severity": self.severity,
            "detail": self.detail,
            "found_at": self.found_at.isoformat(),
            "age_days": self.age_days,
            "zone": self.zone,
        }


@dataclass(frozen=True, slots=True)
class QueueSummary:
    """The open exceptions counted three ways, and the oldest of them."""

    open: int
    by_rule: list[tuple[str, int]]
    by_zone: list[tuple[str, int]]
    by_age: list[tuple[str, int]]
    oldest: list[OpenException]

    def as_json(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "by_rule": dict(self.by_rule),
            "by_zone": dict(self.by_zone),
            "by_age": dict(self.by_age),
            "oldest": [e.as_json() for e in self.oldest],
        }


def _joined_to_zone(stmt: Select[Any]) -> Select[Any]:
    """``stmt`` over ``vee_findings`` joined to the zone of each finding's meter (its current
    installation → service point → transformer area → zone); outer joins, so a meter placed
    nowhere keeps its findings, with no zone."""
    return (
        stmt.join(Meter, Meter.meter_no == VeeFinding.meter_no, isouter=True)
        .join(
            MeterInstallation,
            and_(MeterInstallation.meter_id == Meter.id, MeterInstallation.removed_at.is_(None)),
            isouter=True,
        )
        .join(ServicePoint, ServicePoint.id == MeterInstallation.service_point_id, isouter=True)
        .join(
            TransformerArea,
            TransformerArea.id == ServicePoint.transformer_area_id,
            isouter=True,
        )
        .join(Zone, Zone.id == TransformerArea.zone_id, isouter=True)
    )


def summary(session: Session, clock: Clock, tz: ZoneInfo, *, oldest: int = 20) -> QueueSummary:
    """Open exceptions by rule, by zone and by age (:data:`AGE_BUCKETS`), and the ``oldest``.

    Age is counted in local days of ``tz`` from the day a finding was found to today.
    """
    today = clock.now().astimezone(tz).date()
    is_open = VeeFinding.status == OPEN
    by_rule = session.execute(
        select(VeeFinding.rule, func.count())
        .where(is_open)
        .group_by(VeeFinding.rule)
        .order_by(func.count().desc(), VeeFinding.rule)
    ).tuples()
    zone = func.coalesce(Zone.code, NO_ZONE)
    by_zone = session.execute(
        _joined_to_zone(select(zone, func.count()).select_from(VeeFinding))
        .where(is_open)
        .group_by(zone)
        .order_by(func.count().desc(), zone)
    ).tuples()
    ages = dict.fromkeys(AGE_BUCKETS, 0)
    for found_at, count in session.execute(
        select(VeeFinding.found_at, func.count()).where(is_open).group_by(VeeFinding.found_at)
    ).tuples():
        ages[age_bucket((today - found_at.astimezone(tz).date()).days)] += int(count)
    rows = session.execute(
        _joined_to_zone(select(VeeFinding, zone).select_from(VeeFinding))
        .where(is_open)
        .order_by(VeeFinding.found_at, VeeFinding.ts, VeeFinding.id)
        .limit(oldest)
    ).tuples()
    listed = [
        OpenException(
            id=f.id,
            meter_no=f.meter_no,
            channel=f.channel,
            ts=f.ts,
            rule=f.rule,
            severity=f.severity,
            detail=f.detail,
            found_at=f.found_at,
            age_days=(today - f.found_at.astimezone(tz).date()).days,
            zone=str(code),
        )
        for f, code in rows
    ]
    rule_counts = [(str(r), int(n)) for r, n in by_rule]
    return QueueSummary(
        open=sum(n for _, n in rule_counts),
        by_rule=rule_counts,
        by_zone=[(str(z), int(n)) for z, n in by_zone],
        by_age=list(ages.items()),
        oldest=listed,
    )


# ---------------------------------------------------------------------------- resolving


def close_findings(
    session: Session,
    clock: Clock,
    findings: Sequence[VeeFinding],
    *,
    status: str,
    actor: str,
    reason: str,
    action: str,
) -> list[int]:
    """Set ``findings`` to ``status``, one audit record each; returns their ids."""
    for finding in findings:
        before = finding.status
        finding.status = status
        audit.record(
            session,
            clock,
            actor=actor,
            action=action,
            object_type="vee_finding",
            object_key=str(finding.id),
            reason=reason,
            before={"status": before, "rule": finding.rule},
            after={"status": status, "rule": finding.rule},
        )
    return [f.id for f in findings]


def findings_at(
    session: Session, point: Point, statuses: Sequence[str] = UNRESOLVED
) -> list[VeeFinding]:
    """Findings on ``point`` (meter, channel, instant) with one of ``statuses``."""
    return list(
        session.scalars(
            select(VeeFinding)
            .where(
                VeeFinding.meter_no == point.meter_no,
                VeeFinding.channel == point.channel,
                VeeFinding.ts == point.ts,
                VeeFinding.status.in_(statuses),
            )
            .order_by(VeeFinding.id)
        )
    )


@dataclass(frozen=True, slots=True)
class RerunReport:
    """What a re-run after a person's act did downstream of the point.

    ``first``…``last`` are the local freeze days VEE ran over; ``reestimated`` counts earlier
    estimates redone from the new data, ``estimated`` gaps newly filled by the VEE job;
    ``cleared`` the ids of open findings that no longer hold; ``new_open`` the exceptions the
    run added; ``bills_to_review`` unissued bills put back to review, ``bills_to_rebill``
    issued bills whose reads changed (cancel and rebill, 退补). ``ran_vee`` is False for an
    interval point: the VEE job validates daily freezes.
    """

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


@dataclass(frozen=True, slots=True)
class ResolveReport:
    finding_id: int
    point: Point
    rule: str
    before: str
    changed: bool
    rerun: RerunReport | None

    def as_json(self) -> dict[str, Any]:
        return {
            "finding_id": self.finding_id,
            "point": self.point.as_json(),
            "rule": self.rule,
            "status_before": self.before,
            "status": RESOLVED,
            "changed": self.changed,
            "rerun": self.rerun.as_json() if self.rerun else None,
        }


def require_reason(reason: str, actor: str) -> None:
    """A manual act needs a non-blank reason and a named actor (kept in the audit log)."""
    if not reason.strip():
        raise InputError("a reason is required", "pass --reason with why (kept in the audit log)")
    if not actor.strip():
        raise InputError("an actor is required", "pass --actor with who acts")
    if len(actor) > 64:
        raise InputError(f"actor {actor[:20]!r}… is longer than 64 characters")


def resolve(
    session: Session,
    clock: Clock,
    store: MeasurementStore,
    finding_id: int,
    *,
    reason: str,
    actor: str,
) -> ResolveReport:
    """A person closes finding ``finding_id`` with a reason; audited, then :func:`rerun`.

    Resolving an already resolved finding changes nothing (no audit, no re-run).
    """
    require_reason(reason, actor)
    finding = session.get(VeeFinding, finding_id)
    if finding is None:
        raise InputError(f"no VEE finding {finding_id}", "see `m2c vee queue` for open ones")
    point = Point(finding.meter_no, finding.channel, finding.ts)
    before = finding.status
    if before == RESOLVED:
        return ResolveReport(finding_id, point, finding.rule, before, False, None)
    close_findings(
        session, clock, [finding], status=RESOLVED, actor=actor, reason=reason, action="vee.resolve"
    )
    session.flush()
    report = rerun(
        session,
        clock,
        store,
        point,
        actor=actor,
        why=f"finding {finding_id} resolved by {actor}: {reason}",
        value_changed=False,
    )
    return ResolveReport(finding_id, point, finding.rule, before, True, report)


# ---------------------------------------------------------------------------- re-running


def rerun(
    session: Session,
    clock: Clock,
    store: MeasurementStore,
    point: Point,
    *,
    actor: str,
    why: str,
    value_changed: bool,
) -> RerunReport:
    """Re-run what depends on ``point`` after a person acted on it.

    For a register: the window runs from the nearest real daily freeze before the point to
    the nearest after it (the point's day alone on a side with none), since estimates in
    between were anchored on those reads. Estimates in the window are redone by linear
    interpolation from the current real reads; the VEE job (:func:`run_vee`) runs for the
    meter over the window; open findings of the point's channel that the data no longer
    bears out are cleared. For an interval only the bills are looked at: the VEE job
    validates daily freezes. Bills of the periods whose reads changed are put back to review
    when not yet issued, and reported for a rebill when issued.
    """
    tz = store.tz
    day = point.ts.astimezone(tz).date()
    if not point.is_register:
        review, rebill = (
            _flag_bills(session, clock, point, {day}, actor=actor, why=why)
            if value_changed
            else ([], [])
        )
        return RerunReport(day, day, 0, 0, [], 0, review, rebill, ran_vee=False)
    before, after = neighbours(store, point, daily_only=True)
    first = before.ts.astimezone(tz).date() if before else day
    last = after.ts.astimezone(tz).date() if after else day
    start_values = _register_versions(store, point.meter_no, first, last)
    reestimated = _reestimate(store, point, first, last)
    open_before = _open_count(session, point.meter_no)
    vee = run_vee(session, clock, store, [point.meter_no], first, last)
    session.flush()
    cleared = _clear_settled(session, clock, store, point, first, last, why=why)
    changed_days = _changed_days(
        start_values, _register_versions(store, point.meter_no, first, last), tz
    )
    if value_changed and point.ts == local_midnight(day, tz):
        changed_days.add(day)  # bills read daily freezes only, not on-demand reads
    review, rebill = _flag_bills(session, clock, point, changed_days, actor=actor, why=why)
    return RerunReport(
        first=first,
        last=last,
        reestimated=reestimated,
        estimated=vee.estimated,
        cleared=cleared,
        new_open=max(0, _open_count(session, point.meter_no) - open_before + len(cleared)),
        bills_to_review=review,
        bills_to_rebill=rebill,
    )


def _open_count(session: Session, meter_no: str) -> int:
    return int(
        session.scalar(
            select(func.count()).where(VeeFinding.meter_no == meter_no, VeeFinding.status == OPEN)
        )
        or 0
    )


def _freeze_grid(store: MeasurementStore, point: Point, first: date, last: date) -> pd.DataFrame:
    """The point's channel on every daily freeze ``first``…``last``: current ``value`` (NaN
    where none) and ``quality``, sorted by ``ts``."""
    instants = freeze_instants(first, last, store.tz)
    reads = store.scan(
        "register_reads",
        start=instants[0].to_pydatetime(),
        end=(instants[-1] + pd.Timedelta(microseconds=1)).to_pydatetime(),
        meters=[point.meter_no],
    ).to_pandas()
    reads = reads[(reads["channel"] == point.channel) & (reads["read_type"] == "daily_frozen")]
    observed = reads.assign(value=reads["value"].astype("float64")).set_index("ts")
    return pd.DataFrame(
        {
            "meter_no": point.meter_no,
            "channel": point.channel,
            "ts": instants,
            "value": observed["value"].reindex(instants).to_numpy(),
            "quality": observed["quality"].reindex(instants).to_numpy(),
        }
    )


def _reestimate(store: MeasurementStore, point: Point, first: date, last: date) -> int:
    """Redo the estimates of the point's channel in the window from its real reads.

    Returns how many estimates changed value. An estimate equal to the stored one is a
    no-op in the store.
    """
    grid = _freeze_grid(store, point, first, last)
    was_estimate = (grid["quality"] == "estimated").to_numpy()
    if not was_estimate.any():
        return 0
    real = grid.assign(value=grid["value"].where(~was_estimate))
    estimate = rules.estimate_linear(real).round(4)
    redo = was_estimate & estimate.notna().to_numpy()
    if not redo.any():
        return 0
    rows = grid[redo]
    report = store.write_versions(
        "register_reads",
        pa.table(
            {
                "meter_no": rows["meter_no"].to_numpy(),
                "channel": rows["channel"].to_numpy(),
                "ts": pa.array(rows["ts"], pa.timestamp("us", tz="UTC")),
                "value": estimate[redo].to_numpy(),
                "read_type": ["daily_frozen"] * len(rows),
            }
        ),
        quality="estimated",
        source="vee:linear",
    )
    return report.accepted


def _clear_settled(
    session: Session,
    clock: Clock,
    store: MeasurementStore,
    point: Point,
    first: date,
    last: date,
    *,
    why: str,
) -> list[int]:
    """Clear open findings of the point's channel in the window that no longer hold.

    Judged again on the current data (:func:`_settled_status`); other rules' findings wait
    for a person. Returns the ids cleared.
    """
    grid = _freeze_grid(store, point, first, last)
    grid = grid.assign(
        negative=rules.flag_negative(grid).to_numpy(),
        decreasing=rules.flag_decreasing(grid).to_numpy(),
    ).set_index("ts")
    findings = session.scalars(
        select(VeeFinding)
        .where(
            VeeFinding.meter_no == point.meter_no,
            VeeFinding.channel == point.channel,
            VeeFinding.status == OPEN,
            VeeFinding.rule.in_(REJUDGED),
            VeeFinding.ts >= (grid.index[0] - pd.Timedelta(days=1)).to_pydatetime(),
            VeeFinding.ts <= grid.index[-1].to_pydatetime(),
        )
        .order_by(VeeFinding.id)
    ).all()
    settled: dict[str, list[VeeFinding]] = {"estimated": [], RESOLVED: []}
    for finding in findings:
        status = _settled_status(finding, grid, store.tz)
        if status is not None:
            settled[status].append(finding)
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
    return sorted(ids)


def _settled_status(finding: VeeFinding, grid: pd.DataFrame, tz: ZoneInfo) -> str | None:
    """The status ``finding`` settles to on the current freezes in ``grid``, or None while
    it still holds (or cannot be judged from the window).

    A missing freeze that now has a value is ``estimated`` when VEE filled it, else
    ``resolved`` (the rule chain's ``missing_day`` is stamped on the day and is about the
    freeze closing it, the next midnight's). A negative or decreasing register that no longer
    is, is ``resolved``; a decrease on the window's first freeze cannot be judged, having no
    read before it in the window.
    """
    stamp = finding.ts
    if finding.rule == MISSING_DAY:
        stamp = local_midnight(stamp.astimezone(tz).date() + timedelta(days=1), tz)
    ts = pd.Timestamp(stamp)
    if ts not in grid.index or pd.isna(grid.at[ts, "value"]):
        return None
    if finding.rule in (rules.MISSING, MISSING_DAY):
        return "estimated" if grid.at[ts, "quality"] == "estimated" else RESOLVED
    if finding.rule == rules.NEGATIVE and not grid.at[ts, "negative"]:
        return RESOLVED
    if finding.rule == rules.DECREASING and ts != grid.index[0] and not grid.at[ts, "decreasing"]:
        return RESOLVED
    return None


def _register_versions(
    store: MeasurementStore, meter_no: str, first: date, last: date
) -> pd.Series:
    """Current version of each register read of the meter on freezes ``first``…``last``."""
    instants = freeze_instants(first, last, store.tz)
    reads = store.scan(
        "register_reads",
        start=instants[0].to_pydatetime(),
        end=(instants[-1] + pd.Timedelta(microseconds=1)).to_pydatetime(),
        meters=[meter_no],
    ).to_pandas()
    return reads.set_index(["channel", "ts"])["version"]


def _changed_days(before: pd.Series, after: pd.Series, tz: ZoneInfo) -> set[date]:
    """Local days of the reads whose current version differs between two snapshots."""
    joined = pd.concat([before.rename("before"), after.rename("after")], axis=1)
    changed = joined[joined["before"].ne(joined["after"])]
    stamps = changed.index.get_level_values("ts")
    return {pd.Timestamp(t).tz_convert(tz).date() for t in stamps}


def _flag_bills(
    session: Session,
    clock: Clock,
    point: Point,
    days: set[date],
    *,
    actor: str,
    why: str,
) -> tuple[list[str], list[str]]:
    """Bills of the meter's account whose period reads changed on ``days`` (local).

    A register freeze stamped day D closes the period ending D − 1 and opens the period
    starting D; an interval counts in the period holding its day. Bills not yet issued go
    back to review with the reason (audited); issued bills are returned for a rebill.
    """
    if not days:
        return [], []
    account_id = session.scalar(
        select(ServicePoint.account_id)
        .join(MeterInstallation, MeterInstallation.service_point_id == ServicePoint.id)
        .join(Meter, Meter.id == MeterInstallation.meter_id)
        .where(
            Meter.meter_no == point.meter_no,
            MeterInstallation.installed_at <= point.ts,
            or_(MeterInstallation.removed_at.is_(None), MeterInstallation.removed_at > point.ts),
        )
    )
    if account_id is None:
        return [], []
    if point.is_register:
        touches = or_(
            Bill.period_start.in_(sorted(days)),
            Bill.period_end.in_(sorted(d - timedelta(days=1) for d in days)),
        )
    else:
        touches = or_(*(and_(Bill.period_start <= d, Bill.period_end >= d) for d in days))
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
