"""`m2c pay load-bank | take` as a cashier runs them: files posted once, bad files refused
with the line named, nothing half-posted."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from meter2cash.billing.issue import issue_approved
from meter2cash.core.clock import FixedClock
from meter2cash.core.settings import Settings
from meter2cash.db.session import make_engine, unit_of_work
from meter2cash.ledger import repository
from meter2cash.ledger.callbacks import sign
from tests.cli.test_bad_input import _one_line_error
from tests.cli.test_spine import m2c
from tests.factories import create_account, create_bill


@pytest.fixture
def home(tmp_path: Path, clock: FixedClock) -> Path:
    """A data home where A001 owes 120.00 and A002 owes 50.00."""
    assert m2c(tmp_path, "db", "upgrade").returncode == 0
    engine = make_engine(Settings.from_env({"M2C_HOME": str(tmp_path)}).database_url)
    with unit_of_work(engine) as session:
        create_bill(session, create_account(session, "A001"), 12_000, date(2026, 8, 2))
        create_bill(session, create_account(session, "A002"), 5_000, date(2026, 8, 2))
        issue_approved(session, clock)
    engine.dispose()
    return tmp_path


def _open(home: Path) -> dict[str, int]:
    """What each account owes [fen]: its open items summed."""
    engine = make_engine(Settings.from_env({"M2C_HOME": str(home)}).database_url)
    with unit_of_work(engine) as session:
        items = repository.open_items(session)
    engine.dispose()
    return {a: int(m) for a, m in items.groupby("account_no")["open_minor"].sum().items()}


def _json(home: Path, *args: str) -> Any:
    result = m2c(home, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_bank_file_posts_once_however_often_it_is_loaded(home: Path) -> None:
    path = home / "icbc.csv"
    path.write_text(
        "H,ICBC-0805,ICBC,2026-08-05,2,170.00\n"
        "D,T1,A001,120.00,2026-08-05\n"
        "D,T2,A002,50.00,2026-08-04\n"
    )
    first = _json(home, "pay", "load-bank", str(path))
    assert (first["posted"], first["posted_total"], first["duplicates"]) == (2, "170.00", 0)
    again = _json(home, "pay", "load-bank", str(path))
    assert (again["posted"], again["duplicates"]) == (2, 2)
    assert _open(home) == {}
    shown = m2c(home, "pay", "load-bank", str(path)).stdout
    assert "bank file ICBC-0805" in shown and "¥170.00" in shown
    agent_file = home / "post-office.csv"
    agent_file.write_text("H,PO-0806,CHINAPOST,2026-08-06,1,10.00\nD,T1,A001,10.00,2026-08-06\n")
    as_agent = _json(home, "pay", "load-bank", str(agent_file), "--agent")
    assert (as_agent["channel"], as_agent["posted"]) == ("agent:CHINAPOST", 1)


def test_a_bank_file_with_a_wrong_total_is_refused_and_nothing_posts(home: Path) -> None:
    path = home / "icbc.csv"
    path.write_text("H,B1,ICBC,2026-08-05,1,99.00\nD,T1,A001,120.00,2026-08-05\n")
    line = _one_line_error(m2c(home, "pay", "load-bank", str(path)))
    assert "icbc.csv: the header's total 99.00 yuan differs from the lines' 120.00 yuan" in line
    assert _open(home) == {"A001": 12_000, "A002": 5_000}


def test_quarantine_posts_the_good_lines_and_lists_the_bad(home: Path) -> None:
    path = home / "icbc.csv"
    path.write_text(
        "H,B2,ICBC,2026-08-05,2,170.00\nD,T1,A001,120.00,2026-08-05\nD,T2,A999,50.00,2026-08-05\n"
    )
    refused = _one_line_error(m2c(home, "pay", "load-bank", str(path)))
    assert "line 3: unknown account" in refused and "--quarantine" in refused
    got = _json(home, "pay", "load-bank", str(path), "--quarantine")
    assert got["posted"] == 1
    assert got["quarantined"] == [
        {"line_no": 3, "reason": "unknown account", "text": "D,T2,A999,50.00,2026-08-05"}
    ]
    assert _open(home) == {"A002": 5_000}


def test_a_counter_payment_posts_once_and_a_bad_amount_is_refused(home: Path) -> None:
    args = ("pay", "take", "--account", "A002", "--amount", "20.00", "--transaction", "R-1")
    assert _json(home, *args)["posted"] == 1
    assert _json(home, *args)["duplicates"] == 1
    assert _open(home)["A002"] == 3_000
    bad = ("pay", "take", "--account", "A002", "--amount", "20.001", "--transaction", "R-2")
    assert "not a positive amount of yuan to the fen" in _one_line_error(m2c(home, *bad))
    unknown = ("pay", "take", "--account", "A404", "--amount", "1", "--transaction", "R-3")
    assert "names unknown account A404" in _one_line_error(m2c(home, *unknown))


def test_a_reversal_reopens_the_bill_and_owes_the_credit_refunded_meanwhile(home: Path) -> None:
    """A002 pays 80.00 on its 50.00 bill, is refunded the 30.00 credit, and the payment
    bounces: the bill is owed again, and so are the 30.00 refunded (a returned payment)."""
    take = ("pay", "take", "--account", "A002", "--amount", "80.00", "--transaction", "R-1")
    assert _json(home, *take, "--on", "2026-08-10")["to_credit"] == "30.00"
    refund = ("pay", "refund", "--account", "A002", "--reference", "RF-1")
    who = ("--reason", "moved away", "--actor", "li")
    too_much = m2c(home, *refund, "--amount", "30.01", *who)
    assert "holds 30.00 yuan of credit; cannot refund 30.01" in _one_line_error(too_much)
    assert m2c(home, *refund, "--amount", "30.00", *who).returncode == 0
    assert _open(home) == {"A001": 12_000}
    reverse = m2c(
        home, "pay", "reverse", "counter:cash", "R-1", "--reason", "bounced", "--actor", "li"
    )
    assert reverse.returncode == 0, reverse.stderr
    assert _open(home) == {"A001": 12_000, "A002": 8_000}
    aging = _json(home, "aging", "--by", "account")
    owed = {r["group"]: r["total"] for r in aging["rows"]}
    assert owed == {"A001": "120.00", "A002": "80.00"}


def test_late_fees_are_charged_once_a_day_and_waived_with_a_reason(home: Path) -> None:
    first = _json(home, "late-fees", "assess", "--through", "2026-08-12")
    assert first == {"through": "2026-08-12", "bills": 2, "amount": "1.70"}  # 10 days × 0.1 %
    again = _json(home, "late-fees", "assess", "--through", "2026-08-12")
    assert again["bills"] == 0
    waive = ("late-fees", "waive", "20260802-A002", "--actor", "li")
    assert "--reason" in m2c(home, *waive).stderr
    assert m2c(home, *waive, "--reason", "hospital stay").returncode == 0
    assert _open(home) == {"A001": 12_120, "A002": 5_000}
    bad = m2c(home, "late-fees", "assess", "--rules", "1987")
    assert "unknown rules '1987'" in _one_line_error(bad)


def test_a_signed_callback_posts_and_a_forged_one_is_refused(home: Path) -> None:
    body = home / "callback.json"
    body.write_bytes(
        b'{"provider": "alipay", "transaction_id": "2026080522001", "account_no": "A002",'
        b' "amount": "50.00", "paid_on": "2026-08-05"}'
    )
    secret = {"M2C_CALLBACK_SECRET": "shared"}
    good = sign(body.read_bytes(), "shared")
    forged = m2c(home, "pay", "callback", str(body), "--signature", "ab" * 32, env=secret)
    assert "signature does not match" in _one_line_error(forged)
    posted = m2c(home, "pay", "callback", str(body), "--signature", good, "--json", env=secret)
    assert json.loads(posted.stdout)["posted"] == 1
    assert _open(home) == {"A001": 12_000}
    unset = m2c(home, "pay", "callback", str(body), "--signature", good)
    assert "M2C_CALLBACK_SECRET" in _one_line_error(unset)


def test_a_counter_payment_prints_a_receipt_with_the_amount_in_words(home: Path) -> None:
    receipt = home / "receipt.pdf"
    take = ("pay", "take", "--account", "A001", "--amount", "150.00", "--transaction", "R-7")
    result = m2c(home, *take, "--on", "2026-08-10", "--receipt", str(receipt))
    assert result.returncode == 0, result.stderr
    text = "".join(page.extract_text() for page in PdfReader(receipt).pages)
    assert "R-7" in text and "20260802-A001" in text
    assert "壹佰伍拾元整" in text
    assert "30.00" in text  # held as credit: 150.00 paid on a 120.00 bill
