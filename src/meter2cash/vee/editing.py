"""Editing meter data: a person replaces a value or approves an estimate, with a reason.

Nothing is changed in place. An edit is stored as a new version of the read or interval
(quality ``edited``, source ``edit:<actor>``) above the raw value and every earlier version,
all of which stay readable (:func:`point_history`). Every act is audited — who, when, why,
the version before and the version after — and settles the point's findings; then what
depends on the point is re-run (:mod:`meter2cash.vee.rerun`). A file of edits is
:mod:`meter2cash.vee.edit_files`.

Bad input is refused with an :class:`~meter2cash.core.errors.InputError` before anything is
written: an unknown meter or channel, a naive or future timestamp, an interval instant off
the 15-minute grid, a value that is not a non-negative number with at most 4 decimal places,
or a register value below the real read before it or above the real read after it (unless
forced: a rollover or a meter exchange, explained in the reason).

>>> parse_value("1234.5")
Decimal('1234.5')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Meter
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.core.money import KWH_PLACES
from meter2cash.core.timezones import local_midnight, parse_instant, to_utc
from meter2cash.db import audit
from meter2cash.db.audit import AuditEvent
from meter2cash.engines.base import BatchEngine
from meter2cash.measurements.schema import DEMAND_REGISTER, REGISTER_CHANNELS
from meter2cash.measurements.store import MeasurementStore
from meter2cash.vee.findings import RESOLVED, close_findings, findings_at
from meter2cash.vee.models import VeeFinding
from meter2cash.vee.points import (
    INTERVAL_CHANNELS,
    Neighbour,
    Point,
    local_text,
    neighbours,
)
from meter2cash.vee.queue import require_reason
from meter2cash.vee.rerun import Change, RerunReport, rerun

EDITED: Final = "edited"
INTERVAL: Final = timedelta(minutes=15)
MAX_VALUE: Final = Decimal("99999999999999.9999")
"""The largest value the store holds (DECIMAL(18,4))."""


@dataclass(frozen=True, slots=True)
class Version:
    """One stored version of a read or interval: raw (version 0 as delivered) or a VEE result."""

    version: int
    quality: str
    value: Decimal
    source: str
    read_type: str | None
    stored_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "quality": self.quality,
            "value": str(self.value),
            "source": self.source,
            "read_type": self.read_type,
            "stored_at": self.stored_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class EditReport:
    """What an edit or approval did: the point's version before and after, the findings it
    settled and what the re-run did. ``changed`` is False when the act was already done."""

    action: str
    point: Point
    before: Version | None
    after: Version | None
    changed: bool
    resolved: list[int] = field(default_factory=list)
    rerun: RerunReport | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "point": self.point.as_json(),
            "before": self.before.as_json() if self.before else None,
            "after": self.after.as_json() if self.after else None,
            "changed": self.changed,
            "resolved_findings": self.resolved,
            "rerun": self.rerun.as_json() if self.rerun else None,
        }


def parse_value(text: str) -> Decimal:
    """A value a person typed, as a Decimal [kWh or kvarh]; refused unless a finite,
    non-negative number with at most 4 decimal places (what the store keeps)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise InputError(f"value {text!r} is not a number", "give e.g. --value 1234.5") from exc
    return check_value(value)


def check_value(value: Decimal) -> Decimal:
    """``value`` if it can be stored as an edit; an :class:`InputError` saying why not."""
    if not value.is_finite():
        raise InputError(f"value {value} is not a finite number")
    if value < 0:
        raise InputError(
            f"value {value} is negative",
            "registers and interval energy are never negative; give the value the meter shows",
        )
    if value > MAX_VALUE:
        raise InputError(f"value {value} is too large for the store (at most {MAX_VALUE})")
    if value != value.quantize(KWH_PLACES):
        raise InputError(f"value {value} has more than 4 decimal places", "the store keeps 4")
    return value


def locate(
    session: Session,
    clock: Clock,
    meter_no: str,
    channel: str,
    at: str | datetime,
    *,
    where: str = "--at",
) -> Point:
    """The point a person names, checked: the meter is known, the channel is a register or
    interval channel (intervals only on a meter that records them), the instant carries an
    offset, is not in the future and, for an interval, starts a quarter-hour. ``where``
    names the instant's source in errors."""
    meter = session.scalar(select(Meter).where(Meter.meter_no == meter_no))
    if meter is None:
        raise InputError(f"unknown meter {meter_no!r}", "give a meter number from the records")
    if channel not in REGISTER_CHANNELS + INTERVAL_CHANNELS:
        raise InputError(
            f"unknown channel {channel!r}",
            "use a register ("
            + ", ".join(REGISTER_CHANNELS)
            + ") or an interval channel ("
            + ", ".join(INTERVAL_CHANNELS)
            + ")",
        )
    if channel in INTERVAL_CHANNELS and not meter.records_intervals:
        raise InputError(
            f"meter {meter_no} records no 15-minute intervals",
            "edit one of its registers (" + ", ".join(REGISTER_CHANNELS) + ")",
        )
    ts = parse_instant(at, where) if isinstance(at, str) else to_utc(at, where)
    if ts > clock.now():
        raise InputError(
            f"{where} {ts.isoformat()} is in the future", "give an instant already read"
        )
    point = Point(meter_no, channel, ts)
    if channel in INTERVAL_CHANNELS and (ts.timestamp() % INTERVAL.total_seconds()) != 0:
        raise InputError(
            f"{where} {ts.isoformat()} does not start a 15-minute interval",
            "give the interval's start, e.g. 10:15, not 10:20",
        )
    return point


def versions(store: MeasurementStore, point: Point) -> list[Version]:
    """Every stored version of ``point``, oldest first (raw, estimates, edits)."""
    rows = store.scan(
        point.kind,
        start=point.ts,
        end=point.ts + timedelta(microseconds=1),
        meters=[point.meter_no],
        current=False,
    ).to_pandas()
    rows = rows[rows["channel"] == point.channel].sort_values("version")
    return [
        Version(
            version=int(r["version"]),
            quality=str(r["quality"]),
            value=Decimal(r["value"]),
            source=str(r["source"]),
            read_type=str(r["read_type"]) if "read_type" in rows.columns else None,
            stored_at=r["ingested_at"].to_pydatetime(),
        )
        for _, r in rows.iterrows()
    ]


@dataclass(frozen=True, slots=True)
class PreparedEdit:
    """An edit checked against the store and ready to write: the point's version before
    and the one it gets; ``forced`` when ``--force`` let a register decrease through."""

    point: Point
    value: Decimal
    before: Version | None
    after: Version
    forced: bool

    @property
    def value_changed(self) -> bool:
        return self.before is None or self.before.value != self.value


def prepare_edit(
    clock: Clock,
    store: MeasurementStore,
    point: Point,
    value: Decimal,
    *,
    actor: str,
    force: bool = False,
    beside: tuple[Neighbour | None, Neighbour | None] = (None, None),
) -> PreparedEdit | None:
    """Check an edit of ``point`` to ``value`` without writing; None when the point already
    holds ``value`` as an edit. ``beside``: values of the same channel edited with it, the
    nearest before and after (a file of edits), which stand in for the store's reads."""
    value = check_value(value).quantize(KWH_PLACES)
    history = versions(store, point)
    current = history[-1] if history else None
    if current and current.quality == EDITED and current.value == value:
        return None
    read_type = _read_type(point, current, store)
    forced = (
        _check_monotonic(store, point, value, force=force, stored=bool(history), beside=beside)
        if point.is_register
        else False
    )
    after = Version(
        version=(current.version + 1) if current else 0,
        quality=EDITED,
        value=value,
        source=f"edit:{actor}",
        read_type=read_type,
        stored_at=clock.now(),
    )
    return PreparedEdit(point, value, current, after, forced)


def record_edit(
    session: Session, clock: Clock, edit: PreparedEdit, *, actor: str, reason: str
) -> list[int]:
    """Audit ``edit`` (``vee.edit``, before and after) and resolve its point's findings."""
    return _record_act(
        session,
        clock,
        edit.point,
        "vee.edit",
        actor=actor,
        reason=reason,
        before=edit.before.as_json() if edit.before else None,
        after={**edit.after.as_json(), **({"forced": True} if edit.forced else {})},
        resolution=f"edited to {edit.value}: {reason}",
    )


def edit(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    point: Point,
    value: Decimal,
    *,
    reason: str,
    actor: str,
    force: bool = False,
) -> EditReport:
    """Replace ``point``'s value with ``value`` [kWh, meter side; kvarh] as a new version.

    The point's unsettled findings are resolved, the act is audited (action ``vee.edit``,
    before and after versions) and the dependents re-run. Giving the value the point already
    holds as an edit changes nothing. ``force`` lets a register value break monotonicity
    against the real reads on either side (a rollover or meter exchange); the audit says so.
    """
    require_reason(reason, actor)
    store = engine.store
    prepared = prepare_edit(clock, store, point, value, actor=actor, force=force)
    if prepared is None:
        held = versions(store, point)[-1]
        return EditReport("edit", point, held, held, changed=False)
    resolved = record_edit(session, clock, prepared, actor=actor, reason=reason)
    write_edits(store, [prepared], actor)
    (report,) = rerun(
        session,
        clock,
        engine,
        [Change(point, prepared.value_changed)],
        actor=actor,
        why=f"edit of {point.key} by {actor}: {reason}",
    )
    return EditReport("edit", point, prepared.before, prepared.after, True, resolved, report)


def approve(
    session: Session,
    clock: Clock,
    engine: BatchEngine,
    point: Point,
    *,
    reason: str,
    actor: str,
) -> EditReport:
    """A person accepts the estimate ``point`` holds: its findings are resolved and the act
    is audited (``vee.approve``). The value stays an estimate — no new version is written, so
    bills still say they rest on an estimate. Approving the same version twice is a no-op.
    """
    require_reason(reason, actor)
    store = engine.store
    history = versions(store, point)
    current = history[-1] if history else None
    tz = store.tz
    if current is None:
        raise InputError(
            f"no value at {point.describe(tz)} to approve",
            "run `m2c vee run` to estimate it, or `m2c vee edit` to give a value",
        )
    if current.quality != "estimated":
        raise InputError(
            f"{point.describe(tz)} holds a {current.quality} value (version {current.version}), "
            "not an estimate",
            "only estimates are approved; use `m2c vee edit` to change a value",
        )
    if _approved(session, point, current):
        return EditReport("approve", point, current, current, changed=False)
    resolved = _record_act(
        session,
        clock,
        point,
        "vee.approve",
        actor=actor,
        reason=reason,
        before=current.as_json(),
        after={**current.as_json(), "approved": True},
        resolution=f"estimate approved: {reason}",
    )
    (report,) = rerun(
        session,
        clock,
        engine,
        [Change(point, value_changed=False)],
        actor=actor,
        why=f"approval of {point.key} by {actor}: {reason}",
    )
    return EditReport("approve", point, current, current, True, resolved, report)


def _record_act(
    session: Session,
    clock: Clock,
    point: Point,
    action: str,
    *,
    actor: str,
    reason: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    resolution: str,
) -> list[int]:
    """Audit an act on ``point`` and resolve the point's findings with ``resolution``; the
    ids of the findings resolved."""
    audit.record(
        session,
        clock,
        actor=actor,
        action=action,
        object_type=point.kind.removesuffix("s"),
        object_key=point.key,
        reason=reason,
        before=before,
        after=after,
    )
    resolved = close_findings(
        session,
        clock,
        findings_at(session, point),
        status=RESOLVED,
        actor=actor,
        reason=resolution,
        action="vee.resolve",
    )
    session.flush()
    return resolved


@dataclass(frozen=True, slots=True)
class Act:
    """One audited act on a point (an edit, an approval)."""

    at: datetime
    actor: str
    action: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class FindingLine:
    id: int
    rule: str
    severity: str
    status: str
    detail: str
    found_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "severity": self.severity,
            "status": self.status,
            "detail": self.detail,
            "found_at": self.found_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class PointHistory:
    """Everything known about one point: its versions, its findings and the acts on it."""

    point: Point
    versions: list[Version]
    findings: list[FindingLine]
    acts: list[Act]

    def as_json(self) -> dict[str, Any]:
        return {
            "point": self.point.as_json(),
            "versions": [v.as_json() for v in self.versions],
            "findings": [f.as_json() for f in self.findings],
            "acts": [a.as_json() for a in self.acts],
        }


def point_history(session: Session, store: MeasurementStore, point: Point) -> PointHistory:
    """The versions of ``point`` oldest first, every finding on it, and the audited acts."""
    findings = session.scalars(
        select(VeeFinding)
        .where(
            VeeFinding.meter_no == point.meter_no,
            VeeFinding.channel == point.channel,
            VeeFinding.ts == point.ts,
        )
        .order_by(VeeFinding.id)
    ).all()
    acts = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.object_type == point.kind.removesuffix("s"),
            AuditEvent.object_key == point.key,
        )
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    return PointHistory(
        point=point,
        versions=versions(store, point),
        findings=[
            FindingLine(f.id, f.rule, f.severity, f.status, f.detail, f.found_at) for f in findings
        ],
        acts=[Act(a.at, a.actor, a.action, a.reason) for a in acts],
    )


def _read_type(point: Point, current: Version | None, store: MeasurementStore) -> str | None:
    """The read type an edited register keeps; a point with no value yet must be a daily
    freeze (a local midnight) — anything else would be a read nobody took."""
    if not point.is_register:
        return None
    if current is not None:
        return current.read_type
    day = point.ts.astimezone(store.tz).date()
    if local_midnight(day, store.tz) != point.ts:
        raise InputError(
            f"no read of {point.describe(store.tz)}",
            "a missing daily freeze is at local midnight; to change a read, give its instant "
            "(see `m2c vee history`)",
        )
    return "daily_frozen"


def _check_monotonic(
    store: MeasurementStore,
    point: Point,
    value: Decimal,
    *,
    force: bool,
    stored: bool,
    beside: tuple[Neighbour | None, Neighbour | None],
) -> bool:
    """Refuse a register value below the real read before it or above the one after it
    (not for the maximum-demand register, which falls at each monthly settlement).

    ``beside`` (values edited with this one) stand in for the store's reads where nearer, or
    as near. Returns True when ``force`` let a break through. A new point with no real read
    on either side within a year is refused too: the channel is probably wrong.
    """
    tz = store.tz
    stored_before, stored_after = neighbours(store, point)
    given_before, given_after = beside
    before = (
        given_before
        if given_before and (stored_before is None or given_before.ts >= stored_before.ts)
        else stored_before
    )
    after = (
        given_after
        if given_after and (stored_after is None or given_after.ts <= stored_after.ts)
        else stored_after
    )
    if before is None and after is None and not stored:
        raise InputError(
            f"no reads of {point.meter_no}/{point.channel} within a year of "
            f"{local_text(point.ts, tz)}",
            "check the meter and channel",
        )
    broken = None
    if point.channel == DEMAND_REGISTER:
        return False  # a running maximum cleared monthly: the rule chain judges it after
    if before is not None and value < before.value:
        broken = f"below the read before it ({before.value} at {local_text(before.ts, tz)})"
    elif after is not None and value > after.value:
        broken = f"above the read after it ({after.value} at {local_text(after.ts, tz)})"
    if broken is None:
        return False
    if not force:
        raise InputError(
            f"{value} for {point.describe(tz)} is {broken}: a register never decreases",
            "check the value; if the register rolled over or the meter was exchanged, "
            "pass --force and say so in --reason",
        )
    return True


def _approved(session: Session, point: Point, current: Version) -> bool:
    """Whether ``current`` (this very version of the point) was approved before."""
    events = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "vee.approve",
            AuditEvent.object_type == point.kind.removesuffix("s"),
            AuditEvent.object_key == point.key,
        )
    ).all()
    return any((e.after or {}).get("version") == current.version for e in events)


def write_edits(store: MeasurementStore, edits: Sequence[PreparedEdit], actor: str) -> None:
    """Store ``edits`` as new versions (quality ``edited``, source ``edit:<actor>``): one
    write per kind."""
    for kind, is_register in (("register_reads", True), ("intervals", False)):
        chosen = [e for e in edits if e.point.is_register == is_register]
        if not chosen:
            continue
        columns: dict[str, Any] = {
            "meter_no": [e.point.meter_no for e in chosen],
            "channel": [e.point.channel for e in chosen],
            "ts": pa.array([e.point.ts for e in chosen], pa.timestamp("us", tz="UTC")),
            "value": pa.array([e.value for e in chosen], pa.decimal128(18, 4)),
        }
        if is_register:
            columns["read_type"] = [e.after.read_type for e in chosen]
        store.write_versions(kind, pa.table(columns), quality=EDITED, source=f"edit:{actor}")
