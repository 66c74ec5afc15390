"""exchange items: curves and event sweeps join the exchange log

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("read_exchanges", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("item", sa.String(length=8), nullable=False, server_default="freeze")
        )
        batch_op.add_column(sa.Column("detail", sa.Text(), nullable=False, server_default=""))
        batch_op.drop_constraint("uq_read_exchanges_meter_no_day_collected_on", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_read_exchanges_meter_no_item_day_collected_on"),
            ["meter_no", "item", "day", "collected_on"],
        )
    with op.batch_alter_table("read_exchanges", schema=None) as batch_op:
        batch_op.alter_column("item", server_default=None)
        batch_op.alter_column("detail", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("read_exchanges", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_read_exchanges_meter_no_item_day_collected_on"), type_="unique"
        )
        batch_op.create_unique_constraint(
            "uq_read_exchanges_meter_no_day_collected_on", ["meter_no", "day", "collected_on"]
        )
        batch_op.drop_column("detail")
        batch_op.drop_column("item")
