"""DL/T 645-2007 framing (clause 4): ``68 A0..A5 68 C L DATA CS 16``.

Every DATA byte travels + 0x33 (mod 256); CS is the sum of all bytes from the first ``68``
through DATA, mod 256. A master may send up to four ``FE`` wake-up bytes first and a slave may
answer with them too; they never count in the checksum.

>>> decode_frame(bytes.fromhex("6825040302010068110433333433E116")).address
'000102030425'
"""

from __future__ import annotations

from dataclasses import dataclass

from meter2cash.headend.protocols.dlt645.errors import FrameError

START = 0x68
END = 0x16
WAKEUP = 0xFE
HEADER = 10  # 68 + 6 address bytes + 68 + C + L
OVERHEAD = 12  # header + CS + 16
MAX_WAKEUP = 4

# Wire payload ↔ plain payload: + 0x33 on send, − 0x33 on receive (clause 4.3).
_PLUS_33 = bytes((b + 0x33) & 0xFF for b in range(256))
_MINUS_33 = bytes((b - 0x33) & 0xFF for b in range(256))
_ADDRESS_NIBBLES = frozenset("0123456789A")


@dataclass(frozen=True, slots=True)
class Frame:
    """One DL/T 645 frame.

    ``address`` is the 12-character meter address as printed on the meter (A5 first, i.e. the
    reverse of wire order); ``AA`` bytes are wildcards (read-address). ``data`` is the payload
    with 0x33 already removed.
    """

    address: str
    control: int
    data: bytes

    @property
    def direction(self) -> str:
        """``"reply"`` when D7 of C is set (slave → master), else ``"request"``."""
        return "reply" if self.control & 0x80 else "request"

    @property
    def abnormal(self) -> bool:
        """D6 of C: the slave answers with an error byte instead of data."""
        return bool(self.control & 0x40)

    @property
    def follow_up(self) -> bool:
        """D5 of C: more frames follow (read them with control ``12``)."""
        return bool(self.control & 0x20)

    @property
    def function(self) -> int:
        """D4..D0 of C: the function code (``0x11`` read, ``0x14`` write, …)."""
        return self.control & 0x1F


def address_to_wire(address: str) -> bytes:
    """The 6 wire bytes (A0 first) of a 12-digit meter address; ``A`` nibbles are wildcards."""
    if len(address) != 12 or not set(address.upper()) <= _ADDRESS_NIBBLES:
        raise FrameError(
            f"invalid meter address {address!r}", "give 12 decimal digits, e.g. 000102030425"
        )
    return bytes.fromhex(address)[::-1]


def encode_frame(address: str, control: int, data: bytes, *, wakeup: int = 0) -> bytes:
    """A complete frame: ``wakeup`` × ``FE``, header, ``data`` + 0x33, checksum, ``16``.

    ``data`` is the plain payload (DI DI0-first, values low byte first); at most 255 bytes.
    """
    if not 0 <= control <= 0xFF:
        raise FrameError(f"control byte {control} out of range 0..255")
    if len(data) > 0xFF:
        raise FrameError(f"payload of {len(data)} bytes exceeds 255")
    if not 0 <= wakeup <= MAX_WAKEUP:
        raise FrameError(f"{wakeup} wake-up bytes; DL/T 645-2007 allows 0 to 4")
    body = (
        bytes((START,))
        + address_to_wire(address)
        + bytes((START, control, len(data)))
        + data.translate(_PLUS_33)
    )
    return b"\xfe" * wakeup + body + bytes((sum(body) & 0xFF, END))


def decode_frame(raw: bytes) -> Frame:
    """Exactly one frame (leading ``FE`` allowed), or :class:`FrameError` naming the byte."""
    start = 0
    while start < len(raw) and raw[start] == WAKEUP:
        start += 1
    frame = _check(raw, start, len(raw))
    end = start + OVERHEAD + raw[start + 9]
    if end != len(raw):
        raise FrameError(
            f"{len(raw) - end} trailing byte(s) after the frame end at byte {end - 1}",
            offset=end,
        )
    return frame


def _check(raw: bytes, start: int, stop: int) -> Frame:
    """The frame beginning at ``raw[start]`` (all of it within ``raw[:stop]``)."""
    if stop - start < OVERHEAD:
        raise FrameError(
            f"frame too short: {stop - start} bytes from byte {start}, a frame has at least 12",
            offset=start,
        )
    if raw[start] != START:
        raise FrameError(f"byte {start} is {raw[start]:02X}, expected start 68", offset=start)
    if raw[start + 7] != START:
        raise FrameError(
            f"byte {start + 7} is {raw[start + 7]:02X}, expected second start 68",
            offset=start + 7,
        )
    length = raw[start + 9]
    data_end = start + HEADER + length
    if data_end + 2 > stop:
        raise FrameError(
            f"length byte {length} at byte {start + 9} needs {OVERHEAD + length} bytes, "
            f"only {stop - start} present",
            offset=start + 9,
        )
    checksum = sum(raw[start:data_end]) & 0xFF
    if raw[data_end] != checksum:
        raise FrameError(
            f"bad checksum at byte {data_end}: {raw[data_end]:02X}, computed {checksum:02X}",
            offset=data_end,
        )
    if raw[data_end + 1] != END:
        raise FrameError(
            f"byte {data_end + 1} is {raw[data_end + 1]:02X}, expected end 16",
            offset=data_end + 1,
        )
    address = raw[start + 6 : start : -1].hex().upper()  # A5 first, as printed
    if not address.isdigit() and not _ADDRESS_NIBBLES.issuperset(address):
        raise FrameError(f"address {address} at bytes {start + 1}..{start + 6} is not BCD")
    return Frame(address, raw[start + 8], raw[start + HEADER : data_end].translate(_MINUS_33))


class FrameReader:
    """Frames from a byte stream: split across reads, noise and ``FE`` between frames.

    A candidate frame starts at ``68 xx xx xx xx xx xx 68``; bytes before one are noise and are
    dropped silently. A candidate whose length, checksum or end byte is wrong comes out as a
    :class:`FrameError` (with the candidate bytes in ``.raw``) and the reader resynchronises on
    the byte after its start; false candidates inside the rejected bytes are dropped silently.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._quiet_until = 0  # candidates starting before this index lie inside a rejected one

    def feed(self, chunk: bytes) -> list[Frame | FrameError]:
        """Add ``chunk``; return every frame (or error) completed by it, in stream order."""
        buffer = self._buffer
        buffer += chunk
        out: list[Frame | FrameError] = []
        position = 0
        while True:
            start = buffer.find(START, position)
            if start < 0:
                position = len(buffer)
                break
            if len(buffer) - start < HEADER:
                position = start
                break
            if buffer[start + 7] != START:
                position = start + 1
                continue
            end = start + OVERHEAD + buffer[start + 9]
            if end > len(buffer):
                position = start
                break
            raw = bytes(buffer[start:end])
            try:
                out.append(_check(raw, 0, len(raw)))
            except FrameError as error:
                if start >= self._quiet_until:
                    error.raw = raw
                    out.append(error)
                    self._quiet_until = end
                position = start + 1
                continue
            position = end
        del buffer[:position]
        self._quiet_until = max(0, self._quiet_until - position)
        return out
