"""collections: outbox messages, late fees, dunning and fee-control state; prepay accounts

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from meter2cash.db.base import UtcDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("prepay", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("dunning_exemption", sa.String(length=32), nullable=False, server_default="")
        )
    op.create_table(
        "outbox_messages",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("source_key", sa.String(length=120), nullable=False),
        sa.Column("account_id", BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("document_path", sa.String(length=300), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_key"),
    )
    op.create_index("ix_outbox_messages_account_id", "outbox_messages", ["account_id"])
    op.create_index("ix_outbox_messages_status", "outbox_messages", ["status"])
    op.create_table(
        "late_fees",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("bill_id", BIG_ID, sa.ForeignKey("bills.id"), nullable=False),
        sa.Column("through", sa.Date(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", BIG_ID, sa.ForeignKey("journal_entries.id"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bill_id", "through"),
    )
    op.create_index("ix_late_fees_account_id", "late_fees", ["account_id"])
    op.create_index("ix_late_fees_bill_id", "late_fees", ["bill_id"])
    op.create_table(
        "dunning_states",
        sa.Column("account_id", BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(length=32), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("disconnected", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "dunning_steps",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("from_step", sa.Integer(), nullable=False),
        sa.Column("to_step", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(length=32), nullable=False),
        sa.Column("actions", sa.String(length=200), nullable=False),
        sa.Column("overdue_minor", sa.BigInteger(), nullable=False),
        sa.Column("evidence_path", sa.String(length=300), nullable=True),
        sa.Column("command_id", BIG_ID, sa.ForeignKey("meter_commands.id"), nullable=True),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dunning_steps_account_id", "dunning_steps", ["account_id"])
    op.create_index("ix_dunning_steps_taken_on", "dunning_steps", ["taken_on"])
    op.create_table(
        "fee_control_states",
        sa.Column("account_id", BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("charged_through", sa.Date(), nullable=True),
        sa.Column("warned", sa.Boolean(), nullable=False),
        sa.Column("zero_since", UtcDateTime(), nullable=True),
        sa.Column("tripped", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "fee_control_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.Column("command_id", BIG_ID, sa.ForeignKey("meter_commands.id"), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_fee_control_events_account_id", "fee_control_events", ["account_id"])
    op.create_index("ix_fee_control_events_at", "fee_control_events", ["at"])


def downgrade() -> None:
    for table in (
        "fee_control_events",
        "fee_control_states",
        "dunning_steps",
        "dunning_states",
        "late_fees",
        "outbox_messages",
    ):
        op.drop_table(table)
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("dunning_exemption")
        batch_op.drop_column("prepay")
