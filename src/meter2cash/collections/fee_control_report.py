"""How fee control (费控) performed over some days: what was charged, who was warned, how
many relay trips and reconnections were asked for and how many the meters confirmed, and how
long a customer who topped up waited for supply: from the payment being recorded to the
meter confirming the reconnection.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meter2cash.collections.fee_control import RECONNECT, TRIP, WARN, ZERO_NOTICE
from meter2cash.collections.models import FeeControlEvent, OutboxMessage
from meter2cash.collections.prepay import PURPOSE
from meter2cash.collections.prepay_charges import SOURCE_TYPE
from meter2cash.core.timezones import DEFAULT_TIMEZONE, local_day_bounds, zone
from meter2cash.headend.models import MeterCommand
from meter2cash.ledger.journal import CUSTOMER_CREDIT
from meter2cash.ledger.models import JournalEntry, LedgerAccount, Payment, Posting


@dataclass(frozen=True, slots=True)
class FeeControlReport:
    """Fee control from ``first`` to ``last`` (local dates, inclusive). Hours are from a
    top-up payment being recorded to its reconnection confirmed [h]; None when none was."""

    first: date
    last: date
    charges_posted: int
    charged_minor: int
    warnings: int
    notices: int
    messages_delivered: int
    messages_failed: int
    trips_requested: int
    trips_confirmed: int
    trips_failed: int
    reconnects_requested: int
    reconnects_confirmed: int
    reconnects_failed: int
    reconnects_timed: int
    reconnect_hours_median: float | None
    reconnect_hours_p95: float | None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        return data | {"first": self.first.isoformat(), "last": self.last.isoformat()}


def fee_control_report(
    session: Session, first: date, last: date, tz: ZoneInfo | None = None
) -> FeeControlReport:
    """Fee control's measures over the local days ``first`` … ``last`` in ``tz`` (the
    default time zone unless given): charges by the day they were for, actions by when they
    were taken."""
    start, end = local_day_bounds(first, last, tz or zone(DEFAULT_TIMEZONE))
    charged = session.execute(
        select(func.count(func.distinct(JournalEntry.id)), func.sum(Posting.amount_minor))
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.ledger_account_id)
        .where(
            JournalEntry.source_type == SOURCE_TYPE,
            JournalEntry.booked_on.between(first, last),
            LedgerAccount.code == CUSTOMER_CREDIT,
        )
    ).one()
    events = pd.DataFrame(
        session.execute(
            select(
                FeeControlEvent.account_id,
                FeeControlEvent.at,
                FeeControlEvent.action,
                MeterCommand.status,
                MeterCommand.finished_at,
            )
            .outerjoin(MeterCommand, MeterCommand.id == FeeControlEvent.command_id)
            .where(FeeControlEvent.at >= start, FeeControlEvent.at < end)
        )
        .tuples()
        .all(),
        columns=["account_id", "at", "action", "status", "finished_at"],
    )
    messages = dict(
        session.execute(
            select(OutboxMessage.status, func.count())
            .where(
                OutboxMessage.purpose == PURPOSE,
                OutboxMessage.created_at >= start,
                OutboxMessage.created_at < end,
            )
            .group_by(OutboxMessage.status)
        )
        .tuples()
        .all()
    )
    trips = events[(events["action"] == TRIP) & events["status"].notna()]
    closes = events[(events["action"] == RECONNECT) & events["status"].notna()]
    hours = _reconnect_hours(session, closes)
    return FeeControlReport(
        first=first,
        last=last,
        charges_posted=int(charged[0] or 0),
        charged_minor=int(charged[1] or 0),
        warnings=int((events["action"] == WARN).sum()),
        notices=int((events["action"] == ZERO_NOTICE).sum()),
        messages_delivered=int(messages.get("delivered", 0)),
        messages_failed=int(messages.get("failed", 0)),
        trips_requested=len(trips),
        trips_confirmed=int((trips["status"] == "confirmed").sum()),
        trips_failed=int((trips["status"] == "failed").sum()),
        reconnects_requested=len(closes),
        reconnects_confirmed=int((closes["status"] == "confirmed").sum()),
        reconnects_failed=int((closes["status"] == "failed").sum()),
        reconnects_timed=len(hours),
        reconnect_hours_median=float(np.median(hours)) if len(hours) else None,
        reconnect_hours_p95=float(np.percentile(hours, 95)) if len(hours) else None,
    )


def _reconnect_hours(session: Session, closes: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Hours from the top-up to each confirmed reconnection of ``closes`` (events with
    account_id, at, status, finished_at): the top-up is the account's latest payment
    recorded by the time the reconnection was decided."""
    done = closes[closes["status"] == "confirmed"]
    if done.empty:
        return np.zeros(0)
    accounts = sorted(set(done["account_id"].astype(int)))
    paid = pd.DataFrame(
        session.execute(
            select(Payment.account_id, Payment.recorded_at).where(
                Payment.account_id.in_(accounts),
                Payment.recorded_at <= done["at"].max(),
                Payment.recorded_at >= done["at"].min() - timedelta(days=366),
            )
        )
        .tuples()
        .all(),
        columns=["account_id", "paid_at"],
    )
    decided = done.assign(
        account_id=done["account_id"].astype(np.int64), at=pd.to_datetime(done["at"], utc=True)
    ).sort_values("at")
    paid = paid.assign(
        account_id=paid["account_id"].astype(np.int64),
        paid_at=pd.to_datetime(paid["paid_at"], utc=True),
    ).sort_values("paid_at")
    matched = pd.merge_asof(
        decided,
        paid,
        left_on="at",
        right_on="paid_at",
        by="account_id",
        direction="backward",
    ).dropna(subset=["paid_at"])
    waited = pd.to_datetime(matched["finished_at"], utc=True) - matched["paid_at"]
    hours: npt.NDArray[np.float64] = (waited / pd.Timedelta(hours=1)).to_numpy(np.float64)
    return hours
