"""`m2c pay …`: take payments — bank files, the counter, and the simulated customers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from meter2cash.cli.output import JsonFlag, console, print_json, progress, table, yuan
from meter2cash.core.errors import InputError
from meter2cash.core.money import from_minor, quantize_money, to_minor
from meter2cash.core.settings import Settings
from meter2cash.db.session import unit_of_work
from meter2cash.ledger.bank_batches import Sender, check_bank_file, post_bank_file
from meter2cash.ledger.callbacks import post_callback
from meter2cash.ledger.credit import refund_credit
from meter2cash.ledger.payments import (
    PAYMENT_COLUMNS,
    PaymentReport,
    post_payments,
    reverse_payment,
)
from meter2cash.ledger.receipts import payment_receipt, render_receipt
from meter2cash.workspace import open_workspace, today

app = typer.Typer(help="Payments.", no_args_is_help=True)


def _print_report(report: PaymentReport, as_json: bool) -> None:
    data = {
        "received": report.received,
        "posted": report.posted,
        "duplicates": report.duplicates,
        "amount": str(from_minor(report.amount_minor)),
        "to_credit": str(from_minor(report.to_credit_minor)),
    }
    if as_json:
        print_json(data)
    else:
        console.print(table("payments", ["measure", "value"], list(data.items())))


@app.command("load-bank")
def load_bank(
    path: Annotated[Path, typer.Argument(help="Bank file (format: docs/ledger.md).")],
    quarantine: Annotated[
        bool,
        typer.Option(
            "--quarantine",
            help="Set lines that cannot be posted aside with their reasons and post the rest "
            "(default: refuse the whole file).",
        ),
    ] = False,
    agent: Annotated[
        bool,
        typer.Option("--agent", help="The file is a third-party agent's (代收点), not a bank's."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Post a bank (or agent) batch file: control figures checked, each payment once,
    resumable."""
    sender: Sender = "agent" if agent else "bank"
    with open_workspace(Settings.from_env()) as ws:
        bank_file = check_bank_file(ws.records, path, "quarantine" if quarantine else "reject")
        if as_json:
            report = post_bank_file(ws.records, ws.clock, bank_file, sender=sender)
        else:
            with progress(f"posting {path.name}", len(bank_file.payments)) as advance:
                report = post_bank_file(ws.records, ws.clock, bank_file, advance, sender)
    quarantined = report.quarantined
    if as_json:
        print_json(
            {
                "batch": report.batch_key,
                "channel": report.channel,
                "declared_count": report.declared_count,
                "declared_total": str(from_minor(report.declared_total_minor)),
                "control_total_verified": report.control_total_verified,
                "posted": report.posted,
                "posted_total": str(from_minor(report.posted_minor)),
                "duplicates": report.duplicates,
                "quarantined": quarantined.to_dict(orient="records"),
            }
        )
        return
    rows = [
        ("declared", report.declared_count, yuan(from_minor(report.declared_total_minor))),
        ("posted (this file, all runs)", report.posted, yuan(from_minor(report.posted_minor))),
        ("already posted, skipped", report.duplicates, ""),
        ("quarantined", len(quarantined), ""),
    ]
    console.print(
        table(f"bank file {report.batch_key} ({report.channel})", ["", "lines", "amount"], rows)
    )
    if not report.control_total_verified:
        console.print("[yellow]control total not verified: some amounts could not be read[/]")
    if len(quarantined):
        console.print(
            table(
                "quarantined lines",
                ["line", "reason", "text"],
                quarantined[["line_no", "reason", "text"]].values.tolist(),
            )
        )


def _minor(amount: str) -> int:
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise InputError(f"amount {amount!r} is not a number", "give yuan, e.g. 125.50") from None
    if not value.is_finite() or value <= 0 or quantize_money(value) != value:
        raise InputError(
            f"amount {amount!r} is not a positive amount of yuan to the fen",
            "give yuan with at most two decimals, e.g. 125.50",
        )
    return to_minor(value)


@app.command("take")
def take(
    account: Annotated[str, typer.Option("--account", help="Account number.")],
    amount: Annotated[str, typer.Option("--amount", help="Yuan, e.g. 125.50.")],
    transaction: Annotated[
        str, typer.Option("--transaction", help="Receipt or transaction number (idempotency).")
    ],
    channel: Annotated[
        str, typer.Option("--channel", help="counter:cash, counter:card, agent:NAME, …")
    ] = "counter:cash",
    on: Annotated[
        str | None, typer.Option("--on", help="Day received (YYYY-MM-DD); default today.")
    ] = None,
    receipt: Annotated[
        Path | None, typer.Option("--receipt", help="Write the printed receipt here (PDF).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Take one payment at the counter or from an agent; sent twice, it posts once."""
    minor = _minor(amount)
    settings = Settings.from_env()
    with open_workspace(settings) as ws, unit_of_work(ws.records) as session:
        received = _day(on) if on else today(ws.clock, settings)
        frame = pd.DataFrame(
            [(channel, transaction, account, minor, received)], columns=list(PAYMENT_COLUMNS)
        )
        report = post_payments(session, ws.clock, frame)
        if receipt is not None:
            receipt.write_bytes(render_receipt(payment_receipt(session, channel, transaction)))
    _print_report(report, as_json)
    if receipt is not None and not as_json:
        console.print(f"receipt written to {receipt}")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--on {text!r} is not a date", "write YYYY-MM-DD") from None


@app.command("simulate")
def simulate(as_json: JsonFlag = False) -> None:
    """Apply the simulated customers' payments against issued bills."""
    from meter2cash.spine import pay_simulated, simulated_utility

    with open_workspace(Settings.from_env()) as ws:
        report = pay_simulated(ws, simulated_utility(ws))
    _print_report(report, as_json)


@app.command("reverse")
def reverse(
    channel: Annotated[str, typer.Argument(help="The payment's channel, e.g. bank:ICBC.")],
    transaction: Annotated[str, typer.Argument(help="Its transaction id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (bounced, mistaken, …).")],
    actor: Annotated[str, typer.Option("--actor", help="Who reverses it.")],
    on: Annotated[
        str | None, typer.Option("--on", help="Booking day (YYYY-MM-DD); default today.")
    ] = None,
) -> None:
    """Reverse a bounced or mistaken payment: the bills it paid are owed again (audited)."""
    settings = Settings.from_env()
    with open_workspace(settings) as ws, unit_of_work(ws.records) as session:
        booked = _day(on) if on else today(ws.clock, settings)
        entry = reverse_payment(
            session, ws.clock, channel, transaction, on=booked, reason=reason, actor=actor
        )
    console.print(f"payment {channel}:{transaction} reversed (entry {entry}, booked {booked})")


@app.command("refund")
def refund(
    account: Annotated[str, typer.Option("--account", help="Account number.")],
    amount: Annotated[str, typer.Option("--amount", help="Yuan, at most the credit held.")],
    reference: Annotated[str, typer.Option("--reference", help="Refund number (idempotency).")],
    reason: Annotated[str, typer.Option("--reason", help="Why.")],
    actor: Annotated[str, typer.Option("--actor", help="Who refunds.")],
    on: Annotated[
        str | None, typer.Option("--on", help="Booking day (YYYY-MM-DD); default today.")
    ] = None,
) -> None:
    """Pay an account's credit back to the customer (audited); sent twice, it posts once."""
    minor = _minor(amount)
    settings = Settings.from_env()
    with open_workspace(settings) as ws, unit_of_work(ws.records) as session:
        booked = _day(on) if on else today(ws.clock, settings)
        entry = refund_credit(
            session,
            ws.clock,
            account,
            minor,
            reference=reference,
            on=booked,
            reason=reason,
            actor=actor,
        )
    done = f"entry {entry}" if entry else "already refunded, nothing posted"
    console.print(f"refund {reference}: {yuan(from_minor(minor))} to {account} ({done})")


@app.command("callback")
def callback(
    path: Annotated[Path, typer.Argument(help="The callback's JSON body, byte for byte.")],
    signature: Annotated[
        str, typer.Option("--signature", help="Hex HMAC-SHA256 the provider sent.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Post an online or QR-code payment callback (signed; a retried callback posts once)."""
    settings = Settings.from_env()
    if not settings.callback_secret:
        raise InputError("no callback secret is set", "set M2C_CALLBACK_SECRET")
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    with open_workspace(settings) as ws, unit_of_work(ws.records) as session:
        report = post_callback(session, ws.clock, body, signature, settings.callback_secret)
    _print_report(report, as_json)
