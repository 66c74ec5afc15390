"""`m2c demo` and the simulation steps: a utility's months from meters to cash."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from meter2cash.cli.output import console, kpi_table, progress, table, yuan
from meter2cash.collections.dunning import load_policy
from meter2cash.collections.dunning_run import run_dunning
from meter2cash.collections.fee_control_report import FeeControlReport, fee_control_report
from meter2cash.collections.kpis import collection_kpis
from meter2cash.core.errors import InputError
from meter2cash.core.money import from_minor
from meter2cash.core.settings import Settings
from meter2cash.db.migrate import upgrade_database
from meter2cash.db.session import unit_of_work
from meter2cash.ledger.aging import BUCKETS
from meter2cash.ledger.late_fee_assessment import assess_late_fees
from meter2cash.ledger.late_fees import RULES_2024
from meter2cash.ledger.receivables import aging
from meter2cash.simulator import UtilitySpec
from meter2cash.workspace import open_workspace, today

if TYPE_CHECKING:
    from meter2cash.spine_fee_control import FeeControlDays

DEFAULT_START = "2026-06-30"
DEFAULT_DAYS = 96
"""30 Jun – 3 Oct: July, August and September billed; September's bills are dated 3 Oct."""

Seed = Annotated[int, typer.Option(help="Simulator seed (same seed, same utility).")]
Accounts = Annotated[int, typer.Option(help="Customer accounts to simulate.")]
Start = Annotated[str, typer.Option(help="First simulated day (YYYY-MM-DD).")]
Days = Annotated[int, typer.Option(help="Days to simulate.")]
OverTcp = Annotated[
    bool,
    typer.Option(
        "--over-tcp/--from-feed",
        help="Read meters over DL/T 645 on TCP through simulated concentrators (default), or "
        "take the simulator's head-end feed directly (faster; no wire, no exchange log).",
    ),
]


def _prepare(seed: int, accounts: int, start: str, days: int) -> tuple[Settings, UtilitySpec]:
    """Settings, a migrated records database, and the simulation the options describe."""
    settings = Settings.from_env()
    try:
        first = date.fromisoformat(start)
    except ValueError as exc:
        raise InputError(f"--start {start!r} is not a date (YYYY-MM-DD)") from exc
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.database_url)
    spec = UtilitySpec(
        seed=seed, accounts=accounts, start=first, days=days, timezone=settings.timezone_name
    )
    return settings, spec


def simulate_command(
    seed: Seed = 2026,
    accounts: Accounts = 3000,
    start: Start = DEFAULT_START,
    days: Days = DEFAULT_DAYS,
) -> None:
    """Build a simulated utility and load its assets into this data home."""
    from meter2cash.spine import simulate

    settings, spec = _prepare(seed, accounts, start, days)
    with open_workspace(settings) as ws:
        sim = simulate(ws, spec)
    console.print(
        f"simulated utility {spec.fingerprint()}: {len(sim.accounts)} accounts, "
        f"{len(sim.meters)} meters, {len(sim.transformer_areas)} transformer areas"
    )


def collect_command(over_tcp: OverTcp = True) -> None:
    """Collect every simulated day's reads into the measurement store."""
    from meter2cash.spine import collect, simulated_days, simulated_utility

    with open_workspace(Settings.from_env()) as ws:
        sim = simulated_utility(ws)
        days = simulated_days(ws)
        with progress("collect reads", len(days)) as tick:
            success = collect(ws, sim, days, tick, over_tcp=over_tcp)
    console.print(f"read success rate {success.rate:.2%} over {success.days} days")


def demo(
    seed: Seed = 2026,
    accounts: Accounts = 3000,
    start: Start = DEFAULT_START,
    days: Days = DEFAULT_DAYS,
    over_tcp: OverTcp = True,
) -> None:
    """Run the whole spine on a simulated utility and print a summary."""
    from meter2cash import spine
    from meter2cash.spine_fee_control import enrol_customers, fee_control_days

    began = time.perf_counter()
    steps: list[tuple[str, float]] = []

    def timed(name: str, since: float) -> float:
        now = time.perf_counter()
        steps.append((name, now - since))
        return now

    settings, spec = _prepare(seed, accounts, start, days)
    mark = began
    with open_workspace(settings) as ws:
        with console.status("building the simulated utility and loading its assets"):
            sim = spine.simulate(ws, spec)
        mark = timed("simulate and load assets", mark)
        sim_days = spine.simulated_days(ws)
        with progress("collect reads (抄)", len(sim_days)) as tick:
            success = spine.collect(ws, sim, sim_days, tick, over_tcp=over_tcp)
        mark = timed("collect reads (抄)", mark)
        with console.status("validating and estimating reads (VEE)"):
            vee, chain = spine.validate(
                ws, sim_days[0] + timedelta(days=1), sim_days[-1] + timedelta(days=1)
            )
        mark = timed("validate and estimate (VEE)", mark)
        months = spine.billing_months(ws)
        prepay_from = months[-1].period_start
        with progress("bill, review and issue (核)", len(months)) as tick:
            for period in months:
                if period.period_start == prepay_from:
                    enrol_customers(ws, sim, prepay_from)
                spine.bill(ws, period)
                spine.issue(ws)
                tick()
        mark = timed("bill, review and issue (核)", mark)
        with console.status("applying payments (收)"):
            payments = spine.pay_simulated(ws, sim)
        mark = timed("apply payments (收)", mark)
        prepay_to = sim_days[-1] - timedelta(days=1)
        with progress("fee control (费控)", (prepay_to - prepay_from).days + 1) as tick:
            prepay = fee_control_days(ws, sim, prepay_from, prepay_to, tick)
        mark = timed("fee control (费控)", mark)
        as_of = today(ws.clock, ws.settings)
        with unit_of_work(ws.records) as session:
            fees = assess_late_fees(session, ws.clock, as_of, RULES_2024)
        mark = timed("late fees (违约金)", mark)
        with console.status("dunning (催费)"), unit_of_work(ws.records) as session:
            dunning = run_dunning(
                session, ws.store, ws.clock, load_policy(), as_of, ws.settings.home / "dunning"
            )
        mark = timed("dunning (催费)", mark)
        status = spine.status(ws)
        bills = spine.bill_counts(ws)
        with unit_of_work(ws.records) as session:
            buckets = aging(session, as_of)
            kpis = collection_kpis(session, months[-1].period_start, as_of)
            fee_report = fee_control_report(session, prepay_from, as_of, ws.settings.tz)
        home = ws.settings.home
        database = ws.settings.database_url

    computed = sum(bills.by_status.values())
    console.print(
        table(
            f"meter2cash demo — {spec.fingerprint()}",
            ["measure", "value"],
            [
                ("accounts", f"{status.accounts:,}"),
                ("meters", f"{status.meters:,}"),
                ("reads stored (registers + intervals)", f"{status.reads_stored:,}"),
                ("read success rate (采集成功率)", f"{success.rate:.2%}"),
                (
                    "daily reads estimated by VEE / left for a person",
                    f"{vee.estimated:,} / {vee.open_exceptions:,}",
                ),
                ("validation findings (rule chain)", f"{chain.findings:,}"),
                ("bills computed", f"{computed:,}"),
                (
                    "bills stopped for review (复核)",
                    f"{bills.stopped:,} ({bills.stopped / max(computed, 1):.2%})",
                ),
                *(
                    (f"  stopped by {rule}", f"{n:,} ({n / max(computed, 1):.2%})")
                    for rule, n in bills.stopped_by_rule.items()
                ),
                ("bills issued (发行)", f"{status.bills_issued:,}"),
                ("amount billed", yuan(status.amount_billed)),
                ("payments posted", f"{payments.posted:,}"),
                (
                    f"late fees charged through {as_of} (违约金)",
                    f"{fees.bills:,} bills, {yuan(from_minor(fees.amount_minor))}",
                ),
                ("cash collected", yuan(status.amount_paid)),
                ("receivables", yuan(status.receivables)),
                (
                    f"dunning on {as_of}: accounts moved a step (催费)",
                    ", ".join(f"{step} {n:,}" for step, n in dunning.moved.items()) or "none",
                ),
                ("  messages queued (SMS, letters)", f"{dunning.messages_queued:,}"),
                ("ledger balanced", "yes" if status.ledger_balanced else "NO"),
            ],
        )
    )
    row = buckets.iloc[0]
    console.print(
        table(
            f"receivables by age (账龄) as of {as_of}, days since bill date",
            ["bucket", "amount"],
            [(b, yuan(from_minor(int(row[b])))) for b in (*BUCKETS, "total")],
        )
    )
    console.print(_fee_control_table(prepay, fee_report))
    last_month = f"{months[-1].period_start:%Y-%m}"
    title = f"collection KPIs by zone (供电所) — {last_month} bills, as of {as_of}"
    console.print(kpi_table(kpis, title))
    console.print(table("time taken", ["step", "seconds"], [(n, f"{t:.1f}") for n, t in steps]))
    console.print(
        Panel(
            f"records: {database}\nmeasurements: {home / 'measurements'}\n"
            f"simulator ground truth (labels, kept apart): {home / 'simulator-ground-truth'}\n"
            f"done in {time.perf_counter() - began:.0f} s — try `m2c status --json`, "
            "`m2c headend report`, "
            "`m2c aging --by zone`, `m2c aging --trend --by zone`, `m2c bill review list`, "
            f"`m2c kpis --month {last_month}`, `m2c dunning run --json`, "
            f"`m2c fee-control report --from {prepay_from}`, `m2c ledger reconcile`",
            title="where the data lives",
        )
    )


def _fee_control_table(days: FeeControlDays, report: FeeControlReport) -> Table:
    """The prepay accounts' fee control over the simulated days, in one table."""

    def share(part: int, whole: int) -> str:
        return f"{part:,} of {whole:,} ({part / whole:.1%})" if whole else "none requested"

    def minutes(hours: float | None) -> str:
        return "—" if hours is None else f"{hours * 60:.1f} min"

    return table(
        f"fee control (费控) of the prepay accounts, {days.first} – {days.last}",
        ["measure", "value"],
        [
            ("prepay accounts (费控户)", f"{days.accounts:,}"),
            (
                "daily charges posted (日结扣费)",
                f"{report.charges_posted:,}, {yuan(from_minor(report.charged_minor))}",
            ),
            ("top-ups (充值)", f"{days.top_ups:,}, {yuan(from_minor(days.top_up_minor))}"),
            ("low-balance warnings / notices at zero", f"{report.warnings:,} / {report.notices:,}"),
            (
                "relay trips confirmed (停电)",
                share(report.trips_confirmed, report.trips_requested),
            ),
            (
                "reconnections confirmed (复电)",
                share(report.reconnects_confirmed, report.reconnects_requested),
            ),
            (
                "top-up to supply restored, median (p95)",
                f"{minutes(report.reconnect_hours_median)} "
                f"({minutes(report.reconnect_hours_p95)}), {report.reconnects_timed:,} timed",
            ),
        ],
    )
