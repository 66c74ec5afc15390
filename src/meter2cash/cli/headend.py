"""`m2c headend …`: how well meter reading works, and where the field must go."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import pandas as pd
import typer
from rich.table import Table

from meter2cash.cli.output import console, print_json, table
from meter2cash.core.errors import InputError
from meter2cash.core.settings import Settings
from meter2cash.core.timezones import local_midnight
from meter2cash.db.session import unit_of_work
from meter2cash.headend.report import read_success_report
from meter2cash.workspace import Workspace, open_workspace, today

if TYPE_CHECKING:
    from meter2cash.headend.dispatch import DispatchReport
    from meter2cash.simulator.wire import Fleet

T = TypeVar("T")

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
    status: Annotated[
        str | None, typer.Option(help="Only commands in this state (requested, sent, …).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Commands and where they stand: who asked and why, when it ended and how."""
    from sqlalchemy import select

    from meter2cash.headend.models import MeterCommand

    with open_workspace(Settings.from_env()) as ws, unit_of_work(ws.records) as session:
        stmt = select(MeterCommand).order_by(MeterCommand.id)
        if status is not None:
            stmt = stmt.where(MeterCommand.status == status)
        tz = ws.settings.tz
        rows: list[dict[str, Any]] = [
            {
                "id": c.id,
                "meter": c.meter_no,
                "kind": c.kind,
                "status": c.status,
                "requested_by": c.requested_by,
                "reason": c.reason,
                "requested_at": c.requested_at.astimezone(tz).isoformat(timespec="seconds"),
                "sent_at": _when(c.sent_at, tz),
                "finished_at": _when(c.finished_at, tz),
                "frame_hex": c.frame_hex,
                "outcome": c.outcome,
            }
            for c in session.scalars(stmt)
        ]
    if as_json:
        print_json(rows)
        return
    shown = table(
        f"remote commands ({len(rows)})",
        ["id", "meter", "kind", "status", "requested by", "why", "finished", "outcome"],
        [
            (
                r["id"],
                r["meter"],
                r["kind"],
                r["status"],
                r["requested_by"],
                r["reason"],
                (r["finished_at"] or "")[5:16].replace("T", " "),
                r["outcome"] or "",
            )
            for r in rows
        ],
    )
    _wrap(shown, "why", "outcome")
    console.print(shown)


@command_app.command("dispatch")
def command_dispatch(
    kind: Annotated[
        list[str] | None, typer.Option(help="Only this kind (repeatable; default: all).")
    ] = None,
    meter: Annotated[
        list[str] | None, typer.Option(help="Only this meter (repeatable; default: all).")
    ] = None,
    loss: Annotated[float, typer.Option(help="Simulated PLC loss per attempt [0–1].")] = 0.03,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.")] = 0.5,
    retries: Annotated[int, typer.Option(help="Tries after the first.")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Send the requested commands over DL/T 645 through the simulated utility's
    concentrators; each ends confirmed or failed, every step audited."""
    from meter2cash.headend.dispatch import DispatchPolicy, dispatch_async
    from meter2cash.headend.link import RetryPolicy

    policy = DispatchPolicy(timeout_s=timeout, retry=RetryPolicy(retries=retries))
    with open_workspace(Settings.from_env()) as ws:

        async def job(fleet: Fleet) -> DispatchReport:
            return await dispatch_async(
                ws.records,
                ws.clock,
                ws.store,
                fleet.endpoints,
                tz=ws.settings.tz,
                now=fleet.now,
                kinds=kind,
                meters=meter,
                policy=policy,
            )

        report = asyncio.run(_on_simulated_fleet(ws, loss, job))
    counts = report.counts()
    if as_json:
        print_json(
            {
                **counts,
                "skipped": list(report.skipped),
                "reads_stored": report.reads_stored,
                "outcomes": [
                    {
                        "id": o.command_id,
                        "meter": o.meter_no,
                        "kind": o.kind,
                        "status": "confirmed" if o.confirmed else "failed",
                        "detail": o.detail,
                        "attempts": o.attempts,
                        "frame_hex": o.frame_hex,
                    }
                    for o in report.outcomes
                ],
            }
        )
        return
    shown = table(
        f"dispatched {len(report.outcomes)}: {counts['confirmed']} confirmed, "
        f"{counts['failed']} failed",
        ["id", "meter", "kind", "status", "requests", "detail"],
        [
            (
                o.command_id,
                o.meter_no,
                o.kind,
                "confirmed" if o.confirmed else "failed",
                o.attempts,
                o.detail,
            )
            for o in report.outcomes[:50]
        ],
    )
    _wrap(shown, "detail")
    console.print(shown)
    if report.reads_stored:
        console.print(f"on-demand register reads stored: {report.reads_stored}")


@app.command("live-check")
def live_check(
    loss: Annotated[float, typer.Option(help="Simulated PLC loss per attempt [0–1].")] = 0.03,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.")] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Read every meter's phase voltages and currents over DL/T 645 (simulated
    concentrators) and raise voltage-without-current alarms (失流: bypass, shorted CT);
    meters whose relay the head-end opened are passed over."""
    from sqlalchemy import select

    from meter2cash.headend.dispatch import meter_routes
    from meter2cash.headend.models import Alarm
    from meter2cash.headend.monitoring import (
        VOLTAGE_WITHOUT_CURRENT,
        InstantScan,
        raise_instantaneous_alarms,
        read_instantaneous,
    )

    with open_workspace(Settings.from_env()) as ws:
        tz = ws.settings.tz
        with unit_of_work(ws.records) as session:
            routes = meter_routes(session)

        async def job(fleet: Fleet) -> InstantScan:
            return await read_instantaneous(
                fleet.endpoints, routes, tz=tz, now=fleet.now, timeout_s=timeout
            )

        scan = asyncio.run(_on_simulated_fleet(ws, loss, job))
        with unit_of_work(ws.records) as session:
            report = raise_instantaneous_alarms(session, ws.clock, scan.readings, tz=tz)
            days = {local_midnight(r.at.astimezone(tz).date(), tz) for r in scan.readings}
            found = session.scalars(
                select(Alarm)
                .where(Alarm.kind == VOLTAGE_WITHOUT_CURRENT, Alarm.ts.in_(days))
                .order_by(Alarm.meter_no)
            ).all()
            rows = [{"meter": a.meter_no, "status": a.status, "detail": a.detail} for a in found]
    if as_json:
        print_json(
            {
                "read": len(scan.readings),
                "unanswered": len(scan.unanswered),
                "relay_open_passed_over": list(report.relay_open),
                "raised": report.raised,
                "alarms": rows,
            }
        )
        return
    console.print(
        f"read {len(scan.readings)} meters ({len(scan.unanswered)} did not answer); "
        f"relay open by command, passed over: {len(report.relay_open)}; new alarms: "
        f"{report.raised}"
    )
    shown = table(
        f"voltage without current ({len(rows)})",
        ["meter", "status", "detail"],
        [(r["meter"], r["status"], r["detail"]) for r in rows],
    )
    _wrap(shown, "detail")
    console.print(shown)


async def _on_simulated_fleet(
    ws: Workspace, loss: float, job: Callable[[Fleet], Awaitable[T]]
) -> T:
    """Run ``job`` against the simulated utility's concentrators, started for the data home's
    today; relays the head-end left open stay open (a meter remembers, a new simulation
    does not)."""
    from meter2cash.headend.commands import relay_open_meters
    from meter2cash.simulator.wire import start_concentrators
    from meter2cash.spine import simulated_utility

    if not 0 <= loss < 1:
        raise InputError(f"--loss {loss} is not a probability below 1")
    sim = simulated_utility(ws)
    day = today(ws.clock, ws.settings)
    fleet = await start_concentrators(sim, day, loss, seed=day.toordinal())
    with unit_of_work(ws.records) as session:
        opened = relay_open_meters(session)
    address = dict(zip(sim.meters["meter_no"], sim.meters["address"], strict=True))
    fleet.bank.restore_relays(address[m] for m in opened if m in address)
    try:
        return await job(fleet)
    finally:
        await fleet.close()


def _when(at: datetime | None, tz: ZoneInfo) -> str | None:
    return None if at is None else at.astimezone(tz).isoformat(timespec="seconds")


def _wrap(shown: Table, *names: str) -> None:
    """Let the free-text columns ``names`` wrap instead of being cut."""
    for column in shown.columns:
        if column.header in names:
            column.no_wrap = False
            column.justify = "left"


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
