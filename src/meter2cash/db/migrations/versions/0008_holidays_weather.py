"""holidays and weather: a utility's own holiday list and daily mean temperature

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from meter2cash.db.base import UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "holidays",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("loaded_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("kind in ('holiday','workday')", name=op.f("ck_holidays_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holidays")),
        sa.UniqueConstraint("local_date", name=op.f("uq_holidays_local_date")),
    )
    op.create_table(
        "weather_daily",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("zone_code", sa.String(length=32), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("temperature_c", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("loaded_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_weather_daily")),
        sa.UniqueConstraint(
            "zone_code", "local_date", name=op.f("uq_weather_daily_zone_code_local_date")
        ),
    )


def downgrade() -> None:
    op.drop_table("weather_daily")
    op.drop_table("holidays")
