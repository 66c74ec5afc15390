"""final register read of a meter installation (meter exchange, CT/PT change)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meter_installations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("final_read_kwh", sa.Numeric(precision=14, scale=4), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("meter_installations", schema=None) as batch_op:
        batch_op.drop_column("final_read_kwh")
