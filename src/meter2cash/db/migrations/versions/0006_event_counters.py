"""event counters

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 02:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_counters",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("meter_no", sa.String(length=32), nullable=False),
        sa.Column("counter", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("read_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_counters")),
        sa.UniqueConstraint("meter_no", "counter", name=op.f("uq_event_counters_meter_no_counter")),
    )


def downgrade() -> None:
    op.drop_table("event_counters")
