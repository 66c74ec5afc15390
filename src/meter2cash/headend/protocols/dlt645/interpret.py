"""From a decoded :class:`Frame` to named values (DL/T 645-2007 clauses 7.1–7.3, appendix A)."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from meter2cash.headend.protocols.dlt645 import bcd
from meter2cash.headend.protocols.dlt645.errors import FrameError
from meter2cash.headend.protocols.dlt645.frame import Frame
from meter2cash.headend.protocols.dlt645.profile import PROFILE_DI, ProfileBlock, decode_block
from meter2cash.headend.protocols.dlt645.registry import SHANGHAI, Value, decode_values, lookup

READ = 0x11
READ_FOLLOW_UP = 0x12
READ_ADDRESS = 0x13
WRITE = 0x14
PROFILE_CLASS = 0x06
"""DI3 of the load profile, whose replies are records, not registry items."""

# ERR byte of an abnormal reply (clause 7.1, table "异常应答"): bit → reason.
ERROR_BITS: tuple[str, ...] = (
    "other error",
    "no such data (unknown data identifier)",
    "password wrong or unauthorised",
    "baud rate cannot be changed",
    "too many year time zones",
    "too many daily time periods",
    "too many tariffs",
)


@dataclass(frozen=True, slots=True)
class Reading:
    """What a frame says: the addressed meter, the DI and item, values, or the error reply.

    ``di`` is 8 hex digits DI3 first; ``error`` is ``(ERR byte, reason)`` for abnormal replies.
    """

    address: str
    control: int
    direction: str
    di: str | None
    item: str | None
    values: tuple[Value, ...]
    error: tuple[int, str] | None
    profile: ProfileBlock | None = None
    """Load-profile records of a ``06`` reply (its ``values`` are then empty)."""
    seq: int | None = None
    """The frame number of a follow-up reply (its last data byte)."""


def error_reason(code: int) -> str:
    """The reasons set in ERR byte ``code`` joined by ``; `` (bit 7 is reserved)."""
    reasons = [reason for bit, reason in enumerate(ERROR_BITS) if code & (1 << bit)]
    if code & 0x80:
        reasons.append("reserved bit 7")
    return "; ".join(reasons) or "no reason given (ERR = 00)"


def interpret(frame: Frame, tz: ZoneInfo | None = None) -> Reading:
    """Decode ``frame``'s payload by the registry; dates are made aware in ``tz``.

    Read replies (``91``/``B1``, follow-up ``92``/``B2`` whose last byte is the frame SEQ) are
    decoded by their DI; read/write requests name their DI with no values; read-address
    replies carry the address; error replies (``C | 0xC0``) carry ``error``. Any other frame
    yields no values. Unknown DIs, invalid BCD and impossible dates raise :class:`FrameError`.
    """
    data = frame.data
    control = frame.control
    function = control & 0x1F
    reply = bool(control & 0x80)
    direction = "reply" if reply else "request"
    if reply and control & 0x40:
        if len(data) != 1:
            raise FrameError(f"error reply carries {len(data)} data bytes, expected 1 ERR byte")
        code = data[0]
        return Reading(
            frame.address, control, direction, None, None, (), (code, error_reason(code))
        )
    if function in (READ, READ_FOLLOW_UP, WRITE):
        if len(data) < 4:
            raise FrameError(f"{len(data)} data bytes, a data identifier needs 4", offset=0)
        if data[3] == PROFILE_CLASS:
            return _profile_reading(frame, function, reply, tz or SHANGHAI)
        item = lookup(int.from_bytes(data[:4], "little"))
        values: tuple[Value, ...] = ()
        if reply and function != WRITE:
            payload = data[:-1] if function == READ_FOLLOW_UP else data
            values = decode_values(item, payload, 4, tz or SHANGHAI)
        seq = data[-1] if reply and function == READ_FOLLOW_UP else None
        return Reading(frame.address, control, direction, item.di, item.name, values, None, seq=seq)
    if reply and function == READ_ADDRESS:
        if len(data) != 6:
            raise FrameError(f"read-address reply carries {len(data)} bytes, expected 6")
        value = Value("address", bcd.decode_digits(data), "")
        return Reading(
            frame.address, control, direction, None, "communication address", (value,), None
        )
    return Reading(frame.address, control, direction, None, None, (), None)


def _profile_reading(frame: Frame, function: int, reply: bool, tz: ZoneInfo) -> Reading:
    """A load-profile request, or a reply with its records."""
    data = frame.data
    di = f"{int.from_bytes(data[:4], 'little'):08X}"
    if di != PROFILE_DI:
        raise FrameError(f"unknown data identifier {di}", "load profile: only 06000001 is read")
    block, seq = None, None
    if reply and function == READ_FOLLOW_UP:
        seq = data[-1]
    if reply and function in (READ, READ_FOLLOW_UP):
        payload = data[:-1] if function == READ_FOLLOW_UP else data
        block = decode_block(payload, 4, tz)
    direction = "reply" if reply else "request"
    item = "load profile, given-time record block"
    return Reading(frame.address, frame.control, direction, di, item, (), None, block, seq)
