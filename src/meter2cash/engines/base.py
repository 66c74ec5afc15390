"""The engine interface and the pieces both engines share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import date
from typing import Any

import ibis.expr.types as ir
import pyarrow as pa

from meter2cash.measurements.schema import SPECS
from meter2cash.measurements.store import MeasurementStore, check_kind


def latest_versions(table: ir.Table, kind: str) -> ir.Table:
    """Only the highest version per (meter_no, channel, ts); events pass through.

    Revisions (version > 0: estimates, edits, late raw) are few, so the window that picks
    the newest runs over them alone, and version-0 rows are kept unless a revision of
    their key exists (an anti-join against the small revised set). The window's maximum
    is computed as a column, then filtered on: Ibis's PySpark compiler mis-scopes a window
    placed directly inside a filter.
    """
    spec = SPECS[check_kind(kind)]
    if not spec.versioned:
        return table
    keys = list(spec.key)
    revised = table.filter(table.version > 0)
    marked = revised.mutate(_latest_version=revised.version.max().over(group_by=keys))
    newest = marked.filter(marked.version == marked._latest_version).drop("_latest_version")
    original = table.filter(table.version == 0)
    untouched = original.anti_join(revised.select(*keys), keys)
    return untouched.union(newest)


class BatchEngine(ABC):
    """A place to run Ibis expressions over the measurement store and small side tables."""

    name: str

    def __init__(self, store: MeasurementStore, backend: Any) -> None:
        self.store = store
        self.backend = backend

    def measurements(
        self, kind: str, first: date | None = None, last: date | None = None
    ) -> ir.Table:
        """Current versions of the store's ``kind`` with ``local_date`` (date) from the path.

        ``first``/``last`` (local dates, inclusive) prune partitions before the latest-version
        window, so a month's query reads that month's files only. An empty kind is an empty
        table of the stored schema.
        """
        spec = SPECS[check_kind(kind)]
        if not self.store.has_data(kind):
            return self.table(f"empty_{kind}", spec.schema.empty_table())
        raw = self._read_kind(kind)
        typed = raw.mutate(local_date=raw.local_date.cast("date")).select(*spec.schema.names)
        if first is not None:
            typed = typed.filter(typed.local_date >= first)
        if last is not None:
            typed = typed.filter(typed.local_date <= last)
        return latest_versions(typed, kind)

    @abstractmethod
    def _read_kind(self, kind: str) -> ir.Table:
        """Every stored row of ``kind`` (all versions), partition column included."""

    @abstractmethod
    def table(self, name: str, data: pa.Table) -> ir.Table:
        """Register a small in-memory table (periods, TOU slots, calendars) as ``name``."""

    def to_arrow(self, expr: ir.Expr) -> pa.Table:
        """Run ``expr`` and return its result as an Arrow table."""
        result = self.backend.to_pyarrow(expr)
        return result if isinstance(result, pa.Table) else pa.table({"value": result})

    @abstractmethod
    def close(self) -> None:
        """Release the engine's resources."""
