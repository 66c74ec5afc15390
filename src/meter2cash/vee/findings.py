"""Finding statuses, and closing findings with one audit record each.

A finding's statuses: ``open`` (in the queue), ``estimated`` (VEE filled the point),
``noted`` (information only), ``resolved`` (a person closed it, or a re-run no longer finds it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.db import audit
from meter2cash.vee.models import VeeFinding
from meter2cash.vee.points import Point

OPEN: Final = "open"
ESTIMATED: Final = "estimated"
RESOLVED: Final = "resolved"
UNRESOLVED: Final = ("open", "estimated", "noted")
"""Statuses a person's act on the point closes."""
SYSTEM_ACTOR: Final = "vee"
"""The actor of what VEE does on its own (clearing findings a re-run no longer finds)."""


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


def open_count(session: Session, meter_no: str) -> int:
    """How many findings of ``meter_no`` wait in the queue."""
    return int(
        session.scalar(
            select(func.count()).where(VeeFinding.meter_no == meter_no, VeeFinding.status == OPEN)
        )
        or 0
    )
