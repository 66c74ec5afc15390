"""`m2c dunning run | evidence | show`: escalate overdue accounts (催费), print the evidence
pack a collector shows the customer, and an account's dunning history."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from meter2cash.cli.output import JsonFlag, console, print_json, progress, table
from meter2cash.collections.dunning import DEFAULT_POLICY, DunningPolicy, load_policy
from meter2cash.collections.dunning_run import ENDED, no_progress, run_dunning
from meter2cash.collections.evidence import dunning_history, evidence_pack, render_evidence
from meter2cash.core.errors import InputError
from meter2cash.core.settings import Settings
from meter2cash.db.session import unit_of_work
from meter2cash.workspace import Workspace, open_workspace, today

app = typer.Typer(
    help="Dunning (催费): reminders, notices, disconnection and reconnection.",
    no_args_is_help=True,
)
DOCUMENTS_DIR = "dunning"
"""Under M2C_HOME: one folder per run day of notices and evidence packs."""
ENDED_LABEL = "结清 Paid, dunning ended"

OnOption = Annotated[str | None, typer.Option("--on", help="The day (YYYY-MM-DD); default today.")]
PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", help="Dunning policy YAML (default: the packaged policy)."),
]


@app.command("run")
def run(on: OnOption = None, policy: PolicyOption = None, as_json: JsonFlag = False) -> None:
    """Move every overdue account one step (messages, notices, relay trips), or end its
    dunning once paid (reconnecting it); once per account and day."""
    rules = load_policy(policy or DEFAULT_POLICY)
    with open_workspace(Settings.from_env()) as ws:
        day = _day(on, ws)
        with unit_of_work(ws.records) as session:
            report = run_dunning(
                session,
                ws.store,
                ws.clock,
                rules,
                day,
                ws.settings.home / DOCUMENTS_DIR,
                no_progress if as_json else progress,
            )
    if as_json:
        print_json(report.as_json())
        return
    labels = _labels(rules) | {ENDED: ENDED_LABEL}
    console.print(
        table(
            f"dunning on {day}: {report.accounts} accounts overdue or in dunning",
            ["step", "accounts moved"],
            [(labels[name], count) for name, count in report.moved.items()] or [("none moved", 0)],
        )
    )
    console.print(
        table(
            "actions",
            ["", "count"],
            [
                ("messages queued (SMS, email, letter)", report.messages_queued),
                ("notices written (PDF)", report.notices_written),
                ("evidence packs written (PDF)", report.evidence_written),
                ("relay trips requested", report.trips_requested),
                ("reconnections requested", report.reconnections_requested),
                *(
                    (f"held by exemption: {flag}", count)
                    for flag, count in report.exempt_held.items()
                ),
            ],
        )
    )
    if report.notices_written or report.evidence_written:
        console.print(f"documents in {ws.settings.home / DOCUMENTS_DIR / day.isoformat()}")
    if report.without_meter:
        console.print(
            "[yellow]no meter installed, relay command not requested: "
            + ", ".join(report.without_meter)
            + "[/]"
        )


@app.command("evidence")
def evidence(
    account: Annotated[str, typer.Argument(help="Account number (户号).")],
    output: Annotated[
        Path | None,
        typer.Option(help="Where to write the PDF (default evidence-<account>-<day>.pdf here)."),
    ] = None,
    on: OnOption = None,
    policy: PolicyOption = None,
) -> None:
    """Write the evidence pack as a PDF: unpaid bills with their reads (estimates flagged),
    meter events, payment history, notices sent and their delivery."""
    labels = _labels(load_policy(policy or DEFAULT_POLICY))
    with open_workspace(Settings.from_env()) as ws:
        day = _day(on, ws)
        with unit_of_work(ws.records) as session:
            pack = evidence_pack(session, ws.store, account, day, labels)
    path = output or Path(f"evidence-{account}-{day.isoformat()}.pdf")
    try:
        path.write_bytes(render_evidence(pack))
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from exc
    console.print(
        f"wrote {path}: {len(pack.bills)} unpaid bills ({pack.overdue:,.2f} yuan overdue), "
        f"{len(pack.events)} meter events, {len(pack.steps)} dunning steps, "
        f"{len(pack.messages)} messages"
    )


@app.command("show")
def show(
    account: Annotated[str, typer.Argument(help="Account number (户号).")],
    policy: PolicyOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Where an account stands in dunning, its steps and the messages sent."""
    labels = _labels(load_policy(policy or DEFAULT_POLICY))
    with open_workspace(Settings.from_env()) as ws, unit_of_work(ws.records) as session:
        history = dunning_history(session, account, labels)
    if as_json:
        print_json(
            {
                "account": history.account_no,
                "step": history.step,
                "since": history.since.isoformat() if history.since else None,
                "disconnected": history.disconnected,
                "steps": [
                    {
                        "taken_on": s.taken_on.isoformat(),
                        "step": s.step_name,
                        "actions": s.actions.split(",") if s.actions else [],
                        "overdue": str(s.overdue),
                        "command": s.command,
                    }
                    for s in history.steps
                ],
                "messages": [
                    {
                        "created_at": m.created_at.isoformat(),
                        "channel": m.channel,
                        "subject": m.subject,
                        "status": m.status,
                        "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None,
                    }
                    for m in history.messages
                ],
            }
        )
        return
    where = labels.get(history.step, history.step) if history.step else "not in dunning"
    since = f" since {history.since}" if history.since and history.step else ""
    cut = ", [red]disconnected by dunning[/]" if history.disconnected else ""
    console.print(f"account {history.account_no}: {where}{since}{cut}")
    console.print(
        table(
            "dunning steps",
            ["date", "step", "actions", "overdue (CNY)", "relay command"],
            [
                (
                    s.taken_on,
                    s.label if s.step_name != ENDED else ENDED_LABEL,
                    s.actions.replace(",", ", ") or "—",
                    f"{s.overdue:,.2f}",
                    s.command or "—",
                )
                for s in history.steps
            ],
        )
    )
    console.print(
        table(
            "messages",
            ["queued", "channel", "subject", "status", "delivered"],
            [
                (
                    f"{m.created_at.astimezone(ws.settings.tz):%Y-%m-%d %H:%M}",
                    m.channel,
                    m.subject,
                    m.status,
                    f"{m.delivered_at.astimezone(ws.settings.tz):%Y-%m-%d %H:%M}"
                    if m.delivered_at
                    else "—",
                )
                for m in history.messages
            ],
        )
    )


def _labels(policy: DunningPolicy) -> dict[str, str]:
    return {s.name: s.label for s in policy.steps}


def _day(text: str | None, ws: Workspace) -> date:
    if text is None:
        return today(ws.clock, ws.settings)
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"--on {text!r} is not a date (YYYY-MM-DD)") from exc
