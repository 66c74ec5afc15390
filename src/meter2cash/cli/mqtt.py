"""`m2c mqtt` — the MQTT ingestion worker and a sample publisher."""

from __future__ import annotations

import json
import signal
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import paho.mqtt.client as paho
import typer
from paho.mqtt.enums import CallbackAPIVersion

from meter2cash.cli.output import console, table
from meter2cash.core.settings import Settings
from meter2cash.headend.mqtt import DeadLetterStore, MeterAddresses, MqttIngestor, topic
from meter2cash.workspace import open_workspace

app = typer.Typer(help="MQTT ingestion (ami/v1/{tenant}/…).", no_args_is_help=True)

Host = Annotated[str, typer.Option(help="Broker host.")]
Port = Annotated[int, typer.Option(help="Broker port.")]
Tenant = Annotated[str, typer.Option(help="Tenant segment of the topics.")]


@app.command("ingest")
def ingest(
    tenant: Tenant,
    host: Host = "127.0.0.1",
    port: Port = 1883,
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="Fixed client id (default m2c-ingest-TENANT).")
    ] = None,
    shared: Annotated[bool, typer.Option(help="Use $share/ingest/… across workers.")] = False,
) -> None:
    """Consume readings and events into the measurement store until Ctrl-C or --seconds."""
    settings = Settings.from_env()
    with open_workspace(settings) as workspace:
        ingestor = MqttIngestor(
            workspace.store,
            DeadLetterStore(settings.home / "deadletter" / "mqtt"),
            MeterAddresses(workspace.records),
            tenant=tenant,
            host=host,
            port=port,
            client_id=client_id,
            shared=shared,
        )
        stopping = False

        def on_signal(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        ingestor.start()
        console.print(f"ingesting ami/v1/{tenant}/… from {host}:{port} (Ctrl-C stops)")
        deadline = time.monotonic() + seconds if seconds is not None else None
        while not stopping and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.2)
        counts = ingestor.stop()
    console.print(table("MQTT ingest", ["count", "value"], list(asdict(counts).items())))


@app.command("publish-sample")
def publish_sample(
    tenant: Tenant,
    address: Annotated[str, typer.Option(help="12-digit meter address.")],
    value: Annotated[str, typer.Option(help="A+ register value [kWh], decimal string.")],
    host: Host = "127.0.0.1",
    port: Port = 1883,
    concentrator: Annotated[str, typer.Option(help="Concentrator segment.")] = "C001",
) -> None:
    """Publish one A+ reading at QoS 1, timed now (for trying out a worker)."""
    now = datetime.now(UTC).isoformat()
    body = {
        "msg_id": uuid.uuid4().hex,
        "meter": address,
        "di": "00010000",
        "value": value,
        "unit": "kWh",
        "meter_time": now,
        "received_at": now,
    }
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(host, port)
    client.loop_start()
    name = topic(tenant, concentrator, address, "reading")
    client.publish(name, json.dumps(body), qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
    console.print(f"published to {name}")
