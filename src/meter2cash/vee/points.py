"""The point a person acts on — one (meter, channel, instant) — and its nearest real reads.

>>> from datetime import UTC, datetime
>>> Point("M1", "A+", datetime(2026, 7, 2, 16, tzinfo=UTC)).key
'M1/A+/2026-07-02T16:00Z'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

import pandas as pd

from meter2cash.measurements.schema import REGISTER_CHANNELS, Kind
from meter2cash.measurements.store import MeasurementStore

INTERVAL_CHANNELS: Final = ("kWh", "kvarh")
"""15-minute interval channels [kWh, kvarh per interval]."""

NEIGHBOUR_SPANS: Final = (timedelta(days=35), timedelta(days=400))
"""How far a search for the nearest real read looks: a billing month first, then a year."""


@dataclass(frozen=True, slots=True)
class Point:
    """One measurement key — (meter, channel, instant) — that a finding, an edit or an
    approval is about. ``ts`` is UTC: a register read's instant, or an interval's start."""

    meter_no: str
    channel: str
    ts: datetime

    @property
    def is_register(self) -> bool:
        return self.channel in REGISTER_CHANNELS

    @property
    def kind(self) -> Kind:
        return "register_reads" if self.is_register else "intervals"

    @property
    def key(self) -> str:
        """Short text key for the audit log: ``M/A+/2026-07-02T16:00Z``."""
        return f"{self.meter_no}/{self.channel}/{self.ts.astimezone(UTC):%Y-%m-%dT%H:%MZ}"

    def describe(self, tz: ZoneInfo) -> str:
        """``M/A+ at 2026-07-03T00:00+08:00`` (local time, for people)."""
        return f"{self.meter_no}/{self.channel} at {local_text(self.ts, tz)}"

    def as_json(self) -> dict[str, str]:
        return {"meter_no": self.meter_no, "channel": self.channel, "ts": self.ts.isoformat()}


def local_text(instant: datetime, tz: ZoneInfo) -> str:
    """An instant as local ISO 8601 to the minute, with its offset."""
    return instant.astimezone(tz).isoformat(timespec="minutes")


@dataclass(frozen=True, slots=True)
class Neighbour:
    """The nearest real (not estimated) register read on one side of a point."""

    ts: datetime
    value: Decimal
    quality: str


def neighbours(
    store: MeasurementStore, point: Point, *, daily_only: bool = False
) -> tuple[Neighbour | None, Neighbour | None]:
    """The nearest real reads of ``point``'s register channel before and after it.

    Estimates are skipped: they are derived from real reads and redone when those change.
    Looks :data:`NEIGHBOUR_SPANS` away at most, a month first and only then a year.
    """
    found: dict[str, Neighbour | None] = {"before": None, "after": None}
    near, far = NEIGHBOUR_SPANS
    windows = {
        "before": [(point.ts - near, point.ts), (point.ts - far, point.ts - near)],
        "after": [
            (point.ts + timedelta(microseconds=1), point.ts + near),
            (point.ts + near, point.ts + far),
        ],
    }
    for side, spans in windows.items():
        for start, end in spans:
            reads = _real_reads(store, point, start, end, daily_only=daily_only)
            if len(reads):
                row = reads.iloc[-1] if side == "before" else reads.iloc[0]
                found[side] = Neighbour(
                    row["ts"].to_pydatetime(), Decimal(row["value"]), str(row["quality"])
                )
                break
    return found["before"], found["after"]


def _real_reads(
    store: MeasurementStore,
    point: Point,
    start: datetime,
    end: datetime,
    *,
    daily_only: bool,
) -> pd.DataFrame:
    reads = store.scan("register_reads", start=start, end=end, meters=[point.meter_no]).to_pandas()
    keep = (reads["channel"] == point.channel) & (reads["quality"] != "estimated")
    if daily_only:
        keep &= reads["read_type"] == "daily_frozen"
    return reads[keep].sort_values("ts")
