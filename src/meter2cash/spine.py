"""The meter-to-cash spine over a simulated utility, one step at a time.

Each step is idempotent and commits its own work, so an operator can run the steps one
by one (``m2c simulate``, ``m2c collect``, ``m2c vee run``, ``m2c bill run``,
``m2c bill issue``, ``m2c pay simulate``) or all at once (``m2c demo``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
from sqlalchemy import func, select

from meter2cash.assets.loader import AssetFrames, claim_utility, load_assets
from meter2cash.assets.models import Account, Meter, MeterInstallation, ServicePoint
from meter2cash.billing import repository as bills
from meter2cash.billing.cycles import MonthPeriod, complete_months
from meter2cash.billing.issue import IssueReport, issue_approved
from meter2cash.billing.run import BillRunReport, bill_month
from meter2cash.core.errors import DataHomeError
from meter2cash.core.money import from_minor
from meter2cash.db.session import unit_of_work
from meter2cash.headend.collection import DaySource, ReadSuccess, collect_days, read_success
from meter2cash.headend.collector import DAILY_FREEZES, CollectionResult
from meter2cash.headend.collector import collect as collect_over_tcp
from meter2cash.headend.exchanges import record_exchanges
from meter2cash.ledger import repository as ledger_repository
from meter2cash.ledger.journal import RECEIVABLE
from meter2cash.ledger.service import PaymentIn, PaymentReport, apply_payments, trial_balance
from meter2cash.simulator import SimulatedUtility, UtilitySpec, build_utility
from meter2cash.simulator.wire import start_concentrators
from meter2cash.tariffs.loader import load_catalogue
from meter2cash.vee.service import VeeReport, run_vee
from meter2cash.workspace import SIMULATION_FILE, Workspace, clock_for, simulation_window

Progress = Callable[[], None]


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
    ws.settings.home.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(described))
    sim.ground_truth().write(ws.settings.ground_truth_dir)
    ws.clock = clock_for(ws.settings)
    return sim


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


@dataclass
class WireHeadEnd:
    """The simulated utility read for real: each day's daily freezes are read over DL/T 645
    on TCP through simulated concentrators (lossy PLC, retries, backfill of days missed
    earlier from the meters' frozen history). 96-point curves and meter events are not on
    the wire yet and still come from the simulator's head-end feed."""

    sim: SimulatedUtility
    tz: ZoneInfo
    loss: float = 0.03
    timeout_s: float = 0.1
    missed: dict[str, set[date]] = field(default_factory=dict)
    last: CollectionResult | None = None
    """The latest day's collection, with its exchange log."""

    def collect_day(self, day: date) -> WireDelivery:
        result = self.last = asyncio.run(self._collect(day))
        for exchange in result.exchanges:
            read = exchange.outcome in ("first_try", "after_retry", "backfilled")
            days = self.missed.setdefault(exchange.meter_no, set())
            if read:
                days.discard(exchange.day)
            elif exchange.day == day:
                days.add(day)
        feed = self.sim.collect_day(day)
        own = result.outcome_counts()
        return WireDelivery(
            register_reads=result.reads,
            intervals=feed.intervals,
            events=feed.events,
            meters_expected=sum(own.values()),
            meters_read=own.get("first_try", 0) + own.get("after_retry", 0),
        )

    async def _collect(self, day: date) -> CollectionResult:
        fleet = await start_concentrators(
            self.sim, day + timedelta(days=1), self.loss, seed=day.toordinal()
        )
        earliest = day - timedelta(days=DAILY_FREEZES - 1)
        missing = {
            meter: sorted(d for d in days if earliest <= d < day)
            for meter, days in self.missed.items()
            if days
        }
        try:
            return await collect_over_tcp(
                fleet.endpoints,
                fleet.meters_by_concentrator,
                day,
                tz=self.tz,
                missing=missing,
                timeout_s=self.timeout_s,
            )
        finally:
            await fleet.close()


def collect(
    ws: Workspace,
    sim: SimulatedUtility,
    days: list[date],
    tick: Progress,
    *,
    over_tcp: bool = False,
) -> ReadSuccess:
    """Collect ``days``: from the simulator's head-end feed, or with ``over_tcp`` the daily
    freezes over DL/T 645 through simulated concentrators (:class:`WireHeadEnd`)."""
    wire = WireHeadEnd(sim, ws.settings.tz) if over_tcp else None
    source: DaySource = wire or sim
    name = "headend:dlt645-tcp" if over_tcp else "headend:simulator"
    for day in days:
        with unit_of_work(ws.records) as session:
            if collect_days(session, ws.clock, ws.store, source, [day], source_name=name) and (
                wire is not None and wire.last is not None
            ):
                record_exchanges(session, wire.last)
        tick()
    with unit_of_work(ws.records) as session:
        return read_success(session)


def meter_numbers(ws: Workspace) -> list[str]:
    with unit_of_work(ws.records) as session:
        return list(session.scalars(select(Meter.meter_no)))


def validate(ws: Workspace, first: date, last: date) -> VeeReport:
    """VEE over daily freezes stamped ``first``…``last`` (local dates)."""
    meters = meter_numbers(ws)
    with unit_of_work(ws.records) as session:
        return run_vee(session, ws.clock, ws.store, meters, first, last)


def bill(ws: Workspace, period: MonthPeriod) -> BillRunReport:
    catalogue = load_catalogue()
    with unit_of_work(ws.records) as session:
        return bill_month(session, ws.clock, ws.batch, catalogue, period)


def issue(ws: Workspace) -> IssueReport:
    with unit_of_work(ws.records) as session:
        return issue_approved(session, ws.clock)


def issued_bills(ws: Workspace) -> pd.DataFrame:
    with unit_of_work(ws.records) as session:
        return bills.issued_bill_frame(session)


def pay_simulated(ws: Workspace, sim: SimulatedUtility) -> PaymentReport:
    """Apply the simulated customers' payments against the bills issued so far."""
    frame = sim.simulate_payments(issued_bills(ws))
    payments = [
        PaymentIn(
            channel=str(r.channel),
            transaction_id=str(r.transaction_id),
            account_no=str(r.account_no),
            amount_minor=int(r.amount_minor),
            received_on=r.received_on,
        )
        for r in frame.itertuples(index=False)
    ]
    with unit_of_work(ws.records) as session:
        return apply_payments(session, ws.clock, payments)


@dataclass(frozen=True)
class BillCounts:
    by_status: dict[str, int]
    stopped: int
    """Bills that review stopped for a person, whatever was decided since."""


def bill_counts(ws: Workspace) -> BillCounts:
    with unit_of_work(ws.records) as session:
        return BillCounts(bills.status_counts(session), bills.stopped_by_review(session))


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
