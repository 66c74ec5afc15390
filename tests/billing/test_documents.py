"""Bill documents over a small simulated utility: the PDF a customer receives, in English and
Chinese, and the CSV/JSON export a clerk hands to another system."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from pypdf import PdfReader
from sqlalchemy import func, select
from typer.testing import CliRunner

from meter2cash import spine
from meter2cash.billing.documents import (
    LABELS,
    bills_csv,
    bills_json,
    check_lang,
    format_amount,
    format_money,
    format_quantity,
    render_pdf,
)
from meter2cash.billing.models import Bill, BillCycle
from meter2cash.billing.statement import BillDocument, bill_document, cycle_bills
from meter2cash.cli.bill_documents import register
from meter2cash.core.errors import InputError
from meter2cash.db.session import unit_of_work
from meter2cash.simulator import UtilitySpec
from meter2cash.workspace import Workspace
from tests.factories import simulated_workspace


@pytest.fixture(scope="module")
def billed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """60 accounts, 30 Jun – 1 Sep 2026, July and August billed and issued."""
    home: Path = tmp_path_factory.mktemp("documents")
    with simulated_workspace(
        home, UtilitySpec(seed=11, accounts=60, start=date(2026, 6, 30), days=64)
    ) as ws:
        for month in spine.billing_months(ws):
            spine.bill(ws, month)
        spine.issue(ws)
        yield ws


@pytest.fixture(scope="module")
def august(billed: Workspace) -> list[BillDocument]:
    with unit_of_work(billed.records) as session:
        numbers = session.scalars(
            select(Bill.bill_no).where(Bill.period_start == date(2026, 8, 1)).order_by(Bill.id)
        ).all()
        return [bill_document(session, billed.store, n) for n in numbers]


def _text(pdf: bytes) -> str:
    assert pdf.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_english_bill_shows_its_number_total_and_estimated_reads(
    august: list[BillDocument],
) -> None:
    doc = next(d for d in august if d.estimated_reads)
    text = _text(render_pdf(doc, "en"))
    assert "Electricity bill" in text
    assert doc.bill_no in text
    assert format_money(doc.total, doc.currency) in text
    assert doc.due_date.isoformat() in text
    assert "estimated (linear)" in text
    for line in doc.lines:
        assert format_amount(line.amount) in text


def test_the_chinese_bill_is_labelled_in_chinese(august: list[BillDocument]) -> None:
    doc = august[0]
    text = _text(render_pdf(doc, "zh"))
    # STSong-Light text is written with the UniGB-UCS2-H encoding, which pypdf decodes.
    assert "电费账单" in text
    assert "应缴金额" in text
    assert doc.customer_name in text
    assert format_money(doc.total, doc.currency) in text


def test_a_bill_fits_on_one_a4_page(august: list[BillDocument]) -> None:
    doc = max(august, key=lambda d: len(d.lines) + len(d.reads))
    for lang in ("zh", "en"):
        reader = PdfReader(io.BytesIO(render_pdf(doc, lang)))
        assert len(reader.pages) == 1
        assert [round(float(v)) for v in reader.pages[0].mediabox[2:]] == [595, 842]


def test_the_document_carries_the_reads_the_bill_used(august: list[BillDocument]) -> None:
    checked = 0
    for doc in august:
        assert doc.meter is not None
        total = next(c for c in doc.reads if c.channel == "A+")
        assert total.opening is not None and total.closing is not None
        assert total.opening.read_at.date() == doc.period_start
        assert total.closing.read_at.date() == doc.period_end + timedelta(days=1)
        if not doc.meter.records_intervals:
            assert total.kwh == doc.kwh, doc.bill_no
            checked += 1
        else:
            assert doc.energy_from_curve == (total.kwh != doc.kwh)
    assert checked > 40
    estimated = [r for d in august for c in d.reads for r in (c.opening, c.closing) if r]
    assert any(r.estimated and r.method == "linear" for r in estimated)


def test_the_usage_history_is_the_accounts_billed_periods(
    billed: Workspace, august: list[BillDocument]
) -> None:
    with unit_of_work(billed.records) as session:
        july = dict(
            session.execute(
                select(Bill.bill_no, Bill.kwh).where(Bill.period_start == date(2026, 7, 1))
            )
            .tuples()
            .all()
        )
    doc = next(d for d in august if d.bill_no.replace("202608", "202607", 1) in july)
    assert [(p.period_start, p.current) for p in doc.history] == [
        (date(2026, 7, 1), False),
        (date(2026, 8, 1), True),
    ]
    assert doc.history[0].kwh == july[doc.bill_no.replace("202608", "202607", 1)]
    assert doc.history[1].kwh == doc.kwh


def test_the_export_totals_equal_the_bills(billed: Workspace) -> None:
    with unit_of_work(billed.records) as session:
        bills = cycle_bills(session, "2026-08")
        expected = session.scalar(
            select(func.sum(Bill.total_minor))
            .join(BillCycle, BillCycle.id == Bill.cycle_id)
            .where(BillCycle.period_start == date(2026, 8, 1))
        )
    assert len(bills) > 50 and expected is not None

    rows = list(csv.DictReader(io.StringIO(bills_csv(bills))))
    totals = {r["bill_no"]: Decimal(r["total"]) for r in rows}
    lines: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        lines[row["bill_no"]] += Decimal(row["line_amount"] or "0")
    assert totals == lines
    assert sum(totals.values()) * 100 == expected

    data = json.loads(bills_json(bills))["bills"]
    assert sum(Decimal(b["total"]) for b in data) * 100 == expected
    for bill in data:
        assert sum(Decimal(line["amount"]) for line in bill["lines"]) == Decimal(bill["total"])
        assert bill["period_start"] == "2026-08-01"


def test_the_commands_write_a_pdf_and_an_export(
    billed: Workspace,
    august: list[BillDocument],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    env = {"M2C_HOME": str(billed.settings.home)}
    monkeypatch.chdir(tmp_path)
    bill_no = august[0].bill_no

    result = runner.invoke(app, ["document", bill_no, "--lang", "en"], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"bill-{bill_no}-en.pdf").read_bytes().startswith(b"%PDF-")

    out = tmp_path / "aug.json"
    result = runner.invoke(
        app, ["export", "--cycle", "2026-08", "--format", "json", "--output", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads(out.read_text())["bills"]) == len(august)

    result = runner.invoke(app, ["export", "--cycle", "2026-08"], env=env)
    assert result.output.splitlines()[0].startswith("bill_no,account_no,")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["document", "209901-NOPE-0"], "no bill '209901-NOPE-0'"),
        (["document", "x", "--lang", "fr"], "unknown language 'fr' — use zh or en"),
        (["export", "--cycle", "2026-13"], "cycle '2026-13' is not a month (YYYY-MM)"),
        (["export", "--cycle", "2026-08", "--format", "xml"], "unknown format 'xml'"),
    ],
)
def test_bad_input_is_one_clear_error(billed: Workspace, args: list[str], message: str) -> None:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, args, env={"M2C_HOME": str(billed.settings.home)})
    # m2c's entry point prints an M2CError on one line and exits 2.
    assert isinstance(result.exception, InputError)
    assert str(result.exception).startswith(message)


def test_numbers_keep_two_decimals_and_thousands_separators() -> None:
    assert format_amount(Decimal("1234567.8")) == "1,234,567.80"
    assert format_money(Decimal("-5"), "CNY") == "-¥5.00"
    assert format_money(Decimal("12.5"), "EUR") == "EUR 12.50"
    assert format_quantity(Decimal("1200.5")) == "1,200.50"
    assert format_quantity(Decimal("0.538000"), most=6) == "0.538"
    assert format_quantity(Decimal("0.0019690"), most=6) == "0.001969"


def test_both_languages_label_everything() -> None:
    assert LABELS["zh"].keys() == LABELS["en"].keys()
    with pytest.raises(InputError, match="unknown language 'de'"):
        check_lang("de")
