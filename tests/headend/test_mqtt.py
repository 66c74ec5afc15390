"""MQTT ingestion against the real broker on 127.0.0.1:1883 (skipped when it is not there)."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from meter2cash.headend.mqtt import BATCH_METER, DeadLetterStore, MqttIngestor, topic
from meter2cash.measurements.store import MeasurementStore

HOST, PORT = "127.0.0.1", 1883
TZ = ZoneInfo("Asia/Shanghai")
METERS = {"000102030425": "M-25", "000102030426": "M-26"}


def _broker_up() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _require_broker() -> None:
    if not _broker_up():
        reason = f"no MQTT broker on {HOST}:{PORT} (mosquitto -d -c /etc/mosquitto/mosquitto.conf)"
        if os.environ.get("M2C_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(f"M2C_TEST_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture
def tenant() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(tmp_path: Path) -> MeasurementStore:
    return MeasurementStore(tmp_path / "measurements", TZ)


@pytest.fixture
def dead(tmp_path: Path) -> DeadLetterStore:
    return DeadLetterStore(tmp_path / "deadletter" / "mqtt")


@pytest.fixture
def publisher() -> Iterator[paho.Client]:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(HOST, PORT)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def _ingestor(
    store: MeasurementStore, dead: DeadLetterStore, tenant: str, client_id: str | None = None
) -> MqttIngestor:
    return MqttIngestor(
        store,
        dead,
        METERS.get,
        tenant=tenant,
        client_id=client_id or f"test-{tenant}",
        batch_size=500,
        batch_seconds=0.05,
    )


def _reading(meter: str = "000102030425", **fields: object) -> dict[str, object]:
    return {
        "msg_id": uuid.uuid4().hex,
        "meter": meter,
        "di": "00010000",
        "value": "1206.42",
        "unit": "kWh",
        "meter_time": "2026-07-01T00:00:00+08:00",
        "received_at": "2026-07-01T00:00:05+08:00",
        **fields,
    }


def _publish(client: paho.Client, tenant: str, body: object, meter: str = "000102030425") -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    kind = "event" if isinstance(body, dict) and "code" in body else "reading"
    client.publish(topic(tenant, "C001", meter, kind), text, qos=1).wait_for_publish(5)


def test_readings_are_stored_with_channel_value_and_time(
    store: MeasurementStore, dead: DeadLetterStore, tenant: str, publisher: paho.Client
) -> None:
    ingestor = _ingestor(store, dead, tenant)
    ingestor.start()
    assert ingestor.wait_until(lambda c: c.connections == 1, 5)
    _publish(publisher, tenant, _reading())
    _publish(publisher, tenant, _reading(obis="1.0.1.8.2.255", di=None, value="3.5"))
    _publish(publisher, tenant, _reading(di="00020000", value="7", read_type="daily_frozen"))
    _publish(
        publisher,
        tenant,
        {
            "msg_id": "e1",
            "meter": "000102030425",
            "code": "cover_open",
            "detail": "lid",
            "meter_time": "2026-07-01T03:00:00+08:00",
        },
    )
    assert ingestor.wait_until(lambda c: c.acknowledged == 4, 10)
    counts = ingestor.stop()
    rows = store.scan("register_reads").sort_by("channel").to_pylist()
    assert [(r["meter_no"], r["channel"], r["value"], r["read_type"]) for r in rows] == [
        ("M-25", "A+", Decimal("1206.4200"), "on_demand"),
        ("M-25", "A+2", Decimal("3.5000"), "on_demand"),
        ("M-25", "A-", Decimal("7.0000"), "daily_frozen"),
    ]
    assert {r["ts"] for r in rows} == {datetime(2026, 6, 30, 16, tzinfo=UTC)}
    events = store.scan("events").to_pylist()
    assert [(e["meter_no"], e["code"], e["detail"]) for e in events] == [
        ("M-25", "cover_open", "lid")
    ]
    assert (counts.stored, counts.dead_lettered) == (4, 0)


def test_a_message_published_twice_is_stored_once(
    store: MeasurementStore, dead: DeadLetterStore, tenant: str, publisher: paho.Client
) -> None:
    ingestor = _ingestor(store, dead, tenant)
    ingestor.start()
    assert ingestor.wait_until(lambda c: c.connections == 1, 5)
    message = _reading()
    _publish(publisher, tenant, message)
    assert ingestor.wait_until(lambda c: c.acknowledged == 1, 10)
    _publish(publisher, tenant, message)
    assert ingestor.wait_until(lambda c: c.acknowledged == 2, 10)
    counts = ingestor.stop()
    assert store.scan("register_reads").num_rows == 1
    assert (counts.stored, counts.duplicates) == (1, 1)


def test_bad_messages_are_dead_lettered_and_good_ones_in_the_burst_stored(
    store: MeasurementStore, dead: DeadLetterStore, tenant: str, publisher: paho.Client
) -> None:
    ingestor = _ingestor(store, dead, tenant)
    ingestor.start()
    assert ingestor.wait_until(lambda c: c.connections == 1, 5)
    _publish(publisher, tenant, '{"msg_id": "x", "meter": ')
    _publish(publisher, tenant, _reading(meter_time="2026-07-01T00:00:00"))
    _publish(publisher, tenant, _reading(di="00990000"))
    _publish(publisher, tenant, _reading(value="12,5"))
    _publish(publisher, tenant, _reading(meter="999999999999"), meter="999999999999")
    _publish(publisher, tenant, _reading())
    batch = [_reading(meter="000102030426", di=f"0001{i:02d}00", value=str(i)) for i in (1, 2)]
    _publish(publisher, tenant, [*batch, _reading(unit="Wh")], meter=BATCH_METER)
    assert ingestor.wait_until(lambda c: c.messages == 7 and c.acknowledged == 7, 10)
    counts = ingestor.stop()
    assert counts.stored == 3
    assert sorted(store.scan("register_reads")["channel"].to_pylist()) == ["A+", "A+1", "A+2"]
    reasons = sorted(dead.read()["reason"].to_pylist())
    assert len(reasons) == 6 == counts.dead_lettered
    assert reasons[0].startswith("malformed JSON")
    assert reasons[1:] == [
        "meter_time '2026-07-01T00:00:00' has no UTC offset (naive)",
        "unit 'Wh' is not kWh",
        "unknown DI 00990000",
        "unknown meter address 999999999999",
        "value '12,5' is not a number",
    ]


def test_messages_published_while_stopped_arrive_after_restart(
    store: MeasurementStore, dead: DeadLetterStore, tenant: str, publisher: paho.Client
) -> None:
    first = _ingestor(store, dead, tenant)
    first.start()
    assert first.wait_until(lambda c: c.connections == 1, 5)
    first.stop()
    for minute in range(20):
        _publish(publisher, tenant, _reading(meter_time=f"2026-07-01T00:{minute:02d}:00+08:00"))
    second = _ingestor(store, dead, tenant)
    second.start()
    assert second.wait_until(lambda c: c.acknowledged == 20, 10)
    second.stop()
    assert store.scan("register_reads").num_rows == 20


def test_connection_drop_is_recovered_without_loss(
    store: MeasurementStore, dead: DeadLetterStore, tenant: str, publisher: paho.Client
) -> None:
    ingestor = _ingestor(store, dead, tenant)
    ingestor.start()
    assert ingestor.wait_until(lambda c: c.connections == 1, 5)
    times = [f"2026-07-01T{h:02d}:{m:02d}:00+08:00" for h in range(2) for m in range(60)]
    for t in times[:60]:
        _publish(publisher, tenant, _reading(meter_time=t))
    sock = ingestor.client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)
    for t in times[60:]:
        _publish(publisher, tenant, _reading(meter_time=t))
    assert ingestor.wait_until(lambda c: c.connections >= 2 and c.stored == 120, 20)
    ingestor.stop()
    assert store.scan("register_reads").num_rows == 120


def test_raw_dlt645_frame_is_decoded(
    store: MeasurementStore, dead: DeadLetterStore, tenant: str, publisher: paho.Client
) -> None:
    pytest.importorskip("meter2cash.headend.protocols.dlt645")
    ingestor = _ingestor(store, dead, tenant)
    ingestor.start()
    assert ingestor.wait_until(lambda c: c.connections == 1, 5)
    frame = _read_response("000102030425", "00010000", "00120642")
    _publish(
        publisher,
        tenant,
        {"msg_id": "r1", "raw": frame, "received_at": "2026-07-01T00:00:05+08:00"},
    )
    _publish(publisher, tenant, frame.replace(" ", ""))
    assert ingestor.wait_until(lambda c: c.acknowledged == 2, 10)
    ingestor.stop()
    rows = store.scan("register_reads").to_pylist()
    assert {(r["channel"], r["value"]) for r in rows} == {("A+", Decimal("1206.4200"))}
    assert dead.read().num_rows == 0


def _read_response(address: str, di: str, bcd: str) -> str:
    """A DL/T 645-2007 normal read response (control 0x91) as spaced hex."""
    addr = bytes.fromhex(address)[::-1]
    data = bytes.fromhex(di)[::-1] + bytes.fromhex(bcd)[::-1]
    body = bytes([0x68, *addr, 0x68, 0x91, len(data), *((b + 0x33) & 0xFF for b in data)])
    return " ".join(f"{b:02X}" for b in (*body, sum(body) & 0xFF, 0x16))


def test_batches_are_bounded_by_payload_bytes(
    store: MeasurementStore, dead: DeadLetterStore, tenant: str, publisher: paho.Client
) -> None:
    ingestor = MqttIngestor(
        store,
        dead,
        METERS.get,
        tenant=tenant,
        client_id=f"test-{tenant}",
        batch_size=500,
        batch_bytes=1,
        batch_seconds=5.0,
    )
    ingestor.start()
    assert ingestor.wait_until(lambda c: c.connections == 1, 5)
    for minute in range(3):
        _publish(publisher, tenant, _reading(meter_time=f"2026-07-01T00:0{minute}:00+08:00"))
    # Well before batch_seconds: each message fills a batch on its own.
    assert ingestor.wait_until(lambda c: c.acknowledged == 3, 3)
    ingestor.stop()
    assert len(list(store.kind_dir("register_reads").glob("*/*.parquet"))) == 3


def test_the_same_reading_with_another_utc_offset_is_a_duplicate(
    store: MeasurementStore, dead: DeadLetterStore, tenant: str, publisher: paho.Client
) -> None:
    ingestor = _ingestor(store, dead, tenant)
    ingestor.start()
    assert ingestor.wait_until(lambda c: c.connections == 1, 5)
    _publish(publisher, tenant, _reading())
    _publish(publisher, tenant, _reading(meter_time="2026-06-30T16:00:00Z"))
    assert ingestor.wait_until(lambda c: c.acknowledged == 2, 10)
    counts = ingestor.stop()
    assert (counts.stored, counts.duplicates) == (1, 1)
    assert store.scan("register_reads")["ts"].to_pylist() == [datetime(2026, 6, 30, 16, tzinfo=UTC)]
