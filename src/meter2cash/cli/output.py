"""Console output: readable tables and progress for people, JSON for scripts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from meter2cash.core.money import from_minor

# Tables of money are wide: render at least 110 columns and let a narrow terminal wrap lines,
# rather than squeezing amounts into ellipses.
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
"""The ``--json`` option every command with a table offers."""

console = Console(width=max(shutil.get_terminal_size((110, 24)).columns, 110))
errors = Console(stderr=True)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (decimals as strings, exact)."""
    print(json.dumps(data, ensure_ascii=False, indent=2, default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, title_justify="left", show_lines=False)
    for i, name in enumerate(columns):
        t.add_column(name, justify="left" if i == 0 else "right", no_wrap=i > 0)
    for row in rows:
        t.add_row(*(str(v) for v in row))
    return t


def yuan(amount: Decimal) -> str:
    """``¥1,234,567.89``."""
    return f"¥{amount:,.2f}"


@contextmanager
def progress(description: str, total: int) -> Iterator[Any]:
    """A progress bar that advances by one, or by ``n``, per call of the yielded function."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def kpi_table(frame: Any, title: str) -> Table:
    """Collection KPIs by zone (:func:`meter2cash.collections.kpis.collection_kpis`)."""
    return table(
        title,
        ["zone", "billed", "collected", "rate", "receivables", "arrears", ">30 days", "DSO"],
        [
            (
                zone,
                yuan(from_minor(int(r.billed_minor))),
                yuan(from_minor(int(r.collected_minor))),
                f"{r.collection_rate:.1%}",
                yuan(from_minor(int(r.receivables_minor))),
                yuan(from_minor(int(r.arrears_minor))),
                f"{r.old_share:.1%}",
                f"{r.dso_days:.1f}",
            )
            for zone, r in frame.iterrows()
        ],
    )
