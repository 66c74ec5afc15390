"""Our own DL/T 645-2007 codec: framing, BCD values, the DI registry, commands.

>>> frame = decode_frame(bytes.fromhex("6825040302010068910833333433753945338B16"))
>>> interpret(frame).values[0].value
Decimal('1206.42')
"""

from meter2cash.headend.protocols.dlt645.commands import (
    BROADCAST,
    WILDCARD,
    demand_reset_request,
    error_reply,
    freeze_request,
    read_address_request,
    read_follow_up,
    read_reply,
    read_request,
    relay_request,
    time_sync_broadcast,
    write_request,
)
from meter2cash.headend.protocols.dlt645.errors import FrameError
from meter2cash.headend.protocols.dlt645.frame import Frame, FrameReader, decode_frame, encode_frame
from meter2cash.headend.protocols.dlt645.interpret import Reading, error_reason, interpret
from meter2cash.headend.protocols.dlt645.registry import (
    RULES,
    Block,
    Field,
    Item,
    Rule,
    Value,
    decode_values,
    encode_values,
    lookup,
)

__all__ = [
    "BROADCAST",
    "RULES",
    "WILDCARD",
    "Block",
    "Field",
    "Frame",
    "FrameError",
    "FrameReader",
    "Item",
    "Reading",
    "Rule",
    "Value",
    "decode_frame",
    "decode_values",
    "demand_reset_request",
    "encode_frame",
    "encode_values",
    "error_reason",
    "error_reply",
    "freeze_request",
    "interpret",
    "lookup",
    "read_address_request",
    "read_follow_up",
    "read_reply",
    "read_request",
    "relay_request",
    "time_sync_broadcast",
    "write_request",
]
