"""Payment behaviour: who pays, how much, when and through which channel.

Each account carries one behaviour for the whole simulation. A payment's randomness is drawn from
a hash of (seed, account, bill), so a bill is paid the same way whichever other bills are passed.

Prepay customers (费控户) pay no bills: they top up, in answer to what fee control tells them
(:class:`PrepayCustomers`). Their behaviour and each top-up are drawn from a hash of (seed,
account[, notice, instant]) likewise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta
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


TOP_UP_BEHAVIOURS: Final = ("when_warned", "when_cut", "late")
TOP_UP_SHARES: Final = (0.60, 0.30, 0.10)
NOTICES: Final = ("opened", "warning", "zero", "cut")
"""What reaches a prepay customer: its account goes on prepay, a low-balance warning, the
balance used up, supply cut."""
ANSWER_HOURS: Final[dict[str, dict[str, tuple[int, int]]]] = {
    "opened": {"when_warned": (0, 8), "when_cut": (0, 8), "late": (0, 8)},
    "warning": {"when_warned": (0, 24)},
    "zero": {"when_warned": (0, 12)},
    "cut": {"when_warned": (0, 6), "when_cut": (1, 48), "late": (72, 240)},
}
"""Per notice and behaviour, the range of hours [h] after it within which the customer tops
up; a behaviour not named lets the notice pass."""
OPENING_YUAN: Final = (50, 100, 150, 200)
TOP_UP_YUAN: Final = (100, 150, 200, 300)
"""What a customer puts in [yuan]: at the start, and later on top of what it owes."""
TOP_UP_STEP_YUAN: Final = 50
"""Top-ups are whole multiples of this [yuan]."""
TOP_UP_CHANNELS: Final = ("wechat", "alipay", "counter", "agent")
TOP_UP_CHANNEL_SHARES: Final = (0.45, 0.35, 0.10, 0.10)
TOP_UP_COLUMNS: Final = ("account_no", "amount_minor", "paid_at", "channel", "transaction_id")


class PrepayCustomers:
    """The simulated prepay customers answering fee control.

    :meth:`notify` hands them notices; each customer tops up — or lets the notice pass — as
    its behaviour (:data:`TOP_UP_BEHAVIOURS`) has it (:data:`ANSWER_HOURS`), paying what
    its balance owes plus a round amount; one with a top-up on the way answers nothing
    else. :meth:`made_by` hands the top-ups made by an instant over, once.
    """

    def __init__(self, accounts: Sequence[str], salt: str) -> None:
        self._salt = salt
        _, u = _uniforms(f"{salt}|prepay", list(accounts), [""] * len(accounts))
        kinds = np.searchsorted(np.cumsum(TOP_UP_SHARES), u[:, 0], side="right")
        self.behaviour = {
            a: TOP_UP_BEHAVIOURS[min(int(k), len(TOP_UP_BEHAVIOURS) - 1)]
            for a, k in zip(accounts, kinds, strict=True)
        }
        self._pending: dict[str, tuple[int, datetime, str, str]] = {}

    def notify(self, notices: pd.DataFrame) -> None:
        """Hand over ``notices``: account_no, notice (:data:`NOTICES`), at (aware instant),
        balance_minor [fen, negative = owed] when it was sent. Unknown accounts are not
        prepay customers and let it pass."""
        rows = notices[notices["account_no"].isin(self.behaviour.keys())]
        rows = rows[~rows["account_no"].isin(self._pending.keys())]
        rows = rows.drop_duplicates("account_no")  # the first notice of a run is answered
        if rows.empty:
            return
        accounts = rows["account_no"].astype(str).tolist()
        keys = [
            f"{n}|{pd.Timestamp(t).isoformat()}"
            for n, t in zip(rows["notice"], rows["at"], strict=True)
        ]
        ids, u = _uniforms(f"{self._salt}|top-up", accounts, keys)
        for i, r in enumerate(rows.itertuples(index=False)):
            hours = ANSWER_HOURS[str(r.notice)].get(self.behaviour[str(r.account_no)])
            if hours is None:
                continue
            wait = timedelta(hours=hours[0] + u[i, 0] * (hours[1] - hours[0]))
            options = OPENING_YUAN if r.notice == "opened" else TOP_UP_YUAN
            base = options[min(int(u[i, 1] * len(options)), len(options) - 1)] * 100
            step = TOP_UP_STEP_YUAN * 100
            amount = -(-(max(-int(r.balance_minor), 0) + base) // step) * step
            channel = int(np.searchsorted(np.cumsum(TOP_UP_CHANNEL_SHARES), u[i, 2], "right"))
            name = TOP_UP_CHANNELS[min(channel, len(TOP_UP_CHANNELS) - 1)]
            prefix = _CHANNEL_PREFIX[CHANNELS.index(name)]
            self._pending[str(r.account_no)] = (amount, r.at + wait, name, prefix + ids[i])

    def next_at(self) -> datetime | None:
        """When the next top-up on the way is made (None: none is)."""
        return min((p[1] for p in self._pending.values()), default=None)

    def made_by(self, until: datetime) -> pd.DataFrame:
        """The top-ups made by ``until`` and not handed over yet (:data:`TOP_UP_COLUMNS`,
        amount_minor [fen]), oldest first."""
        due = sorted((p[1], a) for a, p in self._pending.items() if p[1] <= until)
        rows = []
        for _, account in due:
            amount, at, channel, transaction = self._pending.pop(account)
            rows.append((account, amount, at, channel, transaction))
        return pd.DataFrame(rows, columns=list(TOP_UP_COLUMNS))
