"""Bank batch files: good files read, wrong control figures refused, bad lines named or set
aside."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from meter2cash.core.errors import InputError
from meter2cash.ledger.bank_files import read_bank_file

ACCOUNTS = {"A001", "A002", "A003"}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "icbc-20260805.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = [
    "H,ICBC-20260805-01,ICBC,2026-08-05,3,356.2",
    "D,T0001,A001,100.00,2026-08-04",
    "D,T0002,A002,56.2,2026-08-05",
    "D,T0003,A003,200,2026-08-05",
]


def test_a_good_file_reads_to_its_payments_in_fen(tmp_path: Path) -> None:
    got = read_bank_file(_write(tmp_path, GOOD), ACCOUNTS)
    assert (got.batch_id, got.bank, got.value_date) == (
        "ICBC-20260805-01",
        "ICBC",
        date(2026, 8, 5),
    )
    assert got.payments["amount_minor"].tolist() == [10_000, 5_620, 20_000]
    assert got.payments["line_no"].tolist() == [2, 3, 4]
    assert got.payments["paid_on"].tolist()[0] == date(2026, 8, 4)
    assert got.control_total_verified and got.quarantined.empty


def test_a_file_whose_lines_do_not_add_up_to_its_total_is_refused(tmp_path: Path) -> None:
    lines = [GOOD[0].replace("356.2", "356.20"), GOOD[1], GOOD[2], GOOD[3].replace("200", "201")]
    with pytest.raises(InputError, match=r"total 356\.20 yuan differs from the lines' 357\.20"):
        read_bank_file(_write(tmp_path, lines), ACCOUNTS)


def test_a_file_with_fewer_lines_than_declared_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="declares 3 lines, the file has 2"):
        read_bank_file(_write(tmp_path, GOOD[:3]), ACCOUNTS)


def test_bad_lines_refuse_the_file_naming_each_line(tmp_path: Path) -> None:
    lines = [
        "H,B1,ICBC,2026-08-05,4,300.00",
        "D,T1,A001,100.00,2026-08-05",
        "D,T1,A002,50.00,2026-08-05",
        "D,T3,A999,50.00,2026-08-05",
        "D,T4,A003,100.00,2026-13-01",
    ]
    with pytest.raises(InputError) as info:
        read_bank_file(_write(tmp_path, lines), ACCOUNTS)
    message = str(info.value)
    assert "3 lines cannot be posted" in message
    assert "line 3: the transaction id repeats an earlier line" in message
    assert "line 4: unknown account" in message
    assert "line 5: the payment date is not YYYY-MM-DD" in message


def test_quarantine_sets_bad_lines_aside_and_keeps_the_rest(tmp_path: Path) -> None:
    lines = [
        "H,B1,ICBC,2026-08-05,4,250.00",
        "D,T1,A001,100.00,2026-08-05",
        "D,T2,A002,50.001,2026-08-05",
        "D,T3,A002,-5,2026-08-05",
        "D,T4,A003,100.00,2026-08-06",
    ]
    got = read_bank_file(_write(tmp_path, lines), ACCOUNTS, bad_lines="quarantine")
    assert got.payments["transaction_id"].tolist() == ["T1"]
    assert got.quarantined[["line_no", "reason"]].values.tolist() == [
        [3, "the amount is not yuan with at most two decimals"],
        [4, "the amount is not yuan with at most two decimals"],
        [5, "paid after the file's value date"],
    ]
    assert got.quarantined["text"].iloc[0] == "D,T2,A002,50.001,2026-08-05"
    assert not got.control_total_verified


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "the file is empty"),
        (["D,T1,A001,1.00,2026-08-05"], "line 1 is not a header record"),
        (["H,B1,ICBC,2026-08-05,1,1.00", "X,T1,A001,1.00,2026-08-05"], "line 2 is not a detail"),
        (["H,B1,ICBC,05/08/2026,0,0"], "value date '05/08/2026' is not YYYY-MM-DD"),
        (["H,B1,ICBC,2026-08-05,1,1.00", "D,T1,A001,1.00,2026-08-05,x,y"], "too many fields"),
    ],
)
def test_what_is_not_a_bank_file_is_refused_with_its_line(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = tmp_path / "f.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_bank_file(path, ACCOUNTS)
