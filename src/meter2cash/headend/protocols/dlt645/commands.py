"""Request builders (master) and reply builders (simulated meters), DL/T 645-2007 clause 7.

Payload conventions: a DI travels DI0 first; a password is written ``PA P2 P1 P0`` (level
then password, e.g. ``02000000``) and travels ``PA P0 P1 P2``; an operator code is written
``C3 C2 C1 C0`` and travels ``C0 C1 C2 C3``. All builders return complete frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from meter2cash.headend.protocols.dlt645 import bcd
from meter2cash.headend.protocols.dlt645.errors import FrameError
from meter2cash.headend.protocols.dlt645.frame import encode_frame
from meter2cash.headend.protocols.dlt645.registry import SHANGHAI, ValueType, encode_values, lookup

BROADCAST = "999999999999"
WILDCARD = "AAAAAAAAAAAA"

# Relay control command byte N1 (clause 7.9 as amended: 1A trip, 1B close allowed, 1C direct close).
RELAY_TRIP = 0x1A
RELAY_CLOSE = 0x1C


def di_to_wire(di: str) -> bytes:
    """The 4 wire bytes of ``di`` (8 hex digits DI3 first): DI0 first."""
    return bytes.fromhex(lookup(di).di)[::-1]


def _password(password: str) -> bytes:
    if len(password) != 8 or not password.isdigit():
        raise FrameError(f"password {password!r} is not 8 digits (level PA then P2 P1 P0)")
    raw = bytes.fromhex(password)
    return raw[:1] + raw[:0:-1]


def _operator(operator: str) -> bytes:
    if len(operator) != 8 or not operator.isdigit():
        raise FrameError(f"operator code {operator!r} is not 8 digits")
    return bytes.fromhex(operator)[::-1]


def _clock(at: datetime, tz: ZoneInfo) -> bytes:
    """``ss mm hh DD MM YY`` (seconds first on the wire), meter-local."""
    return bcd.encode_datetime(at, 6, tz)


def read_request(address: str, di: str, *, wakeup: int = 4) -> bytes:
    """Read data (C = 11): ``DI``. Preceded by ``wakeup`` ``FE`` bytes."""
    return encode_frame(address, 0x11, di_to_wire(di), wakeup=wakeup)


def read_follow_up(address: str, di: str, seq: int) -> bytes:
    """Read follow-up data (C = 12): ``DI SEQ``, SEQ the follow-up frame number 0…255."""
    if not 0 <= seq <= 0xFF:
        raise FrameError(f"follow-up sequence {seq} out of range 0..255")
    return encode_frame(address, 0x12, di_to_wire(di) + bytes((seq,)))


def read_address_request() -> bytes:
    """Read communication address (C = 13) from the only meter on a point-to-point bus."""
    return encode_frame(WILDCARD, 0x13, b"")


def write_request(
    address: str,
    di: str,
    data: bytes,
    *,
    password: str = "02000000",
    operator: str = "00000000",
) -> bytes:
    """Write data (C = 14): ``DI PA P0 P1 P2 C0 C1 C2 C3 data`` (``data`` plain, ≤ 50 B total)."""
    payload = di_to_wire(di) + _password(password) + _operator(operator) + data
    if len(payload) > 50:
        raise FrameError(f"write payload of {len(payload)} bytes exceeds 50")
    return encode_frame(address, 0x14, payload)


def time_sync_broadcast(at: datetime, *, tz: ZoneInfo = SHANGHAI) -> bytes:
    """Broadcast time sync (C = 08) to ``999999999999``: ``ss mm hh DD MM YY``.

    A naive ``at`` is meter-local wall-clock time; an aware one is converted to ``tz``.
    """
    return encode_frame(BROADCAST, 0x08, _clock(at, tz))


def freeze_request(
    address: str, *, minute: int | None, hour: int | None, day: int | None, month: int | None
) -> bytes:
    """Freeze (C = 16): ``mm hh DD MM``; ``None`` sends ``99``, making the freeze periodic."""
    parts = bytearray()
    for name, value, low, high in (
        ("minute", minute, 0, 59),
        ("hour", hour, 0, 23),
        ("day", day, 1, 31),
        ("month", month, 1, 12),
    ):
        if value is None:
            parts.append(0x99)
        elif low <= value <= high:
            parts += bytes.fromhex(f"{value:02d}")
        else:
            raise FrameError(f"freeze {name} {value} out of range {low}..{high}")
    return encode_frame(address, 0x16, bytes(parts))


def relay_request(
    address: str,
    *,
    close: bool,
    at: datetime,
    valid_until: datetime,
    password: str = "02000000",
    operator: str = "00000000",
    tz: ZoneInfo = SHANGHAI,
) -> bytes:
    """Relay control (C = 1C): ``PA P0 P1 P2 C0 C1 C2 C3 N1 N2 N3…N8``.

    N1 = ``1A`` trip or ``1C`` direct close; N2 reserved (``00``); N3…N8 the command's expiry
    ``valid_until`` as ``ss mm hh DD MM YY``. The standard carries no issue time: ``at`` (the
    head-end's now) is used to refuse a command that would already have expired.
    """
    if valid_until <= at:
        raise FrameError(f"relay command expires at {valid_until}, not after {at}")
    command = RELAY_CLOSE if close else RELAY_TRIP
    payload = _password(password) + _operator(operator) + bytes((command, 0x00))
    return encode_frame(address, 0x1C, payload + _clock(valid_until, tz))


def demand_reset_request(
    address: str, *, password: str = "02000000", operator: str = "00000000"
) -> bytes:
    """Maximum-demand reset (C = 19): ``PA P0 P1 P2 C0 C1 C2 C3``."""
    return encode_frame(address, 0x19, _password(password) + _operator(operator))


def read_reply(
    address: str,
    di: str,
    values: Sequence[ValueType],
    *,
    follow_up: bool = False,
    tz: ZoneInfo = SHANGHAI,
) -> bytes:
    """A meter's normal read reply (C = 91, or B1 when ``follow_up`` frames follow)."""
    payload = di_to_wire(di) + encode_values(di, values, tz)
    return encode_frame(address, 0xB1 if follow_up else 0x91, payload)


def error_reply(address: str, function: int, code: int) -> bytes:
    """A meter's abnormal reply (C = function | C0) carrying the ERR byte ``code``."""
    if not 0 <= function <= 0x1F or not 0 <= code <= 0xFF:
        raise FrameError(f"function {function} or ERR {code} out of range")
    return encode_frame(address, function | 0xC0, bytes((code,)))
