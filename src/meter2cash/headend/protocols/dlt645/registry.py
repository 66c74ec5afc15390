"""The data-identifier (DI) registry of DL/T 645-2007 appendix A, as data.

A :class:`Rule` maps a DI pattern to an item name and a field layout. A pattern is four
space-separated bytes DI3 DI2 DI1 DI0, each exact (``01``) or an inclusive range
(``01-3F``); the name may use ``{di1}`` and ``{di0}`` (the matched byte as a number). Items
whose DI1 or DI0 is ``FF`` are *blocks* (clause 5.1): a :class:`Block` repeats a group of
fields — total then rates 1…M, or the current value then settlement days 1…12 — as many
times as the payload holds.

>>> lookup("00010000").name
'forward active energy, total'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from meter2cash.headend.protocols.dlt645 import bcd
from meter2cash.headend.protocols.dlt645.errors import FrameError

Kind = Literal["number", "datetime", "date+weekday", "time", "digits"]
ValueType = Decimal | datetime | date | time | str | None
SHANGHAI = ZoneInfo("Asia/Shanghai")  # meter clocks are local time; aware values convert to it


@dataclass(frozen=True, slots=True)
class Value:
    """One decoded quantity; ``value`` is ``None`` when the meter sent filler (not available)."""

    name: str
    value: ValueType
    unit: str


@dataclass(frozen=True, slots=True)
class Field:
    """One value in an item: ``size`` bytes [B] of packed BCD, low byte first.

    ``kind`` ``datetime`` is ``YYMMDDhhmm`` (5 bytes) or ``YYMMDDhhmmss`` (6 bytes);
    ``date+weekday`` is ``YYMMDDWW``; ``time`` is ``hhmmss``; ``digits`` is a digit string.
    """

    name: str
    size: int
    kind: Kind = "number"
    decimals: int = 0
    unit: str = ""
    signed: bool = False


@dataclass(frozen=True, slots=True)
class Block:
    """A repeated group of ``fields``: labelled ``first``, then ``then.format(n=1…)``."""

    fields: tuple[Field, ...]
    first: str
    then: str
    max_groups: int


@dataclass(frozen=True, slots=True)
class Rule:
    """A DI pattern, the item name template and its layout (fixed ``fields`` or a ``block``)."""

    pattern: str
    name: str
    fields: tuple[Field, ...] = ()
    block: Block | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """A rule resolved for one concrete DI (8 hex digits, DI3 first)."""

    di: str
    name: str
    fields: tuple[Field, ...]
    block: Block | None

    def labels(self, groups: int) -> list[str]:
        """Value names for a block of ``groups`` groups."""
        assert self.block is not None
        block = self.block
        names = [block.first, *(block.then.format(n=n) for n in range(1, groups))]
        if len(block.fields) == 1:
            return names
        return [f"{label} {f.name}" for label in names for f in block.fields]


# --- field kinds ---------------------------------------------------------------------------

ENERGY_QUANTITIES: tuple[tuple[int, str, str, bool], ...] = (
    # DI2, quantity, unit, signed — combined energies are signed, the rest are not (A.1)
    (0x00, "combined active energy", "kWh", True),
    (0x01, "forward active energy", "kWh", False),
    (0x02, "reverse active energy", "kWh", False),
    (0x03, "combined reactive energy 1", "kvarh", True),
    (0x04, "combined reactive energy 2", "kvarh", True),
    (0x05, "quadrant I reactive energy", "kvarh", False),
    (0x06, "quadrant II reactive energy", "kvarh", False),
    (0x07, "quadrant III reactive energy", "kvarh", False),
    (0x08, "quadrant IV reactive energy", "kvarh", False),
)
DEMAND_QUANTITIES: tuple[tuple[int, str, str, bool], ...] = (
    (0x01, "forward active maximum demand", "kW", False),
    (0x02, "reverse active maximum demand", "kW", False),
    (0x03, "combined reactive 1 maximum demand", "kvar", True),
    (0x04, "combined reactive 2 maximum demand", "kvar", True),
)
RATES = 63  # DI1 01…3F
SETTLEMENT_DAYS = 12  # DI0 01…0C
EVENT_RECORDS = 10  # DI0 01…0A: last 1…10 records
DAILY_FREEZES = 62  # DI0 01…3E

COUNT = (Field("count", 3),)
STAMP_MIN = Field("time", 5, "datetime")


def _energy(unit: str, signed: bool) -> Field:
    return Field("energy", 4, decimals=2, unit=unit, signed=signed)


def _demand(unit: str, signed: bool) -> tuple[Field, ...]:
    """Maximum demand ``XX.XXXX`` and its time of occurrence ``YYMMDDhhmm`` (A.2)."""
    return (Field("demand", 3, decimals=4, unit=unit, signed=signed), STAMP_MIN)


def _tariff_block(fields: tuple[Field, ...]) -> Block:
    return Block(fields, "total", "rate {n}", 1 + RATES)


def _period_block(fields: tuple[Field, ...]) -> Block:
    return Block(fields, "current", "last {n} settlement day", 1 + SETTLEMENT_DAYS)


def _tariffed(di3: int, di2: int, what: str, fields: tuple[Field, ...]) -> list[Rule]:
    """Total / rates / blocks × current / settlement days for one energy or demand quantity."""
    head = f"{di3:02X} {di2:02X}"
    return [
        Rule(f"{head} 00 00", f"{what}, total", fields),
        Rule(f"{head} 01-3F 00", f"{what}, rate {{di1}}", fields),
        Rule(f"{head} FF 00", f"{what}, total and rates", block=_tariff_block(fields)),
        Rule(f"{head} 00 01-0C", f"{what}, total, last {{di0}} settlement day", fields),
        Rule(
            f"{head} 01-3F 01-0C",
            f"{what}, rate {{di1}}, last {{di0}} settlement day",
            fields,
        ),
        Rule(
            f"{head} FF 01-0C",
            f"{what}, total and rates, last {{di0}} settlement day",
            block=_tariff_block(fields),
        ),
        Rule(
            f"{head} 00 FF",
            f"{what}, total, current and settlement days",
            block=_period_block(fields),
        ),
        Rule(
            f"{head} 01-3F FF",
            f"{what}, rate {{di1}}, current and settlement days",
            block=_period_block(fields),
        ),
    ]


def _cover_record(what: str) -> tuple[Field, ...]:
    """Open-cover / terminal-box record (A.4): start, end, six energies before and after."""
    energies = (
        ("forward active", "kWh"),
        ("reverse active", "kWh"),
        ("quadrant I reactive", "kvarh"),
        ("quadrant II reactive", "kvarh"),
        ("quadrant III reactive", "kvarh"),
        ("quadrant IV reactive", "kvarh"),
    )
    return (
        Field(f"{what} start", 6, "datetime"),
        Field(f"{what} end", 6, "datetime"),
        *(Field(f"{name} before", 4, decimals=2, unit=unit) for name, unit in energies),
        *(Field(f"{name} after", 4, decimals=2, unit=unit) for name, unit in energies),
    )


def _phases(quantity: str, size: int, decimals: int, unit: str, signed: bool) -> tuple[Field, ...]:
    return tuple(
        Field(f"{quantity} {p}", size, decimals=decimals, unit=unit, signed=signed) for p in "ABC"
    )


def _instantaneous(
    di2: int, quantity: str, size: int, decimals: int, unit: str, signed: bool, total: bool
) -> list[Rule]:
    """Per-phase items 02 di2 01…03 00, an optional total 00 and the block FF (A.3)."""
    field = Field(quantity, size, decimals=decimals, unit=unit, signed=signed)
    phases = _phases(quantity, size, decimals, unit, signed)
    rules = [
        Rule(f"02 {di2:02X} 01-03 00", f"{quantity}, phase {{di1}}", (field,)),
        Rule(
            f"02 {di2:02X} FF 00",
            f"{quantity}, {'total and ' if total else ''}phases A-C",
            (
                (Field(f"{quantity} total", size, decimals=decimals, unit=unit, signed=signed),)
                if total
                else ()
            )
            + phases,
        ),
    ]
    if total:
        rules.append(Rule(f"02 {di2:02X} 00 00", f"{quantity}, total", (field,)))
    return rules


RULES: tuple[Rule, ...] = (
    *(
        rule
        for di2, quantity, unit, signed in ENERGY_QUANTITIES
        for rule in _tariffed(0x00, di2, quantity, (_energy(unit, signed),))
    ),
    *(
        rule
        for di2, quantity, unit, signed in DEMAND_QUANTITIES
        for rule in _tariffed(0x01, di2, quantity, _demand(unit, signed))
    ),
    *_instantaneous(0x01, "voltage", 2, 1, "V", False, total=False),
    *_instantaneous(0x02, "current", 3, 3, "A", True, total=False),
    *_instantaneous(0x03, "active power", 3, 4, "kW", True, total=True),
    *_instantaneous(0x04, "reactive power", 3, 4, "kvar", True, total=True),
    *_instantaneous(0x05, "apparent power", 3, 4, "kVA", True, total=True),
    *_instantaneous(0x06, "power factor", 2, 3, "", True, total=True),
    Rule("02 80 00 02", "frequency", (Field("frequency", 2, decimals=2, unit="Hz"),)),
    Rule("00 90 01 00", "prepaid remaining energy", (Field("energy", 4, decimals=2, unit="kWh"),)),
    Rule("00 90 02 00", "prepaid remaining credit", (Field("credit", 4, decimals=2, unit="yuan"),)),
    Rule("03 11 00 00", "power-down count", COUNT),
    Rule(
        "03 11 00 01-0A",
        "power-down record, last {di0}",
        (Field("start", 6, "datetime"), Field("end", 6, "datetime")),
    ),
    Rule("03 30 0D 00", "meter cover open count", COUNT),
    Rule("03 30 0D 01-0A", "meter cover open record, last {di0}", _cover_record("cover open")),
    Rule("03 30 0E 00", "terminal box open count", COUNT),
    Rule("03 30 0E 01-0A", "terminal box open record, last {di0}", _cover_record("box open")),
    Rule("03 35 00 00", "constant magnetic field tamper count", COUNT),
    Rule("1D 00 00 01", "relay trip count", COUNT),
    Rule("04 00 01 01", "date", (Field("date", 4, "date+weekday"),)),
    Rule("04 00 01 02", "time", (Field("time", 3, "time"),)),
    Rule("04 00 03 06", "CT ratio", (Field("ratio", 3),)),
    Rule("04 00 03 07", "PT ratio", (Field("ratio", 3),)),
    Rule("04 00 04 01", "communication address", (Field("address", 6, "digits"),)),
    Rule("04 00 04 02", "meter number", (Field("meter number", 6, "digits"),)),
    Rule("05 06 00 01-3E", "daily freeze time, last {di0}", (STAMP_MIN,)),
    # Daily freezes (A.6): DI1 01…08 the energies of DI2 01…08, 09/0A forward/reverse active
    # maximum demand and its time; each a total + rates block, DI0 = last 1…62.
    *(
        Rule(
            f"05 06 {di2:02X} 01-3E",
            f"daily-frozen {quantity}, last {{di0}}",
            block=_tariff_block((_energy(unit, signed),)),
        )
        for di2, quantity, unit, signed in ENERGY_QUANTITIES[1:]
    ),
    *(
        Rule(
            f"05 06 {di2 + 0x08:02X} 01-3E",
            f"daily-frozen {quantity}, last {{di0}}",
            block=_tariff_block(_demand(unit, signed)),
        )
        for di2, quantity, unit, signed in DEMAND_QUANTITIES[:2]
    ),
)


# --- lookup --------------------------------------------------------------------------------


def _ranges(pattern: str) -> tuple[tuple[int, int], ...]:
    spans = []
    for part in pattern.split():
        low, _, high = part.partition("-")
        spans.append((int(low, 16), int(high or low, 16)))
    if len(spans) != 4:
        raise ValueError(f"DI pattern {pattern!r} does not have four bytes")
    return tuple(spans)


_COMPILED = tuple((_ranges(rule.pattern), rule) for rule in RULES)
_CACHE: dict[int, Item] = {}
_HEX = frozenset("0123456789abcdefABCDEF")


def lookup(di: str | int) -> Item:
    """The registry item of ``di`` (8 hex digits DI3 first, or the integer), else FrameError."""
    if isinstance(di, str):
        if len(di) != 8 or not _HEX.issuperset(di):
            raise FrameError(f"data identifier {di!r} is not 8 hex digits, DI3 first")
        key = int(di, 16)
    else:
        key = di
    item = _CACHE.get(key)
    if item is not None:
        return item
    parts = key.to_bytes(4, "big")
    for spans, rule in _COMPILED:
        if all(low <= b <= high for b, (low, high) in zip(parts, spans, strict=True)):
            item = Item(
                f"{key:08X}",
                rule.name.format(di1=parts[2], di0=parts[3]),
                rule.fields,
                rule.block,
            )
            _CACHE[key] = item
            return item
    raise FrameError(f"unknown data identifier {key:08X}", "see the DL/T 645 registry")


# --- values --------------------------------------------------------------------------------


def _decode_field(field: Field, chunk: bytes, offset: int, tz: ZoneInfo) -> ValueType:
    kind = field.kind
    if kind == "number":
        return bcd.decode_number(chunk, field.decimals, field.signed, offset)
    if kind == "datetime":
        return bcd.decode_datetime(chunk, tz, offset)
    if kind == "digits":
        return bcd.decode_digits(chunk, offset)
    if kind == "date+weekday":
        return bcd.decode_date_weekday(chunk, offset)
    return bcd.decode_time(chunk, offset)


def _encode_field(field: Field, value: object, tz: ZoneInfo) -> bytes:
    if value is None:
        return b"\xff" * field.size
    kind = field.kind
    if kind == "number":
        if not isinstance(value, Decimal | int):
            raise FrameError(f"{field.name}: {value!r} is not a Decimal")
        return bcd.encode_number(Decimal(value), field.size, field.decimals, field.signed)
    if kind == "datetime":
        if not isinstance(value, datetime):
            raise FrameError(f"{field.name}: {value!r} is not a datetime")
        return bcd.encode_datetime(value, field.size, tz)
    if kind == "digits":
        if not isinstance(value, str):
            raise FrameError(f"{field.name}: {value!r} is not a digit string")
        return bcd.encode_digits(value, field.size)
    if kind == "date+weekday":
        if not isinstance(value, date):
            raise FrameError(f"{field.name}: {value!r} is not a date")
        return bcd.encode_date_weekday(value)
    if not isinstance(value, time):
        raise FrameError(f"{field.name}: {value!r} is not a time")
    return bcd.encode_time(value)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where each value of one item lies in a payload of one size, worked out once.

    ``fields`` holds ``(name, field, start, end)`` with ``start``/``end`` relative to the first
    value byte. ``numbers`` is set when every field is a number: ``(name, unit, first, last,
    exponent)`` slices the hex digits of the whole reversed payload (most significant digit of
    the last field first), so one ``hex()`` and one ``isdigit()`` check every byte at once.
    ``sign_digits`` are the digit positions holding the sign bit of signed fields.
    """

    fields: tuple[tuple[str, Field, int, int], ...]
    numbers: tuple[tuple[str, str, int, int, str], ...] | None
    sign_digits: tuple[int, ...]


_LAYOUTS: dict[tuple[str, int], _Layout] = {}
_LAYOUTS_MAX = 4096  # distinct (DI, size) pairs kept; a real head-end reads a few dozen


def _layout(item: Item, size: int, offset: int) -> _Layout:
    """The layout of ``item`` for ``size`` value bytes, or FrameError when ``size`` is wrong."""
    if item.block is None:
        fields = item.fields
        names = [f.name for f in fields]
        expected = sum(f.size for f in fields)
        if size != expected:
            raise FrameError(
                f"{item.di} ({item.name}) carries {expected} data bytes, got {size}",
                offset=offset,
            )
    else:
        group = sum(f.size for f in item.block.fields)
        groups, rest = divmod(size, group)
        if rest or not 1 <= groups <= item.block.max_groups:
            raise FrameError(
                f"{item.di} ({item.name}) is a block of {group}-byte groups, got {size} bytes",
                offset=offset,
            )
        fields = item.block.fields * groups
        names = item.labels(groups)
    placed = []
    position = 0
    for field, name in zip(fields, names, strict=True):
        placed.append((name, field, position, position + field.size))
        position += field.size
    numbers = None
    sign_digits: tuple[int, ...] = ()
    if all(f.kind == "number" for f in fields):
        numbers = tuple(
            (name, f.unit, 2 * (size - end), 2 * (size - start), f"e-{f.decimals}")
            for name, f, start, end in placed
        )
        sign_digits = tuple(2 * (size - end) for _, f, _, end in placed if f.signed)
    layout = _Layout(tuple(placed), numbers, sign_digits)
    if len(_LAYOUTS) >= _LAYOUTS_MAX:
        _LAYOUTS.clear()
    _LAYOUTS[item.di, size] = layout
    return layout


def decode_values(item: Item, payload: bytes, offset: int, tz: ZoneInfo) -> tuple[Value, ...]:
    """The values of ``item`` in ``payload[offset:]`` (offsets in messages are payload bytes)."""
    size = len(payload) - offset
    layout = _LAYOUTS.get((item.di, size)) or _layout(item, size, offset)
    chunk = payload[offset:]
    numbers = layout.numbers
    if numbers is not None:
        # The common case (energies, instantaneous values, counts): valid BCD, no filler, no
        # negative value. Anything else takes the field-by-field path, which says where it failed.
        digits = chunk[::-1].hex()
        signs = layout.sign_digits
        if digits.isdigit() and not (signs and any(digits[i] > "7" for i in signs)):
            if len(numbers) == 1:  # a single-value read: the digits are the whole value
                name, unit, _, _, exponent = numbers[0]
                return (Value(name, Decimal(digits + exponent), unit),)
            return tuple(
                [
                    Value(name, Decimal(digits[first:last] + exponent), unit)
                    for name, unit, first, last, exponent in numbers
                ]
            )
    return tuple(
        [
            Value(name, _decode_field(field, chunk[start:end], offset + start, tz), field.unit)
            for name, field, start, end in layout.fields
        ]
    )


def encode_values(di: str, values: Sequence[ValueType], tz: ZoneInfo = SHANGHAI) -> bytes:
    """The plain payload bytes (no DI) of ``values`` for ``di``; ``None`` → ``FF`` filler."""
    item = lookup(di)
    if item.block is None:
        fields = item.fields
    else:
        width = len(item.block.fields)
        groups, rest = divmod(len(values), width)
        if rest or not 1 <= groups <= item.block.max_groups:
            raise FrameError(
                f"{di} ({item.name}) takes 1 to {item.block.max_groups} groups of {width} values,"
                f" got {len(values)} values"
            )
        fields = item.block.fields * groups
    if len(values) != len(fields):
        raise FrameError(f"{di} ({item.name}) takes {len(fields)} values, got {len(values)}")
    return b"".join(_encode_field(f, v, tz) for f, v in zip(fields, values, strict=True))
