"""The MQTT ingestor: subscribe, batch, store durably, then acknowledge.

Messages arrive on paho's network thread and are only queued there. A flusher thread takes
up to ``batch_size`` messages or ``batch_bytes`` of payload (or whatever arrived within
``batch_seconds``), decodes them, writes register reads and events through
:class:`MeasurementStore` and refusals to the :class:`DeadLetterStore`, and only then sends
each message's PUBACK (paho ``manual_ack``). One durable write per batch, not per message, is
what makes QoS 1 throughput possible: the broker keeps up to ``4 * batch_size`` messages in
flight to the worker (MQTT 5 Receive Maximum), so batches fill while one is stored and its
PUBACKs are on their way; a broker queues what exceeds it, and mosquitto drops QoS 1 messages
beyond ``max_queued_messages`` (1000 by default).
A crash before the PUBACK leaves the message with the broker, which redelivers it; the
store's natural key turns the repeat into a counted duplicate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, NamedTuple

import paho.mqtt.client as paho
import pyarrow as pa
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from meter2cash.core.clock import Clock, SystemClock
from meter2cash.core.errors import InputError
from meter2cash.core.money import energy
from meter2cash.headend.mqtt.deadletter import DeadLetter, DeadLetterStore
from meter2cash.headend.mqtt.payload import (
    MeterEvent,
    RegisterRead,
    Rejected,
    body_text,
    decode_events,
    decode_readings,
)
from meter2cash.headend.mqtt.topics import Topic, parse_topic, subscriptions
from meter2cash.measurements.schema import UTC_TS, VALUE_TYPE
from meter2cash.measurements.store import IngestReport, MeasurementStore

log = logging.getLogger(__name__)

Resolve = Callable[[str], str | None]
"""Meter address (12 digits) → ``meter_no``, or None for an unknown meter."""
Protocol = Literal["5", "3.1.1"]
_TOPIC_CACHE = 100_000
"""Parsed topic names kept [entries] (one per meter or gateway): a few tens of MB at most."""


@dataclass(frozen=True, slots=True)
class IngestCounts:
    """Running totals of one ingestor. Messages count PUBLISH packets, redeliveries included."""

    messages: int = 0
    readings: int = 0
    events: int = 0
    statuses: int = 0
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    quarantined: int = 0
    dead_lettered: int = 0
    acknowledged: int = 0
    connections: int = 0


class _Message(NamedTuple):
    """A PUBLISH as queued by the network thread (a tuple: cheap to build per message)."""

    connection: int
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: datetime


class _Reads:
    """Register reads of a batch gathered column by column, ready for the store."""

    __slots__ = ("channel", "meter_no", "read_type", "ts", "value")

    def __init__(self) -> None:
        self.meter_no: list[str] = []
        self.channel: list[str] = []
        self.ts: list[datetime] = []
        self.value: list[Decimal] = []
        self.read_type: list[str] = []

    def __len__(self) -> int:
        return len(self.meter_no)

    def add(self, meter_no: str, read: RegisterRead) -> None:
        self.meter_no.append(meter_no)
        self.channel.append(read.channel)
        self.ts.append(read.ts)
        self.value.append(energy(read.value))
        self.read_type.append(read.read_type)

    def table(self) -> pa.Table:
        return pa.table(
            {
                "meter_no": pa.array(self.meter_no, pa.string()),
                "channel": pa.array(self.channel, pa.string()),
                # Arrow converts aware datetimes to UTC itself.
                "ts": pa.array(self.ts, UTC_TS),
                "value": pa.array(self.value, VALUE_TYPE),
                "read_type": pa.array(self.read_type, pa.string()),
            }
        )


class MqttIngestor:
    """Consume ``ami/v1/{tenant}/+/+/{reading,event,status}`` into the measurement store.

    Parameters
    ----------
    store, dead_letters
        Where readings/events and refused messages go; both durable when their call returns.
    resolve
        Meter address → ``meter_no`` (see :class:`~.resolver.MeterAddresses`).
    tenant
        The topic's tenant segment this worker consumes.
    client_id
        Fixed across restarts: the broker keeps the session (subscriptions and unacknowledged
        or queued QoS 1 messages) under this id for ``session_expiry`` [s].
    shared
        Subscribe through ``$share/ingest/…`` so several workers split the load.
    batch_size, batch_bytes, batch_seconds
        A batch is stored when it holds ``batch_size`` messages or ``batch_bytes`` [bytes] of
        payload, or its first message is ``batch_seconds`` [s] old, whichever comes first.
    """

    def __init__(
        self,
        store: MeasurementStore,
        dead_letters: DeadLetterStore,
        resolve: Resolve,
        *,
        tenant: str,
        host: str = "127.0.0.1",
        port: int = 1883,
        client_id: str | None = None,
        shared: bool = False,
        protocol: Protocol = "5",
        batch_size: int = 5000,
        batch_bytes: int = 4_000_000,
        batch_seconds: float = 0.2,
        session_expiry: int = 7 * 24 * 3600,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.dead_letters = dead_letters
        self.tenant = tenant
        self._resolve = resolve
        self._host, self._port = host, port
        self._shared = shared
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        self._batch_seconds = batch_seconds
        self._clock: Clock = clock or SystemClock()
        self._source = f"mqtt:{tenant}"
        self._v5 = protocol == "5"
        self._session_expiry = session_expiry
        self._client_id = client_id or f"m2c-ingest-{tenant}"
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=paho.MQTTv5 if self._v5 else paho.MQTTv311,
            clean_session=None if self._v5 else False,
            manual_ack=True,
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._lock = threading.Condition()
        self._pending: list[_Message] = []
        self._pending_bytes = 0
        self._first_at = 0.0
        self._connection = 0
        self._accepting = False
        self._stopping = False
        self._counts = IngestCounts()
        self._received = 0
        """PUBLISH packets queued; folded into ``counts`` on read (not per message)."""
        self._topics: dict[str, Topic] = {}
        self._flusher = threading.Thread(target=self._flush_loop, name="mqtt-flush", daemon=True)

    @property
    def counts(self) -> IngestCounts:
        """A snapshot of the running totals."""
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> IngestCounts:
        return replace(self._counts, messages=self._received)

    @property
    def client(self) -> paho.Client:
        """The underlying paho client (diagnostics and tests)."""
        return self._client

    def start(self) -> None:
        """Connect (retrying with backoff in the background) and start consuming."""
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._session_expiry
            properties.ReceiveMaximum = min(65535, 4 * self._batch_size)
        self._accepting = True
        self._flusher.start()
        self._client.connect_async(
            self._host,
            self._port,
            keepalive=30,
            clean_start=False if self._v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self._client.loop_start()

    def stop(self, timeout: float = 30.0) -> IngestCounts:
        """Store and acknowledge what has arrived, then disconnect; return the totals.

        Messages arriving after the call are left unacknowledged for the broker to redeliver.
        """
        with self._lock:
            self._accepting = False
            self._stopping = True
            self._lock.notify_all()
        self._flusher.join(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        return self.counts

    def wait_until(self, done: Callable[[IngestCounts], bool], timeout: float) -> bool:
        """Block until ``done(counts)`` holds or ``timeout`` [s] passes; return whether it held."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not done(self._snapshot()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.05))
        return True

    # ------------------------------------------------------------------ paho callbacks

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT connect to %s:%s refused: %s", self._host, self._port, reason)
            return
        with self._lock:
            self._connection += 1
            self._counts = replace(self._counts, connections=self._counts.connections + 1)
        if not flags.session_present:
            log.info("MQTT session for %s is new: subscribing", self._client_id)
        filters = subscriptions(self.tenant, shared=self._shared)
        if self._v5:
            client.subscribe([(f, SubscribeOptions(qos=1)) for f in filters])
        else:
            client.subscribe([(f, 1) for f in filters])

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            self._connection += 1
        if reason.is_failure:
            log.warning("MQTT connection lost (%s); reconnecting", reason)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        # Runs once per PUBLISH on the network thread: keep it to queueing.
        payload = bytes(message.payload)
        received_at = self._clock.now()
        with self._lock:
            if not self._accepting:
                return
            pending = self._pending
            if not pending:
                self._first_at = time.monotonic()
            pending.append(
                _Message(
                    self._connection, message.mid, message.qos, message.topic, payload, received_at
                )
            )
            self._pending_bytes += len(payload)
            self._received += 1
            if len(pending) >= self._batch_size or self._pending_bytes >= self._batch_bytes:
                self._lock.notify_all()

    # ------------------------------------------------------------------ batches

    def _flush_loop(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and (
                    not self._pending
                    or (
                        len(self._pending) < self._batch_size
                        and self._pending_bytes < self._batch_bytes
                        and time.monotonic() < self._first_at + self._batch_seconds
                    )
                ):
                    wait = self._first_at + self._batch_seconds - time.monotonic()
                    self._lock.wait(wait if self._pending else self._batch_seconds)
                batch = self._take_batch()
                if not batch and self._stopping:
                    return
            if batch:
                self._store_and_ack(batch)

    def _take_batch(self) -> list[_Message]:
        """Up to ``batch_size`` pending messages and ``batch_bytes`` (at least one message)."""
        pending = self._pending
        if len(pending) <= self._batch_size and self._pending_bytes <= self._batch_bytes:
            self._pending, self._pending_bytes = [], 0
        else:
            taken, size = 0, 0
            limit = min(len(pending), self._batch_size)
            while taken < limit and (
                taken == 0 or size + len(pending[taken].payload) <= self._batch_bytes
            ):
                size += len(pending[taken].payload)
                taken += 1
            self._pending, pending = pending[taken:], pending[:taken]
            self._pending_bytes -= size
        self._first_at = time.monotonic()
        return pending

    def _store_and_ack(self, batch: Sequence[_Message]) -> None:
        """Decode, store durably (retrying with backoff), then PUBACK the batch's messages."""
        began = time.perf_counter()
        reads, events, letters, statuses = self._decode(batch)
        decoded = time.perf_counter()
        delay = 0.5
        while True:
            try:
                read_report = self._store_reads(reads)
                event_report = self._store_events(events)
                self.dead_letters.write(letters)
                break
            except (OSError, InputError) as exc:
                if self._stopping:
                    log.error("batch not stored at stop (%s); broker will redeliver it", exc)
                    return
                log.error("storing an MQTT batch failed (%s); retrying in %.1f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
        stored = time.perf_counter()
        with self._lock:
            current = self._connection
        ack = self._client.ack
        acknowledged = 0
        for message in batch:
            if message.qos > 0 and message.connection == current:
                ack(message.mid, message.qos)
                acknowledged += 1
        log.debug(
            "MQTT batch of %d messages, %d readings: decoded in %.0f ms, stored in %.0f ms, "
            "acked in %.0f ms",
            len(batch),
            len(reads),
            (decoded - began) * 1e3,
            (stored - decoded) * 1e3,
            (time.perf_counter() - stored) * 1e3,
        )
        with self._lock:
            c = self._counts
            self._counts = replace(
                c,
                readings=c.readings + len(reads),
                events=c.events + len(events),
                statuses=c.statuses + statuses,
                stored=c.stored + read_report.accepted + event_report.accepted,
                duplicates=c.duplicates + read_report.duplicates + event_report.duplicates,
                conflicts=c.conflicts + read_report.conflicts + event_report.conflicts,
                quarantined=c.quarantined + read_report.quarantined + event_report.quarantined,
                dead_lettered=c.dead_lettered + len(letters),
                acknowledged=c.acknowledged + acknowledged,
            )
            self._lock.notify_all()

    def _decode(
        self, batch: Sequence[_Message]
    ) -> tuple[_Reads, list[tuple[str, MeterEvent]], list[DeadLetter], int]:
        """(reads, events) with their meter_no, dead letters, and the number of status messages."""
        reads = _Reads()
        events: list[tuple[str, MeterEvent]] = []
        letters: list[DeadLetter] = []
        statuses = 0
        for message in batch:
            try:
                topic = self._topic(message.topic)
            except InputError as exc:
                payload, encoding = body_text(message.payload)
                letters.append(
                    DeadLetter(
                        message.topic, None, payload, encoding, exc.problem, message.received_at
                    )
                )
                continue
            if topic.kind == "status":
                statuses += 1
                continue
            decoded = (
                decode_readings(
                    message.payload, topic.meter, tz=self.store.tz, received_at=message.received_at
                )
                if topic.kind == "reading"
                else decode_events(message.payload, topic.meter, received_at=message.received_at)
            )
            for item in decoded:
                if isinstance(item, Rejected):
                    letters.append(
                        DeadLetter(
                            message.topic,
                            item.msg_id,
                            item.payload,
                            item.encoding,
                            item.reason,
                            message.received_at,
                        )
                    )
                    continue
                meter_no = self._resolve(item.address)
                if meter_no is None:
                    payload, encoding = body_text(message.payload)
                    letters.append(
                        DeadLetter(
                            message.topic,
                            None,
                            payload,
                            encoding,
                            f"unknown meter address {item.address}",
                            message.received_at,
                        )
                    )
                elif isinstance(item, RegisterRead):
                    reads.add(meter_no, item)
                else:
                    events.append((meter_no, item))
        return reads, events, letters, statuses

    def _topic(self, name: str) -> Topic:
        """``parse_topic``, remembered: a meter publishes on the same topic again and again."""
        topic = self._topics.get(name)
        if topic is None:
            topic = parse_topic(name)
            if len(self._topics) >= _TOPIC_CACHE:
                self._topics.clear()
            self._topics[name] = topic
        return topic

    def _store_reads(self, reads: _Reads) -> IngestReport:
        if not reads.meter_no:
            return IngestReport("register_reads", 0, 0, 0, 0, 0)
        return self.store.ingest_register_reads(reads.table(), source=self._source)

    def _store_events(self, events: Sequence[tuple[str, MeterEvent]]) -> IngestReport:
        if not events:
            return IngestReport("events", 0, 0, 0, 0, 0)
        table = pa.table(
            {
                "meter_no": pa.array([m for m, _ in events], pa.string()),
                "ts": pa.array([e.ts for _, e in events], UTC_TS),
                "code": pa.array([e.code for _, e in events], pa.string()),
                "detail": pa.array([e.detail for _, e in events], pa.string()),
            }
        )
        return self.store.ingest_events(table, source=self._source)
