"""Estimated bills trued up on the next actual read: over the periods the customer pays
exactly what the actual reads give, each month on its own tiers — checked to the fen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import select

from meter2cash.assets.models import Account
from meter2cash.billing import run
from meter2cash.billing.cycles import MonthPeriod, month_period
from meter2cash.billing.documents import render_pdf
from meter2cash.billing.issue import decide, issue_approved
from meter2cash.billing.models import Bill, BillLine
from meter2cash.billing.rebill import backbill, rebill
from meter2cash.billing.statement import bill_document
from meter2cash.core.errors import InputError
from meter2cash.core.settings import Settings
from meter2cash.db.migrate import upgrade
from meter2cash.db.session import make_engine, unit_of_work
from meter2cash.tariffs.loader import load_catalogue, parse_tariff
from meter2cash.tariffs.rating import Determinants, TierContext, rate
from meter2cash.workspace import Workspace, open_workspace
from tests.billing.test_mid_period import _at
from tests.factories import create_meter, create_metered_account, create_places, install_meter

JUNE, JULY, AUGUST = month_period(2026, 6), month_period(2026, 7), month_period(2026, 8)
MONTHLY = parse_tariff(
    """
code: T-RES-MONTH
name: monthly tiers with a fixed charge and a fund
customer_class: residential
source: a test tariff
currency: CNY
versions:
  - version: 1
    effective_from: 2026-01-01
    components:
      - {kind: fixed, per: month, amount: "12.50", name: 月固定费}
      - kind: energy_tiered
        period: monthly
        tiers:
          - {up_to_kwh: "230", price: "0.5283"}
          - {up_to_kwh: "400", price: "0.5783"}
          - {up_to_kwh: null, price: "0.8283"}
      - kind: funds
        items: [{name: 可再生能源附加, price_per_kwh: "0.019"}]
""",
    "test",
)
TARIFFS = load_catalogue() | {MONTHLY.code: MONTHLY}


def _reads(rows: list[tuple[str, tuple[int, int], str]]) -> pa.Table:
    meters, stamps, values = zip(
        *((m, _at(d, month=mo), Decimal(v)) for m, (mo, d), v in rows), strict=True
    )
    return pa.table(
        {
            "meter_no": list(meters),
            "channel": ["A+"] * len(rows),
            "ts": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "value": pa.array(values, pa.decimal128(18, 4)),
        }
    )


def _bill_and_issue(ws: Workspace, period: MonthPeriod) -> None:
    run.bill_month(ws.records, ws.clock, ws.batch, TARIFFS, period)
    with unit_of_work(ws.records) as session:
        for bill in session.scalars(select(Bill).where(Bill.status == "in_review")):
            bill.status = "approved"  # a clerk approves the held ones for the test
        issue_approved(session, ws.clock)


@pytest.fixture(scope="module")
def trued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A-ONE: July estimated (Aug 1 freeze estimated at 1200), then the meter's own Aug 1
    read (1350) arrives. A-RUN: June and July estimated, then actual reads replace both
    freezes. A-PLAIN: actual throughout."""
    home: Path = tmp_path_factory.mktemp("true_up")
    settings = Settings.from_env({"M2C_HOME": str(home)})
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    with open_workspace(settings) as ws:
        with unit_of_work(ws.records) as session:
            place = create_places(session)
            for no in ("ONE", "RUN", "PLAIN"):
                point = create_metered_account(session, place, f"A-{no}", tariff="T-RES-MONTH")
                install_meter(session, create_meter(session, f"M-{no}"), point, _at(1, month=1))
        actual = _reads(
            [
                ("M-ONE", (6, 1), "900"),
                ("M-ONE", (7, 1), "1000"),
                ("M-ONE", (9, 1), "1450"),
                ("M-RUN", (6, 1), "0"),
                ("M-RUN", (9, 1), "700"),
                ("M-PLAIN", (6, 1), "0"),
                ("M-PLAIN", (7, 1), "150"),
                ("M-PLAIN", (8, 1), "300"),
                ("M-PLAIN", (9, 1), "450"),
            ]
        )
        assert ws.store.ingest_register_reads(actual, source="test:reads").accepted
        estimates = _reads(
            [("M-ONE", (8, 1), "1200"), ("M-RUN", (7, 1), "100"), ("M-RUN", (8, 1), "200")]
        )
        assert ws.store.write_versions(
            "register_reads", estimates, quality="estimated", source="vee:linear"
        ).accepted
        _bill_and_issue(ws, JUNE)
        _bill_and_issue(ws, JULY)
        late = _reads(
            [("M-ONE", (8, 1), "1350"), ("M-RUN", (7, 1), "300"), ("M-RUN", (8, 1), "600")]
        )
        assert ws.store.write_versions(
            "register_reads", late, quality="valid", source="headend:late"
        ).accepted
        _bill_and_issue(ws, AUGUST)
        yield ws


def _bills(ws: Workspace, account_no: str) -> list[tuple[Bill, list[BillLine]]]:
    with unit_of_work(ws.records) as session:
        bills = session.scalars(
            select(Bill)
            .join(Account, Account.id == Bill.account_id)
            .where(Account.account_no == account_no, Bill.status != "cancelled")
            .order_by(Bill.period_start)
        ).all()
        out = [
            (
                bill,
                list(
                    session.scalars(
                        select(BillLine).where(BillLine.bill_id == bill.id).order_by(BillLine.seq)
                    )
                ),
            )
            for bill in bills
        ]
        session.expunge_all()
    return out


def _actual_billing(kwh_by_month: list[tuple[MonthPeriod, str]]) -> int:
    """What the months cost rated on their actual kWh [fen]."""
    version = MONTHLY.version_on(JUNE.period_start)
    return sum(
        int(
            rate(
                version,
                Determinants(
                    period_start=p.period_start, period_end=p.period_end, kwh_total=Decimal(k)
                ),
                TierContext(),
            ).total
            * 100
        )
        for p, k in kwh_by_month
    )


def test_an_actual_read_after_an_estimate_trues_up_the_estimated_month(trued: Workspace) -> None:
    (_, (july, july_lines), (august, lines)) = _bills(trued, "A-ONE")
    assert july.estimated and july.kwh == Decimal(200)  # 1000 → 1200 (estimated)
    assert july.total_minor == 12196  # 12.50 + 200 × 0.5283 + 200 × 0.019
    assert not august.estimated and august.kwh == Decimal(100)  # 1350 → 1450
    # July re-rated on the actual 350 kWh: 12.50 + 230 × 0.5283 + 120 × 0.5783 + 6.65
    # = 210.06, 88.10 more than billed: 85.25 of energy, 2.85 of fund.
    assert [(ln.kind, ln.description, ln.quantity, ln.amount_minor) for ln in lines] == [
        ("fixed", "月固定费", Decimal(1), 1250),
        ("energy_tiered", "电度电费 第1档 (≤230 kWh/月)", Decimal(100), 5283),
        ("funds", "可再生能源附加", Decimal(100), 190),
        (
            "true_up",
            f"估抄电费调整 {july.bill_no} (2026-07-01–2026-07-31): 按实抄 350 kWh 重算, "
            "原估 200 kWh, 差 +150 kWh",
            Decimal(150),
            8525,
        ),
        ("funds", f"估抄基金及附加调整 {july.bill_no}", Decimal(150), 285),
    ]
    assert august.total_minor == 6723 + 8810
    # Over the two months: exactly July's actual 350 kWh and August's 100 kWh.
    paid = july.total_minor + august.total_minor
    assert paid == _actual_billing([(JULY, "350"), (AUGUST, "100")]) == 27729
    assert [ln.kind for ln in july_lines] == ["fixed", "energy_tiered", "funds"]


def test_a_run_of_estimated_months_is_trued_up_month_by_month(trued: Workspace) -> None:
    (june, _), (july, _), (august, lines) = _bills(trued, "A-RUN")
    assert june.estimated and july.estimated and not august.estimated
    ups = [ln for ln in lines if ln.kind == "true_up"]
    assert june.bill_no in ups[0].description and ups[0].quantity == Decimal(200)  # 0 → 300
    assert july.bill_no in ups[1].description and ups[1].quantity == Decimal(200)  # 300 → 600
    paid = june.total_minor + july.total_minor + august.total_minor
    # Each month on its own tiers: 300, 300 and 100 kWh.
    assert paid == _actual_billing([(JUNE, "300"), (JULY, "300"), (AUGUST, "100")])


def test_an_account_read_every_month_gets_no_true_up(trued: Workspace) -> None:
    bills = _bills(trued, "A-PLAIN")
    assert all(ln.kind != "true_up" for _, lines in bills for ln in lines)


def test_the_bill_document_shows_the_true_up(trued: Workspace) -> None:
    (_, (july, _), (august, _)) = _bills(trued, "A-ONE")
    with unit_of_work(trued.records) as session:
        doc = bill_document(session, trued.store, august.bill_no)
    assert [t.bill_no for t in doc.true_ups] == [july.bill_no]
    assert (doc.true_ups[0].kwh_difference, doc.true_ups[0].amount) == (
        Decimal(150),
        Decimal("88.10"),
    )
    pdf = render_pdf(doc, "en")
    assert pdf.startswith(b"%PDF")


def test_a_trued_up_estimate_is_rebilled_only_with_the_bill_that_trued_it_up(
    trued: Workspace,
) -> None:
    (_, (july, _), (august, _)) = _bills(trued, "A-ONE")
    ws = trued
    with unit_of_work(ws.records) as session, pytest.raises(InputError, match="backbill"):
        rebill(
            session,
            ws.clock,
            ws.batch,
            TARIFFS,
            july.bill_no,
            reason="x",
            actor="t",
            on=date(2026, 9, 10),
        )
    with unit_of_work(ws.records) as session:
        redone = backbill(
            session,
            ws.clock,
            ws.batch,
            TARIFFS,
            "A-ONE",
            JULY,
            AUGUST,
            reason="actual read for 1 Aug",
            actor="li.clerk",
            on=date(2026, 9, 10),
        )
    # July rebilled on the actual read; August no longer needs a true-up: the same total.
    assert [r.new_total_minor for r in redone] == [21006, 6723]
    assert sum(r.difference_minor for r in redone) == 0
    (_, (july2, _), (august2, lines)) = _bills(ws, "A-ONE")
    assert not july2.estimated and all(ln.kind != "true_up" for ln in lines)
    assert july2.total_minor + august2.total_minor == july.total_minor + august.total_minor


def test_a_held_estimate_a_later_bill_trued_up_cannot_be_rejected(tmp_path: Path) -> None:
    settings = Settings.from_env({"M2C_HOME": str(tmp_path)})
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    with open_workspace(settings) as ws:
        with unit_of_work(ws.records) as session:
            point = create_metered_account(
                session, create_places(session), "A-HELD", tariff="T-RES-MONTH"
            )
            install_meter(session, create_meter(session, "M-HELD"), point, _at(1, month=1))
        reads = [("M-HELD", (7, 1), "1000"), ("M-HELD", (9, 1), "1450")]
        assert ws.store.ingest_register_reads(_reads(reads), source="test:reads").accepted
        estimate = _reads([("M-HELD", (8, 1), "1200")])
        assert ws.store.write_versions(
            "register_reads", estimate, quality="estimated", source="vee:linear"
        ).accepted
        run.bill_month(ws.records, ws.clock, ws.batch, TARIFFS, JULY)
        with unit_of_work(ws.records) as session:
            held = session.scalars(select(Bill)).one()
            held.status, held.review_reasons = "in_review", "history_kwh: held for the test"
            held_no = held.bill_no
        late = _reads([("M-HELD", (8, 1), "1350")])
        assert ws.store.write_versions(
            "register_reads", late, quality="valid", source="headend:late"
        ).accepted
        run.bill_month(ws.records, ws.clock, ws.batch, TARIFFS, AUGUST)
        august_no = _bills(ws, "A-HELD")[-1][0].bill_no
        with (
            unit_of_work(ws.records) as session,
            pytest.raises(InputError, match=f"trued up on {august_no}"),
        ):
            decide(session, ws.clock, held_no, approve=False, actor="li.clerk", reason="too high")
        with unit_of_work(ws.records) as session:
            bill = decide(session, ws.clock, held_no, approve=True, actor="li.clerk", reason="ok")
            assert bill.status == "approved"
