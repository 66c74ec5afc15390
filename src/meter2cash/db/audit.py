"""The audit log: who did what, when and why, with before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from meter2cash.core.clock import Clock
from meter2cash.db.base import Base, BigId, UtcDateTime


class AuditEvent(Base):
    """One manual or system act on a record."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


def record(
    session: Session,
    clock: Clock,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_key: str,
    reason: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to ``session`` (committed with the act it records)."""
    event = AuditEvent(
        at=clock.now(),
        actor=actor,
        action=action,
        object_type=object_type,
        object_key=object_key,
        reason=reason,
        before=before,
        after=after,
    )
    session.add(event)
    return event
