"""Payment behaviour: who pays, how much, when and through which channel.

Each account carries one behaviour for the whole simulation. A payment's randomness is drawn from
a hash of (seed, account, bill), so a bill is paid the same way whichever other bills are passed.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

BEHAVIOURS: Final = ("on_time", "late", "partial", "never")
BEHAVIOUR_SHARES: Final = (0.70, 0.15, 0.08, 0.07)
CHANNELS: Final = ("counter", "bank", "wechat", "alipay", "agent")
CHANNEL_SHARES: Final = (0.10, 0.20, 0.35, 0.25, 0.10)
_CHANNEL_PREFIX: Final = ("CTR", "BNK", "WX", "ALI", "AGT")
LATE_DAYS: Final = (5, 75)
"""Range of days after the due date a late payer pays [d]."""
PARTIAL_SHARE: Final = (0.30, 0.90)
PARTIAL_SPREAD_DAYS: Final = 5
"""A partial payer pays within this many days either side of the due date [d]."""
PAYMENT_COLUMNS: Final = (
    "account_no",
    "bill_no",
    "amount_minor",
    "received_on",
    "channel",
    "transaction_id",
)


def draw_behaviours(rng: np.random.Generator, accounts: int) -> npt.NDArray[np.int64]:
    """Index into BEHAVIOURS per account."""
    return rng.choice(len(BEHAVIOURS), size=accounts, p=BEHAVIOUR_SHARES)


def _uniforms(salt: str, accounts: list[str], bills: list[str]) -> tuple[list[str], np.ndarray]:
    """Per bill: a 20-hex-digit digest and four uniforms in [0, 1) derived from it."""
    digests = [
        hashlib.blake2b(f"{salt}|{a}|{b}".encode(), digest_size=16).digest()
        for a, b in zip(accounts, bills, strict=True)
    ]
    words = np.frombuffer(b"".join(digests), dtype="<u4").reshape(-1, 4)
    return [d.hex()[:20].upper() for d in digests], words / 2.0**32


def simulate_payments(
    bills: pd.DataFrame, behaviour: dict[str, int], salt: str, last_day: date
) -> pd.DataFrame:
    """Payments [fen] received for ``bills`` up to and including ``last_day``.

    ``bills`` has account_no, bill_no, total_minor [fen], bill_date, due_date; ``behaviour``
    maps account_no to an index into BEHAVIOURS (unknown accounts pay on time). Bills with a
    non-positive total are not paid.
    """
    accounts = bills["account_no"].astype(str).tolist()
    bill_nos = bills["bill_no"].astype(str).tolist()
    ids, u = _uniforms(salt, accounts, bill_nos)
    kind = np.array([behaviour.get(a, 0) for a in accounts], dtype=np.int64)
    total = bills["total_minor"].to_numpy(dtype=np.int64)
    bill_date = pd.to_datetime(bills["bill_date"]).to_numpy(dtype="datetime64[D]")
    due = pd.to_datetime(bills["due_date"]).to_numpy(dtype="datetime64[D]")

    window = np.maximum((due - bill_date).astype(np.int64), 0)
    on_time = bill_date + np.floor(u[:, 0] * (window + 1)).astype("timedelta64[D]")
    late_span = LATE_DAYS[1] - LATE_DAYS[0] + 1
    late = due + (LATE_DAYS[0] + np.floor(u[:, 0] * late_span)).astype("timedelta64[D]")
    spread = np.floor(u[:, 0] * (2 * PARTIAL_SPREAD_DAYS + 1)) - PARTIAL_SPREAD_DAYS
    partial = np.maximum(due + spread.astype("timedelta64[D]"), bill_date)
    received = np.select([kind == 1, kind == 2], [late, partial], on_time)

    share = PARTIAL_SHARE[0] + u[:, 1] * (PARTIAL_SHARE[1] - PARTIAL_SHARE[0])
    amount = np.where(kind == 2, np.maximum(1, np.round(total * share)), total).astype(np.int64)
    channel = np.searchsorted(np.cumsum(CHANNEL_SHARES), u[:, 2], side="right")
    channel = np.minimum(channel, len(CHANNELS) - 1)
    keep = (kind != 3) & (total > 0) & (received <= np.datetime64(last_day, "D"))
    return pd.DataFrame(
        {
            "account_no": np.array(accounts, dtype=object)[keep],
            "bill_no": np.array(bill_nos, dtype=object)[keep],
            "amount_minor": amount[keep],
            "received_on": [d.item() for d in received[keep]],
            "channel": np.array(CHANNELS)[channel[keep]],
            "transaction_id": [
                _CHANNEL_PREFIX[c] + t
                for c, t in zip(channel[keep], np.array(ids)[keep], strict=True)
            ],
        },
        columns=list(PAYMENT_COLUMNS),
    )
