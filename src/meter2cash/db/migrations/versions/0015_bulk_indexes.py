"""indexes for bulk work: drop those a unique constraint already leads with or that cannot
narrow a scan, and make the receivable look-up of payments a covering index

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_bills_account_id", table_name="bills")  # uq (account_id, cycle_id, …)
    op.drop_index("ix_bill_lines_bill_id", table_name="bill_lines")  # uq (bill_id, seq)
    op.drop_index("ix_postings_ledger_account_id", table_name="postings")  # six values
    op.drop_index("ix_postings_account_bill", table_name="postings")
    op.create_index(
        "ix_postings_account_bill",
        "postings",
        ["account_id", "bill_id", "ledger_account_id", "amount_minor"],
    )


def downgrade() -> None:
    op.drop_index("ix_postings_account_bill", table_name="postings")
    op.create_index("ix_postings_account_bill", "postings", ["account_id", "bill_id"])
    op.create_index("ix_postings_ledger_account_id", "postings", ["ledger_account_id"])
    op.create_index("ix_bill_lines_bill_id", "bill_lines", ["bill_id"])
    op.create_index("ix_bills_account_id", "bills", ["account_id"])
