"""`m2c vee estimate`: fill the gaps of one series in a CSV file (the back-test tool)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from meter2cash.cli.output import console, print_json, table
from meter2cash.core.errors import InputError
from meter2cash.core.settings import Settings
from meter2cash.core.timezones import zone
from meter2cash.vee.backtest import (
    ESTIMATORS,
    estimate_series,
    read_series_csv,
    write_series_csv,
)


def estimate(
    input_path: Annotated[
        Path,
        typer.Option(
            "--input",
            help="CSV with timestamp (ISO 8601 with offset), value (blank = gap), "
            "optional temperature [°C].",
        ),
    ],
    output_path: Annotated[
        Path, typer.Option("--output", help="Where to write the rows, gaps filled + method.")
    ],
    method: Annotated[
        str,
        typer.Option(help=f"{' | '.join(ESTIMATORS)}; gaps it cannot fill get the best."),
    ] = "best",
    timezone: Annotated[
        str | None,
        typer.Option(help="IANA zone of the local days (default M2C_TIMEZONE or Asia/Shanghai)."),
    ] = None,
    holidays: Annotated[
        str, typer.Option(help="Public holidays, comma-separated YYYY-MM-DD.")
    ] = "",
    decimals: Annotated[int, typer.Option(help="Decimal places of estimated values.")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Fill every gap of one series and write it back with a method per row."""
    tz = zone(timezone) if timezone else Settings.from_env().tz
    series = read_series_csv(input_path)
    result = estimate_series(series, tz, method=method, holidays=_dates(holidays))
    write_series_csv(series, result, output_path, decimals=decimals)
    counts = Counter(str(m) for m in result.method)
    summary = {
        "rows": len(result.values),
        "gaps": len(result.gaps),
        **{f"estimated_{m}": n for m, n in sorted(counts.items()) if m != "actual"},
        "output": str(output_path),
    }
    if as_json:
        print_json(summary)
        return
    console.print(
        table(f"estimated {input_path.name}", ["measure", "value"], list(summary.items()))
    )


def _dates(text: str) -> frozenset[date]:
    days = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            days.add(date.fromisoformat(part))
        except ValueError as exc:
            raise InputError(f"--holidays: {part!r} is not a date (YYYY-MM-DD)") from exc
    return frozenset(days)
