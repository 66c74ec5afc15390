"""The batch engine seam: one Ibis expression, run on DuckDB (embedded) or PySpark (cluster).

Batch computations (billing determinants, VEE over a day, line loss…) are written once as Ibis
expressions over :meth:`BatchEngine.measurements` and small tables registered with
:meth:`BatchEngine.table`; ``M2C_ENGINE`` picks where they run. ``tests/engines`` proves both
engines give identical results.
"""

from __future__ import annotations

from meter2cash.core.settings import Settings
from meter2cash.engines.base import BatchEngine
from meter2cash.measurements.store import MeasurementStore

__all__ = ["BatchEngine", "open_engine"]


def open_engine(settings: Settings, store: MeasurementStore) -> BatchEngine:
    """The engine ``settings.engine`` names, reading ``store``; close it when done."""
    if settings.engine == "spark":
        from meter2cash.engines.spark_engine import SparkEngine

        return SparkEngine.start(settings.spark_master, store)
    from meter2cash.engines.duckdb_engine import DuckDBEngine

    return DuckDBEngine(store)
