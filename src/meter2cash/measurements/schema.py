"""Arrow schemas of the measurement store and the natural key of each kind.

Every stored file holds the columns of its kind's schema except ``local_date``, which is the
hive partition (``local_date=YYYY-MM-DD`` directory) and is added back by readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import pyarrow as pa

Kind = Literal["register_reads", "intervals", "events"]
KINDS: Final[tuple[Kind, ...]] = ("register_reads", "intervals", "events")

VALUE_TYPE: Final = pa.decimal128(18, 4)
"""Stored energy [kWh], reactive energy [kvarh] and register values: 4 decimal places."""
UTC_TS: Final = pa.timestamp("us", tz="UTC")

ENERGY_REGISTERS: Final = ("A+", "A+1", "A+2", "A+3", "A+4", "A-")
"""Active energy registers [kWh]: import total, import by rate 1–4 (尖峰平谷), export."""
REACTIVE_REGISTER: Final = "R+"
"""Combined reactive energy 1 [kvarh], on three-phase C&I meters: cumulative like A+."""
DEMAND_REGISTER: Final = "MD+"
"""Forward active maximum demand [kW] since the last monthly settlement: a running maximum."""
REGISTER_CHANNELS: Final = (*ENERGY_REGISTERS, REACTIVE_REGISTER, DEMAND_REGISTER)
"""Every register channel the store keeps (see docs/architecture.md)."""
READ_TYPES: Final = ("daily_frozen", "on_demand")
RAW: Final = "raw"
VERSION_QUALITIES: Final = ("valid", "estimated", "edited")
"""Qualities a VEE version may carry; ``raw`` is reserved for ingest."""

# What a head-end delivers to the store's ingest (values in floats, before keys and versions).
DELIVERED_REGISTER_READS: Final = pa.schema(
    [
        ("meter_no", pa.string()),
        ("channel", pa.string()),
        ("ts", UTC_TS),
        ("value", pa.float64()),
        ("read_type", pa.string()),
    ]
)
"""Register reads [kWh], ``ts`` the read (a daily freeze: the local midnight closing its day)."""
DELIVERED_INTERVALS: Final = pa.schema(
    [("meter_no", pa.string()), ("channel", pa.string()), ("ts", UTC_TS), ("value", pa.float64())]
)
"""Interval energy [kWh, kvarh], ``ts`` the interval's start."""
DELIVERED_EVENTS: Final = pa.schema(
    [("meter_no", pa.string()), ("ts", UTC_TS), ("code", pa.string()), ("detail", pa.string())]
)
"""Meter events."""

_VERSIONED_TAIL: Final = [
    pa.field("local_date", pa.date32(), nullable=False),
    pa.field("version", pa.int32(), nullable=False),
    pa.field("quality", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("batch_id", pa.string(), nullable=False),
    pa.field("ingested_at", UTC_TS, nullable=False),
]

REGISTER_READS: Final = pa.schema(
    [
        pa.field("meter_no", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("ts", UTC_TS, nullable=False),
        pa.field("value", VALUE_TYPE, nullable=False),
        pa.field("read_type", pa.string(), nullable=False),
        *_VERSIONED_TAIL,
    ]
)

INTERVALS: Final = pa.schema(
    [
        pa.field("meter_no", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("ts", UTC_TS, nullable=False),
        pa.field("value", VALUE_TYPE, nullable=False),
        _VERSIONED_TAIL[0],
        pa.field("slot", pa.int16(), nullable=False),
        *_VERSIONED_TAIL[1:],
    ]
)

EVENTS: Final = pa.schema(
    [
        pa.field("meter_no", pa.string(), nullable=False),
        pa.field("ts", UTC_TS, nullable=False),
        pa.field("code", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("local_date", pa.date32(), nullable=False),
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("ingested_at", UTC_TS, nullable=False),
    ]
)

QUARANTINE: Final = pa.schema(
    [
        pa.field("kind", pa.string()),
        pa.field("meter_no", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("ts", pa.string()),
        pa.field("value", pa.string()),
        pa.field("read_type", pa.string()),
        pa.field("code", pa.string()),
        pa.field("detail", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("source", pa.string()),
        pa.field("batch_id", pa.string()),
        pa.field("ingested_at", UTC_TS),
    ]
)
"""Rejected rows: the original values as text, why, and where they came from."""


@dataclass(frozen=True, slots=True)
class KindSpec:
    """How one kind is stored: schema, natural key and the payload compared on re-ingest."""

    schema: pa.Schema
    key: tuple[str, ...]
    payload: str
    versioned: bool

    @property
    def file_schema(self) -> pa.Schema:
        """Columns inside each Parquet file (the partition column lives in the path)."""
        return pa.schema([f for f in self.schema if f.name != "local_date"])

    @property
    def conflict_schema(self) -> pa.Schema:
        """File schema plus the value already stored under the same key."""
        return self.file_schema.append(
            pa.field("existing_value", self.schema.field(self.payload).type)
        )


SPECS: Final[dict[Kind, KindSpec]] = {
    "register_reads": KindSpec(REGISTER_READS, ("meter_no", "channel", "ts"), "value", True),
    "intervals": KindSpec(INTERVALS, ("meter_no", "channel", "ts"), "value", True),
    "events": KindSpec(EVENTS, ("meter_no", "ts", "code"), "detail", False),
}
