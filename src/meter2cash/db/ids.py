"""Primary keys handed out before a bulk insert, so the rows that reference them can be built
in the same frame instead of looked up afterwards."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.orm import Session


def reserve_ids(session: Session, table: str, count: int) -> npt.NDArray[np.int64]:
    """``count`` unused ids of ``table``'s ``id`` column, in increasing order.

    PostgreSQL draws them from the column's sequence, so concurrent writers never collide.
    SQLite has one writer at a time: the ids follow the largest present, and the insert that
    uses them must come in the same transaction (a concurrent writer would make it fail on
    the primary key, never overwrite).
    """
    if count <= 0:
        return np.zeros(0, np.int64)
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                "FROM generate_series(1, :count)"
            ),
            {"table": table, "count": count},
        ).scalars()
        return np.sort(np.fromiter(rows, np.int64, count))
    largest = session.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()
    return np.arange(int(largest) + 1, int(largest) + 1 + count, dtype=np.int64)
