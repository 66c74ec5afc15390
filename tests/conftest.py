"""Shared fixtures: records databases (SQLite always; PostgreSQL when configured)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text

from meter2cash.core.clock import FixedClock
from meter2cash.db.migrate import upgrade
from meter2cash.db.session import make_engine

settings.register_profile("m2c", deadline=None)  # timing varies on a shared 2-core machine
settings.load_profile("m2c")

POSTGRES_URL = os.environ.get("M2C_TEST_POSTGRES_URL")
REQUIRE_SERVICES = os.environ.get("M2C_TEST_REQUIRE_SERVICES") == "1"


def require_spark() -> None:
    """Skip (or, with M2C_TEST_REQUIRE_SPARK=1, fail) unless PySpark and Java are here."""
    reason = None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        reason = "pyspark is not installed (pip install -e '.[spark]')"
    if reason is None and shutil.which("java") is None:
        reason = "java is not on PATH (Spark needs a JDK 17)"
    if reason:
        if os.environ.get("M2C_TEST_REQUIRE_SPARK") == "1":
            pytest.fail(f"M2C_TEST_REQUIRE_SPARK=1 but {reason}")
        pytest.skip(reason)


def _postgres_or_skip() -> str:
    if POSTGRES_URL:
        return POSTGRES_URL
    reason = "PostgreSQL not configured: set M2C_TEST_POSTGRES_URL (.ci/run does)"
    if REQUIRE_SERVICES:
        pytest.fail(reason + " — required because M2C_TEST_REQUIRE_SERVICES=1")
    pytest.skip(reason)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 10, 1, tzinfo=UTC))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def records(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A freshly migrated records database: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('records') / 'records.sqlite'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    yield from _migrated_postgres()


def _migrated_postgres() -> Iterator[Engine]:
    with postgres_schema() as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL whose connections live in a fresh PostgreSQL schema, dropped afterwards."""
    base_url = _postgres_or_skip()
    schema = f"m2c_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_records() -> Iterator[Engine]:
    """A freshly migrated PostgreSQL schema (for what only PostgreSQL enforces)."""
    yield from _migrated_postgres()
