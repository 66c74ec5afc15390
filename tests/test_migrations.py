"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

import meter2cash.db.registry  # noqa: F401  (every model on the metadata)
from meter2cash.db.base import Base


def test_migrated_database_matches_the_models(records: Engine) -> None:
    with records.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
