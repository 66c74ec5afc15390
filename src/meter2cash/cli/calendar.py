"""`m2c calendar …`: the utility's public holidays and adjusted workdays (调休)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from meter2cash.cli.output import JsonFlag, console, print_json, table
from meter2cash.core.settings import Settings
from meter2cash.db.session import unit_of_work
from meter2cash.holidays.repository import special_days
from meter2cash.holidays.service import load_holiday_file
from meter2cash.workspace import open_workspace, today

app = typer.Typer(help="Public holidays and adjusted workdays (调休).", no_args_is_help=True)


@app.command("load")
def load(
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV: date (YYYY-MM-DD), optional kind (holiday | workday, default holiday) "
            "and name. It is the whole list of every year it mentions."
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Load the utility's own holidays; each year in the file replaces the built-in one."""
    with open_workspace(Settings.from_env()) as ws, unit_of_work(ws.records) as session:
        report = load_holiday_file(session, ws.clock, path)
    if as_json:
        print_json(asdict(report))
        return
    console.print(
        f"{path.name}: years {', '.join(map(str, report.years))} — {report.added} added, "
        f"{report.changed} changed, {report.removed} removed, {report.unchanged} unchanged"
    )


@app.command("show")
def show(
    year: Annotated[int | None, typer.Option(help="Year (default: this year).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The holidays and adjusted workdays of one year, and where they come from."""
    with open_workspace(Settings.from_env()) as ws:
        shown = year or today(ws.clock, ws.settings).year
        with unit_of_work(ws.records) as session:
            days = special_days(session, shown)
    if as_json:
        print_json([{**asdict(d), "local_date": d.local_date.isoformat()} for d in days])
        return
    console.print(
        table(
            f"calendar {shown}: {len(days)} special days (other days: Mon–Fri workday, "
            "Sat–Sun weekend)",
            ["date", "weekday", "kind", "name", "source"],
            [(d.local_date, _weekday(d.local_date), d.kind, d.name, d.source) for d in days],
        )
    )


def _weekday(day: date) -> str:
    return f"{day:%a}"
