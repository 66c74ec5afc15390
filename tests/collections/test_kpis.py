"""Collection KPIs by zone: each team's collection rate, arrears, aging mix and DSO."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import Engine

from meter2cash.assets.models import Account, Route, Zone
from meter2cash.billing.issue import issue_approved
from meter2cash.collections.kpis import collection_kpis
from meter2cash.core.clock import FixedClock
from meter2cash.db.session import unit_of_work
from meter2cash.ledger.payments import PAYMENT_COLUMNS, post_payments
from tests.factories import create_account, create_bill


def test_each_zone_is_measured_on_its_own_accounts(records: Engine, clock: FixedClock) -> None:
    with unit_of_work(records) as session:
        east = create_account(session, "E1")
        west_zone = Zone(code="Z2", name="城西供电所")
        session.add(west_zone)
        session.flush()
        session.add(Route(code="R2", zone_id=west_zone.id, read_day=1))
        west = create_account(session, "W1")
        session.get_one(Account, west.id).zone_id = west_zone.id
        create_bill(session, east, 10_000, date(2026, 7, 3))
        create_bill(session, east, 10_000, date(2026, 8, 3))
        create_bill(session, west, 40_000, date(2026, 8, 3))
        issue_approved(session, clock)
        payments = [
            ("counter", "R1", "E1", 10_000, date(2026, 7, 10)),  # July's in full
            ("counter", "R2", "E1", 10_000, date(2026, 8, 10)),  # August's in full
            ("counter", "R3", "W1", 10_000, date(2026, 8, 12)),  # a quarter of August's
        ]
        post_payments(session, clock, pd.DataFrame(payments, columns=PAYMENT_COLUMNS))
        kpis = collection_kpis(session, date(2026, 8, 1), date(2026, 9, 10))
    assert list(kpis.index) == ["Z1", "Z2"]
    assert kpis.loc["Z1", "collection_rate"] == 1.0
    assert kpis.loc["Z2", "collection_rate"] == pytest.approx(0.25)
    assert kpis.loc["Z2", "arrears_minor"] == 30_000  # due 3 Aug, still open 10 Sep
    assert kpis.loc["Z2", "old_share"] == 1.0  # 38 days since the bill date
    assert kpis.loc["Z2", "dso_days"] == pytest.approx(30_000 * 90 / 40_000)
    assert kpis.loc["Z1", "receivables_minor"] == 0
