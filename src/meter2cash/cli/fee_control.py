"""`m2c fee-control …`: prepay remote fee control (费控) — the daily run, its measures, and
putting an account on prepay."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer

from meter2cash.cli.output import JsonFlag, console, print_json, table, yuan
from meter2cash.collections.fee_control import (
    RECONNECT,
    TRIP,
    WARN,
    ZERO_NOTICE,
    FeeControlRules,
)
from meter2cash.collections.fee_control_report import FeeControlReport, fee_control_report
from meter2cash.collections.prepay import FeeControlRun, enrol, run_fee_control
from meter2cash.core.errors import InputError
from meter2cash.core.money import from_minor, to_minor
from meter2cash.core.settings import Settings
from meter2cash.db.session import unit_of_work
from meter2cash.tariffs.loader import load_catalogue
from meter2cash.workspace import open_workspace, today

app = typer.Typer(help="Prepay remote fee control (费控).", no_args_is_help=True)

ACTION_NAMES = {
    WARN: "余额不足提醒 warning",
    ZERO_NOTICE: "余额用完通知 notice",
    TRIP: "停电 trip",
    RECONNECT: "复电 reconnect",
}
SHOWN_ACCOUNTS = 40
"""Accounts acted on listed by `run` (all of them with --json)."""


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from exc


def _rules(warn_below: str, grace_hours: int) -> FeeControlRules:
    try:
        threshold = Decimal(warn_below)
    except InvalidOperation:
        raise InputError(f"--warn-below {warn_below!r} is not an amount", "e.g. 20.00") from None
    return FeeControlRules(warn_below_minor=to_minor(threshold), grace_hours=grace_hours)


@app.command("run")
def run(
    day: Annotated[
        str | None,
        typer.Option("--day", help="Charge through this day (YYYY-MM-DD); default yesterday."),
    ] = None,
    warn_below: Annotated[
        str, typer.Option("--warn-below", help="Warn once below this balance [yuan].")
    ] = "20.00",
    grace_hours: Annotated[
        int, typer.Option("--grace-hours", min=0, help="Hours at zero before the relay trips.")
    ] = 48,
    as_json: JsonFlag = False,
) -> None:
    """Charge prepay accounts from their daily freezes, then warn, notify, trip or
    reconnect as their balances call for."""
    rules = _rules(warn_below, grace_hours)
    with open_workspace(Settings.from_env()) as ws:
        through = _day(day, "--day") if day else today(ws.clock, ws.settings) - timedelta(days=1)
        if as_json:
            result = run_fee_control(
                ws.records, ws.clock, ws.batch, load_catalogue(), rules, through
            )
        else:
            with console.status(f"fee control through {through}") as status:
                result = run_fee_control(
                    ws.records,
                    ws.clock,
                    ws.batch,
                    load_catalogue(),
                    rules,
                    through,
                    on_step=lambda text: status.update(f"fee control: {text}"),
                )
    _print_run(result, as_json)


def _print_run(result: FeeControlRun, as_json: bool) -> None:
    actions = result.actions
    if as_json:
        print_json(
            {
                "day": result.day.isoformat(),
                "accounts": result.accounts,
                "charges_posted": result.charges_posted,
                "charged": str(from_minor(result.charged_minor)),
                "awaiting_reads": result.awaiting_reads,
                "warnings": result.warnings,
                "notices": result.notices,
                "trips": result.trips,
                "reconnects": result.reconnects,
                "actions": [
                    {
                        "account": r.account_no,
                        "balance": str(from_minor(int(r.balance_minor))),
                        "actions": r.action.split(","),
                        "command_id": int(r.command_id) or None,
                    }
                    for r in actions.itertuples(index=False)
                ],
            }
        )
        return
    console.print(
        table(
            f"fee control through {result.day} (费控)",
            ["", "count", "amount"],
            [
                ("prepay accounts 费控户", result.accounts, ""),
                (
                    "charges posted 日结扣费",
                    result.charges_posted,
                    yuan(from_minor(result.charged_minor)),
                ),
                ("awaiting reads 待抄表", result.awaiting_reads, ""),
                ("warnings 余额不足提醒", result.warnings, ""),
                ("notices at zero 余额用完通知", result.notices, ""),
                ("relay trips requested 停电", result.trips, ""),
                ("reconnects requested 复电", result.reconnects, ""),
            ],
        )
    )
    if actions.empty:
        return
    shown = actions.head(SHOWN_ACCOUNTS)
    console.print(
        table(
            "accounts acted on",
            ["account 户号", "balance 余额 (CNY)", "action 动作", "command"],
            [
                (
                    r.account_no,
                    f"{from_minor(int(r.balance_minor)):,.2f}",
                    ", ".join(ACTION_NAMES[a] for a in r.action.split(",")),
                    int(r.command_id) or "",
                )
                for r in shown.itertuples(index=False)
            ],
        )
    )
    if len(actions) > len(shown):
        console.print(f"… and {len(actions) - len(shown)} more (--json lists them all)")


@app.command("report")
def report(
    first: Annotated[
        str | None, typer.Option("--from", help="First day (default: 30 days back).")
    ] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day (default: today).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Charges, warnings, relay trips and reconnections and their success, and the hours
    from a top-up to supply restored."""
    with open_workspace(Settings.from_env()) as ws:
        end = _day(last, "--to") if last else today(ws.clock, ws.settings)
        start = _day(first, "--from") if first else end - timedelta(days=29)
        if start > end:
            raise InputError(f"--from {start} is after --to {end}")
        with unit_of_work(ws.records) as session:
            result = fee_control_report(session, start, end, ws.settings.tz)
    if as_json:
        print_json(result.as_json())
        return
    _print_report(result)


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _share(part: int, whole: int) -> str:
    return "—" if not whole else f"{part / whole:.1%}"


def _print_report(r: FeeControlReport) -> None:
    console.print(
        table(
            f"fee control {r.first} – {r.last} (费控)",
            ["measure", "value"],
            [
                ("charges posted 日结扣费", r.charges_posted),
                ("charged 扣费金额", yuan(from_minor(r.charged_minor))),
                ("warnings 余额不足提醒", r.warnings),
                ("notices at zero 余额用完通知", r.notices),
                (
                    "messages delivered / failed 短信送达 / 失败",
                    f"{r.messages_delivered} / {r.messages_failed}",
                ),
            ],
        )
    )
    console.print(
        table(
            "relay commands 远程停复电",
            ["", "requested", "confirmed", "failed", "success"],
            [
                (
                    "trip 停电",
                    r.trips_requested,
                    r.trips_confirmed,
                    r.trips_failed,
                    _share(r.trips_confirmed, r.trips_requested),
                ),
                (
                    "reconnect 复电",
                    r.reconnects_requested,
                    r.reconnects_confirmed,
                    r.reconnects_failed,
                    _share(r.reconnects_confirmed, r.reconnects_requested),
                ),
            ],
        )
    )
    console.print(
        table(
            "top-up to supply restored 充值到复电",
            ["reconnections timed", "median h", "p95 h"],
            [
                (
                    r.reconnects_timed,
                    _hours(r.reconnect_hours_median),
                    _hours(r.reconnect_hours_p95),
                )
            ],
        )
    )


@app.command("enrol")
def enrol_command(
    account: Annotated[str, typer.Argument(help="Account number (户号).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")],
    actor: Annotated[str, typer.Option("--actor", help="Who acts (kept in the audit log).")],
    starts_on: Annotated[
        str | None,
        typer.Option(
            "--from", help="First day on prepay, a month's first (default: next month's)."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Put an account on prepay (费控): charged daily from its freezes from the first day."""
    with open_workspace(Settings.from_env()) as ws:
        if starts_on:
            first = _day(starts_on, "--from")
        else:
            now = today(ws.clock, ws.settings)
            first = (now.replace(day=28) + timedelta(days=4)).replace(day=1)
        with unit_of_work(ws.records) as session:
            changed = enrol(session, ws.clock, account, starts_on=first, actor=actor, reason=reason)
    if as_json:
        print_json({"account": account, "prepay_from": first.isoformat(), "enrolled": changed})
    elif changed:
        console.print(f"account {account} is on prepay (费控) from {first}")
    else:
        console.print(f"account {account} is already on prepay; nothing changed")
