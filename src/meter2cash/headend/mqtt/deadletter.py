"""Dead letters: MQTT messages that could not be stored, kept as Parquet with the reason.

Layout: ``<root>/<batch_id>.parquet``, written durably (temporary name, fsync, rename) so a
dead letter exists before its message is acknowledged to the broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

from meter2cash.core.ids import new_id
from meter2cash.measurements.files import write_durable

DEAD_LETTERS: Final = pa.schema(
    [
        pa.field("topic", pa.string(), nullable=False),
        pa.field("msg_id", pa.string()),
        pa.field("payload", pa.string(), nullable=False),
        pa.field("encoding", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("received_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One refused message (or batch element): ``payload`` as text or hex per ``encoding``."""

    topic: str
    msg_id: str | None
    payload: str
    encoding: str
    reason: str
    received_at: datetime


class DeadLetterStore:
    """Durable Parquet batches of dead letters under ``root`` (``M2C_HOME/deadletter/mqtt``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, letters: Sequence[DeadLetter]) -> None:
        """Store ``letters`` as one file; durable when this returns. Nothing to do if empty."""
        if not letters:
            return
        table = pa.table(
            {
                "topic": [d.topic for d in letters],
                "msg_id": [d.msg_id for d in letters],
                "payload": [d.payload for d in letters],
                "encoding": [d.encoding for d in letters],
                "reason": [d.reason for d in letters],
                "received_at": [d.received_at.astimezone(UTC) for d in letters],
            },
            schema=DEAD_LETTERS,
        )
        write_durable(self.root / f"{new_id()}.parquet", table)

    def read(self) -> pa.Table:
        """Every stored dead letter, oldest received first."""
        files = sorted(self.root.glob("*.parquet")) if self.root.exists() else []
        if not files:
            return DEAD_LETTERS.empty_table()
        table = pa.concat_tables([pq.read_table(f, schema=DEAD_LETTERS) for f in files])
        return table.sort_by("received_at")
