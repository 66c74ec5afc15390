"""`m2c bill document` (a bill as PDF, Chinese or English) and `m2c bill export` (a cycle's
bills with their lines as CSV or JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from meter2cash.billing.documents import LANGS, bills_csv, bills_json, check_lang, render_pdf
from meter2cash.billing.statement import bill_document, cycle_bills
from meter2cash.cli.output import console
from meter2cash.core.errors import InputError
from meter2cash.core.settings import Settings
from meter2cash.db.session import unit_of_work
from meter2cash.workspace import open_workspace

EXPORT_FORMATS = ("csv", "json")


def register(app: typer.Typer) -> None:
    """Add ``document`` and ``export`` to the ``bill`` command group ``app``."""
    app.command("document")(document)
    app.command("export")(export)


def document(
    bill_no: Annotated[str, typer.Argument(help="The bill number.")],
    lang: Annotated[str, typer.Option(help=" | ".join(LANGS))] = "zh",
    output: Annotated[
        Path | None,
        typer.Option(help="Where to write the PDF (default bill-<no>-<lang>.pdf here)."),
    ] = None,
) -> None:
    """Write one bill as an A4 PDF (电费账单): charges, the reads used, usage history."""
    language = check_lang(lang)
    with open_workspace(Settings.from_env()) as ws, unit_of_work(ws.records) as session:
        doc = bill_document(session, ws.store, bill_no)
    path = output or Path(f"bill-{doc.bill_no}-{language}.pdf")
    _write(path, render_pdf(doc, language))
    console.print(f"wrote {path}")


def export(
    cycle: Annotated[str, typer.Option(help="Billing month, YYYY-MM.")],
    format_: Annotated[str, typer.Option("--format", help=" | ".join(EXPORT_FORMATS))] = "csv",
    output: Annotated[
        Path | None, typer.Option(help="Where to write (default: standard output).")
    ] = None,
) -> None:
    """Export a cycle's bills with their lines: CSV (a row per line) or JSON (nested)."""
    if format_ not in EXPORT_FORMATS:
        raise InputError(f"unknown format {format_!r}", "use " + " or ".join(EXPORT_FORMATS))
    with open_workspace(Settings.from_env()) as ws, unit_of_work(ws.records) as session:
        bills = cycle_bills(session, cycle)
    text = bills_csv(bills) if format_ == "csv" else bills_json(bills)
    if output is None:
        typer.echo(text, nl=False)
        return
    _write(output, text.encode())
    console.print(f"wrote {len(bills)} bills to {output}")


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from exc
