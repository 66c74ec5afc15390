"""Small CSV files a person hands in (holiday lists, weather): rows with their line numbers.

Every fault is an :class:`InputError` naming the file and line, so the CLI prints one line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from meter2cash.core.errors import InputError

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row: its line in the file and its cells by column name (stripped text)."""

    where: str
    """``<file> line <n>``, for error messages."""
    cells: dict[str, str]


def read_rows(
    path: Path, required: Collection[str], optional: Collection[str] = ()
) -> list[CsvRow]:
    """The non-blank data rows of UTF-8 CSV file ``path``, whose header must hold every
    ``required`` column; ``optional`` columns are kept when present, others are ignored."""
    name = path.name
    wanted = (*required, *optional)
    rows: list[CsvRow] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in required if c not in header]
            if missing:
                raise InputError(
                    f"{name} line 1: no {missing[0]!r} column",
                    f"the header needs {', '.join(required)}"
                    + (f" (optionally {', '.join(optional)})" if optional else ""),
                )
            if len(set(header)) != len(header):
                raise InputError(f"{name} line 1: a column name appears twice")
            for record in reader:
                if not any(cell.strip() for cell in record):
                    continue
                where = f"{name} line {reader.line_num}"
                if len(record) != len(header):
                    raise InputError(f"{where}: {len(record)} fields, the header has {len(header)}")
                cells = dict(zip(header, (c.strip() for c in record), strict=True))
                rows.append(CsvRow(where, {c: cells[c] for c in wanted if c in cells}))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read {path}: {exc}", "give a UTF-8 CSV file") from exc
    if not rows:
        raise InputError(f"{name}: no data rows")
    return rows


def parse_date(text: str, where: str, column: str = "date") -> date:
    """A ``YYYY-MM-DD`` cell."""
    if _ISO_DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise InputError(f"{where}: {column} {text!r} is not a date (YYYY-MM-DD)")


def parse_decimal(text: str, where: str, column: str) -> Decimal:
    """A finite decimal number cell."""
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise InputError(f"{where}: {column} {text!r} is not a number") from exc
    if not value.is_finite():
        raise InputError(f"{where}: {column} {text!r} is not a number")
    return value
