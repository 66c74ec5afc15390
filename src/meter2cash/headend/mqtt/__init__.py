"""MQTT ingestion for meters and gateways that publish (see docs/mqtt.md)."""

from meter2cash.headend.mqtt.deadletter import DeadLetter, DeadLetterStore
from meter2cash.headend.mqtt.ingest import IngestCounts, MqttIngestor, Resolve
from meter2cash.headend.mqtt.resolver import MeterAddresses
from meter2cash.headend.mqtt.topics import BATCH_METER, subscriptions, topic

__all__ = [
    "BATCH_METER",
    "DeadLetter",
    "DeadLetterStore",
    "IngestCounts",
    "MeterAddresses",
    "MqttIngestor",
    "Resolve",
    "subscriptions",
    "topic",
]
