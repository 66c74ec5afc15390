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

import numpy as np
import numpy.typing as npt

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


@dataclass(frozen=True)
class ProfileBlock:
    """The records of one reply, column-wise: ``stamps`` the meter's local wall-clock time of
    each record as the integer ``YYMMDDhhmm``, ``hundredths`` the four energies in 0.01 kWh
    (kvarh), shape (records, 4), −1 where not available."""

    stamps: npt.NDArray[np.int64]
    hundredths: npt.NDArray[np.int64]
    tz: ZoneInfo

    def __len__(self) -> int:
        return len(self.stamps)

    def records(self) -> tuple[ProfileRecord, ...]:
        """The records as objects (aware times, ``Decimal`` energies)."""
        out = []
        for stamp, row in zip(self.stamps.tolist(), self.hundredths.tolist(), strict=True):
            text = f"{stamp:010d}"
            at = datetime(
                2000 + int(text[:2]),
                int(text[2:4]),
                int(text[4:6]),
                int(text[6:8]),
                int(text[8:]),
                tzinfo=self.tz,
            )
            energies = [None if v < 0 else Decimal(v).scaleb(-2) for v in row]
            out.append(ProfileRecord(at, *energies))
        return tuple(out)

    @classmethod
    def of(cls, records: Sequence[ProfileRecord], tz: ZoneInfo) -> ProfileBlock:
        stamps = [int(r.at.astimezone(tz).strftime("%y%m%d%H%M")) for r in records]
        hundredths = [[-1 if e is None else int(e.scaleb(2)) for e in r.energies] for r in records]
        return cls(
            np.array(stamps, dtype=np.int64),
            np.array(hundredths, dtype=np.int64).reshape(len(records), 4),
            tz,
        )


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


def decode_block(data: bytes, offset: int, tz: ZoneInfo) -> ProfileBlock:
    """The records in ``data[offset:]`` column-wise: whole replies of valid class-4 records are
    checked and decoded at once; anything else goes record by record (which names what is
    wrong)."""
    fast = _class4_block(data[offset:], tz)
    return fast if fast is not None else ProfileBlock.of(decode_records(data, offset, tz), tz)


_HEAD: Final = START + bytes((RECORD_SIZE - 5,))
_SEPARATORS: Final = bytes((SEPARATOR,)) * 3
_FILLER: Final = "ff" * 4
_DAYS_IN_MONTH: Final = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _class4_block(payload: bytes, tz: ZoneInfo) -> ProfileBlock | None:
    """Every record of ``payload`` when all are valid class-4 records, else ``None``: checked
    on bytes, digits read from one hex string (a reply holds only a few records, too few for
    array arithmetic to pay)."""
    count, rest = divmod(len(payload), RECORD_SIZE)
    if rest or not count:
        return None
    text = payload.hex()
    stamps: list[int] = []
    hundredths: list[int] = []
    for at in range(0, len(payload), RECORD_SIZE):
        record = payload[at : at + RECORD_SIZE]
        if (
            record[:3] != _HEAD
            or record[8:11] != _SEPARATORS
            or record[27:30] != _SEPARATORS
            or record[31] != END
            or sum(record[:30]) & 0xFF != record[30]
        ):
            return None
        h = text[2 * at : 2 * at + 2 * RECORD_SIZE]
        stamp = h[14:16] + h[12:14] + h[10:12] + h[8:10] + h[6:8]  # YYMMDDhhmm
        if not stamp.isdigit():
            return None
        year, month, day = int(stamp[:2]), int(stamp[2:4]), int(stamp[4:6])
        if not 1 <= month <= 12 or int(stamp[6:8]) > 23 or int(stamp[8:]) > 59:
            return None
        if not 1 <= day <= _DAYS_IN_MONTH[month] + (month == 2 and year % 4 == 0):
            return None
        stamps.append(int(stamp))
        for i in range(22, 54, 8):
            energy = h[i : i + 8]
            if energy == _FILLER:
                hundredths.append(-1)
                continue
            digits = energy[6:8] + energy[4:6] + energy[2:4] + energy[:2]
            if not digits.isdigit():
                return None
            hundredths.append(int(digits))
    return ProfileBlock(
        np.array(stamps, dtype=np.int64),
        np.array(hundredths, dtype=np.int64).reshape(count, 4),
        tz,
    )


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


def _decode_record(data: bytes, at: int, tz: ZoneInfo) -> tuple[ProfileRecord, int]:
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
