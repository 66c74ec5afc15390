"""Online/QR payment callbacks: the signature is checked first; a retried callback posts once."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import Engine

from meter2cash.billing.issue import issue_approved
from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import InputError
from meter2cash.db.session import unit_of_work
from meter2cash.ledger import repository
from meter2cash.ledger.callbacks import post_callback, sign
from tests.factories import create_account, create_bill

SECRET = "s3cret-shared-with-the-provider"


def _body(**overrides: str) -> bytes:
    data = {
        "provider": "wechat",
        "transaction_id": "4200001234202608051234567890",
        "account_no": "A001",
        "amount": "120.00",
        "paid_on": "2026-08-05",
    } | overrides
    return json.dumps(data, ensure_ascii=False).encode()


def test_a_signed_callback_posts_once_however_often_it_is_retried(
    records: Engine, clock: FixedClock
) -> None:
    with unit_of_work(records) as session:
        create_bill(session, create_account(session), 12_000, date(2026, 8, 2))
        issue_approved(session, clock)
    body = _body()
    for expected in (1, 0):
        with unit_of_work(records) as session:
            assert (
                post_callback(session, clock, body, sign(body, SECRET), SECRET).posted == expected
            )
    with unit_of_work(records) as session:
        assert repository.open_items(session).empty


@pytest.mark.parametrize(
    ("body", "signature", "message"),
    [
        (_body(), "00" * 32, "signature does not match"),
        (_body(amount="12.345"), None, "amount '12.345' is not a positive yuan amount"),
        (_body(paid_on="5/8/2026"), None, "paid_on '5/8/2026' is not YYYY-MM-DD"),
        (_body(account_no=""), None, "callback lacks account_no"),
        (b"[1, 2]", None, "not a JSON object"),
    ],
)
def test_a_bad_callback_is_refused_naming_what_is_wrong(
    records: Engine, clock: FixedClock, body: bytes, signature: str | None, message: str
) -> None:
    with pytest.raises(InputError, match=message), unit_of_work(records) as session:
        post_callback(session, clock, body, signature or sign(body, SECRET), SECRET)
