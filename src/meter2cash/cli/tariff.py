"""`m2c tariff …`: check, list, import OpenEI URDB records, bill a load profile."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from meter2cash.cli.output import console, errors, print_json, table
from meter2cash.core.errors import InputError, TariffError
from meter2cash.core.settings import Settings
from meter2cash.core.timezones import zone
from meter2cash.tariffs.load_profile import read_load_profile_csv
from meter2cash.tariffs.loader import (
    dump_tariff,
    load_catalogue,
    load_tariff_file,
    load_tariff_or_urdb,
    load_urdb_file,
)
from meter2cash.tariffs.profile_bill import CHARGES, bill_profile

app = typer.Typer(help="Tariffs (电价).", no_args_is_help=True)


@app.command("check")
def check(path: Path) -> None:
    """Validate a tariff file (YAML) and list its versions."""
    doc = load_tariff_file(path)
    console.print(
        f"{doc.code} {doc.name}: "
        + ", ".join(f"v{v.version} from {v.effective_from}" for v in doc.versions)
    )


@app.command("list")
def list_catalogue() -> None:
    """The tariffs in the shipped catalogue."""
    rows = [
        (code, doc.customer_class, doc.name, len(doc.versions))
        for code, doc in sorted(load_catalogue().items())
    ]
    console.print(table("tariff catalogue", ["code", "class", "name", "versions"], rows))


@app.command("import-urdb")
def import_urdb(
    path: Path,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write the tariff as YAML here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Read an OpenEI URDB rate record (JSON) into a tariff; list what it cannot honour."""
    imported = load_urdb_file(path)
    document = imported.document
    if output is not None:
        try:
            output.write_text(dump_tariff(document), encoding="utf-8")
        except OSError as exc:
            raise TariffError(f"{output}: cannot write ({exc})", "check the path") from exc
    components = [c.kind for c in document.versions[0].components]
    if as_json:
        print_json(
            {
                "code": document.code,
                "name": document.name,
                "effective_from": document.versions[0].effective_from.isoformat(),
                "components": components,
                "not_honoured": list(imported.not_honoured),
                "output": None if output is None else str(output),
            }
        )
        return
    console.print(f"{document.code} {document.name}")
    console.print(
        f"v1 from {document.versions[0].effective_from}: {', '.join(components)}"
        + (f" → {output}" if output is not None else "")
    )
    if imported.not_honoured:
        console.print(f"[yellow]not honoured ({len(imported.not_honoured)}):[/]")
        for item in imported.not_honoured:
            console.print(f"  {item}", highlight=False, markup=False)


@app.command("bill")
def bill(
    tariff: Annotated[
        Path, typer.Option("--tariff", help="Tariff: our YAML or a URDB JSON record.")
    ],
    load: Annotated[
        Path,
        typer.Option(
            "--load",
            help="CSV: timestamp (ISO 8601 with offset, interval start), kwh, optional kvarh.",
        ),
    ],
    timezone: Annotated[
        str | None,
        typer.Option(help="IANA zone of local months and TOU hours (default M2C_TIMEZONE)."),
    ] = None,
    holidays: Annotated[
        str, typer.Option(help="Public holidays, comma-separated YYYY-MM-DD.")
    ] = "",
    contracted_kva: Annotated[
        str | None, typer.Option(help="Contracted capacity [kVA] for a capacity charge.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable bills.")] = False,
) -> None:
    """Bill a load profile under a tariff, one calendar month at a time."""
    document, not_honoured = load_tariff_or_urdb(tariff)
    profile = read_load_profile_csv(load)
    tz = zone(timezone) if timezone else Settings.from_env().tz
    months = bill_profile(document, profile, tz, _dates(holidays), _kva(contracted_kva))
    if as_json:
        print_json(
            {
                "tariff": document.code,
                "currency": document.currency,
                "not_honoured": list(not_honoured),
                "months": [month.as_json() for month in months],
            }
        )
        return
    rows = [
        (
            m.month,
            m.determinants.kwh_total,
            m.determinants.max_demand_kw,
            *(m.charges[c] for c in CHARGES),
            m.bill.total,
        )
        for m in months
    ]
    console.print(
        table(
            f"{document.code} — {load.name} ({document.currency})",
            ["month", "kWh", "max kW", *CHARGES, "total"],
            rows,
        )
    )
    total = sum((m.bill.total for m in months), Decimal(0))
    console.print(f"{len(months)} months, total {total} {document.currency}")
    for item in not_honoured:
        errors.print(f"not honoured: {item}", highlight=False, markup=False)


def _dates(text: str) -> frozenset[date]:
    days = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            days.add(date.fromisoformat(part))
        except ValueError as exc:
            raise InputError(f"--holidays: {part!r} is not a date (YYYY-MM-DD)") from exc
    return frozenset(days)


def _kva(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise InputError(f"--contracted-kva: {text!r} is not a number") from exc
    if not value.is_finite() or value <= 0:
        raise InputError(f"--contracted-kva: {text!r} is not a positive number")
    return value
