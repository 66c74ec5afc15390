"""Benchmark: MQTT QoS 1 readings through the broker into a fresh measurement store.

``run()`` → messages/s and readings/s sustained [1/s], ``lost`` (published − stored) and
``duplicated`` (stored − unique keys), which must both be 0. A publisher thread sends gateway
batches (one message = a JSON array of ``M2C_BENCH_MQTT_BATCH`` readings, default 100) for
``M2C_BENCH_MQTT_SECONDS`` (default 60) to the broker on 127.0.0.1:1883, keeping at most
``WINDOW`` messages ahead of what the ingestor has acknowledged: mosquitto's default
``max_queued_messages 1000`` drops QoS 1 messages beyond the queue, so an open-loop publisher
would measure the broker's queue limit, not ingestion.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from meter2cash.headend.mqtt import BATCH_METER, DeadLetterStore, MqttIngestor, topic
from meter2cash.measurements.store import MeasurementStore

HOST = "127.0.0.1"
PORT = int(os.environ.get("M2C_BENCH_MQTT_PORT", "1883"))
TZ = ZoneInfo("Asia/Shanghai")
WINDOW = 800
"""Messages in flight between publisher and ingestor [messages], below mosquitto's queue."""
METERS = 10_000
START = datetime(2026, 7, 1, tzinfo=TZ)


def _payload(first: int, count: int) -> bytes:
    """``count`` readings with unique (meter, time) keys, numbered from ``first``."""
    readings = []
    for n in range(first, first + count):
        meter, step = divmod(n, 1_000_000)
        at = START + timedelta(minutes=step)
        readings.append(
            {
                "msg_id": str(n),
                "meter": f"{meter % METERS:012d}",
                "di": "00010000",
                "value": f"{n / 100:.2f}",
                "unit": "kWh",
                "meter_time": at.isoformat(),
            }
        )
    return json.dumps(readings).encode()


def run() -> dict[str, float]:
    seconds = float(os.environ.get("M2C_BENCH_MQTT_SECONDS", "60"))
    per_message = int(os.environ.get("M2C_BENCH_MQTT_BATCH", "100"))
    tenant = f"bench{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        store = MeasurementStore(Path(tmp) / "measurements", TZ)
        dead = DeadLetterStore(Path(tmp) / "deadletter")
        ingestor = MqttIngestor(
            store,
            dead,
            lambda address: f"M{address}",
            tenant=tenant,
            session_expiry=60,
            host=HOST,
            port=PORT,
        )
        ingestor.start()
        if not ingestor.wait_until(lambda c: c.connections >= 1, 10):
            raise RuntimeError(f"no MQTT broker on {HOST}:{PORT}")
        publisher = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        publisher.max_inflight_messages_set(WINDOW)
        publisher.connect(HOST, PORT)
        publisher.loop_start()
        name = topic(tenant, "C001", BATCH_METER, "reading")
        published = 0
        began = time.perf_counter()
        stop_at = began + seconds

        def publish() -> None:
            nonlocal published
            while time.perf_counter() < stop_at:
                sent = published
                ingestor.wait_until(lambda c, sent=sent: c.acknowledged > sent - WINDOW, 5)
                body = _payload(published * per_message, per_message)
                publisher.publish(name, body, qos=1)
                published += 1

        thread = threading.Thread(target=publish)
        thread.start()
        thread.join()
        ingestor.wait_until(lambda c: c.acknowledged >= published, 60)
        elapsed = time.perf_counter() - began
        counts = ingestor.stop()
        publisher.disconnect()
        publisher.loop_stop()
        reads = store.scan("register_reads")
        unique = len(set(zip(reads["meter_no"].to_pylist(), reads["ts"].to_pylist(), strict=True)))
    sent = published * per_message
    return {
        "seconds": round(elapsed, 1),
        "messages_per_s": published / elapsed,
        "readings_per_s": sent / elapsed,
        "readings_per_message": float(per_message),
        "lost": float(sent - reads.num_rows),
        "duplicated": float(reads.num_rows - unique),
        "dead_lettered": float(counts.dead_lettered),
    }


if __name__ == "__main__":
    print(run())
