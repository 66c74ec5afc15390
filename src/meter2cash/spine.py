"""The meter-to-cash spine over a simulated utility, one step at a time.

Each step is idempotent and commits its own work, so an operator can run the steps one
by one (``m2c simulate``, ``m2c collect``, ``m2c vee run``, ``m2c bill run``,
``m2c bill issue``, ``m2c pay simulate``) or all at once (``m2c demo``).
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
from sqlalchemy import func, select

from meter2cash.assets.loader import AssetFrames, claim_utility, load_assets
from meter2cash.assets.models import Account, Meter, MeterInstallation, ServicePoint
from meter2cash.billing import repository as bills
from meter2cash.billing.cycles import MonthPeriod, complete_months
from meter2cash.billing.issue import IssueReport, issue_approved
from meter2cash.billing.models import Bill
from meter2cash.billing.review import count_by_rule
from meter2cash.billing.run import BillRunReport, bill_month
from meter2cash.core.errors import DataHomeError
from meter2cash.core.money import from_minor
from meter2cash.db.session import unit_of_work
from meter2cash.headend.clocks import ClockReport, check_clocks, record_syncs
from meter2cash.headend.collection import ReadSuccess, collect_days, read_success
from meter2cash.headend.collector import DAILY_FREEZES, CollectionResult
from meter2cash.headend.collector import collect as collect_over_tcp
from meter2cash.headend.exchanges import record_exchanges
from meter2cash.headend.link import RetryPolicy
from meter2cash.headend.monitoring import (
    InstantScan,
    raise_instantaneous_alarms,
    read_instantaneous,
)
from meter2cash.headend.mqtt.deadletter import DeadLetter, DeadLetterStore
from meter2cash.headend.repository import event_counters, meter_classes, store_event_counters
from meter2cash.ledger import repository as ledger_repository
from meter2cash.ledger.credit import apply_credit
from meter2cash.ledger.journal import RECEIVABLE
from meter2cash.ledger.payments import PaymentReport, post_payments
from meter2cash.ledger.service import trial_balance
from meter2cash.measurements.schema import DELIVERED_EVENTS
from meter2cash.simulator import SimulatedUtility, UtilitySpec, build_utility
from meter2cash.simulator.fleet_process import FleetDay, FleetProcess
from meter2cash.tariffs.loader import load_catalogue
from meter2cash.vee.chain import ChainReport, run_rule_chain
from meter2cash.vee.freezes import VeeReport, run_vee
from meter2cash.weather.service import load_weather_file
from meter2cash.workspace import SIMULATION_FILE, Workspace, clock_for, simulation_window, today

Progress = Callable[[], None]
WEATHER_FILE: Final = "daily-mean-temperature.csv"
"""The simulated weather bureau's file in the data home's ``weather/`` folder."""


def simulate(ws: Workspace, spec: UtilitySpec) -> SimulatedUtility:
    """Build the simulated utility, claim the data home for it, and load its assets."""
    path = ws.settings.home / SIMULATION_FILE
    described = {
        "seed": spec.seed,
        "accounts": spec.accounts,
        "start": spec.start.isoformat(),
        "days": spec.days,
        "timezone": spec.timezone,
    }
    if path.exists() and json.loads(path.read_text()) != described:
        raise DataHomeError(
            f"{ws.settings.home} already holds the simulated utility {path.read_text().strip()}",
            "use an empty M2C_HOME, or repeat the same --seed/--accounts/--start/--days",
        )
    sim = build_utility(spec)
    weather = weather_bureau_file(ws, sim)
    with unit_of_work(ws.records) as session:
        claim_utility(session, ws.clock, "simulated utility", spec.fingerprint(), spec.timezone)
        load_assets(
            session,
            AssetFrames(
                zones=sim.zones,
                transformer_areas=sim.transformer_areas,
                concentrators=sim.concentrators,
                routes=sim.routes,
                customers=sim.customers,
                accounts=sim.accounts,
                service_points=sim.service_points,
                meters=sim.meters,
            ),
        )
        load_weather_file(session, ws.clock, weather)
    ws.settings.home.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(described))
    sim.ground_truth().write(ws.settings.ground_truth_dir)
    ws.clock = clock_for(ws.settings)
    return sim


def weather_bureau_file(ws: Workspace, sim: SimulatedUtility) -> Path:
    """The simulated utility's daily mean temperature written as the weather bureau would
    send it (one series for the whole utility), so it is loaded like a real file."""
    path = ws.settings.home / "weather" / WEATHER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temperature = sim.temperature
    pd.DataFrame(
        {
            "date": [d.isoformat() for d in temperature["local_date"]],
            "temperature_c": [f"{t:.1f}" for t in temperature["temp_c"]],
        }
    ).to_csv(path, index=False)
    return path


def simulated_utility(ws: Workspace) -> SimulatedUtility:
    """Rebuild this data home's simulated utility from its description (deterministic)."""
    path = ws.settings.home / SIMULATION_FILE
    if not path.exists():
        raise DataHomeError(
            f"{ws.settings.home} holds no simulated utility", "run `m2c simulate` first"
        )
    described = json.loads(path.read_text())
    return build_utility(
        UtilitySpec(
            seed=int(described["seed"]),
            accounts=int(described["accounts"]),
            start=date.fromisoformat(described["start"]),
            days=int(described["days"]),
            timezone=str(described["timezone"]),
        )
    )


def simulated_days(ws: Workspace) -> list[date]:
    window = simulation_window(ws.settings)
    if window is None:
        raise DataHomeError(f"{ws.settings.home} holds no simulated utility", "run `m2c simulate`")
    first, last = window
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def billing_months(ws: Workspace) -> list[MonthPeriod]:
    """Months whose opening and closing daily freezes both fall in the simulation.

    The freeze that opens day D is collected with day D−1, so the first simulated day only
    supplies the opening read of the next.
    """
    days = simulated_days(ws)
    return complete_months(days[0] + timedelta(days=1), days[-1])


@dataclass(frozen=True)
class WireDelivery:
    """One day as the head-end received it (see :class:`WireHeadEnd`)."""

    register_reads: pa.Table
    intervals: pa.Table
    events: pa.Table
    meters_expected: int
    meters_read: int


CURVE_CLASSES: Final = frozenset({"commercial", "industrial", "supply"})
"""Customer classes whose meters' 96-point curves are read daily (large customers and
transformer supply meters)."""
ROUND_DAYS: Final = 7
"""Each meter's events are swept, its clock checked and its instantaneous values read (voltage
without current) once in this many days, the meters spread evenly over the days [days]."""
CLOCK_THRESHOLD_S: Final = 60.0
"""Drift beyond which a concentrator's meters are sent a time sync [s]."""


def due_today(meter_no: str, day: date, every: int = ROUND_DAYS) -> bool:
    """Whether ``meter_no`` is due for its round (sweep, clock, live values) on ``day``."""
    return (zlib.crc32(meter_no.encode()) + day.toordinal()) % every == 0


@dataclass
class WireHeadEnd:
    """The simulated utility read for real over DL/T 645 on TCP through simulated
    concentrators (lossy PLC) served by ``meters``: every day the daily freezes (retried; days
    missed earlier backfilled from the meters' history), and the reactive and maximum-demand
    freezes (``R+``, ``MD+``) and the curves of ``curve_meters``;
    in a round of :data:`ROUND_DAYS` days each meter's event sweep, live values and clock check,
    with a time sync behind concentrators whose meters drifted."""

    meters: FleetProcess
    tz: ZoneInfo
    curve_meters: frozenset[str]
    counters: dict[tuple[str, str], Decimal]
    """Event counters as last read (updated as sweeps read them)."""
    dead_letters: DeadLetterStore
    """Where frames that could not be decoded are kept, with the reason."""
    timeout_s: float = 0.1
    """Reply timeout [s]: the simulated PLC answers within 2 ms; the margin is for a busy
    machine, where a late reply costs a retry."""
    backoff_s: tuple[float, float] = (0.01, 0.02)
    missed: dict[str, set[date]] = field(default_factory=dict)
    last: CollectionResult | None = None
    """The latest day's collection, with its exchange log."""
    last_clocks: ClockReport | None = None
    """The latest day's clock check."""
    last_live: InstantScan | None = None
    """The latest day's instantaneous readings (voltage and current per phase)."""

    def collect_day(self, day: date) -> WireDelivery:
        fleet = self.meters.open_day(day + timedelta(days=1))
        result, clocks, live = asyncio.run(self._collect(fleet, day))
        self.last, self.last_clocks, self.last_live = result, clocks, live
        received = fleet.now()
        self.dead_letters.write(
            [
                DeadLetter(
                    f"dlt645/{q.concentrator_code}", None, q.raw_hex, "hex", q.reason, received
                )
                for q in (*result.quarantined, *clocks.quarantined, *live.quarantined)
            ]
        )
        for exchange in result.exchanges:
            read = exchange.outcome in ("first_try", "after_retry", "backfilled")
            days = self.missed.setdefault(exchange.meter_no, set())
            if read:
                days.discard(exchange.day)
            elif exchange.day == day:
                days.add(day)
        self.counters.update(result.counters)
        own = result.outcome_counts()
        return WireDelivery(
            register_reads=result.reads,
            intervals=result.intervals,
            events=pa.concat_tables([result.events, _drift_events(clocks, CLOCK_THRESHOLD_S)]),
            meters_expected=sum(own.values()),
            meters_read=own.get("first_try", 0) + own.get("after_retry", 0),
        )

    async def _collect(
        self, fleet: FleetDay, day: date
    ) -> tuple[CollectionResult, ClockReport, InstantScan]:
        earliest = day - timedelta(days=DAILY_FREEZES - 1)
        missing = {
            meter: sorted(d for d in days if earliest <= d < day)
            for meter, days in self.missed.items()
            if days
        }
        due = {
            code: [(no, address) for no, address in meters if due_today(no, day)]
            for code, meters in fleet.meters_by_concentrator.items()
        }
        due_now = {code: meters for code, meters in due.items() if meters}
        return await asyncio.gather(  # each on a connection of its own
            collect_over_tcp(
                fleet.endpoints,
                fleet.meters_by_concentrator,
                day,
                tz=self.tz,
                missing=missing,
                curves_for=self.curve_meters,
                registers_for=self.curve_meters,
                sweep_for={no for meters in due.values() for no, _ in meters},
                known_counters=self.counters,
                timeout_s=self.timeout_s,
                backoff_s=self.backoff_s,
            ),
            check_clocks(
                fleet.endpoints,
                due_now,
                tz=self.tz,
                now=fleet.now,
                threshold_s=CLOCK_THRESHOLD_S,
                timeout_s=self.timeout_s,
            ),
            read_instantaneous(
                fleet.endpoints,
                due_now,
                tz=self.tz,
                now=fleet.now,
                timeout_s=self.timeout_s,
                retry=RetryPolicy(2, self.backoff_s),
            ),
        )


def _drift_events(report: ClockReport, threshold_s: float) -> pa.Table:
    """``clock_drift`` events for the meters found off by more than ``threshold_s`` [s]."""
    drifted = report.drifted(threshold_s)
    return pa.table(
        {
            "meter_no": [r.meter_no for r in drifted],
            "ts": pa.array([report.checked_at] * len(drifted), pa.timestamp("us", tz="UTC")),
            "code": ["clock_drift"] * len(drifted),
            "detail": [f"offset {r.drift_s:+.0f} s" for r in drifted],
        },
        schema=DELIVERED_EVENTS,
    )


def collect(
    ws: Workspace,
    sim: SimulatedUtility,
    days: list[date],
    tick: Progress,
    *,
    over_tcp: bool = True,
) -> ReadSuccess:
    """Collect ``days``: over DL/T 645 through simulated concentrators (:class:`WireHeadEnd`),
    or, without ``over_tcp``, straight from the simulator's head-end feed (fast, for tests
    and large experiments)."""
    if not over_tcp:
        for day in days:
            with unit_of_work(ws.records) as session:
                collect_days(
                    session, ws.clock, ws.store, sim, [day], source_name="headend:simulator"
                )
            tick()
    else:
        with unit_of_work(ws.records) as session:
            classes = meter_classes(session)
            counters = event_counters(session)
        curves = classes.loc[classes["customer_class"].isin(CURVE_CLASSES), "meter_no"]
        with FleetProcess(sim.spec) as meters:
            wire = WireHeadEnd(
                meters,
                ws.settings.tz,
                frozenset(curves),
                counters,
                DeadLetterStore(ws.settings.home / "deadletter" / "dlt645"),
            )
            for day in days:
                with unit_of_work(ws.records) as session:
                    if (
                        collect_days(
                            session,
                            ws.clock,
                            ws.store,
                            wire,
                            [day],
                            source_name="headend:dlt645-tcp",
                        )
                        and wire.last is not None
                    ):
                        record_exchanges(session, wire.last)
                        store_event_counters(session, wire.last.counters, day)
                        if wire.last_live is not None:
                            raise_instantaneous_alarms(
                                session, ws.clock, wire.last_live.readings, tz=ws.settings.tz
                            )
                        if wire.last_clocks is not None:
                            record_syncs(
                                session,
                                ws.clock,
                                wire.last_clocks,
                                tz=ws.settings.tz,
                                threshold_s=CLOCK_THRESHOLD_S,
                            )
                tick()
    with unit_of_work(ws.records) as session:
        return read_success(session)


def meter_numbers(ws: Workspace) -> list[str]:
    with unit_of_work(ws.records) as session:
        return list(session.scalars(select(Meter.meter_no)))


def validate(ws: Workspace, first: date, last: date) -> tuple[VeeReport, ChainReport]:
    """VEE over daily freezes stamped ``first``…``last`` (local dates): estimate missing
    freezes, then run the rule chain over the consumption days they close."""
    meters = meter_numbers(ws)
    with unit_of_work(ws.records) as session:
        report = run_vee(session, ws.clock, ws.store, meters, first, last)
    with unit_of_work(ws.records) as session:
        chain = run_rule_chain(
            session,
            ws.clock,
            ws.batch,
            ws.store,
            first - timedelta(days=1),
            last - timedelta(days=1),
        )
    return report, chain


def bill(ws: Workspace, period: MonthPeriod) -> BillRunReport:
    catalogue = load_catalogue()
    return bill_month(ws.records, ws.clock, ws.batch, catalogue, period)


def issue(ws: Workspace) -> IssueReport:
    """Issue the approved bills, then settle them from any credit their accounts hold."""
    with unit_of_work(ws.records) as session:
        report = issue_approved(session, ws.clock)
        latest = session.scalar(select(func.max(Bill.bill_date)).where(Bill.status == "issued"))
        on = max(today(ws.clock, ws.settings), latest or date.min)
        apply_credit(session, ws.clock, on)
        return report


def issued_bills(ws: Workspace) -> pd.DataFrame:
    with unit_of_work(ws.records) as session:
        return bills.issued_bill_frame(session)


def pay_simulated(ws: Workspace, sim: SimulatedUtility) -> PaymentReport:
    """Apply the simulated customers' payments against the bills issued so far."""
    payments = sim.simulate_payments(issued_bills(ws))
    with unit_of_work(ws.records) as session:
        return post_payments(session, ws.clock, payments)


@dataclass(frozen=True)
class BillCounts:
    by_status: dict[str, int]
    stopped: int
    """Bills that review stopped for a person, whatever was decided since."""
    stopped_by_rule: dict[str, int]
    """Of those, how many each rule stopped (a bill stopped by two rules counts for both)."""


def bill_counts(ws: Workspace) -> BillCounts:
    with unit_of_work(ws.records) as session:
        reasons = bills.review_reasons(session)
        return BillCounts(bills.status_counts(session), len(reasons), count_by_rule(reasons))


@dataclass(frozen=True)
class Status:
    """What a script checks: counts, money [yuan, decimal strings], and ledger health."""

    accounts: int
    meters: int
    reads_stored: int
    bills_issued: int
    amount_billed: Decimal
    amount_paid: Decimal
    receivables: Decimal
    ledger_balanced: bool
    currency: str = "CNY"

    def as_json(self) -> dict[str, object]:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}


def status(ws: Workspace) -> Status:
    with unit_of_work(ws.records) as session:
        accounts = int(session.scalar(select(func.count(Account.id))) or 0)
        meters = int(
            session.scalar(
                select(func.count(func.distinct(MeterInstallation.meter_id)))
                .join(ServicePoint, ServicePoint.id == MeterInstallation.service_point_id)
                .where(MeterInstallation.removed_at.is_(None))
            )
            or 0
        )
        issued, billed = bills.bill_totals(session)
        _, paid = ledger_repository.payment_totals(session)
        tb = trial_balance(session)
    reads = ws.store.count("register_reads") + ws.store.count("intervals")
    return Status(
        accounts=accounts,
        meters=meters,
        reads_stored=reads,
        bills_issued=issued,
        amount_billed=from_minor(billed),
        amount_paid=from_minor(paid),
        receivables=from_minor(tb.balance_of(RECEIVABLE)),
        ledger_balanced=tb.balanced,
    )
