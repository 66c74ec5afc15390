"""Records store: SQLAlchemy 2 models base, engine and sessions, Alembic migrations."""
