"""Engines and sessions. Services never commit; the command or job boundary does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import DatabaseError as SADatabaseError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from meter2cash.core.errors import DatabaseError
from meter2cash.core.settings import Settings


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and a parent directory."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def open_engine(settings: Settings, *, require_schema: bool = True) -> Engine:
    """Open the records database, failing with a one-line error if missing or corrupt."""
    url = settings.database_url
    if url.startswith("sqlite") and require_schema:
        path = Path(url.split("///", 1)[-1])
        if not path.exists():
            raise DatabaseError(
                f"no records database at {path}", "run `m2c db upgrade` (or `m2c demo`)"
            )
    engine = make_engine(url)
    if require_schema:
        try:
            tables = set(inspect(engine).get_table_names())
        except (SADatabaseError, OperationalError) as exc:
            raise DatabaseError(
                f"cannot read the records database at {engine.url.render_as_string()}: "
                f"{str(exc.orig).strip()}",
                "check M2C_DATABASE_URL, or move the damaged file away and run `m2c demo`",
            ) from exc
        if "alembic_version" not in tables:
            raise DatabaseError(
                f"records database at {engine.url.render_as_string()} has no schema",
                "run `m2c db upgrade`",
            )
    return engine


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
