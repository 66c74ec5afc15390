"""meter commands

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:54:47.885765
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from meter2cash.db.base import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meter_commands",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_key", sa.String(length=80), nullable=False),
        sa.Column("meter_no", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("frame_hex", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_commands")),
        sa.UniqueConstraint("request_key", name=op.f("uq_meter_commands_request_key")),
    )
    with op.batch_alter_table("meter_commands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meter_commands_meter_no"), ["meter_no"], unique=False)
        batch_op.create_index(batch_op.f("ix_meter_commands_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("meter_commands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meter_commands_status"))
        batch_op.drop_index(batch_op.f("ix_meter_commands_meter_no"))

    op.drop_table("meter_commands")
