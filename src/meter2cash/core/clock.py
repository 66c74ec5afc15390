"""The injected clock: all code asks a ``Clock`` for the time, so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from meter2cash.core.timezones import require_aware


class Clock(Protocol):
    """Source of the current instant (timezone-aware UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved; for tests and simulations."""

    def __init__(self, at: datetime) -> None:
        self._at = require_aware(at, "FixedClock start").astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = require_aware(at, "FixedClock.set").astimezone(UTC)

    def advance(self, by: timedelta) -> None:
        self._at += by
