"""The columnar measurement store (Parquet partitioned by local day); see :mod:`.store`."""

from meter2cash.measurements.store import IngestReport, MeasurementStore

__all__ = ["IngestReport", "MeasurementStore"]
