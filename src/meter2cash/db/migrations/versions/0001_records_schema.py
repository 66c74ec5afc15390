"""records schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 23:37:07.416608
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from meter2cash.db.base import UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# PostgreSQL enforces double entry and append-only money itself: a deferred constraint
# trigger checks that every journal entry touched in a transaction sums to zero at commit,
# and postings, entries and payments refuse UPDATE and DELETE.
_PG_LEDGER_GUARDS = """
CREATE FUNCTION m2c_check_entry_balanced() RETURNS trigger AS $$
DECLARE imbalance bigint;
BEGIN
  SELECT COALESCE(SUM(amount_minor), 0) INTO imbalance FROM postings WHERE entry_id = NEW.entry_id;
  IF imbalance <> 0 THEN
    RAISE EXCEPTION 'journal entry % does not balance: postings sum to % fen',
      NEW.entry_id, imbalance;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION m2c_check_entry_balanced();

CREATE FUNCTION m2c_refuse_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: post a reversing entry instead', TG_TABLE_NAME;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
  FOR EACH ROW EXECUTE FUNCTION m2c_refuse_change();
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
  FOR EACH ROW EXECUTE FUNCTION m2c_refuse_change();
CREATE TRIGGER payments_append_only BEFORE UPDATE OR DELETE ON payments
  FOR EACH ROW EXECUTE FUNCTION m2c_refuse_change();
"""

_PG_LEDGER_GUARDS_DROP = """
DROP TRIGGER IF EXISTS payments_append_only ON payments;
DROP TRIGGER IF EXISTS journal_entries_append_only ON journal_entries;
DROP TRIGGER IF EXISTS postings_append_only ON postings;
DROP TRIGGER IF EXISTS postings_balanced ON postings;
DROP FUNCTION IF EXISTS m2c_refuse_change();
DROP FUNCTION IF EXISTS m2c_check_entry_balanced();
"""


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "collection_days",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("meters_expected", sa.Integer(), nullable=False),
        sa.Column("meters_read", sa.Integer(), nullable=False),
        sa.Column("rows_received", sa.Integer(), nullable=False),
        sa.Column("rows_accepted", sa.Integer(), nullable=False),
        sa.Column("rows_duplicate", sa.Integer(), nullable=False),
        sa.Column("rows_conflicting", sa.Integer(), nullable=False),
        sa.Column("rows_quarantined", sa.Integer(), nullable=False),
        sa.Column("collected_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_days")),
        sa.UniqueConstraint("local_date", name=op.f("uq_collection_days_local_date")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_no", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("customer_class", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "customer_class in ('residential','commercial','industrial')",
            name=op.f("ck_customers_class"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("customer_no", name=op.f("uq_customers_customer_no")),
    )
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source_type", sa.String(length=32), nullable=False),
        sa.Column("source_key", sa.String(length=80), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column(
            "reverses_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["reverses_entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_journal_entries_reverses_entry_id_journal_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint(
            "source_type", "source_key", name=op.f("uq_journal_entries_source_type_source_key")
        ),
    )
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_journal_entries_booked_on"), ["booked_on"], unique=False
        )

    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_accounts_code")),
    )
    op.create_table(
        "meters",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("meter_no", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=12), nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("register_digits", sa.Integer(), nullable=False),
        sa.Column("records_intervals", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meters")),
        sa.UniqueConstraint("address", name=op.f("uq_meters_address")),
        sa.UniqueConstraint("meter_no", name=op.f("uq_meters_meter_no")),
    )
    op.create_table(
        "tariffs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("customer_class", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariffs")),
        sa.UniqueConstraint("code", name=op.f("uq_tariffs_code")),
    )
    op.create_table(
        "utility",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_utility")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_utility_fingerprint")),
    )
    op.create_table(
        "vee_findings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("meter_no", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("found_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vee_findings")),
        sa.UniqueConstraint(
            "meter_no",
            "channel",
            "ts",
            "rule",
            name=op.f("uq_vee_findings_meter_no_channel_ts_rule"),
        ),
    )
    with op.batch_alter_table("vee_findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vee_findings_meter_no"), ["meter_no"], unique=False)
        batch_op.create_index(batch_op.f("ix_vee_findings_rule"), ["rule"], unique=False)

    op.create_table(
        "zones",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zones")),
        sa.UniqueConstraint("code", name=op.f("uq_zones_code")),
    )
    op.create_table(
        "routes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("zone_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("read_day", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], name=op.f("fk_routes_zone_id_zones")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
        sa.UniqueConstraint("code", name=op.f("uq_routes_code")),
    )
    with op.batch_alter_table("routes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routes_zone_id"), ["zone_id"], unique=False)

    op.create_table(
        "tariff_versions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "tariff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tariff_id"], ["tariffs.id"], name=op.f("fk_tariff_versions_tariff_id_tariffs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_versions")),
        sa.UniqueConstraint(
            "tariff_id", "effective_from", name=op.f("uq_tariff_versions_tariff_id_effective_from")
        ),
        sa.UniqueConstraint(
            "tariff_id", "version", name=op.f("uq_tariff_versions_tariff_id_version")
        ),
    )
    with op.batch_alter_table("tariff_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tariff_versions_tariff_id"), ["tariff_id"], unique=False
        )

    op.create_table(
        "transformer_areas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("zone_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("capacity_kva", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["zones.id"], name=op.f("fk_transformer_areas_zone_id_zones")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transformer_areas")),
        sa.UniqueConstraint("code", name=op.f("uq_transformer_areas_code")),
    )
    with op.batch_alter_table("transformer_areas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transformer_areas_zone_id"), ["zone_id"], unique=False)

    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_no", sa.String(length=32), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("zone_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("route_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tariff_code", sa.String(length=64), nullable=False),
        sa.Column("household_size", sa.Integer(), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_accounts_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["route_id"], ["routes.id"], name=op.f("fk_accounts_route_id_routes")
        ),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], name=op.f("fk_accounts_zone_id_zones")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("account_no", name=op.f("uq_accounts_account_no")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_accounts_route_id"), ["route_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_accounts_zone_id"), ["zone_id"], unique=False)

    op.create_table(
        "bill_cycles",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("route_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["route_id"], ["routes.id"], name=op.f("fk_bill_cycles_route_id_routes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_cycles")),
        sa.UniqueConstraint(
            "route_id", "period_start", name=op.f("uq_bill_cycles_route_id_period_start")
        ),
    )
    with op.batch_alter_table("bill_cycles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bill_cycles_route_id"), ["route_id"], unique=False)

    op.create_table(
        "concentrators",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=16), nullable=False),
        sa.Column(
            "transformer_area_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["transformer_area_id"],
            ["transformer_areas.id"],
            name=op.f("fk_concentrators_transformer_area_id_transformer_areas"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concentrators")),
        sa.UniqueConstraint("address", name=op.f("uq_concentrators_address")),
        sa.UniqueConstraint("code", name=op.f("uq_concentrators_code")),
    )
    with op.batch_alter_table("concentrators", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_concentrators_transformer_area_id"),
            ["transformer_area_id"],
            unique=False,
        )

    op.create_table(
        "bills",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bill_no", sa.String(length=40), nullable=False),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("cycle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column(
            "tariff_version_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("kwh", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("max_demand_kw", sa.Numeric(precision=12, scale=4), nullable=True),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=True),
        sa.Column(
            "replaces_bill_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("review_reasons", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "status in ('draft','in_review','approved','issued','cancelled')",
            name=op.f("ck_bills_status"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_bills_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["cycle_id"], ["bill_cycles.id"], name=op.f("fk_bills_cycle_id_bill_cycles")
        ),
        sa.ForeignKeyConstraint(
            ["replaces_bill_id"], ["bills.id"], name=op.f("fk_bills_replaces_bill_id_bills")
        ),
        sa.ForeignKeyConstraint(
            ["tariff_version_id"],
            ["tariff_versions.id"],
            name=op.f("fk_bills_tariff_version_id_tariff_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bills")),
        sa.UniqueConstraint(
            "account_id", "cycle_id", "revision", name=op.f("uq_bills_account_id_cycle_id_revision")
        ),
        sa.UniqueConstraint("bill_no", name=op.f("uq_bills_bill_no")),
    )
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bills_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bills_cycle_id"), ["cycle_id"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("transaction_id", sa.String(length=80), nullable=False),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_payments_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_payments_entry_id_journal_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint(
            "channel", "transaction_id", name=op.f("uq_payments_channel_transaction_id")
        ),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_account_id"), ["account_id"], unique=False)

    op.create_table(
        "service_points",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "transformer_area_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "concentrator_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("contracted_kva", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_service_points_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["concentrator_id"],
            ["concentrators.id"],
            name=op.f("fk_service_points_concentrator_id_concentrators"),
        ),
        sa.ForeignKeyConstraint(
            ["transformer_area_id"],
            ["transformer_areas.id"],
            name=op.f("fk_service_points_transformer_area_id_transformer_areas"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_points")),
        sa.UniqueConstraint("code", name=op.f("uq_service_points_code")),
    )
    with op.batch_alter_table("service_points", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_points_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_points_concentrator_id"), ["concentrator_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_points_transformer_area_id"),
            ["transformer_area_id"],
            unique=False,
        )

    op.create_table(
        "bill_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bill_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=16, scale=4), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=6), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["bills.id"], name=op.f("fk_bill_lines_bill_id_bills")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_lines")),
        sa.UniqueConstraint("bill_id", "seq", name=op.f("uq_bill_lines_bill_id_seq")),
    )
    with op.batch_alter_table("bill_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bill_lines_bill_id"), ["bill_id"], unique=False)

    op.create_table(
        "meter_installations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("meter_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "service_point_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("installed_at", UtcDateTime(), nullable=False),
        sa.Column("removed_at", UtcDateTime(), nullable=True),
        sa.Column("ct_ratio", sa.Integer(), nullable=False),
        sa.Column("pt_ratio", sa.Integer(), nullable=False),
        sa.Column("multiplier", sa.Integer(), nullable=False),
        sa.Column("initial_read_kwh", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.CheckConstraint(
            "multiplier = ct_ratio * pt_ratio", name=op.f("ck_meter_installations_multiplier")
        ),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_meter_installations_meter_id_meters")
        ),
        sa.ForeignKeyConstraint(
            ["service_point_id"],
            ["service_points.id"],
            name=op.f("fk_meter_installations_service_point_id_service_points"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_installations")),
        sa.UniqueConstraint(
            "meter_id", "installed_at", name=op.f("uq_meter_installations_meter_id_installed_at")
        ),
    )
    with op.batch_alter_table("meter_installations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meter_installations_meter_id"), ["meter_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_meter_installations_service_point_id"),
            ["service_point_id"],
            unique=False,
        )

    op.create_table(
        "postings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ledger_account_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("bill_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_postings_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name=op.f("fk_postings_bill_id_bills")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_postings_entry_id_journal_entries")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_postings_ledger_account_id_ledger_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postings")),
    )
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.create_index("ix_postings_account_bill", ["account_id", "bill_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_postings_entry_id"), ["entry_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_postings_ledger_account_id"), ["ledger_account_id"], unique=False
        )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_LEDGER_GUARDS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_LEDGER_GUARDS_DROP)
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postings_ledger_account_id"))
        batch_op.drop_index(batch_op.f("ix_postings_entry_id"))
        batch_op.drop_index("ix_postings_account_bill")

    op.drop_table("postings")
    with op.batch_alter_table("meter_installations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meter_installations_service_point_id"))
        batch_op.drop_index(batch_op.f("ix_meter_installations_meter_id"))

    op.drop_table("meter_installations")
    with op.batch_alter_table("bill_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bill_lines_bill_id"))

    op.drop_table("bill_lines")
    with op.batch_alter_table("service_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_points_transformer_area_id"))
        batch_op.drop_index(batch_op.f("ix_service_points_concentrator_id"))
        batch_op.drop_index(batch_op.f("ix_service_points_account_id"))

    op.drop_table("service_points")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_account_id"))

    op.drop_table("payments")
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bills_cycle_id"))
        batch_op.drop_index(batch_op.f("ix_bills_account_id"))

    op.drop_table("bills")
    with op.batch_alter_table("concentrators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_concentrators_transformer_area_id"))

    op.drop_table("concentrators")
    with op.batch_alter_table("bill_cycles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bill_cycles_route_id"))

    op.drop_table("bill_cycles")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_zone_id"))
        batch_op.drop_index(batch_op.f("ix_accounts_route_id"))
        batch_op.drop_index(batch_op.f("ix_accounts_customer_id"))

    op.drop_table("accounts")
    with op.batch_alter_table("transformer_areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transformer_areas_zone_id"))

    op.drop_table("transformer_areas")
    with op.batch_alter_table("tariff_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tariff_versions_tariff_id"))

    op.drop_table("tariff_versions")
    with op.batch_alter_table("routes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routes_zone_id"))

    op.drop_table("routes")
    op.drop_table("zones")
    with op.batch_alter_table("vee_findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vee_findings_rule"))
        batch_op.drop_index(batch_op.f("ix_vee_findings_meter_no"))

    op.drop_table("vee_findings")
    op.drop_table("utility")
    op.drop_table("tariffs")
    op.drop_table("meters")
    op.drop_table("ledger_accounts")
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_entries_booked_on"))

    op.drop_table("journal_entries")
    op.drop_table("customers")
    op.drop_table("collection_days")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
