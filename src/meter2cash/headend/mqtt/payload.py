"""Decoding MQTT payloads into register reads and meter events, or reasons to reject them.

A message body is one of:

* a JSON object — one reading (``reading`` topic) or one event (``event`` topic);
* a JSON array of such objects — a gateway batch, each element judged on its own;
* a JSON object carrying a raw DL/T 645 frame (``{"msg_id", "raw", "received_at"}``), or the
  frame's hex as plain text, decoded with :mod:`meter2cash.headend.protocols.dlt645`.

Nothing here touches the network or the store; :mod:`.ingest` resolves meter addresses and
stores what this module returns.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

from meter2cash.core.errors import InputError
from meter2cash.headend.mqtt.topics import BATCH_METER
from meter2cash.measurements.schema import READ_TYPES

DI_CHANNELS: Final[dict[str, str]] = {
    "00010000": "A+",
    "00010100": "A+1",
    "00010200": "A+2",
    "00010300": "A+3",
    "00010400": "A+4",
    "00020000": "A-",
    "00030000": "R+",
    "01010000": "MD+",
}
"""DL/T 645-2007 data identifiers of the registers we store → our channels (``R+`` combined
reactive 1, ``MD+`` forward active maximum demand; its time of occurrence is not stored)."""
DI_BLOCKS: Final[dict[str, tuple[str, ...]]] = {"0001FF00": ("A+", "A+1", "A+2", "A+3", "A+4")}
"""Block reads (total then rates 1–4 in one answer) → channels in the order of the values."""
OBIS_CHANNELS: Final[dict[str, str]] = {
    "1.0.1.8.0.255": "A+",
    "1.0.1.8.1.255": "A+1",
    "1.0.1.8.2.255": "A+2",
    "1.0.1.8.3.255": "A+3",
    "1.0.1.8.4.255": "A+4",
    "1.0.2.8.0.255": "A-",
    "1.0.3.8.0.255": "R+",
    "1.0.1.6.0.255": "MD+",
}
"""IEC 62056 (DLMS/COSEM) OBIS codes of the same registers."""
CHANNELS: Final = frozenset(DI_CHANNELS.values())
REGISTER_UNIT: Final = "kWh"
CHANNEL_UNITS: Final[dict[str, str]] = {"R+": "kvarh", "MD+": "kW"}
"""The unit a reading of these channels must carry; any other channel's is ``kWh``."""
DEFAULT_READ_TYPE: Final = "on_demand"
MAX_REGISTER: Final = Decimal("1e14")
"""Exclusive bound of a register value [kWh]: the store keeps DECIMAL(18,4)."""

_ADDRESS = re.compile(r"[0-9]{12}")
_HEX = re.compile(r"[0-9A-Fa-f\s]+")
_DLT645 = "meter2cash.headend.protocols.dlt645"
_JSON = json.JSONDecoder(parse_float=Decimal)
"""Reused: ``json.loads`` with ``parse_float`` builds a decoder per call."""


@dataclass(frozen=True, slots=True)
class RegisterRead:
    """A register value [kWh, or kvarh for ``R+``, kW for ``MD+``; as the meter shows it] at
    the meter's clock ``ts`` (aware)."""

    address: str
    channel: str
    ts: datetime
    value: Decimal
    read_type: str


@dataclass(frozen=True, slots=True)
class MeterEvent:
    """An event the meter logged at ``ts`` (aware)."""

    address: str
    ts: datetime
    code: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message, or one element of a batch, that cannot be stored, and why."""

    payload: str
    encoding: str
    """``text`` (UTF-8 as received, or the element re-serialised) or ``hex`` (not UTF-8)."""
    reason: str
    msg_id: str | None = None


Decoded = RegisterRead | MeterEvent | Rejected
_STORABLE: Final = (RegisterRead, MeterEvent)


def body_text(body: bytes) -> tuple[str, str]:
    """(payload, encoding) of a raw body for a dead letter: UTF-8 text, else hex."""
    try:
        return body.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return body.hex(), "hex"


def decode_readings(
    body: bytes, topic_meter: str, *, tz: ZoneInfo, received_at: datetime
) -> list[Decoded]:
    """Register reads in a ``reading`` message body, or why not.

    ``topic_meter`` is the topic's meter segment: every reading must name that meter unless
    it is :data:`BATCH_METER`. ``received_at`` (aware) dates a plain-text frame.
    """
    return _decode(body, topic_meter, lambda item: _reading(item, tz), tz, received_at)


def decode_events(body: bytes, topic_meter: str, *, received_at: datetime) -> list[Decoded]:
    """Meter events in an ``event`` message body (one object or an array), or why not."""
    return _decode(body, topic_meter, _event, None, received_at)


def _decode(
    body: bytes,
    topic_meter: str,
    one: Callable[[dict[str, Any]], Decoded],
    frames_tz: ZoneInfo | None,
    received_at: datetime,
) -> list[Decoded]:
    text, encoding = body_text(body)
    if encoding == "text" and text[:1] not in ("{", "["):
        stripped = text.lstrip()
        if stripped[:1] not in ("{", "["):
            if frames_tz is not None and stripped and _HEX.fullmatch(stripped):
                return _checked(_frame(stripped, received_at, frames_tz), topic_meter, stripped)
            return [Rejected(text, encoding, "payload is neither JSON nor frame hex")]
    try:
        parsed = _JSON.decode(text)
    except ValueError as exc:
        return [Rejected(text, encoding, f"malformed JSON: {exc}")]
    if isinstance(parsed, dict):
        return _element(parsed, one, frames_tz, topic_meter)
    if isinstance(parsed, list) and parsed:
        out: list[Decoded] = []
        for element in parsed:
            if isinstance(element, dict):
                out.extend(_element(element, one, frames_tz, topic_meter))
            else:
                out.append(Rejected(_dump(element), "text", "batch element is not an object"))
        return out
    return [Rejected(text, encoding, "JSON payload is not an object or a non-empty array")]


def _element(
    item: dict[str, Any],
    one: Callable[[dict[str, Any]], Decoded],
    frames_tz: ZoneInfo | None,
    topic_meter: str,
) -> list[Decoded]:
    """One JSON object decoded and checked against the topic's meter."""
    decoded = _item(item, one, frames_tz)
    if len(decoded) == 1:
        first = decoded[0]
        # The common case: one good reading or event, of the topic's meter.
        if isinstance(first, _STORABLE) and topic_meter in (BATCH_METER, first.address):
            return decoded
    return _checked(decoded, topic_meter, item)


def _item(
    item: dict[str, Any], one: Callable[[dict[str, Any]], Decoded], frames_tz: ZoneInfo | None
) -> list[Decoded]:
    """One JSON object: a raw-frame wrapper (readings only) or a reading/event."""
    try:
        if frames_tz is not None and "raw" in item and "value" not in item:
            received = _instant(item, "received_at")
            meter_time = _instant(item, "meter_time") if "meter_time" in item else received
            return _frame(_text(item, "raw"), meter_time, frames_tz)
        return [one(item)]
    except InputError as exc:
        return [Rejected("", "text", exc.problem, _msg_id(item))]


def _checked(decoded: list[Decoded], topic_meter: str, original: object) -> list[Decoded]:
    """Give rejections their payload text; reject meters other than the topic's.

    ``original`` is the frame text, or the JSON value re-serialised only if something is
    rejected: serialising every accepted element would cost as much as decoding it.
    """
    out: list[Decoded] = []
    for d in decoded:
        if isinstance(d, Rejected):
            out.append(Rejected(_original(original), d.encoding, d.reason, d.msg_id))
        elif topic_meter not in (BATCH_METER, d.address):
            reason = f"payload meter {d.address} differs from topic meter {topic_meter}"
            out.append(Rejected(_original(original), "text", reason))
        else:
            out.append(d)
    return out


def _original(value: object) -> str:
    return value if isinstance(value, str) else _dump(value)


def _msg_id(item: dict[str, Any]) -> str | None:
    msg_id = item.get("msg_id")
    return msg_id if isinstance(msg_id, str) else None


def _reading(item: dict[str, Any], tz: ZoneInfo) -> RegisterRead:
    _text(item, "msg_id")
    channel = _channel(item)
    unit = _text(item, "unit")
    expected = CHANNEL_UNITS.get(channel, REGISTER_UNIT)
    if unit != expected:
        raise InputError(f"unit {unit!r} is not {expected}")
    read_type = item.get("read_type", DEFAULT_READ_TYPE)
    if read_type not in READ_TYPES:
        raise InputError(f"unknown read_type {read_type!r}")
    if "received_at" in item:
        _instant(item, "received_at")
    return RegisterRead(
        address=_address(item),
        channel=channel,
        ts=_instant(item, "meter_time"),
        value=_register_value(item.get("value")),
        read_type=read_type,
    )


def _event(item: dict[str, Any]) -> MeterEvent:
    _text(item, "msg_id")
    detail = item.get("detail")
    if detail is not None and not isinstance(detail, str):
        detail = _dump(detail)
    return MeterEvent(_address(item), _instant(item, "meter_time"), _text(item, "code"), detail)


def _channel(item: dict[str, Any]) -> str:
    """The channel named explicitly, or by DI, or by OBIS; they must agree when several are."""
    di = item.get("di")
    if di is not None and item.get("channel") is None and item.get("obis") is None:
        # The common case: a DI alone.
        if not isinstance(di, str) or not di:
            raise InputError("di must be a non-empty string")
        channel = DI_CHANNELS.get(di) or DI_CHANNELS.get(di.upper())
        if channel is None:
            raise InputError(f"unknown DI {di.upper()}")
        return channel
    found: set[str] = set()
    if item.get("channel") is not None:
        channel = _text(item, "channel")
        if channel not in CHANNELS:
            raise InputError(f"unknown channel {channel!r}")
        found.add(channel)
    if item.get("di") is not None:
        di = _text(item, "di").upper()
        if di not in DI_CHANNELS:
            raise InputError(f"unknown DI {di}")
        found.add(DI_CHANNELS[di])
    if item.get("obis") is not None:
        obis = _text(item, "obis")
        if obis not in OBIS_CHANNELS:
            raise InputError(f"unknown OBIS {obis}")
        found.add(OBIS_CHANNELS[obis])
    if not found:
        raise InputError("missing di, obis or channel")
    if len(found) > 1:
        raise InputError(f"channel, di and obis disagree: {sorted(found)}")
    return found.pop()


def _frame(hex_text: str, meter_time: datetime, tz: ZoneInfo) -> list[Decoded]:
    """Register reads in a DL/T 645 response frame given as hex (spaces allowed).

    Rejections carry an empty payload; :func:`_checked` fills in the message text.
    """
    payload = ""
    try:
        raw = bytes.fromhex(hex_text)
    except ValueError:
        return [Rejected(payload, "text", "raw is not hex")]
    codec = importlib.import_module(_DLT645)
    try:
        reading = codec.interpret(codec.decode_frame(raw), tz)
    except InputError as exc:
        return [Rejected(payload, "text", f"bad frame: {exc.problem}")]
    if reading.error is not None:
        return [Rejected(payload, "text", f"meter answered with error {reading.error}")]
    di = (reading.di or "").upper()
    channels = DI_BLOCKS.get(di) or ((DI_CHANNELS[di],) if di in DI_CHANNELS else ())
    values = [v.value for v in reading.values if isinstance(v.value, Decimal)]
    if not channels or len(values) < len(channels):
        return [Rejected(payload, "text", f"frame DI {di or 'none'} is not a register we store")]
    return [
        RegisterRead(str(reading.address), channel, meter_time, value, DEFAULT_READ_TYPE)
        for channel, value in zip(channels, values, strict=False)
    ]


def _text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if value is None:
        raise InputError(f"missing {name}")
    if not isinstance(value, str) or not value:
        raise InputError(f"{name} must be a non-empty string")
    return value


def _address(item: dict[str, Any]) -> str:
    address = _text(item, "meter")
    if not _ADDRESS.fullmatch(address):
        raise InputError(f"meter {address!r} is not a 12-digit address")
    return address


def _instant(item: dict[str, Any], name: str) -> datetime:
    text = _text(item, name)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{name} {text!r} is not ISO 8601") from exc
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(f"{name} {text!r} has no UTC offset (naive)")
    return value


_NUMBER_TYPES: Final = (str, int, Decimal)


def _register_value(raw: object) -> Decimal:
    """A register value [kWh, kvarh or kW]: a decimal string (or a JSON number, kept exact)."""
    if raw is None:
        raise InputError("missing value")
    if isinstance(raw, bool) or not isinstance(raw, _NUMBER_TYPES):
        raise InputError(f"value {raw!r} is not a decimal string")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise InputError(f"value {raw!r} is not a number") from exc
    if not value.is_finite() or abs(value) >= MAX_REGISTER:
        raise InputError(f"value {raw!r} is not a finite register value below 1e14")
    return value


def _dump(value: object) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
