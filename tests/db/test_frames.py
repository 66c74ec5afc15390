"""select_frame: the driver's rows, typed column by column, equal SQLAlchemy's own results."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy import Engine, select

from meter2cash.assets.models import Account, Meter, MeterInstallation, ServicePoint
from meter2cash.db.frames import select_frame
from meter2cash.db.session import unit_of_work
from tests.factories import create_meter, create_metered_account, create_places, install_meter

STATEMENT = (
    select(
        Account.id.label("account_id"),
        Account.account_no,
        Account.opened_on,
        Account.closed_on,
        Meter.records_intervals,
        MeterInstallation.multiplier,
        MeterInstallation.installed_at,
        MeterInstallation.removed_at,
        MeterInstallation.initial_read_kwh,
        MeterInstallation.final_read_kwh,
    )
    .join(ServicePoint, ServicePoint.account_id == Account.id)
    .join(MeterInstallation, MeterInstallation.service_point_id == ServicePoint.id)
    .join(Meter, Meter.id == MeterInstallation.meter_id)
    .order_by(MeterInstallation.id)
)


def _same(fast: object, orm: object) -> bool:
    if orm is None:
        return fast is None or (isinstance(fast, float) and math.isnan(fast)) or fast is pd.NaT
    if isinstance(orm, Decimal):
        return isinstance(fast, float) and Decimal(f"{fast:.4f}") == orm
    return bool(fast == orm)


def test_every_column_comes_back_as_sqlalchemy_reads_it(records: Engine) -> None:
    with unit_of_work(records) as session:
        places = create_places(session)
        first = create_metered_account(session, places, "A1")
        second = create_metered_account(session, places, "A2", closed_on=date(2026, 7, 20))
        old, new = create_meter(session, "M1"), create_meter(session, "M2", curve=True)
        exchanged = datetime(2026, 7, 10, 1, 30, 15, 250000, tzinfo=UTC)
        install_meter(
            session,
            old,
            first,
            datetime(2024, 3, 1, tzinfo=UTC),
            removed_at=exchanged,
            initial="12.3400",
            final="98765.4321",
        )
        install_meter(session, new, first, exchanged, ct=40, initial="0.0001")
        install_meter(
            session, create_meter(session, "M3"), second, datetime(2025, 1, 1, tzinfo=UTC)
        )
    with unit_of_work(records) as session:
        orm = session.execute(STATEMENT).all()
        fast = select_frame(session, STATEMENT)

    assert list(fast.columns) == list(STATEMENT.selected_columns.keys())
    assert len(fast) == len(orm) == 3
    for i, row in enumerate(orm):
        for name, value in row._mapping.items():
            assert _same(fast[name].iloc[i], value), (name, fast[name].iloc[i], value)
    assert isinstance(fast["installed_at"].dtype, pd.DatetimeTZDtype)
    assert str(fast["installed_at"].dtype.tz) == "UTC"
    assert fast["records_intervals"].dtype == bool
    assert fast["initial_read_kwh"].dtype == "float64"
    assert fast["closed_on"].tolist() == [None, None, date(2026, 7, 20)]


def test_no_rows_give_an_empty_frame_with_the_columns(records: Engine) -> None:
    with unit_of_work(records) as session:
        fast = select_frame(session, STATEMENT)
    assert fast.empty
    assert list(fast.columns) == list(STATEMENT.selected_columns.keys())
