"""The exception queue: what failed validation and could not be estimated, waiting for a person.

An exception is a :class:`~meter2cash.vee.models.VeeFinding` with status ``open``
(:mod:`meter2cash.vee.findings`). :func:`summary` counts them by rule, by zone and by age;
:func:`resolve` closes one with a reason, audited, and re-runs what depends on its point
(:mod:`meter2cash.vee.rerun`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Meter, MeterInstallation, ServicePoint, TransformerArea, Zone
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.engines.base import BatchEngine
from meter2cash.vee.findings import OPEN, RESOLVED, close_findings
from meter2cash.vee.models import VeeFinding
from meter2cash.vee.points import Point
from meter2cash.vee.rerun import Change, RerunReport, rerun

AGE_BUCKETS: Final = ("0-1 d", "2-7 d", "8-30 d", ">30 d")
"""Age of an exception in local calendar days since it was found."""
NO_ZONE: Final = "(none)"


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
    require_actor(actor)


def require_actor(actor: str) -> None:
    """A manual act needs a named actor of at most 64 characters."""
    if not actor.strip():
        raise InputError("an actor is required", "pass --actor with who acts")
    if len(actor) > 64:
        raise InputError(f"actor {actor[:20]!r}… is longer than 64 characters")


def resolve(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    finding_id: int,
    *,
    reason: str,
    actor: str,
) -> ResolveReport:
    """A person closes finding ``finding_id`` with a reason; audited, then what depends on
    its point is re-run (:func:`meter2cash.vee.rerun.rerun`).

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
    (report,) = rerun(
        session,
        clock,
        engine,
        [Change(point, value_changed=False)],
        actor=actor,
        why=f"finding {finding_id} resolved by {actor}: {reason}",
    )
    return ResolveReport(finding_id, point, finding.rule, before, True, report)
