"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import meter2cash.db.registry  # noqa: F401  (every model on the metadata)
from meter2cash.billing.models import BillLine
from meter2cash.db.base import Base
from tests.factories import create_account, create_bill


def test_migrated_database_matches_the_models(records: Engine) -> None:
    with records.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_a_fund_price_of_eight_decimals_round_trips_exactly(records: Engine) -> None:
    price = Decimal("0.00196875")  # a real fund price [yuan/kWh] that Numeric(14, 6) truncated
    with Session(records) as session:
        bill = create_bill(session, create_account(session), 1969, date(2024, 7, 31))
        session.add(
            BillLine(
                bill_id=bill.id,
                seq=1,
                kind="funds",
                description="可再生能源电价附加",
                quantity=Decimal(1000),
                unit="kWh",
                unit_price=price,
                amount_minor=197,
            )
        )
        session.commit()
    with Session(records) as session:
        stored = session.scalars(select(BillLine.unit_price)).one()
    assert stored == price
