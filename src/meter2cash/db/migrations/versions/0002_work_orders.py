"""work orders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 00:52:44.538009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from meter2cash.db.base import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "work_orders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("raised_on", sa.Date(), nullable=False),
        sa.Column("raised_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_orders")),
        sa.UniqueConstraint(
            "kind",
            "target_code",
            "raised_on",
            name=op.f("uq_work_orders_kind_target_code_raised_on"),
        ),
    )
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_work_orders_target_code"), ["target_code"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_orders_target_code"))

    op.drop_table("work_orders")
