"""The outbox: messages to customers (SMS, email, letter) queued in the records database in
the same transaction as the decision that sends them, for a gateway to pick up. Each has a
``source_key``, so queuing the same message twice keeps one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import pandas as pd
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from meter2cash.collections.models import OutboxMessage
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError

MESSAGE_COLUMNS: Final = (
    "source_key",
    "account_id",
    "channel",
    "purpose",
    "subject",
    "body",
    "document_path",
)
CHANNELS: Final = ("sms", "email", "letter")
DELIVERY: Final = ("sent", "delivered", "failed")


def queue_messages(session: Session, clock: Clock, messages: pd.DataFrame) -> int:
    """Queue ``messages`` (:data:`MESSAGE_COLUMNS`; document_path may be None); those whose
    source_key is already queued are left alone. Returns how many were queued."""
    bad = ~messages["channel"].isin(CHANNELS)
    if bad.any():
        raise InputError(f"unknown message channel {messages.loc[bad, 'channel'].iloc[0]!r}")
    fresh = messages.drop_duplicates("source_key")
    keys = fresh["source_key"].tolist()
    present: set[str] = set()
    for start in range(0, len(keys), 20_000):
        present.update(
            session.scalars(
                select(OutboxMessage.source_key).where(
                    OutboxMessage.source_key.in_(keys[start : start + 20_000])
                )
            )
        )
    fresh = fresh[~fresh["source_key"].isin(present)]
    if fresh.empty:
        return 0
    rows = fresh[list(MESSAGE_COLUMNS)].astype(object).where(fresh.notna(), None)
    now = clock.now()
    session.execute(
        insert(OutboxMessage),
        [r | {"created_at": now, "status": "queued"} for r in rows.to_dict("records")],
    )
    session.flush()
    return len(fresh)


def record_delivery(
    session: Session, message_ids: Sequence[int], status: str, at: datetime
) -> None:
    """The gateway's report on messages: ``sent``, ``delivered`` or ``failed`` at ``at``."""
    if status not in DELIVERY:
        raise InputError(f"unknown delivery status {status!r}", "use sent, delivered or failed")
    stamp = {"sent": "sent_at", "delivered": "delivered_at", "failed": "sent_at"}[status]
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(list(message_ids)))
        .values({"status": status, stamp: at})
    )
