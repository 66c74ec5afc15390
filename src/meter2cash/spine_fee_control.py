"""The spine's fee-control step (费控) over a simulated utility: its prepay customers put on
prepay from a month's first day, charged and acted on day after day, relay commands sent to
the simulated meters over DL/T 645, and the customers topping up as the notices reach them.

:func:`enrol_customers` puts the simulator's prepay customers on prepay (audited, as
``m2c fee-control enrol`` would); bills of the months before stay postpaid. Then
:func:`fee_control_days` goes through the days. Day D is charged at :data:`DAILY_RUN` the
next morning, once the freeze closing D is in, and each account's balance decides
(:func:`~meter2cash.collections.prepay.run_fee_control`). The relay trips and closes it asks
for are sent at once through the concentrators of that day
(:func:`~meter2cash.headend.dispatch.dispatch_async`); the meters keep their relays from one
day to the next. The customers hear of the warnings, the notices at zero and the trips the
meters confirmed, and top up or not as their behaviour has it
(:class:`~meter2cash.simulator.payers.PrepayCustomers`); told of their enrolment, they
settle what they owe and put in an opening balance. A top-up is an ordinary payment
(:func:`~meter2cash.ledger.payments.post_payments`: open bills first, the rest to the
balance), recorded when it is made; one by a customer whose supply is cut is passed on to
fee control (:data:`TOP_UP_NOTICE` later), which decides on the balances then rather than
the next morning — as a payment channel notifying fee control would.

The simulated meters' registers were drawn when the utility was built, so a meter goes on
counting while its relay is open: the days a customer is cut off are charged as if supplied.
"""

from __future__ import annotations

import asyncio
import time as wall
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

import pandas as pd

from meter2cash.collections.fee_control import RECONNECT, TRIP, WARN, ZERO_NOTICE, FeeControlRules
from meter2cash.collections.prepay import FeeControlRun, enrol, run_fee_control
from meter2cash.core.clock import FixedClock
from meter2cash.core.errors import DataHomeError
from meter2cash.db.session import unit_of_work
from meter2cash.headend.dispatch import DispatchPolicy, dispatch_async
from meter2cash.headend.link import RetryPolicy
from meter2cash.ledger import repository as ledger_records
from meter2cash.ledger.payments import PAYMENT_COLUMNS, post_payments
from meter2cash.simulator import SimulatedUtility
from meter2cash.simulator.payers import PrepayCustomers
from meter2cash.simulator.wire import Fleet, MeterMemory, start_concentrators
from meter2cash.tariffs.loader import load_catalogue
from meter2cash.tariffs.schema import TariffDocument
from meter2cash.workspace import Workspace

ACTOR: Final = "simulated utility"
REASON: Final = "费控改造：预付费客户 (the simulated utility's prepay customers)"
DAILY_RUN: Final = time(1, 0)
"""Local time of the daily fee-control run, charging the day before."""
OPENING_NOTICE: Final = time(9, 0)
"""Local time, on the day before prepay starts, the customers are told to top up."""
TOP_UP_NOTICE: Final = timedelta(minutes=5)
"""From a cut-off customer's top-up to fee control deciding on it."""
PLC_LOSS: Final = 0.03
"""Share of frames the simulated power-line carrier loses [-], as in collection."""
POLICY: Final = DispatchPolicy(timeout_s=0.1, retry=RetryPolicy(2, (0.01, 0.02)))
"""The simulated PLC answers within 2 ms; a meter that does not is given up quickly."""
NOTICE_OF: Final = {WARN: "warning", ZERO_NOTICE: "zero"}
"""The customer notice of each fee-control action that sends one."""


@dataclass(frozen=True)
class FeeControlDays:
    """What went on from ``first`` to ``last`` (the days charged) besides the runs' own
    records: the prepay accounts, runs, top-ups posted and their sum [fen], and the relay
    commands sent and confirmed."""

    first: date
    last: date
    accounts: int
    runs: int
    top_ups: int
    top_up_minor: int
    commands_sent: int
    commands_confirmed: int


def enrol_customers(ws: Workspace, sim: SimulatedUtility, starts_on: date) -> int:
    """Put the simulator's prepay customers on prepay from ``starts_on`` (a month's first
    day), audited; those already on it are left. Returns how many were enrolled."""
    prepay = sim.accounts.loc[sim.accounts["prepay"].to_numpy(bool), "account_no"]
    with unit_of_work(ws.records) as session:
        return sum(
            enrol(session, ws.clock, str(a), starts_on=starts_on, actor=ACTOR, reason=REASON)
            for a in prepay
        )


class _HeadEndClock:
    """The head-end's time while it talks to the meters: a fixed instant moved on by the
    wall time spent since, so a command finishes after it was decided."""

    def __init__(self, at: datetime) -> None:
        self._at = at
        self._began = wall.perf_counter()

    def now(self) -> datetime:
        return self._at + timedelta(seconds=wall.perf_counter() - self._began)


@dataclass
class _Days:
    """The days' moving parts: the clock, the customers, the meters' memory and the
    concentrators of the day, the accounts whose supply was cut, and the counts."""

    ws: Workspace
    clock: FixedClock
    sim: SimulatedUtility
    customers: PrepayCustomers
    rules: FeeControlRules
    tariffs: dict[str, TariffDocument]
    memory: MeterMemory
    fleet: Fleet | None = None
    cut: set[str] = field(default_factory=set)
    runs: int = 0
    top_ups: int = 0
    top_up_minor: int = 0
    sent: int = 0
    confirmed: int = 0

    def local(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=self.ws.settings.tz).astimezone(UTC)

    def open_notice(self, starts_on: date) -> None:
        """Tell every customer it is on prepay from ``starts_on``, with what it owes then."""
        accounts = list(self.customers.behaviour)
        with unit_of_work(self.ws.records) as session:
            items = ledger_records.open_items(session, booked_through=starts_on - timedelta(days=1))
        owed = items.groupby("account_no")["open_minor"].sum()
        self.customers.notify(
            pd.DataFrame(
                {
                    "account_no": accounts,
                    "notice": "opened",
                    "at": self.local(starts_on - timedelta(days=1), OPENING_NOTICE),
                    "balance_minor": -owed.reindex(accounts, fill_value=0).to_numpy(),
                }
            )
        )

    async def top_ups_until(self, until: datetime, charged_through: date) -> None:
        """Post the top-ups made by ``until``, in batches ending with a cut-off customer's,
        after which fee control decides (:data:`TOP_UP_NOTICE` later)."""
        made = self.customers.made_by(until)
        while not made.empty:
            urgent = made["account_no"].isin(self.cut).to_numpy(bool)
            upto = int(urgent.argmax()) + 1 if urgent.any() else len(made)
            self.pay(made.iloc[:upto])
            if urgent.any():
                at = pd.Timestamp(made["paid_at"].iloc[upto - 1]).to_pydatetime()
                await self.control(at + TOP_UP_NOTICE, charged_through, charge=False)
            made = pd.concat(
                [made.iloc[upto:], self.customers.made_by(until)], ignore_index=True
            ).sort_values("paid_at", ignore_index=True)

    def pay(self, top_ups: pd.DataFrame) -> None:
        """Post ``top_ups`` as payments received on their local days, recorded when the
        last of them is made."""
        paid_at = pd.to_datetime(top_ups["paid_at"], utc=True)
        self.clock.set(paid_at.max().to_pydatetime())
        payments = pd.DataFrame(
            {
                "channel": top_ups["channel"],
                "transaction_id": top_ups["transaction_id"],
                "account_no": top_ups["account_no"],
                "amount_minor": top_ups["amount_minor"],
                "received_on": [t.tz_convert(self.ws.settings.tz).date() for t in paid_at],
            },
            columns=list(PAYMENT_COLUMNS),
        )
        with unit_of_work(self.ws.records) as session:
            report = post_payments(session, self.clock, payments)
        self.top_ups += report.posted
        self.top_up_minor += report.amount_minor

    async def control(self, at: datetime, day: date, *, charge: bool = True) -> None:
        """Fee control through ``day`` at ``at``; its relay commands sent, its notices
        handed to the customers."""
        self.clock.set(at)
        run = run_fee_control(
            self.ws.records, self.clock, self.ws.batch, self.tariffs, self.rules, day, charge=charge
        )
        self.runs += 1
        confirmed = await self.send(at) if run.trips or run.reconnects else set()
        self.notify(run, at, confirmed)

    async def send(self, at: datetime) -> set[int]:
        """Send the relay commands waiting, through the concentrators of ``at``'s local day;
        the ids of those the meters confirmed."""
        today = at.astimezone(self.ws.settings.tz).date()
        if self.fleet is None or self.fleet.bank.today != today:
            await self.close()
            self.fleet = await start_concentrators(
                self.sim, today, PLC_LOSS, seed=today.toordinal(), memory=self.memory
            )
        report = await dispatch_async(
            self.ws.records,
            _HeadEndClock(at),
            self.ws.store,
            self.fleet.endpoints,
            tz=self.ws.settings.tz,
            kinds=(TRIP, RECONNECT),
            policy=POLICY,
        )
        done = {o.command_id for o in report.outcomes if o.confirmed}
        self.sent += len(report.outcomes)
        self.confirmed += len(done)
        return done

    def notify(self, run: FeeControlRun, at: datetime, confirmed: set[int]) -> None:
        """Hand the run's warnings, notices at zero and confirmed trips to the customers."""
        rows = run.actions.assign(action=run.actions["action"].str.split(",")).explode("action")
        self.cut.update(rows.loc[rows["action"] == TRIP, "account_no"])
        self.cut.difference_update(rows.loc[rows["action"] == RECONNECT, "account_no"])
        tripped = (rows["action"] == TRIP) & rows["command_id"].isin(confirmed)
        notices = rows.assign(notice=rows["action"].map(NOTICE_OF).where(~tripped, "cut"))
        notices = notices[notices["notice"].notna()]
        self.customers.notify(
            pd.DataFrame(
                {
                    "account_no": notices["account_no"],
                    "notice": notices["notice"],
                    "at": at,
                    "balance_minor": notices["balance_minor"],
                }
            )
        )

    async def close(self) -> None:
        if self.fleet is not None:
            await self.fleet.close()
            self.fleet = None


def fee_control_days(
    ws: Workspace,
    sim: SimulatedUtility,
    first: date,
    last: date,
    tick: Callable[[], None],
    rules: FeeControlRules | None = None,
) -> FeeControlDays:
    """Fee control over the simulated days ``first`` … ``last`` (``first`` the day prepay
    started, :func:`enrol_customers`), each charged the next morning, with the customers'
    top-ups until the clock's now (the simulation's end); ``tick`` after each day. The data
    home's clock is moved through the days and put back."""
    clock = ws.clock
    if not isinstance(clock, FixedClock):
        raise DataHomeError(
            "fee control over simulated days needs a simulated data home", "run `m2c simulate`"
        )
    customers = sim.prepay_customers()
    days = _Days(
        ws,
        clock,
        sim,
        customers,
        rules or FeeControlRules(),
        load_catalogue(),
        MeterMemory.empty(len(sim.meters)),
    )
    end = clock.now()
    days.open_notice(first)

    async def every_day() -> None:
        try:
            for offset in range((last - first).days + 1):
                day = first + timedelta(days=offset)
                run_at = days.local(day + timedelta(days=1), DAILY_RUN)
                await days.top_ups_until(run_at, day - timedelta(days=1))
                await days.control(run_at, day)
                tick()
            await days.top_ups_until(end, last)
        finally:
            await days.close()
            clock.set(end)

    asyncio.run(every_day())
    return FeeControlDays(
        first=first,
        last=last,
        accounts=len(customers.behaviour),
        runs=days.runs,
        top_ups=days.top_ups,
        top_up_minor=days.top_up_minor,
        commands_sent=days.sent,
        commands_confirmed=days.confirmed,
    )
