"""Bank batch files (银行代收): the documented CSV a bank sends with the payments it took.

UTF-8, comma-separated, no quoting needed. The first line is the header record, every other
line a detail record::

    H,<batch id>,<bank code>,<value date YYYY-MM-DD>,<line count>,<total yuan>
    D,<transaction id>,<account no>,<amount yuan>,<paid on YYYY-MM-DD>

Amounts are positive yuan with at most two decimals. The header's count and total are the
bank's control figures: a file whose detail lines do not add up to them is refused whole. A
line that cannot be posted — a bad amount or date, a transaction id repeated in the file, an
account the utility does not know — refuses the file too, or, when the caller asks to
quarantine, is set aside with its reason while the rest is posted. Line numbers are the
file's, counting from 1.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from meter2cash.core.errors import InputError

BadLines = Literal["reject", "quarantine"]
DETAIL_FIELDS: Final = ("transaction_id", "account_no", "amount", "paid_on")
_AMOUNT: Final = r"\d{1,12}(\.\d{1,2})?"
_SHOWN: Final = 5
"""Problems named in the message of a refused file."""


@dataclass(frozen=True, slots=True)
class BankFile:
    """A bank file read and checked.

    ``payments``: line_no, transaction_id, account_no, amount_minor [fen], paid_on (date) of
    the lines to post; ``quarantined``: line_no, reason, text of the lines set aside.
    """

    path: Path
    batch_id: str
    bank: str
    value_date: date
    declared_count: int
    declared_total_minor: int
    control_total_verified: bool
    payments: pd.DataFrame
    quarantined: pd.DataFrame


def _fail(path: Path, problem: str, hint: str = "") -> InputError:
    return InputError(f"{path}: {problem}", hint or "correct the file and load it again")


def _header(path: Path, first: list[str]) -> tuple[str, str, date, int, int]:
    if first[0] != "H" or "" in first[1:]:
        raise _fail(
            path,
            "line 1 is not a header record H,batch,bank,value date,count,total",
            "see docs/ledger.md for the bank file format",
        )
    _, batch_id, bank, value_date, count, total = first
    try:
        when = date.fromisoformat(value_date)
    except ValueError:
        raise _fail(path, f"line 1: value date {value_date!r} is not YYYY-MM-DD") from None
    if not count.isdigit():
        raise _fail(path, f"line 1: line count {count!r} is not a whole number")
    minor = _minor(pd.Series([total]))
    if minor.isna().any():
        raise _fail(path, f"line 1: total {total!r} is not an amount in yuan")
    return batch_id, bank, when, int(count), int(minor.iloc[0])


def _minor(text: pd.Series) -> pd.Series:
    """Yuan amounts as text → integer fen (nullable); NA where not ``_AMOUNT``.

    A decimal of at most 14 digits reads exactly through a float: ×100 lands within 10⁻³ of
    the whole number of fen, which ``rint`` then gives.
    """
    arrow = pa.array(text, pa.string())
    good = pc.fill_null(pc.match_substring_regex(arrow, f"^{_AMOUNT}$"), False)
    floats = pc.cast(pc.if_else(good, arrow, "0"), pa.float64()).to_numpy()
    minor = pd.Series(np.rint(floats * 100).astype(np.int64), index=text.index, dtype="Int64")
    return minor.where(good.to_numpy(zero_copy_only=False), pd.NA)


def _table(path: Path) -> pd.DataFrame:
    """Every line of the file as six text fields ("" where absent)."""
    try:
        table = pd.read_csv(
            path,
            header=None,
            names=range(6),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            encoding="utf-8",
        )
    except pd.errors.EmptyDataError:
        raise _fail(path, "the file is empty") from None
    except pd.errors.ParserError as exc:
        raise _fail(path, f"a line has too many fields ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot read the file: {exc}", "pass a UTF-8 bank file") from None
    if table.empty:
        raise _fail(path, "the file is empty")
    return table.fillna("").apply(lambda c: c.str.strip())


def _known(accounts: pd.Series, known: Collection[str]) -> npt.NDArray[np.bool_]:
    value_set = pa.array(list(known), pa.string())
    found: npt.NDArray[np.bool_] = pc.is_in(pa.array(accounts, pa.string()), value_set).to_numpy(
        zero_copy_only=False
    )
    return found


def read_bank_file(
    path: Path, known_accounts: Collection[str], bad_lines: BadLines = "reject"
) -> BankFile:
    """Read and check the bank file at ``path`` against ``known_accounts`` (account numbers).

    Raises :class:`InputError` naming the file, line and problem when the file is refused:
    it is not a bank file, its control figures are wrong, or (``bad_lines="reject"``) any
    line cannot be posted. The control total is checked whenever every amount reads; with
    unreadable amounts quarantined, ``control_total_verified`` is false.
    """
    table = _table(path)
    batch_id, bank, value_date, count, total = _header(path, table.iloc[0].tolist())
    details = table.iloc[1:]
    line_no = np.arange(2, len(table) + 1)
    not_detail = (details[0] != "D") | (details[[1, 2, 3, 4]] == "").all(axis=1)
    not_detail |= details[5] != ""
    if not_detail.any():
        first = int(line_no[np.flatnonzero(not_detail.to_numpy())[0]])
        raise _fail(
            path,
            f"line {first} is not a detail record D,transaction,account,amount,paid on",
            "see docs/ledger.md for the bank file format",
        )
    if len(details) != count:
        raise _fail(path, f"the header declares {count} lines, the file has {len(details)}")
    fields = details[[1, 2, 3, 4]].set_axis(list(DETAIL_FIELDS), axis=1).reset_index(drop=True)
    amount = _minor(fields["amount"])
    readable = bool(amount.notna().all())
    found_total = int(amount.fillna(0).sum())
    if readable and found_total != total:
        raise _fail(
            path,
            f"the header's total {total / 100:.2f} yuan differs from the lines' "
            f"{found_total / 100:.2f} yuan",
        )
    paid_on = pd.to_datetime(fields["paid_on"], format="%Y-%m-%d", errors="coerce")
    reasons = np.full(len(fields), "", dtype=object)
    for mask, reason in (
        (fields["transaction_id"] == "", "the transaction id is empty"),
        (amount.isna(), "the amount is not yuan with at most two decimals"),
        (amount.fillna(1) <= 0, "the amount is not positive"),
        (paid_on.isna(), "the payment date is not YYYY-MM-DD"),
        (paid_on > pd.Timestamp(value_date), "paid after the file's value date"),
        (fields["transaction_id"].duplicated(), "the transaction id repeats an earlier line"),
        (~_known(fields["account_no"], known_accounts), "unknown account"),
    ):
        reasons[np.asarray(mask, bool) & (reasons == "")] = reason
    bad = reasons != ""
    if bad.any() and bad_lines == "reject":
        shown = "; ".join(
            f"line {n}: {r}"
            for n, r in zip(line_no[bad][:_SHOWN], reasons[bad][:_SHOWN], strict=True)
        )
        more = f" (and {int(bad.sum()) - _SHOWN} more)" if bad.sum() > _SHOWN else ""
        raise _fail(
            path,
            f"{int(bad.sum())} lines cannot be posted: {shown}{more}",
            "correct them, or load with --quarantine to post the rest",
        )
    good = ~bad
    payments = pd.DataFrame(
        {
            "line_no": line_no[good],
            "transaction_id": fields["transaction_id"].to_numpy()[good],
            "account_no": fields["account_no"].to_numpy()[good],
            "amount_minor": amount.to_numpy()[good].astype(np.int64),
            "paid_on": paid_on.dt.date.to_numpy()[good],
        }
    )
    text = details.iloc[:, :5].agg(",".join, axis=1).to_numpy()[bad] if bad.any() else []
    quarantined = pd.DataFrame(
        {"line_no": line_no[bad], "reason": reasons[bad], "text": pd.Series(text, dtype=str)}
    )
    return BankFile(path, batch_id, bank, value_date, count, total, readable, payments, quarantined)
