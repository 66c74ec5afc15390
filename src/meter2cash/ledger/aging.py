"""Aging (账龄): open receivables by days since the bill date. Pure, vectorised.

Buckets are inclusive day ranges since the bill date: 0–30, 31–60, 61–90, 91–180, >180.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

BUCKETS: Final = ("0-30", "31-60", "61-90", "91-180", ">180")
UPPER_DAYS: Final = np.array([30, 60, 90, 180])
"""The oldest age [days] of each bucket but the last."""


def bucket_index(age_days: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """Index into :data:`BUCKETS` per age [days]; negative ages (future bills) count as 0–30."""
    return np.searchsorted(UPPER_DAYS, np.maximum(age_days, 0), side="left")


def bucket_totals(
    age_days: npt.NDArray[np.int64], open_minor: npt.NDArray[np.int64]
) -> dict[str, int]:
    """Sum of open amounts [fen] per bucket, every bucket present."""
    sums = np.zeros(len(BUCKETS), dtype=np.int64)
    np.add.at(sums, bucket_index(age_days), open_minor)
    return {name: int(value) for name, value in zip(BUCKETS, sums, strict=True)}
