"""Load profile (负荷记录, DI3 = 06): the 15-minute curve a meter stores, read by time.

The master asks for the *given-time record block* ``06000001`` with, after the DI, ``NN`` (the
number of records, BCD) then the start time ``mm hh DD MM YY`` (BCD, low byte first as every
DL/T 645 field). The reply carries whole records, as many as fit in one frame's 200 data
bytes; when more remain the control code has the follow-up bit (``B1``) and the master asks for
each next frame with a read follow-up (``12``, ``DI SEQ``), answered ``92``/``B2`` with the
frame's ``SEQ`` as the last data byte.

A record is not a DI/BCD item but a self-delimited block (DL/T 645-2007 appendix, 负荷记录
格式)::

    A0 A0  len  mm hh DD MM YY  [class 1] AA [class 2] AA [class 3] AA [class 4] AA
    [class 5] AA [class 6] AA  CS  E5

``len`` counts the bytes from the time to the last ``AA``; ``CS`` is the byte sum, modulo
256, from the first ``A0`` to the last ``AA``; a class the meter does not record is empty
(just its ``AA``). The time, like every field, travels low byte first. Our
meters record class 4 only — forward and reverse active, combined reactive 1 and 2, each
``XXXXXX.XX`` (4 bytes, kWh / kvarh, low byte first) — which is what billing and VEE need;
classes 1–3, 5 and 6 are decoded when present as the registry formats them, else skipped.
``E0 E0`` instead of ``A0 A0`` marks a record the meter itself flags as bad: it is decoded as
not available.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from meter2cash.headend.protocols.dlt645 import bcd
from meter2cash.headend.protocols.dlt645.errors import FrameError
from meter2cash.headend.protocols.dlt645.frame import encode_frame
from meter2cash.headend.protocols.dlt645.registry import Value

PROFILE_DI: Final = "06000001"
"""Load profile, given-time record block."""
PROFILE_WIRE: Final = bytes.fromhex(PROFILE_DI)[::-1]
"""The DI as sent, DI0 first."""
MAX_RECORDS: Final = 99
"""``NN`` is one BCD byte [records]."""
MAX_DATA: Final = 200
"""Data bytes a read reply may carry (DL/T 645-2007 clause 7.1, L ≤ 200) [B]."""
START: Final = b"\xa0\xa0"
BAD: Final = b"\xe0\xe0"
SEPARATOR: Final = 0xAA
END: Final = 0xE5
CLASS_SIZES: Final = (17, 24, 8, 16, 16, 6)
"""Bytes of classes 1–6 when recorded: V/I/f, powers, power factors, active and combined
reactive energies, quadrant reactive energies, current demand."""
ENERGY_NAMES: Final = (
    ("forward active energy", "kWh"),
    ("reverse active energy", "kWh"),
    ("combined reactive energy 1", "kvarh"),
    ("combined reactive energy 2", "kvarh"),
)
RECORD_SIZE: Final = 2 + 1 + 5 + CLASS_SIZES[3] + 6 + 1 + 1
"""Bytes of one class-4 record [B]."""
RECORDS_PER_FRAME: Final = (MAX_DATA - 4 - 1) // RECORD_SIZE
"""Whole records in one reply, leaving room for the DI and a follow-up SEQ."""


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    """One stored point: ``at`` (aware) and the cumulative energies [kWh, kvarh], each
    ``None`` when not available."""

    at: datetime
    forward_kwh: Decimal | None
    reverse_kwh: Decimal | None
    reactive1_kvarh: Decimal | None
    reactive2_kvarh: Decimal | None

    @property
    def energies(self) -> tuple[Decimal | None, ...]:
        return (self.forward_kwh, self.reverse_kwh, self.reactive1_kvarh, self.reactive2_kvarh)


def record_values(records: Sequence[ProfileRecord]) -> tuple[Value, ...]:
    """Records as named values, five each: ``record n time`` then the four energies."""
    values: list[Value] = []
    for n, record in enumerate(records, 1):
        values.append(Value(f"record {n} time", record.at, ""))
        values += [
            Value(f"record {n} {name}", value, unit)
            for (name, unit), value in zip(ENERGY_NAMES, record.energies, strict=True)
        ]
    return tuple(values)


def request_data(start: datetime, count: int, tz: ZoneInfo) -> bytes:
    """The bytes after the DI of a given-time read: ``NN mm hh DD MM YY``."""
    if not 1 <= count <= MAX_RECORDS:
        raise FrameError(f"a load-profile read asks for 1 to {MAX_RECORDS} records, not {count}")
    return bytes.fromhex(f"{count:02d}") + bcd.encode_datetime(start, 5, tz)


def profile_request(address: str, start: datetime, count: int, tz: ZoneInfo) -> bytes:
    """A given-time read (C = 11) of ``count`` records from ``start``."""
    return encode_frame(address, 0x11, PROFILE_WIRE + request_data(start, count, tz), wakeup=4)


def profile_follow_up(address: str, seq: int) -> bytes:
    """The read follow-up (C = 12) asking for frame ``seq`` (1…255) of a load-profile reply."""
    if not 1 <= seq <= 0xFF:
        raise FrameError(f"follow-up SEQ {seq} out of range 1..255")
    return encode_frame(address, 0x12, PROFILE_WIRE + bytes((seq,)), wakeup=4)


def parse_request(data: bytes, tz: ZoneInfo) -> tuple[datetime, int]:
    """(start, count) of a given-time read's bytes after the DI."""
    if len(data) != 6:
        raise FrameError(f"a load-profile read carries NN and a 5-byte time, got {len(data)} B")
    count = bcd.decode_number(data[:1], 0, False, 4)
    start = bcd.decode_datetime(data[1:], tz, 5)
    if count is None or start is None or not 1 <= count <= MAX_RECORDS:
        raise FrameError(f"a load-profile read asks for {count} records from {start}")
    return start, int(count)


def encode_record(record: ProfileRecord, tz: ZoneInfo) -> bytes:
    """One class-4 record, ``A0 A0`` … ``E5``."""
    stamp = bcd.encode_datetime(record.at, 5, tz)
    energies = b"".join(
        b"\xff" * 4 if value is None else bcd.encode_number(value, 4, 2, False)
        for value in record.energies
    )
    body = stamp + bytes((SEPARATOR,)) * 3 + energies + bytes((SEPARATOR,)) * 3
    head = START + bytes((len(body),))
    checksum = sum(head + body) & 0xFF
    return head + body + bytes((checksum, END))


def decode_records(data: bytes, offset: int, tz: ZoneInfo) -> tuple[ProfileRecord, ...]:
    """The records in ``data[offset:]`` (a reply's bytes after the DI, SEQ removed)."""
    records = []
    position = offset
    while position < len(data):
        record, position = _decode_record(data, position, tz)
        records.append(record)
    if not records:
        raise FrameError("a load-profile reply carries no record", offset=offset)
    return tuple(records)


_CLASS4_HEAD: Final = START + bytes((RECORD_SIZE - 5,))
_SEPARATORS: Final = bytes((SEPARATOR,)) * 3
_FILLER: Final = b"\xff" * 4


def _class4_record(record: bytes, tz: ZoneInfo) -> ProfileRecord | None:
    """The common record — class 4 only, valid — decoded directly; ``None`` sends anything
    else to the general parser, which names what is wrong."""
    if (
        record[:3] != _CLASS4_HEAD
        or record[8:11] != _SEPARATORS
        or record[27:30] != _SEPARATORS
        or record[31] != END
        or sum(record[:30]) & 0xFF != record[30]
    ):
        return None
    stamp = record[7:2:-1].hex()
    if not stamp.isdigit():
        return None
    energies: list[Decimal | None] = []
    for i in range(11, 27, 4):
        chunk = record[i : i + 4]
        if chunk == _FILLER:
            energies.append(None)
            continue
        digits = chunk[::-1].hex()
        if not digits.isdigit():
            return None
        energies.append(Decimal(f"{digits[:6]}.{digits[6:]}"))
    try:
        moment = datetime(
            2000 + int(stamp[0:2]),
            int(stamp[2:4]),
            int(stamp[4:6]),
            int(stamp[6:8]),
            int(stamp[8:10]),
            tzinfo=tz,
        )
    except ValueError:
        return None
    return ProfileRecord(moment, *energies)


def _decode_record(data: bytes, at: int, tz: ZoneInfo) -> tuple[ProfileRecord, int]:
    fast = _class4_record(data[at : at + RECORD_SIZE], tz)
    if fast is not None:
        return fast, at + RECORD_SIZE
    mark = data[at : at + 2]
    if mark not in (START, BAD) or at + 3 > len(data):
        raise FrameError(f"load-profile record does not start with A0 A0 at byte {at}", offset=at)
    size = data[at + 2]
    end = at + 3 + size
    if end + 2 > len(data):
        raise FrameError(f"load-profile record of {size} B overruns the frame", offset=at)
    if sum(data[at:end]) & 0xFF != data[end] or data[end + 1] != END:
        raise FrameError(f"load-profile record at byte {at} fails its checksum or end code")
    moment = bcd.decode_datetime(data[at + 3 : at + 8], tz, at + 3)
    if moment is None:
        raise FrameError(f"load-profile record at byte {at} has no time", offset=at + 3)
    sections = data[at + 8 : end].split(bytes((SEPARATOR,)), len(CLASS_SIZES))
    if len(sections) != len(CLASS_SIZES) + 1 or sections[-1]:
        raise FrameError(f"load-profile record at byte {at} does not have 6 classes", offset=at)
    for n, (section, expected) in enumerate(zip(sections, CLASS_SIZES, strict=False), 1):
        if section and len(section) != expected:
            raise FrameError(
                f"load-profile class {n} carries {len(section)} B, expected 0 or {expected}",
                offset=at,
            )
    energies: list[Decimal | None] = [None] * 4
    if sections[3] and mark == START:
        energies = [
            bcd.decode_number(sections[3][i : i + 4], 2, False, at + 8) for i in range(0, 16, 4)
        ]
    return ProfileRecord(moment, *energies), end + 2
