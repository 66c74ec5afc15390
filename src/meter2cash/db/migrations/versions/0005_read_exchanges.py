"""read exchanges

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 01:13:52.746772
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "read_exchanges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("meter_no", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("collected_on", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_read_exchanges")),
        sa.UniqueConstraint(
            "meter_no",
            "day",
            "collected_on",
            name=op.f("uq_read_exchanges_meter_no_day_collected_on"),
        ),
    )
    with op.batch_alter_table("read_exchanges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_read_exchanges_day"), ["day"], unique=False)
        batch_op.create_index(batch_op.f("ix_read_exchanges_meter_no"), ["meter_no"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("read_exchanges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_read_exchanges_meter_no"))
        batch_op.drop_index(batch_op.f("ix_read_exchanges_day"))

    op.drop_table("read_exchanges")
