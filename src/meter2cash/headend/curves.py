"""Reading a meter's 96-point curve of one day from its load profile over DL/T 645.

The meter stores cumulative registers every 15 minutes; the day's curve is the 97 records
from local midnight to the next, read with one given-time request and its follow-ups
(:mod:`~meter2cash.headend.protocols.dlt645.profile`). Interval energy is the difference of
consecutive records — forward active → channel ``kWh``, combined reactive 1 → ``kvarh``
[meter side], stamped with the interval's start. A record missing or marked not available
leaves the intervals around it missing (VEE estimates them), never zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from meter2cash.core.timezones import local_midnight
from meter2cash.headend.link import ConcentratorLink, RetryPolicy, ask
from meter2cash.headend.protocols.dlt645.profile import (
    PROFILE_DI,
    ProfileBlock,
    profile_follow_up,
    profile_request,
)

SLOTS: Final = 96
SLOT: Final = timedelta(minutes=15)
FOLLOW_UP_BIT: Final = 0x20
"""Set in a reply's control code when more frames follow."""
MAX_FRAMES: Final = 32
"""Follow-ups after which a reply that still claims more is cut off [frames]."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CurveRead:
    """One meter's curve of one day: ``kwh`` and ``kvarh`` per quarter-hour [meter side], NaN
    where missing; the requests sent and the failure if any."""

    kwh: FloatArray
    kvarh: FloatArray
    attempts: int
    detail: str = ""

    @property
    def intervals(self) -> int:
        """Intervals read (kWh and kvarh counted apart)."""
        return int(np.isfinite(self.kwh).sum() + np.isfinite(self.kvarh).sum())

    @property
    def complete(self) -> bool:
        return self.intervals == 2 * SLOTS


async def read_curve(
    link: ConcentratorLink,
    policy: RetryPolicy,
    address: str,
    day: date,
    tz: ZoneInfo,
) -> CurveRead:
    """The 96 intervals of local ``day`` from the meter's load profile."""
    start = local_midnight(day, tz)
    request = profile_request(address, start, SLOTS + 1, tz)
    answer = await ask(link, policy, address, request, PROFILE_DI)
    attempts = answer.attempts
    blocks: list[ProfileBlock] = []
    seq = 0
    while answer.ok and answer.reading is not None:
        if answer.reading.profile is not None:
            blocks.append(answer.reading.profile)
        if not answer.reading.control & FOLLOW_UP_BIT or seq >= MAX_FRAMES:
            break
        seq += 1
        answer = await ask(link, policy, address, profile_follow_up(address, seq), PROFILE_DI, seq)
        attempts += answer.attempts
    detail = "" if answer.ok else answer.detail or "no reply"
    kwh, kvarh = _intervals(blocks, day, tz)
    return CurveRead(kwh, kvarh, attempts, detail)


def _intervals(blocks: list[ProfileBlock], day: date, tz: ZoneInfo) -> tuple[FloatArray, ...]:
    """Differences of consecutive records on the day's 15-minute grid [kWh, kvarh]."""
    points = np.full((2, SLOTS + 1), np.nan)
    if blocks:
        stamps = np.concatenate([b.stamps for b in blocks])
        hundredths = np.concatenate([b.hundredths for b in blocks])[:, [0, 2]].T
        grid = _grid(day, tz)
        k = np.clip(np.searchsorted(grid, stamps), 0, SLOTS)
        on_grid = grid[k] == stamps
        points[:, k[on_grid]] = np.where(hundredths[:, on_grid] < 0, np.nan, hundredths[:, on_grid])
    steps = np.diff(points, axis=1) / 100
    steps[steps < 0] = np.nan  # a register does not run backwards: leave it to VEE
    return steps[0], steps[1]


@lru_cache(maxsize=8)
def _grid(day: date, tz: ZoneInfo) -> npt.NDArray[np.int64]:
    """The 97 record times of ``day`` as the meter writes them (``YYMMDDhhmm``)."""
    start = local_midnight(day, tz)
    stamps = [int((start + k * SLOT).astimezone(tz).strftime("%y%m%d%H%M")) for k in range(97)]
    return np.array(stamps, dtype=np.int64)
