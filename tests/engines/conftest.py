"""Engines under test: a shared Spark session (one ~20 s start for the whole run)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest


def _spark_unavailable() -> str | None:
    """Why Spark cannot run here, or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None:
        return "java is not on PATH (Spark needs a JDK 17)"
    return None


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local Spark session for every test; skipped (or failed) without pyspark/java."""
    reason = _spark_unavailable()
    if reason:
        if os.environ.get("M2C_TEST_REQUIRE_SPARK") == "1":
            pytest.fail(f"M2C_TEST_REQUIRE_SPARK=1 but {reason}")
        pytest.skip(reason)
    from meter2cash.engines.spark_engine import spark_session as start

    session = start("local[2]")
    yield session
    session.stop()
