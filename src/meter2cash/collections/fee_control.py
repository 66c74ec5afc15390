"""Remote fee control (费控) for prepay accounts: what each account's balance calls for.
Pure, vectorised.

A prepay account is charged every day from its daily frozen reads; its balance then decides:
below the warning threshold it gets one SMS warning; at zero or below, one notice; once it has
stood at zero or below for the grace period (48 h by default), its relay is tripped. A top-up
that lifts the balance above the reconnection threshold closes a tripped relay and re-arms the
warnings. Each call to :func:`control` is one pass over every prepay account.

The daily charge under a tiered tariff is the month-to-date bill less the month-to-date bill
the day before, so a month's daily charges add up to its bill exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from meter2cash.core.errors import InputError

WARN: Final = "sms_warning"
ZERO_NOTICE: Final = "zero_notice"
TRIP: Final = "relay_trip"
RECONNECT: Final = "relay_close"


@dataclass(frozen=True, slots=True)
class FeeControlRules:
    """Thresholds [fen] and the grace [hours] between the zero notice and the trip."""

    warn_below_minor: int = 2_000
    reconnect_above_minor: int = 0
    grace_hours: int = 48

    def __post_init__(self) -> None:
        if self.grace_hours < 0 or self.warn_below_minor < self.reconnect_above_minor:
            raise InputError(
                f"fee-control rules {self} are inconsistent",
                "the grace is not negative and the warning threshold is at least the "
                "reconnection threshold",
            )


def control(rules: FeeControlRules, accounts: pd.DataFrame, hours_now: float) -> pd.DataFrame:
    """The fee-control step of every prepay account at ``hours_now`` [h since any fixed epoch].

    ``accounts``: account_id, balance_minor [fen] after today's charges and top-ups, warned
    (bool), zero_since_h [h, NaN = not at zero] and tripped (bool).

    Returns the same rows with the new warned, zero_since_h and tripped, and ``action``:
    :data:`RECONNECT`, :data:`WARN`, :data:`ZERO_NOTICE`, :data:`TRIP`, comma-separated in
    that order ("" = none).
    """
    balance = accounts["balance_minor"].to_numpy(np.int64)
    warned = accounts["warned"].to_numpy(bool)
    zero_since = accounts["zero_since_h"].to_numpy(np.float64)
    tripped = accounts["tripped"].to_numpy(bool)

    restored = balance > rules.reconnect_above_minor
    reconnect = tripped & restored
    at_zero = balance <= 0
    notice = at_zero & np.isnan(zero_since)
    zero_since = np.where(at_zero, np.where(notice, hours_now, zero_since), np.nan)
    trip = at_zero & ~tripped & (hours_now - zero_since >= rules.grace_hours)
    low = balance < rules.warn_below_minor
    warn = low & ~warned & ~at_zero
    action = np.full(len(accounts), "", dtype=object)
    for mask, name in ((reconnect, RECONNECT), (warn, WARN), (notice, ZERO_NOTICE), (trip, TRIP)):
        action = np.where(mask, np.where(action == "", name, action + "," + name), action)
    return accounts.assign(
        warned=(warned | warn | at_zero) & low,
        zero_since_h=zero_since,
        tripped=(tripped | trip) & ~reconnect,
        action=action,
    )
