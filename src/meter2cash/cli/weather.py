"""`m2c weather …`: daily mean temperature by zone, as the weather bureau gives it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from meter2cash.cli.output import JsonFlag, console, print_json, table
from meter2cash.core.settings import Settings
from meter2cash.db.session import unit_of_work
from meter2cash.weather.repository import weather_series
from meter2cash.weather.service import load_weather_file
from meter2cash.weather.temperatures import describe
from meter2cash.workspace import open_workspace

app = typer.Typer(help="Daily mean temperature by zone (weather).", no_args_is_help=True)


@app.command("load")
def load(
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV: date (local, YYYY-MM-DD), temperature_c (daily mean [°C]), optional "
            "zone (a zone code; blank or no column = the whole utility)."
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Load daily mean temperatures; nothing is stored unless every row is good."""
    with open_workspace(Settings.from_env()) as ws, unit_of_work(ws.records) as session:
        report = load_weather_file(session, ws.clock, path)
    if as_json:
        print_json(asdict(report))
        return
    console.print(
        f"{path.name}: {report.added} days added, {report.changed} changed, "
        f"{report.unchanged} unchanged"
    )


@app.command("show")
def show(as_json: JsonFlag = False) -> None:
    """The temperature series held, one per zone (or one for the whole utility)."""
    with open_workspace(Settings.from_env()) as ws, unit_of_work(ws.records) as session:
        series = weather_series(session)
    if as_json:
        print_json(
            [
                {**asdict(s), "first": s.first.isoformat(), "last": s.last.isoformat()}
                for s in series
            ]
        )
        return
    console.print(
        table(
            "daily mean temperature held",
            ["for", "days", "first", "last", "days missing", "min °C", "mean °C", "max °C"],
            [
                (
                    describe(s.zone_code),
                    s.days,
                    s.first,
                    s.last,
                    s.missing_days,
                    f"{s.min_c:.1f}",
                    f"{s.mean_c:.1f}",
                    f"{s.max_c:.1f}",
                )
                for s in series
            ],
        )
    )
