"""Payment allocation: pure rules that split payments over customers' open bills, oldest
first, column-wise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Allocations:
    """Where a batch of payments went: ``payment`` (row of the batch), ``item`` (row of the
    open items, ``-1`` = the account's credit) and ``amount_minor`` [fen], one row per
    (payment, item) pair with money in it, ordered by payment then item."""

    payment: IntArray
    item: IntArray
    amount_minor: IntArray


def allocate_batch(
    payment_account: IntArray,
    payment_minor: IntArray,
    item_account: IntArray,
    item_open_minor: IntArray,
) -> Allocations:
    """Allocate many payments over many accounts' open items at once, each account's payments
    in the order given to its items in the order given (oldest first); what exceeds an
    account's open items is its credit.

    The same as paying one payment at a time, each taking the oldest items still open.
    Payments are rows grouped by account with their order inside each account kept;
    so are items. Payment amounts must be positive; items not positive are skipped.

    On a line of money per account, payment ``p`` covers [its predecessors' sum, + its
    amount) and item ``i`` likewise; each stretch between consecutive ends of either belongs
    to exactly one payment and at most one item.
    """
    payment_account = np.asarray(payment_account, np.int64)
    payment_minor = np.asarray(payment_minor, np.int64)
    if (payment_minor <= 0).any():
        bad = int(np.flatnonzero(payment_minor <= 0)[0])
        raise ValueError(f"payment row {bad} is not positive: {payment_minor[bad]} fen")
    order_p = np.argsort(payment_account, kind="stable")
    accounts, paid = _sums_by_account(payment_account[order_p], payment_minor[order_p])
    base = np.cumsum(paid) - paid
    pay_end = np.cumsum(payment_minor[order_p])
    live = np.flatnonzero(np.asarray(item_open_minor) > 0)
    order_i = live[np.argsort(np.asarray(item_account)[live], kind="stable")]
    item_acc = np.asarray(item_account, np.int64)[order_i]
    slot = np.searchsorted(accounts, item_acc)
    known = slot < len(accounts)
    known[known] = accounts[slot[known]] == item_acc[known]
    order_i, slot = order_i[known], slot[known]
    item_minor = np.asarray(item_open_minor, np.int64)[order_i]
    item_start = base[slot] + _cumsum_within(slot, item_minor) - item_minor
    item_end = np.minimum(item_start + item_minor, base[slot] + paid[slot])
    ends = np.unique(np.r_[pay_end, item_end[item_end > item_start]])
    starts = np.r_[0, ends][:-1]
    p = np.searchsorted(pay_end, starts, side="right")
    i = np.minimum(np.searchsorted(item_end, starts, side="right"), len(item_end) - 1)
    item = np.full(len(starts), -1, np.int64)
    if len(item_end):
        covered = (item_start[i] <= starts) & (item_end[i] > starts)
        item[covered] = order_i[i[covered]]
    amount = ends - starts
    keep = amount > 0
    return _merged(order_p[p[keep]], item[keep], amount[keep])


def _sums_by_account(account: IntArray, minor: IntArray) -> tuple[IntArray, IntArray]:
    """Distinct accounts of the sorted ``account`` and the sum of ``minor`` of each."""
    accounts, first = np.unique(account, return_index=True)
    return accounts, np.add.reduceat(minor, first) if len(minor) else minor


def _cumsum_within(group: npt.NDArray[np.intp], values: IntArray) -> IntArray:
    """Running sum of ``values`` restarting at each new value of the sorted ``group``."""
    total = np.cumsum(values)
    if not len(values):
        return total
    first = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    offset = np.repeat(total[first] - values[first], np.diff(np.r_[first, len(values)]))
    within: IntArray = total - offset
    return within


def _merged(payment: IntArray, item: IntArray, amount: IntArray) -> Allocations:
    """Adjacent stretches of the same (payment, item) — credit split by item ends — as one."""
    if not len(amount):
        return Allocations(payment, item, amount)
    new = np.r_[True, (np.diff(payment) != 0) | (np.diff(item) != 0)]
    first = np.flatnonzero(new)
    return Allocations(payment[first], item[first], np.add.reduceat(amount, first))


def allocate_by_day(payments: pd.DataFrame, items: pd.DataFrame) -> Allocations:
    """:func:`allocate_batch` of ``payments`` (account_id, amount_minor, received_on) over
    ``items`` (account_id, bill_date, open_minor; oldest first within each account), a
    payment reaching only the bills dated by the day it was received.

    Days are taken in order, each day's payments in their order in ``payments``; what a day
    allocated is no longer open to the days after it.
    """
    open_minor = items["open_minor"].to_numpy(np.int64).copy()
    item_account = items["account_id"].to_numpy(np.int64)
    bill_date = items["bill_date"].to_numpy()
    received = payments["received_on"].to_numpy()
    parts: list[Allocations] = []
    for day in np.unique(received):
        rows = np.flatnonzero(received == day)
        dated = np.where(bill_date <= day, open_minor, 0)
        got = allocate_batch(
            payments["account_id"].to_numpy(np.int64)[rows],
            payments["amount_minor"].to_numpy(np.int64)[rows],
            item_account,
            dated,
        )
        paid = got.item >= 0
        np.subtract.at(open_minor, got.item[paid], got.amount_minor[paid])
        parts.append(Allocations(rows[got.payment], got.item, got.amount_minor))
    if not parts:
        empty = np.zeros(0, np.int64)
        return Allocations(empty, empty, empty)
    return Allocations(
        np.concatenate([p.payment for p in parts]),
        np.concatenate([p.item for p in parts]),
        np.concatenate([p.amount_minor for p in parts]),
    )
