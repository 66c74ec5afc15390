"""bill line unit price to ten decimals: fund prices such as 0.00196875 yuan/kWh exactly

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bill_lines", schema=None) as batch_op:
        batch_op.alter_column(
            "unit_price",
            existing_type=sa.Numeric(precision=14, scale=6),
            type_=sa.Numeric(precision=18, scale=10),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("bill_lines", schema=None) as batch_op:
        batch_op.alter_column(
            "unit_price",
            existing_type=sa.Numeric(precision=18, scale=10),
            type_=sa.Numeric(precision=14, scale=6),
            existing_nullable=False,
        )
