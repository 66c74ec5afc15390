"""Schema migrations (Alembic), run from code so `m2c db upgrade` works when installed."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("meter2cash.db") / "migrations"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Migrate the records database to ``revision``; returns the revision now in force."""
    cfg = _config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    return current_revision(engine) or ""


def upgrade_database(url: str) -> str:
    """Open the database at ``url``, migrate it to head, close it; returns the revision."""
    from meter2cash.db.session import make_engine

    engine = make_engine(url)
    try:
        return upgrade(engine)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def autogenerate(engine: Engine, message: str) -> None:
    """Write a new revision from the difference between models and database (developers)."""
    cfg = _config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.revision(cfg, message=message, autogenerate=True)
