"""Ibis over in-process DuckDB: the embedded default engine."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from meter2cash.engines.base import BatchEngine
from meter2cash.measurements.store import MeasurementStore


class DuckDBEngine(BatchEngine):
    """Reads the store's Parquet in place with DuckDB (hive partitioning by ``local_date``)."""

    name = "duckdb"

    def __init__(self, store: MeasurementStore) -> None:
        backend = ibis.duckdb.connect()
        backend.raw_sql("SET TimeZone = 'UTC'")
        backend.raw_sql("SET enable_progress_bar = false")
        super().__init__(store, backend)

    def _read_kind(self, kind: str) -> ir.Table:
        return self.backend.read_parquet(self.store.glob(kind), hive_partitioning=True)

    def table(self, name: str, data: pa.Table) -> ir.Table:
        return self.backend.create_table(name, obj=data, temp=True, overwrite=True)

    def close(self) -> None:
        self.backend.disconnect()
