"""Reading a meter's 96-point curve of one day from its load profile over DL/T 645.

The meter stores cumulative registers every 15 minutes; the day's curve is the 97 records
from local midnight to the next, read with one given-time request and its follow-ups
(:mod:`~meter2cash.headend.protocols.dlt645.profile`). Interval energy is the difference of
consecutive records — forward active → channel ``kWh``, combined reactive 1 → ``kvarh``
[meter side], stamped with the interval's start. A record the meter marks not available
leaves the two intervals around it missing (VEE estimates them), never zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from meter2cash.core.timezones import local_midnight
from meter2cash.headend.link import ConcentratorLink, RetryPolicy, ask
from meter2cash.headend.protocols.dlt645.profile import (
    PROFILE_DI,
    ProfileRecord,
    profile_follow_up,
    profile_request,
)

SLOTS: Final = 96
SLOT: Final = timedelta(minutes=15)
FOLLOW_UP_BIT: Final = 0x20
"""Set in a reply's control code when more frames follow."""
MAX_FRAMES: Final = 32
"""Follow-ups after which a reply that still claims more is cut off [frames]."""

IntervalRow = tuple[str, str, datetime, float]
"""(meter_no, channel, interval start (aware), energy [kWh or kvarh, meter side])."""


@dataclass(frozen=True, slots=True)
class CurveRead:
    """One meter's curve of one day: interval rows, requests sent and the failure if any."""

    rows: tuple[IntervalRow, ...]
    attempts: int
    detail: str = ""

    @property
    def complete(self) -> bool:
        return len(self.rows) == 2 * SLOTS


async def read_curve(
    link: ConcentratorLink,
    policy: RetryPolicy,
    meter_no: str,
    address: str,
    day: date,
    tz: ZoneInfo,
) -> CurveRead:
    """The 96 intervals of local ``day`` from the meter's load profile (fewer on failure)."""
    start = local_midnight(day, tz)
    request = profile_request(address, start, SLOTS + 1, tz)
    answer = await ask(link, policy, address, request, PROFILE_DI)
    attempts = answer.attempts
    records: list[ProfileRecord] = []
    seq = 0
    while answer.ok and answer.reading is not None:
        records.extend(answer.reading.records)
        if not answer.reading.control & FOLLOW_UP_BIT or seq >= MAX_FRAMES:
            break
        seq += 1
        answer = await ask(link, policy, address, profile_follow_up(address, seq), None)
        attempts += answer.attempts
    detail = "" if answer.ok else answer.detail or "no reply"
    return CurveRead(_intervals(meter_no, records, start), attempts, detail)


def _intervals(
    meter_no: str, records: list[ProfileRecord], start: datetime
) -> tuple[IntervalRow, ...]:
    """Differences of consecutive records on the 15-minute grid from ``start``."""
    points = {r.at: (r.forward_kwh, r.reactive1_kvarh) for r in records}
    rows: list[IntervalRow] = []
    for k in range(SLOTS):
        begin = start + k * SLOT
        before, after = points.get(begin), points.get(begin + SLOT)
        if before is None or after is None:
            continue
        for channel, a, b in (("kWh", before[0], after[0]), ("kvarh", before[1], after[1])):
            if a is not None and b is not None and b >= a:
                rows.append((meter_no, channel, begin, float(b - a)))
    return tuple(rows)
