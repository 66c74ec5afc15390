"""The outbox keeps one message per source key and records what the gateway reports."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from meter2cash.collections.models import OutboxMessage
from meter2cash.collections.outbox import MESSAGE_COLUMNS, queue_messages, record_delivery
from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import InputError
from meter2cash.db.session import unit_of_work
from tests.factories import create_account


def _message(key: str, account_id: int, channel: str = "sms") -> tuple[object, ...]:
    return (key, account_id, channel, "dunning", "电费催缴", "您的电费已逾期。", None)


def test_a_message_is_queued_once_and_its_delivery_recorded(
    records: Engine, clock: FixedClock
) -> None:
    with unit_of_work(records) as session:
        account = create_account(session).id
        batch = pd.DataFrame(
            [_message("d:1:reminder", account), _message("d:1:reminder", account)],
            columns=list(MESSAGE_COLUMNS),
        )
        assert queue_messages(session, clock, batch) == 1
        assert queue_messages(session, clock, batch) == 0
        [message_id] = session.scalars(select(OutboxMessage.id)).all()
        record_delivery(session, [message_id], "delivered", clock.now())
        message = session.get_one(OutboxMessage, message_id)
        assert (message.status, message.delivered_at) == ("delivered", clock.now())
        with pytest.raises(InputError, match="unknown message channel 'pigeon'"):
            queue_messages(
                session,
                clock,
                pd.DataFrame([_message("x", account, "pigeon")], columns=list(MESSAGE_COLUMNS)),
            )
