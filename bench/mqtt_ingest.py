"""Benchmark: MQTT QoS 1 readings through the broker into a fresh measurement store.

``run()`` → messages/s and readings/s sustained [1/s], ``lost`` (published − stored) and
``duplicated`` (stored − unique keys), which must both be 0.

Processes, so that load generation does not share a GIL with what is measured: one publisher
sends gateway batches (one message = a JSON array of ``M2C_BENCH_MQTT_BATCH`` readings,
default 100; with 1, a single JSON object) for ``M2C_BENCH_MQTT_SECONDS`` (default 60) to the
broker on 127.0.0.1:``M2C_BENCH_MQTT_PORT`` (default 1883); ``M2C_BENCH_MQTT_WORKERS``
ingestors (default 1; more share ``$share/ingest/…``) store into one store. The publisher keeps
at most ``window()`` messages ahead of what the ingestors have acknowledged: mosquitto's default
``max_queued_messages 1000`` drops QoS 1 messages queued beyond a subscriber's in-flight
window (its MQTT 5 Receive Maximum, ``4 * batch_size``), so an open-loop publisher would
measure the broker's queue limit, not ingestion. The window is at most half a single worker's
Receive Maximum, leaving room for PUBACKs sent but not yet processed by the broker, so nothing
waits in the broker's queue and its shipped config suffices.

Readings have unique (meter, time) keys: reading ``n`` is meter ``n % METERS`` at
``START + (n // METERS) * 15 min``, as a gateway reports its meters at one time.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from meter2cash.headend.mqtt import (
    BATCH_METER,
    DeadLetterStore,
    IngestCounts,
    MqttIngestor,
    topic,
)
from meter2cash.measurements.store import MeasurementStore

HOST = "127.0.0.1"
PORT = int(os.environ.get("M2C_BENCH_MQTT_PORT", "1883"))
TZ = ZoneInfo("Asia/Shanghai")
BATCH_SIZE = 5000
"""Ingestor batch [messages]; its Receive Maximum is four times this."""
BATCH_BYTES = 4_000_000
"""Ingestor batch [bytes of payload]; bounds batches of large messages."""
METERS = 10_000
START = datetime(2026, 7, 1, tzinfo=TZ)
STEP = timedelta(minutes=15)

_READING = (
    '{{"msg_id": "{n}", "meter": "{meter:012d}", "di": "00010000", "value": "{value}", '
    '"unit": "kWh", "meter_time": "{at}"}}'
)


def window(payload_bytes: int) -> int:
    """Messages in flight between publisher and ingestors [messages].

    Two batches by count or four by bytes, whichever is fewer: enough to keep batches full
    while one is stored, at most half a worker's Receive Maximum; more would only wait.
    """
    return max(1, min(2 * BATCH_SIZE, 4 * BATCH_BYTES // payload_bytes))


def _payload(first: int, count: int) -> bytes:
    """``count`` readings with unique (meter, time) keys, numbered from ``first``.

    Formatted from a template rather than ``json.dumps`` of dicts: the publisher shares the
    machine with the ingestor and should cost as little as possible.
    """
    readings = []
    for n in range(first, first + count):
        step, meter = divmod(n, METERS)
        at = (START + step * STEP).isoformat()
        readings.append(_READING.format(n=n, meter=meter, value=f"{n / 100:.2f}", at=at))
    if count == 1:
        return readings[0].encode()
    return ("[" + ", ".join(readings) + "]").encode()


def _publish(
    tenant: str,
    per_message: int,
    seconds: float,
    acknowledged: Synchronized[int],
    published: Synchronized[int],
    began: Synchronized[float],
    cpu: Synchronized[float],
    done: Event,
) -> None:
    """Publisher process: QoS 1 at most ``window()`` messages ahead of the acknowledgements."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    # Unlimited in paho (our window bounds it): with a limit, paho rescans every queued
    # message on each PUBACK, and the publisher would eat the CPU the ingestor needs.
    client.max_inflight_messages_set(0)
    client.connect(HOST, PORT)
    client.loop_start()
    name = topic(tenant, "C001", BATCH_METER, "reading")
    sent = 0
    limit = window(len(_payload(0, per_message)))
    last = None
    cpu_at_start = time.process_time()
    began.value = time.monotonic()
    stop_at = began.value + seconds
    while time.monotonic() < stop_at:
        room = limit - (sent - acknowledged.value)
        if room <= 0:
            time.sleep(0.0005)
            continue
        for _ in range(min(room, 100)):
            last = client.publish(name, _payload(sent * per_message, per_message), qos=1)
            sent += 1
    if last is not None:
        last.wait_for_publish(60)
    published.value = sent
    cpu.value = time.process_time() - cpu_at_start
    done.set()
    client.disconnect()
    client.loop_stop()


def _ingest(
    root: str,
    tenant: str,
    worker: int,
    shared: bool,
    acknowledged: Synchronized[int],
    ready: Any,
    stop: Event,
    results: Any,
) -> None:
    """Ingestor process: store until ``stop``, adding its acknowledgements to the total."""
    if os.environ.get("M2C_BENCH_MQTT_LOG"):
        logging.basicConfig(level=logging.DEBUG, format="%(relativeCreated)6.0f %(message)s")
        logging.getLogger("paho").setLevel(logging.INFO)
    store = MeasurementStore(Path(root) / "measurements", TZ)
    dead = DeadLetterStore(Path(root) / "deadletter")
    ingestor = MqttIngestor(
        store,
        dead,
        lambda address: f"M{address}",
        tenant=tenant,
        client_id=f"bench-{tenant}-{worker}",
        shared=shared,
        session_expiry=60,
        host=HOST,
        port=PORT,
        batch_size=BATCH_SIZE,
        batch_bytes=BATCH_BYTES,
    )
    ingestor.start()
    if not ingestor.wait_until(lambda c: c.connections >= 1, 10):
        raise RuntimeError(f"no MQTT broker on {HOST}:{PORT}")
    time.sleep(0.5)  # let the SUBACK arrive before the publisher starts
    cpu_at_start = time.process_time()
    ready.release()
    seen = 0
    while not stop.is_set():

        def moved(counts: IngestCounts, seen: int = seen) -> bool:
            return counts.acknowledged != seen

        ingestor.wait_until(moved, 0.05)
        now = ingestor.counts.acknowledged
        with acknowledged.get_lock():
            acknowledged.value += now - seen
        seen = now
    counts = ingestor.stop()
    results.put((counts.acknowledged, counts.dead_lettered, time.process_time() - cpu_at_start))


def run() -> dict[str, float]:
    seconds = float(os.environ.get("M2C_BENCH_MQTT_SECONDS", "60"))
    per_message = int(os.environ.get("M2C_BENCH_MQTT_BATCH", "100"))
    workers = int(os.environ.get("M2C_BENCH_MQTT_WORKERS", "1"))
    tenant = f"bench{uuid.uuid4().hex[:8]}"
    context = mp.get_context("spawn")
    acknowledged = context.Value("q", 0)
    published = context.Value("q", 0)
    began = context.Value("d", 0.0)
    publisher_cpu = context.Value("d", 0.0)
    done, stop = context.Event(), context.Event()
    ready = context.Semaphore(0)
    results = context.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        ingestors = [
            context.Process(
                target=_ingest,
                args=(tmp, tenant, w, workers > 1, acknowledged, ready, stop, results),
            )
            for w in range(workers)
        ]
        for process in ingestors:
            process.start()
        for _ in ingestors:
            if not ready.acquire(timeout=30):
                stop.set()
                raise RuntimeError(f"an ingestor did not connect to {HOST}:{PORT}")
        publisher = context.Process(
            target=_publish,
            args=(
                tenant,
                per_message,
                seconds,
                acknowledged,
                published,
                began,
                publisher_cpu,
                done,
            ),
        )
        publisher.start()
        done.wait(seconds + 120)
        deadline = time.monotonic() + 120
        while acknowledged.value < published.value and time.monotonic() < deadline:
            time.sleep(0.001)
        elapsed = time.monotonic() - began.value
        stop.set()
        outcomes = [results.get(timeout=60) for _ in ingestors]
        publisher.join()
        for process in ingestors:
            process.join()
        reads = MeasurementStore(Path(tmp) / "measurements", TZ).scan("register_reads")
        unique = len(set(zip(reads["meter_no"].to_pylist(), reads["ts"].to_pylist(), strict=True)))
    sent = published.value * per_message
    return {
        "seconds": round(elapsed, 1),
        "messages_per_s": published.value / elapsed,
        "readings_per_s": sent / elapsed,
        "readings_per_message": float(per_message),
        "workers": float(workers),
        "lost": float(sent - reads.num_rows),
        "duplicated": float(reads.num_rows - unique),
        "dead_lettered": float(sum(o[1] for o in outcomes)),
        # CPU [µs] per message, less sensitive than the rates to what else the machine runs
        "ingest_cpu_us_per_message": sum(o[2] for o in outcomes) / published.value * 1e6,
        "publish_cpu_us_per_message": publisher_cpu.value / published.value * 1e6,
    }


if __name__ == "__main__":
    print(run())
