"""Online and QR-code payment callbacks (WeChat Pay, Alipay, UnionPay, a bank's app): signed,
and idempotent by the provider's transaction id.

A callback is a JSON object — ``provider``, ``transaction_id``, ``account_no``, ``amount``
(yuan, a string with at most two decimals), ``paid_on`` (YYYY-MM-DD) — signed with
HMAC-SHA256 over its exact bytes with the secret the utility shares with the provider
(``M2C_CALLBACK_SECRET``), the signature sent as hex. A callback whose signature does not
match is refused before anything is read from it; a valid one posts as a payment on channel
``online:<provider>``, so the provider retrying it posts it once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import date
from decimal import Decimal
from typing import Final

import pandas as pd
from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.core.money import to_minor
from meter2cash.ledger.payments import PAYMENT_COLUMNS, PaymentReport, post_payments

FIELDS: Final = ("provider", "transaction_id", "account_no", "amount", "paid_on")
_AMOUNT: Final = re.compile(r"\d{1,12}(\.\d{1,2})?")
_PROVIDER: Final = re.compile(r"[a-z][a-z0-9_-]{0,20}")


def sign(body: bytes, secret: str) -> str:
    """The hex HMAC-SHA256 of ``body`` under ``secret``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_callback(
    session: Session, clock: Clock, body: bytes, signature: str, secret: str
) -> PaymentReport:
    """Verify and post one callback; :class:`InputError` names what is wrong with it."""
    if not hmac.compare_digest(sign(body, secret), signature.strip().lower()):
        raise InputError("callback signature does not match", "nothing was posted")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"callback is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError("callback is not a JSON object")
    missing = [f for f in FIELDS if not isinstance(data.get(f), str) or not data[f].strip()]
    if missing:
        raise InputError(f"callback lacks {', '.join(missing)}", f"send {', '.join(FIELDS)}")
    if not _PROVIDER.fullmatch(data["provider"]):
        raise InputError(f"callback provider {data['provider']!r} is not a provider name")
    if not _AMOUNT.fullmatch(data["amount"]) or float(data["amount"]) <= 0:
        raise InputError(f"callback amount {data['amount']!r} is not a positive yuan amount")
    try:
        paid_on = date.fromisoformat(data["paid_on"])
    except ValueError:
        raise InputError(f"callback paid_on {data['paid_on']!r} is not YYYY-MM-DD") from None
    row = (
        f"online:{data['provider']}",
        data["transaction_id"],
        data["account_no"],
        to_minor(Decimal(data["amount"])),
        paid_on,
    )
    return post_payments(session, clock, pd.DataFrame([row], columns=list(PAYMENT_COLUMNS)))
