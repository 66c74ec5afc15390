"""`m2c late-fees …`: charge late fees (违约金) on overdue bills, and waive them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Annotated

import typer

from meter2cash.cli.output import JsonFlag, console, print_json, yuan
from meter2cash.core.errors import InputError
from meter2cash.core.money import from_minor
from meter2cash.core.settings import Settings
from meter2cash.db.session import unit_of_work
from meter2cash.ledger.late_fee_assessment import assess_late_fees, waive_late_fee
from meter2cash.ledger.late_fees import RULES_1996, RULES_2024
from meter2cash.workspace import open_workspace, today

app = typer.Typer(help="Late fees (违约金) on overdue bills.", no_args_is_help=True)
RULES = {"2024": RULES_2024, "1996": RULES_1996}


def _day(text: str | None, option: str, default: date) -> date:
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r} is not a date", "write YYYY-MM-DD") from None


@app.command("assess")
def assess(
    through: Annotated[
        str | None,
        typer.Option("--through", help="Charge fees accrued to this day; default today."),
    ] = None,
    rules: Annotated[
        str,
        typer.Option("--rules", help="供电营业规则 edition: 2024 (no minimum) or 1996 (≥ 1 yuan)."),
    ] = "2024",
    grace: Annotated[int, typer.Option("--grace", help="Grace days after the due date.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Charge every overdue bill the fee accrued since the last assessment."""
    if rules not in RULES:
        raise InputError(f"unknown rules {rules!r}", "use 2024 or 1996")
    if grace < 0:
        raise InputError(f"--grace {grace} is negative")
    settings = Settings.from_env()
    with open_workspace(settings) as ws, unit_of_work(ws.records) as session:
        day = _day(through, "--through", today(ws.clock, settings))
        report = assess_late_fees(session, ws.clock, day, replace(RULES[rules], grace_days=grace))
    if as_json:
        print_json(
            {
                "through": day.isoformat(),
                "bills": report.bills,
                "amount": str(from_minor(report.amount_minor)),
            }
        )
        return
    charged = yuan(from_minor(report.amount_minor))
    console.print(f"late fees through {day}: {report.bills} bills charged {charged}")


@app.command("waive")
def waive(
    bill_no: Annotated[str, typer.Argument(help="The bill whose late fees are forgiven.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (audited).")],
    actor: Annotated[str, typer.Option("--actor", help="Who waives.")],
    on: Annotated[str | None, typer.Option("--on", help="Booking day; default today.")] = None,
) -> None:
    """Waive the unpaid late fees of a bill (audited)."""
    settings = Settings.from_env()
    with open_workspace(settings) as ws, unit_of_work(ws.records) as session:
        day = _day(on, "--on", today(ws.clock, settings))
        amount = waive_late_fee(session, ws.clock, bill_no, on=day, reason=reason, actor=actor)
    console.print(f"waived {yuan(from_minor(amount))} of late fees on {bill_no}")
