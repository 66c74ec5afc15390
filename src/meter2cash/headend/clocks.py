"""Clock check (对时): read each meter's date and time, and broadcast a time sync behind
every concentrator where a meter drifted past the threshold.

Meters bill TOU energy by their own clock, so a meter running minutes fast moves energy
between periods; the head-end compares each meter with its own time source and corrects
drift with the DL/T 645 broadcast time sync (C = 08), which needs no reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from meter2cash.core.clock import Clock
from meter2cash.headend import commands
from meter2cash.headend.collector import MeterRef
from meter2cash.headend.link import ConcentratorLink, Endpoint, QuarantinedFrame, Unanswered
from meter2cash.headend.protocols.dlt645 import time_sync_broadcast

DATE_DI = "04000101"
TIME_DI = "04000102"
HEADEND = "headend"
"""The actor of commands the head-end raises itself."""
SYNC_TOLERANCE_S = 5.0
"""Drift after a time sync within which it counts as confirmed [s]."""


@dataclass(frozen=True, slots=True)
class ClockReading:
    """One meter's clock against the head-end's: ``drift_s`` [s], positive = meter fast;
    ``None`` when the meter did not answer."""

    meter_no: str
    concentrator: str
    drift_s: float | None


@dataclass(frozen=True)
class ClockReport:
    readings: tuple[ClockReading, ...]
    synced: tuple[str, ...]
    """Concentrators behind which a time sync was broadcast."""
    quarantined: tuple[QuarantinedFrame, ...]
    checked_at: datetime
    """The head-end's time when the check began."""
    after_sync: tuple[ClockReading, ...] = ()
    """The drifted meters behind a synced concentrator, read again after the broadcast."""
    sync_frames: Mapping[str, str] = field(default_factory=dict)
    """Concentrator → the broadcast frame sent (hex)."""

    def drifted(self, threshold_s: float) -> list[ClockReading]:
        return [r for r in self.readings if r.drift_s is not None and abs(r.drift_s) > threshold_s]


async def check_clocks(
    endpoints: Mapping[str, Endpoint],
    meters_by_concentrator: Mapping[str, Sequence[MeterRef]],
    *,
    tz: ZoneInfo,
    now: Callable[[], datetime],
    threshold_s: float = 60.0,
    sync: bool = True,
    timeout_s: float = 0.5,
) -> ClockReport:
    """Read every meter's clock (``04000101`` date, ``04000102`` time) against ``now`` (the
    head-end's time source, aware); where any meter is off by more than ``threshold_s`` [s]
    and ``sync`` is set, broadcast a time sync through that concentrator. Meters that do not
    answer are reported with ``drift_s`` None. The whole-second resolution of the meter's
    clock bounds the precision to about ±1 s."""
    quarantined: list[QuarantinedFrame] = []
    checked_at = now()
    links = {
        code: ConcentratorLink(code, endpoints[code], tz, timeout_s, 8, quarantined)
        for code in meters_by_concentrator
    }

    after: list[ClockReading] = []
    frames: dict[str, str] = {}

    async def one(code: str, meters: Sequence[MeterRef]) -> tuple[list[ClockReading], bool]:
        link = links[code]
        readings = []
        for meter_no, address in meters:
            readings.append(ClockReading(meter_no, code, await _drift(link, address, tz, now)))
        late = [r for r in readings if r.drift_s is not None and abs(r.drift_s) > threshold_s]
        if not (sync and late):
            return readings, False
        frame = time_sync_broadcast(now(), tz=tz)
        try:
            await link.broadcast(frame)
        except Unanswered:
            return readings, False
        frames[code] = frame.hex().upper()
        address_of = dict(meters)
        for reading in late:
            drift = await _drift(link, address_of[reading.meter_no], tz, now)
            after.append(ClockReading(reading.meter_no, code, drift))
        return readings, True

    try:
        results = await asyncio.gather(
            *(one(code, meters) for code, meters in meters_by_concentrator.items())
        )
    finally:
        await asyncio.gather(*(link.close() for link in links.values()))
    readings = tuple(r for rs, _ in results for r in rs)
    synced = tuple(
        code for code, (_, done) in zip(meters_by_concentrator, results, strict=True) if done
    )
    return ClockReport(readings, synced, tuple(quarantined), checked_at, tuple(after), frames)


async def _drift(
    link: ConcentratorLink, address: str, tz: ZoneInfo, now: Callable[[], datetime]
) -> float | None:
    try:
        day = (await link.exchange(address, DATE_DI)).values[0].value
        clock = (await link.exchange(address, TIME_DI)).values[0].value
    except (Unanswered, IndexError):
        return None
    if not isinstance(day, date) or not isinstance(clock, time):
        return None
    meter = datetime.combine(day, clock, tzinfo=tz)
    return (meter - now()).total_seconds()


def record_syncs(
    session: Session,
    clock: Clock,
    report: ClockReport,
    *,
    tz: ZoneInfo,
    threshold_s: float,
    tolerance_s: float = SYNC_TOLERANCE_S,
) -> int:
    """Record each drifted meter's time sync as a remote command — requested and sent by the
    head-end with the broadcast frame, confirmed when the meter read back within
    ``tolerance_s`` [s], failed otherwise — audited like any command; returns the count.
    Recording the same check again adds nothing."""
    after = {r.meter_no: r.drift_s for r in report.after_sync}
    moment = report.checked_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    recorded = 0
    for reading in report.drifted(threshold_s):
        frame = report.sync_frames.get(reading.concentrator)
        if frame is None:
            continue
        command = commands.request(
            session,
            clock,
            meter_no=reading.meter_no,
            kind="time_sync",
            actor=HEADEND,
            reason=f"clock check {moment}: meter {_seconds(reading.drift_s or 0.0)} off",
            request_key=f"clock-check:{moment}:{reading.meter_no}",
        )
        if command.status != "requested":
            continue
        commands.advance(session, clock, command.id, "sent", actor=HEADEND, frame_hex=frame)
        drift = after.get(reading.meter_no)
        if drift is not None and abs(drift) <= tolerance_s:
            outcome, detail = "confirmed", f"read back {_seconds(drift)} off"
        else:
            outcome = "failed"
            detail = (
                "no reply to the read-back" if drift is None else f"still {_seconds(drift)} off"
            )
        commands.advance(session, clock, command.id, outcome, actor=HEADEND, detail=detail)
        recorded += 1
    return recorded


def _seconds(drift_s: float) -> str:
    """A drift for people: ``+152 s``, ``0 s``."""
    whole = round(drift_s)
    return f"{whole:+d} s" if whole else "0 s"
