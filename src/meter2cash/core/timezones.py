"""Instants are timezone-aware UTC; billing days and TOU periods are local to the utility.

Naive datetimes are rejected at every boundary with :func:`require_aware`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from meter2cash.core.errors import InputError, SettingsError

DEFAULT_TIMEZONE = "Asia/Shanghai"


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or a :class:`SettingsError` naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(
            f"unknown time zone {name!r}", "use an IANA name such as Asia/Shanghai"
        ) from exc


def require_aware(value: datetime, where: str) -> datetime:
    """Return ``value`` unchanged if it carries a zone; raise :class:`InputError` if naive."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InputError(f"naive timestamp {value.isoformat()} in {where}", "give a UTC offset")
    return value


def to_utc(value: datetime, where: str) -> datetime:
    """``value`` as UTC; naive input is rejected."""
    return require_aware(value, where).astimezone(UTC)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which local ``day`` begins in ``tz``."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def local_day_bounds(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC half-open range [start of ``first``, start of the day after ``last``)."""
    return local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)


def parse_instant(text: str, where: str) -> datetime:
    """Parse ISO 8601 with an offset to a UTC datetime; naive text is rejected."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"not an ISO 8601 timestamp: {text!r} in {where}") from exc
    return to_utc(value, where)
