"""`m2c` — meter2cash from the shell. Every step of the spine is its own command."""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from meter2cash.cli import bill as bill_command
from meter2cash.cli import calendar as calendar_command
from meter2cash.cli import demo as demo_command
from meter2cash.cli import dlt645 as dlt645_command
from meter2cash.cli import dunning as dunning_command
from meter2cash.cli import fee_control as fee_control_command
from meter2cash.cli import headend as headend_command
from meter2cash.cli import late_fees as late_fees_command
from meter2cash.cli import mqtt as mqtt_command
from meter2cash.cli import pay as pay_command
from meter2cash.cli import tariff as tariff_command
from meter2cash.cli import vee as vee_command
from meter2cash.cli import weather as weather_command
from meter2cash.cli.output import JsonFlag, console, errors, kpi_table, print_json, table
from meter2cash.core.errors import InputError, M2CError
from meter2cash.core.money import from_minor
from meter2cash.core.settings import Settings
from meter2cash.db.migrate import upgrade_database
from meter2cash.db.session import unit_of_work
from meter2cash.ledger.aging import BUCKETS
from meter2cash.ledger.aging_trend import aging_trend
from meter2cash.ledger.receivables import (
    account_statement,
    aging,
    collection,
    days_sales_outstanding,
    reconcile,
)
from meter2cash.ledger.service import trial_balance
from meter2cash.workspace import Workspace, open_workspace, today

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from meter2cash.vee.edit_files import EditFileReport
    from meter2cash.vee.editing import EditReport
    from meter2cash.vee.rerun import RerunReport

app = typer.Typer(
    name="m2c",
    help="meter2cash: read meters, bill, collect (抄核收).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The records database.", no_args_is_help=True)
vee_app = typer.Typer(
    help="Validation, estimation and editing of meter data.", no_args_is_help=True
)
ledger_app = typer.Typer(help="The receivables ledger.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(vee_app, name="vee")
app.add_typer(bill_command.app, name="bill")
app.add_typer(ledger_app, name="ledger")
app.add_typer(pay_command.app, name="pay")
app.add_typer(dunning_command.app, name="dunning")
app.add_typer(fee_control_command.app, name="fee-control")
app.add_typer(late_fees_command.app, name="late-fees")
app.add_typer(tariff_command.app, name="tariff")
app.add_typer(headend_command.app, name="headend")
app.add_typer(dlt645_command.app, name="dlt645")
app.add_typer(mqtt_command.app, name="mqtt")
app.add_typer(calendar_command.app, name="calendar")
app.add_typer(weather_command.app, name="weather")
app.command("demo")(demo_command.demo)
app.command("simulate")(demo_command.simulate_command)
app.command("collect")(demo_command.collect_command)
vee_app.command("estimate")(vee_command.estimate)


def workspace() -> Workspace:
    return open_workspace(Settings.from_env())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the records database to the latest schema."""
    settings = Settings.from_env()
    revision = upgrade_database(settings.database_url)
    console.print(f"records database at revision [bold]{revision}[/] ({settings.database_url})")


@vee_app.command("run")
def vee_run(
    first: Annotated[str, typer.Option("--from", help="First freeze day (YYYY-MM-DD).")],
    last: Annotated[str, typer.Option("--to", help="Last freeze day (YYYY-MM-DD).")],
    as_json: JsonFlag = False,
) -> None:
    """Validate daily register reads and estimate gaps."""
    from meter2cash.spine import validate

    with workspace() as ws:
        report, chain = validate(ws, _day(first, "--from"), _day(last, "--to"))
    if as_json:
        print_json({**asdict(report), "findings_by_rule": chain.by_rule})
        return
    console.print(table("VEE", ["measure", "count"], list(asdict(report).items())))
    console.print(
        table(
            "validation findings by rule",
            ["rule", "findings"],
            sorted(chain.by_rule.items(), key=lambda kv: -kv[1]),
        )
    )


@ledger_app.command("trial-balance")
def ledger_trial_balance(as_json: JsonFlag = False) -> None:
    """Debits and credits per ledger account; whether every entry balances."""
    with workspace() as ws, unit_of_work(ws.records) as session:
        tb = trial_balance(session)
    rows = [
        {
            "code": r.code,
            "name": r.name,
            "debit": str(from_minor(r.debit_minor)),
            "credit": str(from_minor(r.credit_minor)),
            "balance": str(from_minor(r.balance_minor)),
        }
        for r in tb.rows
    ]
    if as_json:
        print_json({"accounts": rows, "balanced": tb.balanced, "currency": "CNY"})
        return
    console.print(
        table(
            "trial balance (CNY)",
            ["account", "name", "debit", "credit", "balance"],
            [
                (
                    r.code,
                    r.name,
                    *(
                        f"{from_minor(v):,.2f}"
                        for v in (r.debit_minor, r.credit_minor, r.balance_minor)
                    ),
                )
                for r in tb.rows
            ],
        )
    )
    console.print("balanced" if tb.balanced else "[red bold]NOT BALANCED[/]")


@app.command("aging")
def aging_command(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date (YYYY-MM-DD); default today.")
    ] = None,
    by: Annotated[
        str, typer.Option(help="total, zone, class, area (transformer area) or account.")
    ] = "total",
    trend: Annotated[
        bool,
        typer.Option(
            "--trend", help="The buckets at every month end from --from to --to (账龄趋势)."
        ),
    ] = False,
    first: Annotated[
        str | None,
        typer.Option("--from", help="With --trend: first month (YYYY-MM); default 11 before --to."),
    ] = None,
    last: Annotated[
        str | None,
        typer.Option("--to", help="With --trend: last month (YYYY-MM); default this month."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Receivables by age bucket (账龄), days since the bill date; with --trend, month by
    month (each month as of its last day, this month as of today)."""
    if trend:
        if as_of is not None:
            raise InputError("--as-of and --trend do not go together", "use --from and --to")
        _aging_trend(first, last, by, as_json)
        return
    if first is not None or last is not None:
        raise InputError("--from and --to go with --trend", "add --trend, or use --as-of")
    with workspace() as ws:
        when = _day(as_of, "--as-of") if as_of else today(ws.clock, ws.settings)
        with unit_of_work(ws.records) as session:
            frame = aging(session, when, by)
    if as_json:
        print_json(
            {
                "as_of": when.isoformat(),
                "by": by,
                "currency": "CNY",
                "buckets": list(BUCKETS),
                "rows": [
                    {"group": str(g), **{c: str(from_minor(int(v))) for c, v in row.items()}}
                    for g, row in frame.iterrows()
                ],
            }
        )
        return
    console.print(
        table(
            f"aging as of {when} by {by} (CNY)",
            [by, *BUCKETS, "total"],
            [[g, *(f"{from_minor(int(v)):,.2f}" for v in row)] for g, row in frame.iterrows()],
        )
    )


def _aging_trend(first: str | None, last: str | None, by: str, as_json: bool) -> None:
    with workspace() as ws:
        now = today(ws.clock, ws.settings)
        end = _month(last, "--to") if last else now.replace(day=1)
        back = end.year * 12 + end.month - 1 - 11
        start = _month(first, "--from") if first else date(back // 12, back % 12 + 1, 1)
        with unit_of_work(ws.records) as session:
            frame = aging_trend(session, start, end, by, through=now)
    amounts = [*BUCKETS, "total"]
    if as_json:
        print_json(
            {
                "from": f"{start:%Y-%m}",
                "to": f"{end:%Y-%m}",
                "by": by,
                "currency": "CNY",
                "buckets": list(BUCKETS),
                "rows": [
                    {
                        "month": r["month"],
                        "as_of": r["as_of"].isoformat(),
                        "group": str(r["group"]),
                        **{c: str(from_minor(int(r[c]))) for c in amounts},
                    }
                    for r in frame.to_dict("records")
                ],
            }
        )
        return
    grouped = by != "total"
    console.print(
        table(
            f"aging at month ends{f' by {by}' if grouped else ''} (CNY)",
            ["month", "as of", *([by] if grouped else []), *amounts],
            [
                [
                    r["month"],
                    r["as_of"].isoformat(),
                    *([str(r["group"])] if grouped else []),
                    *(f"{from_minor(int(r[c])):,.2f}" for c in amounts),
                ]
                for r in frame.to_dict("records")
            ],
        )
    )


@ledger_app.command("statement")
def ledger_statement(
    account: Annotated[str, typer.Argument(help="Account number.")],
    first: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    last: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD).")],
    as_json: JsonFlag = False,
) -> None:
    """Statement of account: bills (with kWh, estimated or not), payments, credit, balance."""
    with workspace() as ws, unit_of_work(ws.records) as session:
        s = account_statement(session, account, _day(first, "--from"), _day(last, "--to"))

    def money(minor: int) -> str:
        return str(from_minor(int(minor)))

    if as_json:
        print_json(
            {
                "account": s.account_no,
                "opening": money(s.opening_minor),
                "closing": money(s.closing_minor),
                "lines": [
                    {
                        "booked_on": r.booked_on.isoformat(),
                        "kind": r.kind,
                        "reference": r.reference,
                        "debit": money(r.debit_minor),
                        "credit": money(r.credit_minor),
                        "balance": money(r.balance_minor),
                    }
                    for r in s.lines.itertuples(index=False)
                ],
                "bills": [
                    {
                        "bill_no": b.bill_no,
                        "period": f"{b.period_start}/{b.period_end}",
                        "kwh": str(b.kwh),
                        "estimated": bool(b.estimated),
                        "total": money(b.total_minor),
                        "status": b.status,
                    }
                    for b in s.bills.itertuples(index=False)
                ],
            }
        )
        return
    console.print(
        table(
            f"bills of {s.account_no}",
            ["bill", "period", "kWh", "reads", "amount", "status"],
            [
                (
                    b.bill_no,
                    f"{b.period_start} – {b.period_end}",
                    b.kwh,
                    "estimated" if b.estimated else "actual",
                    f"{from_minor(b.total_minor):,.2f}",
                    b.status,
                )
                for b in s.bills.itertuples(index=False)
            ],
        )
    )
    console.print(
        table(
            f"statement of account {s.account_no}: opening {money(s.opening_minor)}, "
            f"closing {money(s.closing_minor)} (CNY; negative = credit held)",
            ["booked", "kind", "reference", "debit", "credit", "balance"],
            [
                (
                    r.booked_on,
                    r.kind,
                    r.reference,
                    f"{from_minor(r.debit_minor):,.2f}",
                    f"{from_minor(r.credit_minor):,.2f}",
                    f"{from_minor(r.balance_minor):,.2f}",
                )
                for r in s.lines.itertuples(index=False)
            ],
        )
    )


@ledger_app.command("reconcile")
def ledger_reconcile(as_json: JsonFlag = False) -> None:
    """The receivables sub-ledger against the control account 1122; exit 2 if they differ."""
    with workspace() as ws, unit_of_work(ws.records) as session:
        r = reconcile(session)
    data = {
        "control": str(from_minor(r.control_minor)),
        "sub_ledger": str(from_minor(r.sub_ledger_minor)),
        "accounts_owing": r.accounts,
        "open_bills": r.open_bills,
    }
    if as_json:
        print_json(data)
    else:
        console.print(table("receivables reconciled", ["measure", "value"], list(data.items())))


@app.command("collection")
def collection_command(
    month: Annotated[str, typer.Option("--month", help="Billing month (YYYY-MM).")],
    by_day: Annotated[
        str | None,
        typer.Option("--by-day", help="Collected by this day (YYYY-MM-DD); default today."),
    ] = None,
    by: Annotated[str, typer.Option(help="total, zone, class or area.")] = "total",
    as_json: JsonFlag = False,
) -> None:
    """Billed vs collected for a month's bills by a day (电费回收率 / 结零率), and DSO."""
    with workspace() as ws:
        start = _day(f"{month}-01", "--month")
        until = _day(by_day, "--by-day") if by_day else today(ws.clock, ws.settings)
        with unit_of_work(ws.records) as session:
            frame = collection(session, start, until, by)
            dso = days_sales_outstanding(session, until)
    rows = [
        (
            g,
            f"{from_minor(int(r.billed_minor)):,.2f}",
            f"{from_minor(int(r.collected_minor)):,.2f}",
            f"{r.share:.1%}",
        )
        for g, r in frame.iterrows()
    ]
    if as_json:
        print_json(
            {
                "month": month,
                "by_day": until.isoformat(),
                "dso_days": round(dso, 1),
                "rows": [
                    {
                        "group": str(g),
                        "billed": str(from_minor(int(r.billed_minor))),
                        "collected": str(from_minor(int(r.collected_minor))),
                        "share": round(float(r.share), 4),
                    }
                    for g, r in frame.iterrows()
                ],
            }
        )
        return
    console.print(
        table(
            f"collection of {month}'s bills by {until} (CNY); DSO {dso:.1f} days",
            [by, "billed", "collected", "share"],
            rows,
        )
    )


@app.command("kpis")
def kpis_command(
    month: Annotated[str, typer.Option("--month", help="Billing month (YYYY-MM).")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Measured on this day (YYYY-MM-DD); default today."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Collection KPIs by zone (each zone's team): collection rate, arrears, aging mix, DSO."""
    from meter2cash.collections.kpis import collection_kpis

    with workspace() as ws:
        start = _day(f"{month}-01", "--month")
        when = _day(as_of, "--as-of") if as_of else today(ws.clock, ws.settings)
        with unit_of_work(ws.records) as session:
            frame = collection_kpis(session, start, when)
    if as_json:
        print_json(
            {
                "month": month,
                "as_of": when.isoformat(),
                "zones": [
                    {
                        "zone": str(zone),
                        "billed": str(from_minor(int(r.billed_minor))),
                        "collected": str(from_minor(int(r.collected_minor))),
                        "collection_rate": round(float(r.collection_rate), 4),
                        "receivables": str(from_minor(int(r.receivables_minor))),
                        "arrears": str(from_minor(int(r.arrears_minor))),
                        "over_30_days_share": round(float(r.old_share), 4),
                        "dso_days": round(float(r.dso_days), 1),
                    }
                    for zone, r in frame.iterrows()
                ],
            }
        )
        return
    console.print(kpi_table(frame, f"collection KPIs of {month}'s bills as of {when}"))


@app.command("status")
def status_command(as_json: JsonFlag = False) -> None:
    """Counts, money and ledger health of this data home."""
    from meter2cash.spine import status

    with workspace() as ws:
        s = status(ws)
    if as_json:
        print_json(s.as_json())
        return
    console.print(table("status", ["measure", "value"], list(s.as_json().items())))


MeterOption = Annotated[str, typer.Option("--meter", help="Meter number.")]
ChannelOption = Annotated[
    str,
    typer.Option("--channel", help="Register (A+, A+1…A+4, A-) or interval channel (kWh, kvarh)."),
]
AtOption = Annotated[
    str,
    typer.Option(
        "--at", help="The read's instant or the interval's start: ISO 8601 with an offset."
    ),
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]
ActorOption = Annotated[str, typer.Option("--actor", help="Who acts (kept in the audit log).")]


@vee_app.command("edit")
def vee_edit(
    actor: ActorOption,
    meter: Annotated[str | None, typer.Option("--meter", help="Meter number.")] = None,
    channel: Annotated[
        str | None,
        typer.Option(
            "--channel", help="Register (A+, A+1…A+4, A-) or interval channel (kWh, kvarh)."
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", help="The read's instant or the interval's start: ISO 8601 with an offset."
        ),
    ] = None,
    value: Annotated[
        str | None,
        typer.Option("--value", help="New value [kWh as the meter shows it, or kvarh]."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="CSV of edits: meter_no, channel, timestamp, value[, reason]; checked whole, "
            "then applied as one.",
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", help="Why (kept in the audit log); with --file, for blank reasons."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Accept a register value out of order (rollover, meter exchange)."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Replace a read or interval value, or a file of them; raw and every earlier version
    are kept."""
    from meter2cash.cli.output import progress
    from meter2cash.vee import edit_files, editing

    single = {"--meter": meter, "--channel": channel, "--at": at, "--value": value}
    if file is not None:
        given = [name for name, v in single.items() if v is not None]
        if given:
            raise InputError(f"--file and {', '.join(given)} do not go together", "give one")
        with workspace() as ws, unit_of_work(ws.records) as session:
            report = edit_files.edit_file(
                session,
                ws.clock,
                ws.batch,
                file,
                reason=reason,
                actor=actor,
                force=force,
                progress=edit_files.no_progress if as_json else progress,
            )
        _print_edit_file(report, as_json)
        return
    if meter is None or channel is None or at is None or value is None:
        absent = [name for name, v in single.items() if v is None]
        raise InputError(f"missing {', '.join(absent)}", "name one point, or give --file")
    amount = editing.parse_value(value)
    with workspace() as ws, unit_of_work(ws.records) as session:
        point = editing.locate(session, ws.clock, meter, channel, at)
        act = editing.edit(
            session,
            ws.clock,
            ws.batch,
            point,
            amount,
            reason=reason or "",
            actor=actor,
            force=force,
        )
    _print_act(act, ws.store.tz, as_json)


@vee_app.command("approve")
def vee_approve(
    meter: MeterOption,
    channel: ChannelOption,
    at: AtOption,
    reason: ReasonOption,
    actor: ActorOption,
    as_json: JsonFlag = False,
) -> None:
    """Accept an estimate as it stands; its findings are resolved."""
    from meter2cash.vee import editing

    with workspace() as ws, unit_of_work(ws.records) as session:
        point = editing.locate(session, ws.clock, meter, channel, at)
        report = editing.approve(session, ws.clock, ws.batch, point, reason=reason, actor=actor)
    _print_act(report, ws.store.tz, as_json)


@vee_app.command("history")
def vee_history(
    meter: MeterOption, channel: ChannelOption, at: AtOption, as_json: JsonFlag = False
) -> None:
    """Every version of one read or interval (raw, estimated, edited), its findings and acts."""
    from meter2cash.vee import editing
    from meter2cash.vee.points import local_text

    with workspace() as ws, unit_of_work(ws.records) as session:
        point = editing.locate(session, ws.clock, meter, channel, at)
        history = editing.point_history(session, ws.store, point)
    if as_json:
        print_json(history.as_json())
        return
    tz = ws.store.tz
    console.print(
        table(
            f"versions of {point.describe(tz)}",
            ["version", "quality", "value", "source", "read type", "stored at"],
            [
                (
                    v.version,
                    v.quality,
                    v.value,
                    v.source,
                    v.read_type or "",
                    local_text(v.stored_at, tz),
                )
                for v in history.versions
            ],
        )
    )
    if not history.versions:
        console.print("no value stored")
    if history.findings:
        console.print(
            table(
                "findings",
                ["id", "rule", "severity", "status", "found", "detail"],
                [
                    (f.id, f.rule, f.severity, f.status, local_text(f.found_at, tz), f.detail)
                    for f in history.findings
                ],
            )
        )
    if history.acts:
        console.print(
            table(
                "acts",
                ["at", "actor", "action", "reason"],
                [(local_text(a.at, tz), a.actor, a.action, a.reason) for a in history.acts],
            )
        )


@vee_app.command("queue")
def vee_queue(
    oldest: Annotated[
        int, typer.Option("--oldest", min=0, help="How many of the oldest exceptions to list.")
    ] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Open exceptions waiting for a person: by rule, zone and age, and the oldest."""
    from meter2cash.vee import queue

    with workspace() as ws, unit_of_work(ws.records) as session:
        summary = queue.summary(session, ws.clock, ws.store.tz, oldest=oldest)
    if as_json:
        print_json(summary.as_json())
        return
    tz = ws.store.tz
    console.print(f"[bold]{summary.open}[/] open exceptions")
    console.print(table("by rule", ["rule", "open"], summary.by_rule))
    console.print(table("by zone", ["zone", "open"], summary.by_zone))
    console.print(table("by age (days since found)", ["age", "open"], summary.by_age))
    console.print(
        table(
            f"oldest {len(summary.oldest)}",
            ["id", "meter", "channel", "at (local)", "rule", "severity", "zone", "age d", "detail"],
            [
                (
                    e.id,
                    e.meter_no,
                    e.channel,
                    f"{e.ts.astimezone(tz):%Y-%m-%d %H:%M}",
                    e.rule,
                    e.severity,
                    e.zone,
                    e.age_days,
                    e.detail if len(e.detail) <= 40 else e.detail[:39] + "…",
                )
                for e in summary.oldest
            ],
        )
    )


@vee_app.command("resolve")
def vee_resolve(
    finding_id: Annotated[str, typer.Argument(help="The finding's id (see `m2c vee queue`).")],
    reason: ReasonOption,
    actor: ActorOption,
    as_json: JsonFlag = False,
) -> None:
    """Close an exception with a reason; VEE re-runs around it and its bills are checked."""
    from meter2cash.vee import queue

    if not finding_id.isdigit():
        raise InputError(f"finding id {finding_id!r} is not a number", "see `m2c vee queue`")
    with workspace() as ws, unit_of_work(ws.records) as session:
        report = queue.resolve(
            session, ws.clock, ws.batch, int(finding_id), reason=reason, actor=actor
        )
    if as_json:
        print_json(report.as_json())
        return
    tz = ws.store.tz
    if not report.changed:
        console.print(f"finding {report.finding_id} was already resolved; nothing changed")
        return
    console.print(
        f"finding {report.finding_id} ({report.rule} on {report.point.describe(tz)}) "
        f"{report.before} → resolved"
    )
    _print_rerun(report.rerun)


def _print_act(report: EditReport, tz: ZoneInfo, as_json: bool) -> None:
    if as_json:
        print_json(report.as_json())
        return
    where = report.point.describe(tz)
    after = report.after
    if not report.changed and after is not None:
        console.print(
            f"{where} already holds {after.value} ({after.quality}, version {after.version}"
            f"{', approved' if report.action == 'approve' else ''}); nothing changed"
        )
        return
    before = report.before
    was = f"{before.value} ({before.quality} v{before.version})" if before else "no value"
    if report.action == "approve":
        console.print(f"approved the estimate at {where}: {was}")
    elif after is not None:
        console.print(f"edited {where}: {was} → {after.value} ({after.quality} v{after.version})")
    if report.resolved:
        console.print(f"resolved {_finding_ids(report.resolved)}")
    _print_rerun(report.rerun)


def _finding_ids(ids: list[int], shown: int = 8) -> str:
    """``finding 7`` / ``findings 7, 8`` / ``findings 1, 2, … 9 (12 in all)``."""
    if len(ids) == 1:
        return f"finding {ids[0]}"
    if len(ids) <= shown:
        return "findings " + ", ".join(map(str, ids))
    head = ", ".join(map(str, ids[: shown - 1]))
    return f"findings {head}, … {ids[-1]} ({len(ids)} in all)"


def _print_rerun(rerun: RerunReport | None, *, with_meter: bool = False) -> None:
    if rerun is None:
        return
    meter = f" {rerun.meter_no}" if with_meter else ""
    console.print(
        f"VEE re-ran{meter} over {rerun.first}…{rerun.last}: "
        f"{rerun.reestimated} estimates redone, {rerun.estimated} gaps estimated, "
        f"{len(rerun.cleared)} findings no longer hold, {rerun.new_open} new exceptions"
    )
    if rerun.cleared:
        console.print(f"cleared {_finding_ids(rerun.cleared)}")
    for bill_no in rerun.bills_to_review:
        console.print(f"bill {bill_no} put back to review: its reads changed")
    for bill_no in rerun.bills_to_rebill:
        console.print(
            f"[yellow]bill {bill_no} is issued and its reads changed: it needs a rebill "
            "(cancel and re-issue, 退补)[/]"
        )


def _print_edit_file(report: EditFileReport, as_json: bool) -> None:
    if as_json:
        print_json(report.as_json())
        return
    console.print(
        f"{report.path}: {report.rows} rows, {report.edited} edited, "
        f"{report.unchanged} already held their value"
    )
    if report.resolved:
        console.print(f"resolved {_finding_ids(report.resolved)}")
    for rerun in report.reruns:
        _print_rerun(rerun, with_meter=True)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from exc


def _month(text: str, option: str) -> date:
    """The first day of month ``text`` (YYYY-MM)."""
    try:
        return date.fromisoformat(f"{text}-01")
    except ValueError as exc:
        raise InputError(f"{option} {text!r} is not a month (YYYY-MM)") from exc


def main() -> None:
    """Entry point: user errors print one line and exit 2, never a traceback."""
    try:
        app()
    except M2CError as exc:
        errors.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
