"""The bill run's bulk paths: whole batches survive a crash, a re-run finishes the cycle,
and issue posts balanced entries once per bill — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from meter2cash import spine
from meter2cash.billing import bill_store, run
from meter2cash.billing.cycles import MonthPeriod
from meter2cash.billing.issue import issue_approved
from meter2cash.billing.models import Bill, BillLine
from meter2cash.db.session import unit_of_work
from meter2cash.ledger.models import JournalEntry, Posting
from meter2cash.ledger.service import trial_balance
from meter2cash.simulator import UtilitySpec
from meter2cash.tariffs.loader import load_catalogue
from meter2cash.workspace import Workspace
from tests.conftest import postgres_schema
from tests.factories import simulated_workspace


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def collected(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Workspace, MonthPeriod]]:
    """200 accounts with July 2026 collected, nothing billed: in embedded SQLite, and in
    PostgreSQL when configured."""
    home: Path = tmp_path_factory.mktemp("batches")
    with ExitStack() as stack:
        url = stack.enter_context(postgres_schema()) if request.param == "postgresql" else None
        spec = UtilitySpec(seed=5, accounts=200, start=date(2026, 6, 30), days=33)
        ws = stack.enter_context(simulated_workspace(home, spec, url))
        (july,) = spine.billing_months(ws)
        yield ws, july


def _bills(ws: Workspace) -> pd.DataFrame:
    with unit_of_work(ws.records) as session:
        lines = (
            select(BillLine.bill_id, func.sum(BillLine.amount_minor).label("lines"))
            .group_by(BillLine.bill_id)
            .subquery()
        )
        rows = session.execute(
            select(Bill.account_id, Bill.total_minor, lines.c.lines).outerjoin(
                lines, lines.c.bill_id == Bill.id
            )
        ).all()
    return pd.DataFrame(rows, columns=["account_id", "total_minor", "lines"])


def test_a_crash_leaves_whole_batches_and_a_rerun_bills_the_rest_once(
    collected: tuple[Workspace, MonthPeriod], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, july = collected
    catalogue = load_catalogue()
    calls = 0
    insert_lines = bill_store.insert_lines

    def failing_on_the_second_batch(*args: object) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("power cut")
        return insert_lines(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(bill_store, "insert_lines", failing_on_the_second_batch)
    with pytest.raises(RuntimeError, match="power cut"):
        run.bill_month(ws.records, ws.clock, ws.batch, catalogue, july, batch=60)
    first = _bills(ws)
    assert len(first) == 60
    assert (first["lines"] == first["total_minor"]).all()

    monkeypatch.setattr(bill_store, "insert_lines", insert_lines)
    report = run.bill_month(ws.records, ws.clock, ws.batch, catalogue, july, batch=60)
    every = _bills(ws)
    assert report.billed == len(every) - 60
    assert report.billed + 60 + report.unbillable == report.accounts + 60
    assert every["account_id"].is_unique
    assert (every["lines"] == every["total_minor"]).all()
    assert run.bill_month(ws.records, ws.clock, ws.batch, catalogue, july).billed == 0


def test_issue_posts_one_balanced_entry_per_bill_once(
    collected: tuple[Workspace, MonthPeriod],
) -> None:
    ws, july = collected
    run.bill_month(ws.records, ws.clock, ws.batch, load_catalogue(), july)
    with unit_of_work(ws.records) as session:
        approved = session.scalar(select(func.count()).where(Bill.status == "approved"))
        assert approved
        assert issue_approved(session, ws.clock).issued == approved
        assert issue_approved(session, ws.clock).issued == 0
        entries = session.scalar(select(func.count(JournalEntry.id)))
        assert entries == approved
        legs = session.execute(
            select(Posting.entry_id, func.sum(Posting.amount_minor)).group_by(Posting.entry_id)
        ).all()
        assert len(legs) == entries
        assert all(total == 0 for _, total in legs)
        receivable = session.scalar(
            select(func.sum(Posting.amount_minor)).where(Posting.amount_minor > 0)
        )
        issued = session.scalar(select(func.sum(Bill.total_minor)).where(Bill.status == "issued"))
        assert receivable == issued
        assert trial_balance(session).balanced
