"""Decoding MQTT reading payloads, without a broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from meter2cash.headend.mqtt import BATCH_METER
from meter2cash.headend.mqtt.payload import RegisterRead, Rejected, decode_readings
from meter2cash.headend.protocols.dlt645 import read_reply

TZ = ZoneInfo("Asia/Shanghai")
RECEIVED = datetime(2026, 7, 1, tzinfo=UTC)
METER = "000102030425"


def _reading(**fields: object) -> dict[str, object]:
    return {
        "msg_id": "m1",
        "meter": METER,
        "di": "00010000",
        "value": "1206.42",
        "unit": "kWh",
        "meter_time": "2026-07-01T00:00:00+08:00",
        **fields,
    }


def _decode(body: object, topic_meter: str = BATCH_METER) -> list[object]:
    text = body if isinstance(body, str) else json.dumps(body)
    return list(decode_readings(text.encode(), topic_meter, tz=TZ, received_at=RECEIVED))


def test_a_gateway_batch_keeps_good_elements_and_rejects_bad_ones_with_their_own_text() -> None:
    bad = _reading(msg_id="m2", unit="Wh")
    decoded = _decode([_reading(), bad, _reading(msg_id="m3", meter="000102030426")])
    assert [type(d).__name__ for d in decoded] == ["RegisterRead", "Rejected", "RegisterRead"]
    rejected = decoded[1]
    assert isinstance(rejected, Rejected)
    assert (rejected.reason, rejected.msg_id) == ("unit 'Wh' is not kWh", "m2")
    assert json.loads(rejected.payload) == bad


def test_a_reading_for_another_meter_than_the_topics_is_rejected() -> None:
    (single,) = _decode(_reading(meter="000102030426"), topic_meter=METER)
    assert isinstance(single, Rejected)
    assert single.reason == f"payload meter 000102030426 differs from topic meter {METER}"
    assert json.loads(single.payload)["meter"] == "000102030426"
    good, other = _decode([_reading(), _reading(meter="000102030426")], topic_meter=METER)
    assert isinstance(good, RegisterRead)
    assert isinstance(other, Rejected)


def test_leading_whitespace_and_any_utc_offset_are_accepted() -> None:
    (read,) = _decode("  \n" + json.dumps(_reading(meter_time="2026-06-30T16:00:00Z")))
    assert isinstance(read, RegisterRead)
    assert read.ts == datetime(2026, 7, 1, tzinfo=TZ)
    assert (read.channel, read.value) == ("A+", Decimal("1206.42"))


def test_bad_fields_name_the_field() -> None:
    cases = {
        "di must be a non-empty string": _reading(di=7),
        "unknown DI 00990000": _reading(di="00990000"),
        "channel, di and obis disagree: ['A+', 'A+1']": _reading(channel="A+1"),
        "value True is not a decimal string": _reading(value=True),
        "meter '12' is not a 12-digit address": _reading(meter="12"),
    }
    for reason, body in cases.items():
        (rejected,) = _decode(body)
        assert isinstance(rejected, Rejected)
        assert rejected.reason == reason


def test_reactive_and_demand_registers_carry_their_own_units() -> None:
    reactive, demand, wrong = _decode(
        [
            _reading(di="00030000", value="345.67", unit="kvarh"),
            _reading(msg_id="m2", di=None, obis="1.0.1.6.0.255", value="12.3456", unit="kW"),
            _reading(msg_id="m3", di="01010000", value="12.3456", unit="kWh"),
        ]
    )
    assert isinstance(reactive, RegisterRead) and isinstance(demand, RegisterRead)
    assert (reactive.channel, reactive.value) == ("R+", Decimal("345.67"))
    assert (demand.channel, demand.value) == ("MD+", Decimal("12.3456"))
    assert isinstance(wrong, Rejected) and wrong.reason == "unit 'kWh' is not kW"


def test_a_raw_demand_frame_stores_the_demand_not_its_time() -> None:
    frame = read_reply(METER, "01010000", [Decimal("12.3456"), datetime(2026, 7, 1, 9, 15)])
    (read,) = _decode({"msg_id": "m1", "raw": frame.hex(), "received_at": RECEIVED.isoformat()})
    assert isinstance(read, RegisterRead)
    assert (read.channel, read.value, read.ts) == ("MD+", Decimal("12.3456"), RECEIVED)
