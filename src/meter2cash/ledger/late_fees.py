"""Late fees (电费违约金) under the national supply rules (供电营业规则). Pure, vectorised.

A fee runs on an overdue amount from the day after its due date (plus any grace days) to the
day it is paid, both ends included, at a rate per day: residential customers 0.1 %; others
0.2 % on the current year's arrears and 0.3 % once the arrears cross into a later year. An
amount's year is the year of its due date, so a bill due on 20 December costs 0.2 % a day to
31 December and 0.3 % a day from 1 January. Fees accrue day by day on the amount open that day
and are rounded once, half-up to the fen, per bill; a jurisdiction may set a minimum (the 1996
rules charged at least 1 yuan).

Rates are integers of parts per million per day, amounts integers of fen, so the arithmetic
is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from meter2cash.core.errors import InputError

IntArray = npt.NDArray[np.int64]
DateArray = npt.NDArray[np.datetime64]

PPM: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class LateFeeRules:
    """One jurisdiction's 违约金 rules: daily rates [ppm of the overdue amount], grace [days]
    added to the due date, and a minimum fee [fen] for a bill that is charged one at all."""

    residential_ppm: int = 1000
    current_year_ppm: int = 2000
    prior_year_ppm: int = 3000
    grace_days: int = 0
    minimum_minor: int = 0

    def __post_init__(self) -> None:
        rates = (self.residential_ppm, self.current_year_ppm, self.prior_year_ppm)
        if min(rates) < 0 or self.grace_days < 0 or self.minimum_minor < 0:
            raise InputError(
                f"late-fee rules {self} have a negative rate, grace or minimum",
                "rates are parts per million per day, grace whole days, the minimum fen",
            )


RULES_2024: Final = LateFeeRules()
"""供电营业规则 (2024): 0.1 % / 0.2 % / 0.3 % a day, no minimum."""
RULES_1996: Final = LateFeeRules(minimum_minor=100)
"""供电营业规则 (1996): the same rates, at least 1 yuan."""


def _days(values: DateArray) -> IntArray:
    return values.astype("datetime64[D]").astype(np.int64)


def accrued_ppm_fen(
    open_minor: IntArray,
    first_day: DateArray,
    last_day: DateArray,
    due_date: DateArray,
    residential: npt.NDArray[np.bool_],
    rules: LateFeeRules,
) -> IntArray:
    """Unrounded fee [fen × 10⁻⁶] of each span: ``open_minor`` [fen] overdue on every day
    ``first_day`` … ``last_day`` (inclusive) of a bill due on ``due_date``.

    Days up to the end of the grace period accrue nothing; a span may be empty.
    """
    start = np.maximum(_days(first_day), _days(due_date) + rules.grace_days + 1)
    stop = _days(last_day)
    due_year = due_date.astype("datetime64[D]").astype("datetime64[Y]")
    year_end = _days((due_year + 1).astype("datetime64[D]")) - 1
    current = np.clip(np.minimum(stop, year_end) - start + 1, 0, None)
    later = np.clip(stop - np.maximum(start, year_end + 1) + 1, 0, None)
    rate_days = np.where(
        residential,
        (current + later) * rules.residential_ppm,
        current * rules.current_year_ppm + later * rules.prior_year_ppm,
    )
    accrued: IntArray = np.asarray(open_minor, np.int64) * rate_days
    return accrued


def bill_fees(accrued: IntArray, bill: IntArray, bills: int, rules: LateFeeRules) -> IntArray:
    """Fee [fen] per bill ``0 … bills−1``: its spans' ``accrued`` (:func:`accrued_ppm_fen`)
    summed, rounded half-up to the fen, raised to the minimum where any fee is due."""
    total = np.zeros(bills, np.int64)
    np.add.at(total, bill, accrued)
    fee = (total + PPM // 2) // PPM
    return np.where(total > 0, np.maximum(fee, rules.minimum_minor), 0)
