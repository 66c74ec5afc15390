"""payment batches (bank files) with their control figures and quarantined lines

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from meter2cash.db.base import UtcDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payment_batches",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("batch_key", sa.String(length=80), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("declared_count", sa.Integer(), nullable=False),
        sa.Column("declared_total_minor", sa.BigInteger(), nullable=False),
        sa.Column("control_total_verified", sa.Boolean(), nullable=False),
        sa.Column("posted_count", sa.Integer(), nullable=False),
        sa.Column("posted_minor", sa.BigInteger(), nullable=False),
        sa.Column("duplicate_count", sa.Integer(), nullable=False),
        sa.Column("quarantined_count", sa.Integer(), nullable=False),
        sa.Column("loaded_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "batch_key"),
    )
    op.create_table(
        "payment_quarantine",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("batch_id", BIG_ID, sa.ForeignKey("payment_batches.id"), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_payment_quarantine_batch_id", "payment_quarantine", ["batch_id"])
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", BIG_ID, nullable=True))
        batch_op.create_index("ix_payments_batch_id", ["batch_id"])


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_batch_id")
        batch_op.drop_column("batch_id")
    op.drop_index("ix_payment_quarantine_batch_id", table_name="payment_quarantine")
    op.drop_table("payment_quarantine")
    op.drop_table("payment_batches")
