"""Packed BCD values of DL/T 645-2007 (clause 5, appendix A data formats).

Every multi-byte value travels **low byte first**. A field made of ``FF`` bytes only is filler
("not available") and decodes to ``None``; any other nibble A–F is invalid BCD and an error.
For signed items the top bit of the most significant byte is the sign, so their top digit is
0–7. Dates are meter-local wall-clock time, years 2000–2099.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from meter2cash.headend.protocols.dlt645.errors import FrameError

_UNSIGN = {"8": "0", "9": "1", "a": "2", "b": "3", "c": "4", "d": "5", "e": "6", "f": "7"}


def _digits(chunk: bytes, offset: int) -> str:
    """The decimal digits of ``chunk`` (most significant first); invalid BCD raises."""
    digits = chunk[::-1].hex()
    if not digits.isdigit():
        raise FrameError(
            f"invalid BCD {digits.upper()} at data byte {offset}", offset=offset, raw=chunk
        )
    return digits


def decode_number(chunk: bytes, decimals: int, signed: bool, offset: int = 0) -> Decimal | None:
    """``chunk`` as a decimal with ``decimals`` fraction digits; all-``FF`` → ``None``."""
    digits = chunk[::-1].hex()
    negative = False
    if signed and digits[0] in _UNSIGN:
        if chunk.count(0xFF) == len(chunk):
            return None
        negative = True
        digits = _UNSIGN[digits[0]] + digits[1:]
    if not digits.isdigit():
        if chunk.count(0xFF) == len(chunk):
            return None
        raise FrameError(
            f"invalid BCD {chunk[::-1].hex().upper()} at data byte {offset}",
            offset=offset,
            raw=chunk,
        )
    text = digits[:-decimals] + "." + digits[-decimals:] if decimals else digits
    if negative and digits.strip("0"):
        text = "-" + text
    return Decimal(text)


def encode_number(value: Decimal, size: int, decimals: int, signed: bool) -> bytes:
    """``value`` in ``size`` bytes with ``decimals`` fraction digits, low byte first."""
    try:
        scaled = Decimal(value).scaleb(decimals)
        integral = int(scaled)
    except (InvalidOperation, TypeError, ValueError, OverflowError) as exc:
        raise FrameError(f"{value!r} is not a finite decimal") from exc
    if scaled != integral:
        raise FrameError(f"{value} has more than {decimals} decimal places")
    if integral < 0 and not signed:
        raise FrameError(f"{value} is negative but the item is unsigned")
    limit = (8 if signed else 10) * 10 ** (2 * size - 1)
    if abs(integral) >= limit:
        raise FrameError(f"{value} does not fit in {size} BCD bytes with {decimals} decimals")
    wire = bytearray(bytes.fromhex(f"{abs(integral):0{2 * size}d}")[::-1])
    if integral < 0:
        wire[-1] |= 0x80
    return bytes(wire)


def decode_digits(chunk: bytes, offset: int = 0) -> str | None:
    """A BCD digit string such as an address or meter number (most significant first)."""
    if chunk.count(0xFF) == len(chunk):
        return None
    return _digits(chunk, offset)


def encode_digits(value: str, size: int) -> bytes:
    """``value`` (exactly ``2 × size`` decimal digits) low byte first."""
    if len(value) != 2 * size or not value.isdigit():
        raise FrameError(f"{value!r} is not {2 * size} decimal digits")
    return bytes.fromhex(value)[::-1]


def _unavailable(chunk: bytes) -> bool:
    """All-``FF`` filler, or all zero: meters report an event or demand time never set as zeros."""
    return chunk.count(0xFF) == len(chunk) or not any(chunk)


def decode_datetime(chunk: bytes, tz: ZoneInfo, offset: int = 0) -> datetime | None:
    """``YYMMDDhhmm`` (5 bytes) or ``YYMMDDhhmmss`` (6 bytes) as an aware datetime in ``tz``."""
    if _unavailable(chunk):
        return None
    d = _digits(chunk, offset)
    try:
        return datetime(
            2000 + int(d[0:2]),
            int(d[2:4]),
            int(d[4:6]),
            int(d[6:8]),
            int(d[8:10]),
            int(d[10:12]) if len(d) == 12 else 0,
            tzinfo=tz,
        )
    except ValueError as exc:
        raise FrameError(
            f"impossible date/time {d} at data byte {offset}: {exc}", offset=offset, raw=chunk
        ) from exc


def encode_datetime(value: datetime, size: int, tz: ZoneInfo) -> bytes:
    """``value`` as ``YYMMDDhhmm`` (5) or ``YYMMDDhhmmss`` (6); aware values converted to ``tz``."""
    if not isinstance(value, datetime):
        raise FrameError(f"{value!r} is not a datetime")
    local = value.astimezone(tz) if value.tzinfo is not None else value
    if not 2000 <= local.year <= 2099:
        raise FrameError(f"{value} is outside 2000–2099, which DL/T 645 cannot carry")
    if size == 5 and local.second:
        raise FrameError(f"{value} has seconds; the field carries minutes only")
    text = local.strftime("%y%m%d%H%M%S")[: 2 * size]
    return bytes.fromhex(text)[::-1]


def decode_date_weekday(chunk: bytes, offset: int = 0) -> date | None:
    """``YYMMDDWW`` (WW 0 = Sunday … 6) as a date; the weekday byte is range-checked only."""
    if _unavailable(chunk):
        return None
    d = _digits(chunk, offset)
    if int(d[6:8]) > 6:
        raise FrameError(f"weekday {d[6:8]} at data byte {offset} is not 00..06", offset=offset)
    try:
        return date(2000 + int(d[0:2]), int(d[2:4]), int(d[4:6]))
    except ValueError as exc:
        raise FrameError(
            f"impossible date {d[:6]} at data byte {offset}: {exc}", offset=offset, raw=chunk
        ) from exc


def encode_date_weekday(value: date) -> bytes:
    """``value`` as ``YYMMDDWW`` with WW 0 = Sunday."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise FrameError(f"{value!r} is not a date")
    if not 2000 <= value.year <= 2099:
        raise FrameError(f"{value} is outside 2000–2099, which DL/T 645 cannot carry")
    weekday = value.isoweekday() % 7
    return bytes.fromhex(f"{value:%y%m%d}{weekday:02d}")[::-1]


def decode_time(chunk: bytes, offset: int = 0) -> time | None:
    """``hhmmss`` as a time of day (meter-local)."""
    if chunk.count(0xFF) == len(chunk):
        return None
    d = _digits(chunk, offset)
    try:
        return time(int(d[0:2]), int(d[2:4]), int(d[4:6]))
    except ValueError as exc:
        raise FrameError(
            f"impossible time {d} at data byte {offset}: {exc}", offset=offset, raw=chunk
        ) from exc


def encode_time(value: time) -> bytes:
    """``value`` as ``hhmmss`` (microseconds must be zero)."""
    if not isinstance(value, time) or value.microsecond:
        raise FrameError(f"{value!r} is not a whole-second time of day")
    return bytes.fromhex(f"{value:%H%M%S}")[::-1]
