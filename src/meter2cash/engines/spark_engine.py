"""Ibis over PySpark: the cluster engine (``local[*]`` in tests)."""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from meter2cash.engines.base import BatchEngine
from meter2cash.measurements.store import MeasurementStore

SPARK_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "2g",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
"""Session settings: UTC instants, few shuffle partitions for laptop-sized batches."""


def spark_session(master: str) -> Any:
    """A (possibly already running) SparkSession on ``master`` with :data:`SPARK_CONF`."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName("meter2cash")
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkEngine(BatchEngine):
    """Reads the store's partition directories with Spark's own partition discovery."""

    name = "spark"

    def __init__(
        self, store: MeasurementStore, session: Any, *, owns_session: bool = False
    ) -> None:
        self.session = session
        self.owns_session = owns_session
        super().__init__(store, ibis.pyspark.connect(session))

    @classmethod
    def start(cls, master: str, store: MeasurementStore) -> SparkEngine:
        """Start a Spark session on ``master`` that :meth:`close` stops; startup takes ~20 s."""
        return cls(store, spark_session(master), owns_session=True)

    def _read_kind(self, kind: str) -> ir.Table:
        # The kind's directory, not a glob: Spark discovers local_date=… partitions (as
        # dates) and skips the dot-named files a writer has not yet renamed into place.
        return self.backend.read_parquet(str(self.store.kind_dir(kind)))

    def table(self, name: str, data: pa.Table) -> ir.Table:
        self.session.createDataFrame(data).createOrReplaceTempView(name)
        return self.backend.table(name)

    def close(self) -> None:
        """Stop the session if this engine started it; a session passed in stays running."""
        if self.owns_session:
            self.session.stop()
