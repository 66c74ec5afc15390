"""Remote commands with an audited lifecycle: on-demand read, time sync, relay trip, relay close.

Every step — request, send, confirmation or failure — is a state change checked against
:data:`TRANSITIONS` and written to the audit log with who and why. The transport (DL/T 645
over a concentrator, or MQTT) reports ``sent`` / ``confirmed`` / ``failed``; collections will
request trips and closes for dunning and prepay.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Meter
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.db import audit
from meter2cash.headend.models import COMMAND_KINDS, MeterCommand

TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    "requested": ("sent", "failed"),
    "sent": ("confirmed", "failed"),
    "confirmed": (),
    "failed": (),
}
NEEDS_REASON: Final = frozenset({"relay_trip", "relay_close"})
"""Cutting or restoring supply always says why."""


def request(
    session: Session,
    clock: Clock,
    *,
    meter_no: str,
    kind: str,
    actor: str,
    reason: str,
    request_key: str,
) -> MeterCommand:
    """Record a command request; the same ``request_key`` again returns the first command."""
    existing = session.scalar(select(MeterCommand).where(MeterCommand.request_key == request_key))
    if existing is not None:
        return existing
    if kind not in COMMAND_KINDS:
        raise InputError(f"unknown command {kind!r}", "use one of " + ", ".join(COMMAND_KINDS))
    if kind in NEEDS_REASON and not reason.strip():
        raise InputError(f"a {kind} needs a reason", "say why supply is cut or restored")
    if session.scalar(select(Meter.id).where(Meter.meter_no == meter_no)) is None:
        raise InputError(f"no meter {meter_no}")
    command = MeterCommand(
        request_key=request_key,
        meter_no=meter_no,
        kind=kind,
        status="requested",
        requested_by=actor,
        reason=reason,
        requested_at=clock.now(),
    )
    session.add(command)
    session.flush()
    audit.record(
        session,
        clock,
        actor=actor,
        action=f"command.{kind}.requested",
        object_type="meter",
        object_key=meter_no,
        reason=reason,
        after={"command_id": command.id, "status": "requested"},
    )
    return command


def advance(
    session: Session,
    clock: Clock,
    command_id: int,
    status: str,
    *,
    actor: str,
    detail: str = "",
    frame_hex: str | None = None,
) -> MeterCommand:
    """Move a command to ``status`` (sent, confirmed or failed), audited."""
    command = session.get(MeterCommand, command_id)
    if command is None:
        raise InputError(f"no command {command_id}")
    if status not in TRANSITIONS[command.status]:
        raise InputError(
            f"command {command_id} is {command.status}; it cannot become {status}",
            "allowed next: " + (", ".join(TRANSITIONS[command.status]) or "none (finished)"),
        )
    before = {"status": command.status}
    now = clock.now()
    command.status = status
    if status == "sent":
        command.sent_at = now
        command.frame_hex = frame_hex
    else:
        command.finished_at = now
        command.outcome = detail
    audit.record(
        session,
        clock,
        actor=actor,
        action=f"command.{command.kind}.{status}",
        object_type="meter",
        object_key=command.meter_no,
        reason=detail or command.reason,
        before=before,
        after={"command_id": command.id, "status": status},
    )
    return command


def pending(
    session: Session,
    kind: str | None = None,
    *,
    kinds: Collection[str] | None = None,
    meters: Collection[str] | None = None,
) -> list[MeterCommand]:
    """Commands waiting to be sent, oldest first: of ``kind`` (or any of ``kinds``), for
    ``meters`` when given."""
    stmt = select(MeterCommand).where(MeterCommand.status == "requested")
    if kind is not None:
        stmt = stmt.where(MeterCommand.kind == kind)
    if kinds is not None:
        stmt = stmt.where(MeterCommand.kind.in_(tuple(kinds)))
    if meters is not None:
        stmt = stmt.where(MeterCommand.meter_no.in_(tuple(meters)))
    return list(session.scalars(stmt.order_by(MeterCommand.id)))


def relay_open_meters(session: Session) -> set[str]:
    """Meters whose relay the head-end opened: their latest confirmed relay command is a
    trip (a meter cut off by command legitimately shows voltage without current)."""
    stmt = (
        select(MeterCommand.meter_no, MeterCommand.kind)
        .where(
            MeterCommand.status == "confirmed",
            MeterCommand.kind.in_(("relay_trip", "relay_close")),
        )
        .order_by(MeterCommand.finished_at, MeterCommand.id)
    )
    latest = dict(session.execute(stmt).tuples().all())
    return {meter_no for meter_no, kind in latest.items() if kind == "relay_trip"}
