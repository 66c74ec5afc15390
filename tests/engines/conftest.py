"""Engines under test: a shared Spark session (one ~20 s start for the whole run)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import require_spark


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local Spark session for every test; skipped (or failed) without pyspark/java."""
    require_spark()
    from meter2cash.engines.spark_engine import spark_session as start

    session = start("local[2]")
    yield session
    session.stop()
