"""`m2c headend …`: how well meter reading works, and where the field must go."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

import pandas as pd
import typer

from meter2cash.cli.output import console, print_json, table
from meter2cash.core.errors import InputError
from meter2cash.core.settings import Settings
from meter2cash.db.session import unit_of_work
from meter2cash.headend.report import read_success_report
from meter2cash.workspace import open_workspace, today

app = typer.Typer(help="Head-end: read success (采集成功率) and signal loss.", no_args_is_help=True)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from exc


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()}
        for row in frame.astype(object).where(frame.notna(), None).to_dict("records")
    ]


@app.command("report")
def report(
    first: Annotated[
        str | None, typer.Option("--from", help="First day (default: 30 days back).")
    ] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day (default: yesterday).")] = None,
    worst: Annotated[int, typer.Option(help="Rows of the worst concentrators and areas.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Read success by day, zone, transformer area and concentrator; unreachable meters;
    falling concentrators. Findings raise field work-order suggestions."""
    with open_workspace(Settings.from_env()) as ws:
        end = _day(last, "--to") if last else today(ws.clock, ws.settings) - timedelta(days=1)
        start = _day(first, "--from") if first else end - timedelta(days=29)
        if start > end:
            raise InputError(f"--from {start} is after --to {end}")
        with unit_of_work(ws.records) as session:
            r = read_success_report(session, ws.clock, ws.batch, start, end)
    if as_json:
        print_json(
            {
                "from": r.first.isoformat(),
                "to": r.last.isoformat(),
                "daily": _rows(r.daily),
                "by_zone": _rows(r.by_zone),
                "by_transformer_area": _rows(r.by_transformer_area),
                "by_concentrator": _rows(r.by_concentrator),
                "unreachable_meters": _rows(r.unreachable),
                "falling_concentrators": _rows(r.falling),
                "work_orders_raised": r.work_orders_raised,
            }
        )
        return
    pct = "{:.2%}".format
    daily = r.daily.tail(14)
    console.print(
        table(
            f"read success by day ({r.first} – {r.last}, last 14 shown)",
            ["day", "expected", "first try", "after retries", "after backfill"],
            [
                (d.day, d.expected, pct(d.rate_first_try), pct(d.rate_after_retries), pct(d.rate))
                for d in daily.itertuples()
            ],
        )
    )
    console.print(
        table(
            "by zone",
            ["zone", "meter-days", "read", "rate"],
            [(z.zone, z.expected, z.read, pct(z.rate)) for z in r.by_zone.itertuples()],
        )
    )
    for level, frame in (
        ("transformer area", r.by_transformer_area),
        ("concentrator", r.by_concentrator),
    ):
        console.print(
            table(
                f"worst {worst} by {level}",
                [level, "meter-days", "read", "rate"],
                [
                    (row[0], row.expected, row.read, pct(row.rate))
                    for row in frame.head(worst).itertuples(index=False)
                ],
            )
        )
    console.print(
        table(
            f"meters persistently unreachable ({len(r.unreachable)})",
            ["meter", "concentrator", "zone", "silent days", "last read"],
            [
                (
                    u.meter_no,
                    u.concentrator,
                    u.zone,
                    u.silent_days,
                    "not in range" if pd.isna(u.last_read) else u.last_read,
                )
                for u in r.unreachable.head(20).itertuples()
            ],
        )
    )
    console.print(
        table(
            f"concentrators whose success falls ({len(r.falling)})",
            ["concentrator", "zone", "before", "last", "why"],
            [
                (
                    f.concentrator,
                    f.zone,
                    "–" if pd.isna(f.rate_before) else pct(f.rate_before),
                    pct(f.rate_last),
                    f.reason,
                )
                for f in r.falling.head(20).itertuples()
            ],
        )
    )
    console.print(f"work-order suggestions raised: {r.work_orders_raised}")


command_app = typer.Typer(
    help="Remote commands: read, time sync, relay trip/close.", no_args_is_help=True
)
app.add_typer(command_app, name="command")


@command_app.command("request")
def command_request(
    meter: Annotated[str, typer.Option(help="Meter number.")],
    kind: Annotated[
        str, typer.Option(help="on_demand_read, time_sync, relay_trip or relay_close.")
    ],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    actor: Annotated[str, typer.Option(help="Who asks.")],
    key: Annotated[str | None, typer.Option(help="Idempotency key (default: new).")] = None,
) -> None:
    """Request a remote command; it waits as `requested` until the head-end sends it."""
    from meter2cash.core.ids import new_id
    from meter2cash.headend import commands

    with open_workspace(Settings.from_env()) as ws, unit_of_work(ws.records) as session:
        command = commands.request(
            session,
            ws.clock,
            meter_no=meter,
            kind=kind,
            actor=actor,
            reason=reason,
            request_key=key or new_id(),
        )
        console.print(
            f"command {command.id}: {command.kind} for {command.meter_no} is {command.status}"
        )


@command_app.command("list")
def command_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Commands and where they stand."""
    from sqlalchemy import select

    from meter2cash.headend.models import MeterCommand

    with open_workspace(Settings.from_env()) as ws, unit_of_work(ws.records) as session:
        rows = [
            {
                "id": c.id,
                "meter": c.meter_no,
                "kind": c.kind,
                "status": c.status,
                "requested_by": c.requested_by,
                "reason": c.reason,
                "requested_at": c.requested_at.isoformat(),
                "outcome": c.outcome,
            }
            for c in session.scalars(select(MeterCommand).order_by(MeterCommand.id))
        ]
    if as_json:
        print_json(rows)
        return
    console.print(
        table(
            "remote commands",
            ["id", "meter", "kind", "status", "by", "why"],
            [
                (r["id"], r["meter"], r["kind"], r["status"], r["requested_by"], r["reason"])
                for r in rows
            ],
        )
    )


@app.command("alarms")
def alarms(
    first: Annotated[
        str | None, typer.Option("--from", help="First day (default: 7 days back).")
    ] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day (default: yesterday).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Raise status alarms (tamper, power down, reverse energy, sudden load change) and list
    the open ones in the range."""
    from sqlalchemy import select

    from meter2cash.core.timezones import local_day_bounds
    from meter2cash.headend.models import Alarm
    from meter2cash.headend.monitoring import raise_alarms

    with open_workspace(Settings.from_env()) as ws:
        end = _day(last, "--to") if last else today(ws.clock, ws.settings) - timedelta(days=1)
        start = _day(first, "--from") if first else end - timedelta(days=6)
        with unit_of_work(ws.records) as session:
            new = raise_alarms(session, ws.clock, ws.batch, start, end)
            lo, hi = local_day_bounds(start, end, ws.settings.tz)
            found = session.scalars(
                select(Alarm)
                .where(Alarm.ts >= lo, Alarm.ts < hi, Alarm.status == "open")
                .order_by(Alarm.ts, Alarm.meter_no)
            ).all()
            rows = [
                {
                    "meter": a.meter_no,
                    "kind": a.kind,
                    "at": a.ts.astimezone(ws.settings.tz).isoformat(timespec="seconds"),
                    "detail": a.detail,
                }
                for a in found
            ]
    if as_json:
        print_json({"from": start.isoformat(), "to": end.isoformat(), "raised": new, "open": rows})
        return
    console.print(
        table(
            f"open alarms {start} – {end} ({len(rows)}; new: {sum(new.values())})",
            ["meter", "kind", "at", "detail"],
            [(r["meter"], r["kind"], r["at"], r["detail"]) for r in rows[:50]],
        )
    )
