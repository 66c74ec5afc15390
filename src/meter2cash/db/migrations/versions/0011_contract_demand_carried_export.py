"""contract demand per service point; export carried forward per bill (net metering)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_points", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("contract_demand_kw", sa.Numeric(precision=12, scale=2), nullable=True)
        )
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("carried_export_kwh", sa.Numeric(precision=16, scale=4), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.drop_column("carried_export_kwh")
    with op.batch_alter_table("service_points", schema=None) as batch_op:
        batch_op.drop_column("contract_demand_kw")
