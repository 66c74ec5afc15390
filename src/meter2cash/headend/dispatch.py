"""Dispatch of remote commands (遥控) over DL/T 645-2007 through the meters' concentrators.

Commands waiting as ``requested`` (:mod:`~meter2cash.headend.commands`) are sent and their
outcome recorded through the audited lifecycle, actor ``headend``:

- **relay trip / close** — a relay control frame (C = 1C, N1 ``1A`` trip or ``1C`` close)
  carrying an expiry :attr:`DispatchPolicy.relay_validity` after it is built, so a command
  stuck in a queue is refused by the meter rather than executed late. A normal reply (``9C``)
  is then checked by reading back: a trip is confirmed when the relay trip count
  (``1D000001``) rose over its value read just before, or — count unchanged, the relay was
  open already — when no phase carries current (``0202FF00``); a close is confirmed with the
  current read back (a close cannot be proven while the customer draws nothing: the detail
  says so). An error reply (``DC``) fails the command with the meter's reason.
- **on-demand read** — a read of the forward active block ``0001FF00`` (total and rates);
  the values go to the measurement store as register reads of read type ``on_demand``
  (``A+``, ``A+1``…``A+4``), stamped with the head-end's time of the reply.
- **time sync** — the broadcast time sync (C = 08) behind the meter's concentrator, once per
  concentrator and dispatch; confirmed by reading the meter's clock back (``04000101``,
  ``04000102``) within :attr:`DispatchPolicy.clock_tolerance_s` of the head-end's time,
  re-broadcast up to ``retries`` times while it is not.

Every request is tried ``1 + retries`` times with doubling backoff; no reply after the last
fails the command. Per concentrator one connection and ``concurrency_per_concentrator``
workers, one meter per worker at a time (a meter's commands go in request order, so a trip
then a close leaves it closed); concentrators run concurrently.

The transport runs first, then one transaction records every outcome (``sent`` with the frame
that went out, then ``confirmed`` or ``failed``). A command whose frame never left the
head-end (no concentrator, concentrator unreachable) goes from ``requested`` straight to
``failed``. Should the process die in between, the commands stay ``requested`` and the next
dispatch sends them again — safe for all four kinds: a relay command carries its expiry and
tripping (closing) twice leaves the relay open (closed); reads and syncs change nothing.
Run one dispatcher at a time: a command another dispatcher finished meanwhile is skipped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

import pyarrow as pa
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Meter
from meter2cash.core.clock import Clock
from meter2cash.core.errors import InputError
from meter2cash.db.session import unit_of_work
from meter2cash.headend import commands
from meter2cash.headend.link import (
    Answer,
    ConcentratorLink,
    Endpoint,
    QuarantinedFrame,
    RetryPolicy,
    Unanswered,
    ask,
)
from meter2cash.headend.models import MeterCommand
from meter2cash.headend.protocols.dlt645 import (
    FrameError,
    read_request,
    relay_request,
    time_sync_broadcast,
)
from meter2cash.headend.repository import meter_places
from meter2cash.measurements.schema import DELIVERED_REGISTER_READS
from meter2cash.measurements.store import MeasurementStore

ACTOR: Final = "headend"
"""Who moves a command on: the head-end itself."""
SOURCE: Final = "headend:dlt645-command"
"""Source of the on-demand reads in the measurement store."""
ENERGY_BLOCK_DI: Final = "0001FF00"
TRIP_COUNT_DI: Final = "1D000001"
CURRENT_DI: Final = "0202FF00"
ERR_OTHER: Final = 0x01
"""ERR bit 0 "other error": what a meter answers to an expired relay command."""
DATE_DI: Final = "04000101"
TIME_DI: Final = "04000102"


@dataclass(frozen=True)
class DispatchPolicy:
    """How commands are sent: ``timeout_s`` [s] per try, ``retry`` (tries and backoff),
    ``concurrency_per_concentrator`` meters in flight per concentrator, the relay command's
    validity [time from building the frame], the clock tolerance [s] that confirms a time
    sync, and the control password (``PA P2 P1 P0``) and operator code."""

    timeout_s: float = 0.5
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency_per_concentrator: int = 4
    relay_validity: timedelta = timedelta(minutes=10)
    clock_tolerance_s: float = 5.0
    password: str = "02000000"
    operator: str = "00000000"


@dataclass(frozen=True, slots=True)
class Target:
    """A command to send: which, to what meter (12-digit address), behind which concentrator."""

    command_id: int
    kind: str
    meter_no: str
    address: str
    concentrator: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one command on the wire.

    ``frame_hex`` is the command's frame as it went out (``None``: it never left the
    head-end); ``attempts`` the requests sent for it, read-backs included; ``detail`` the
    confirmation or the reason of the failure; ``reads`` the (channel, value [kWh]) an
    on-demand read got, taken at ``read_at``.
    """

    command_id: int
    meter_no: str
    kind: str
    confirmed: bool
    detail: str
    frame_hex: str | None
    attempts: int
    reads: tuple[tuple[str, Decimal], ...] = ()
    read_at: datetime | None = None


@dataclass(frozen=True)
class DispatchReport:
    """Outcomes of one dispatch, the commands skipped (finished elsewhere meanwhile), the
    on-demand read rows stored, and frames that could not be decoded."""

    outcomes: tuple[Outcome, ...]
    skipped: tuple[int, ...]
    reads_stored: int
    quarantined: tuple[QuarantinedFrame, ...]

    def counts(self) -> dict[str, int]:
        """Commands confirmed and failed."""
        confirmed = sum(o.confirmed for o in self.outcomes)
        return {"confirmed": confirmed, "failed": len(self.outcomes) - confirmed}


def targets(
    session: Session,
    *,
    kinds: Collection[str] | None = None,
    meters: Collection[str] | None = None,
) -> tuple[list[Target], list[Outcome]]:
    """The ``requested`` commands (of ``kinds``, for ``meters`` when given) as targets, and
    the outcomes of those that cannot be routed (no address or no concentrator)."""
    waiting = commands.pending(session, kinds=kinds, meters=meters)
    addresses = _addresses(session)
    places = meter_places(session)
    concentrator = dict(zip(places["meter_no"], places["concentrator"], strict=True))
    routed: list[Target] = []
    unroutable: list[Outcome] = []
    for command in waiting:
        address = addresses.get(command.meter_no)
        code = concentrator.get(command.meter_no, "(none)")
        if address is None or code == "(none)":
            installed = command.meter_no in concentrator
            why = "the meter has no concentrator" if installed else "the meter is not installed"
            unroutable.append(_failure(command, f"not sent: {why}"))
            continue
        routed.append(Target(command.id, command.kind, command.meter_no, address, code))
    return routed, unroutable


def meter_routes(
    session: Session, meters: Collection[str] | None = None
) -> dict[str, list[tuple[str, str]]]:
    """(meter_no, address) of the installed meters (of ``meters`` when given) by concentrator
    code; meters without a concentrator are left out."""
    places = meter_places(session)
    if meters is not None:
        places = places[places["meter_no"].isin(list(meters))]
    places = places[places["concentrator"] != "(none)"]
    addresses = _addresses(session)
    routes: dict[str, list[tuple[str, str]]] = {}
    for meter_no, code in sorted(zip(places["meter_no"], places["concentrator"], strict=True)):
        routes.setdefault(str(code), []).append((str(meter_no), addresses[meter_no]))
    return routes


async def send(
    targets: Sequence[Target],
    endpoints: Mapping[str, Endpoint],
    *,
    tz: ZoneInfo,
    now: Callable[[], datetime],
    policy: DispatchPolicy | None = None,
) -> tuple[list[Outcome], list[QuarantinedFrame]]:
    """Send ``targets`` through their concentrators (``endpoints``: code → (host, port)) and
    return each one's outcome, with the frames quarantined on the way. ``now`` is the
    head-end's time source (aware). Touches no database."""
    policy = policy or DispatchPolicy()
    _check_credentials(policy)
    by_concentrator: dict[str, list[Target]] = {}
    for target in targets:
        by_concentrator.setdefault(target.concentrator, []).append(target)
    outcomes: list[Outcome] = []
    for code in sorted(set(by_concentrator) - set(endpoints)):
        outcomes += [
            Outcome(
                t.command_id,
                t.meter_no,
                t.kind,
                False,
                f"not sent: no endpoint for {code}",
                None,
                0,
            )
            for t in by_concentrator.pop(code)
        ]
    quarantined: list[QuarantinedFrame] = []
    links = {
        code: ConcentratorLink(code, endpoints[code], tz, policy.timeout_s, 8, quarantined)
        for code in by_concentrator
    }
    try:
        results = await asyncio.gather(
            *(
                _Concentrator(links[code], policy, tz, now).run(jobs)
                for code, jobs in by_concentrator.items()
            )
        )
    finally:
        await asyncio.gather(*(link.close() for link in links.values()))
    outcomes += [o for result in results for o in result]
    outcomes.sort(key=lambda o: o.command_id)
    return outcomes, quarantined


def record(
    session: Session,
    clock: Clock,
    store: MeasurementStore | None,
    outcomes: Sequence[Outcome],
) -> tuple[list[int], int]:
    """Move each command on by its outcome (``sent`` when its frame went out, then
    ``confirmed`` or ``failed``), audited as ``headend``; store the on-demand reads. Returns
    the commands skipped because they are no longer ``requested``, and the read rows stored."""
    skipped: list[int] = []
    rows: list[tuple[str, str, datetime, Decimal]] = []
    for outcome in outcomes:
        command = session.get(MeterCommand, outcome.command_id)
        if command is None or command.status != "requested":
            skipped.append(outcome.command_id)
            continue
        if outcome.frame_hex is not None:
            commands.advance(
                session,
                clock,
                outcome.command_id,
                "sent",
                actor=ACTOR,
                detail=f"sent over DL/T 645, {outcome.attempts} request(s)",
                frame_hex=outcome.frame_hex,
            )
        status = "confirmed" if outcome.confirmed else "failed"
        commands.advance(
            session, clock, outcome.command_id, status, actor=ACTOR, detail=outcome.detail
        )
        if outcome.confirmed and outcome.read_at is not None:
            rows += [(outcome.meter_no, ch, outcome.read_at, v) for ch, v in outcome.reads]
    if not rows:
        return skipped, 0
    if store is None:
        raise InputError("on-demand reads came back but no measurement store was given")
    table = pa.table(
        {
            "meter_no": [r[0] for r in rows],
            "channel": [r[1] for r in rows],
            "ts": [r[2] for r in rows],
            "value": [float(r[3]) for r in rows],  # 0.01 kWh registers: exact in a double
            "read_type": ["on_demand"] * len(rows),
        },
        schema=DELIVERED_REGISTER_READS,
    )
    report = store.ingest_register_reads(table, source=SOURCE)
    return skipped, report.accepted


async def dispatch_async(
    records: Engine,
    clock: Clock,
    store: MeasurementStore | None,
    endpoints: Mapping[str, Endpoint],
    *,
    tz: ZoneInfo,
    now: Callable[[], datetime] | None = None,
    kinds: Collection[str] | None = None,
    meters: Collection[str] | None = None,
    policy: DispatchPolicy | None = None,
) -> DispatchReport:
    """Send every ``requested`` command (of ``kinds``, for ``meters`` when given) and record
    the outcomes: the job boundary (commits once the outcomes are in). ``now`` is the
    head-end's time source for frames and clock checks (default ``clock.now``)."""
    with unit_of_work(records) as session:
        routed, unroutable = targets(session, kinds=kinds, meters=meters)
    outcomes, quarantined = await send(
        routed, endpoints, tz=tz, now=now or clock.now, policy=policy
    )
    every = sorted([*outcomes, *unroutable], key=lambda o: o.command_id)
    with unit_of_work(records) as session:
        skipped, stored = record(session, clock, store, every)
    return DispatchReport(tuple(every), tuple(skipped), stored, tuple(quarantined))


def dispatch(
    records: Engine,
    clock: Clock,
    store: MeasurementStore | None,
    endpoints: Mapping[str, Endpoint],
    *,
    tz: ZoneInfo,
    now: Callable[[], datetime] | None = None,
    kinds: Collection[str] | None = None,
    meters: Collection[str] | None = None,
    policy: DispatchPolicy | None = None,
) -> DispatchReport:
    """:func:`dispatch_async` run to completion in a new event loop (concentrators elsewhere)."""
    return asyncio.run(
        dispatch_async(
            records,
            clock,
            store,
            endpoints,
            tz=tz,
            now=now,
            kinds=kinds,
            meters=meters,
            policy=policy,
        )
    )


def _addresses(session: Session) -> dict[str, str]:
    """Meter number → 12-digit communication address."""
    return dict(session.execute(select(Meter.meter_no, Meter.address)).tuples().all())


# --- on the wire -----------------------------------------------------------------------------


def _failure(command: MeterCommand, detail: str) -> Outcome:
    return Outcome(command.id, command.meter_no, command.kind, False, detail, None, 0)


def _check_credentials(policy: DispatchPolicy) -> None:
    for name, value in (("password", policy.password), ("operator code", policy.operator)):
        if len(value) != 8 or not value.isdigit():
            raise InputError(f"relay {name} {value!r} is not 8 digits")


def _never_left(answer: Answer) -> bool:
    """The request could not be written: the concentrator did not take the connection."""
    return answer.reading is None and answer.detail.startswith("cannot connect")


def _unanswered(answer: Answer) -> str:
    return f"no reply after {answer.attempts} request(s): {answer.detail}"


def _refused(answer: Answer) -> str:
    assert answer.reading is not None and answer.reading.error is not None
    code, reason = answer.reading.error
    return f"meter refused: {reason} (ERR {code:02X})"


@dataclass
class _Concentrator:
    """The commands behind one concentrator, on its link."""

    link: ConcentratorLink
    policy: DispatchPolicy
    tz: ZoneInfo
    now: Callable[[], datetime]
    _sync_frame: str | None = None
    _sync_failure: str = ""

    async def run(self, jobs: Sequence[Target]) -> list[Outcome]:
        if any(t.kind == "time_sync" for t in jobs):
            await self._broadcast_sync()
        by_meter: dict[str, list[Target]] = {}
        for job in jobs:
            by_meter.setdefault(job.address, []).append(job)
        queue = deque(by_meter.values())
        outcomes: list[Outcome] = []

        async def work() -> None:
            while queue:
                for job in queue.popleft():
                    outcomes.append(await self._execute(job))

        workers = max(1, min(self.policy.concurrency_per_concentrator, len(queue)))
        await asyncio.gather(*(work() for _ in range(workers)))
        return outcomes

    async def _execute(self, job: Target) -> Outcome:
        if job.kind in ("relay_trip", "relay_close"):
            return await self._relay(job)
        if job.kind == "on_demand_read":
            return await self._read(job)
        if job.kind == "time_sync":
            return await self._time_sync(job)
        return Outcome(
            job.command_id, job.meter_no, job.kind, False, f"no transport for {job.kind}", None, 0
        )

    async def _ask(self, address: str, frame: bytes, di: str | None) -> Answer:
        return await ask(self.link, self.policy.retry, address, frame, di)

    async def _read_item(self, address: str, di: str) -> Answer:
        return await self._ask(address, read_request(address, di), di)

    async def _relay(self, job: Target) -> Outcome:
        trip = job.kind == "relay_trip"
        attempts = 0
        before: Decimal | None = None
        if trip:
            counted = await self._read_item(job.address, TRIP_COUNT_DI)
            attempts += counted.attempts
            before = _number(counted)
        issued = self.now()
        try:
            frame = relay_request(
                job.address,
                close=not trip,
                at=issued,
                valid_until=issued + self.policy.relay_validity,
                password=self.policy.password,
                operator=self.policy.operator,
                tz=self.tz,
            )
        except FrameError as error:
            return self._outcome(job, False, f"not sent: {error}", None, attempts)
        answer = await self._ask(job.address, frame, None)
        attempts += answer.attempts
        sent = None if _never_left(answer) else frame.hex().upper()
        if answer.reading is None:
            return self._outcome(job, False, _unanswered(answer), sent, attempts)
        if answer.reading.error is not None:
            detail = _refused(answer)
            if answer.reading.error[0] & ERR_OTHER:
                drift, asked = await self._drift(job.address)
                attempts += asked
                validity = self.policy.relay_validity.total_seconds()
                if drift is not None and drift >= validity:
                    detail += (
                        f"; the meter's clock runs {drift / 60:.0f} min ahead of the head-end, "
                        f"so the command ({validity / 60:g} min valid) had expired for it: "
                        "sync its clock and send again"
                    )
            return self._outcome(job, False, detail, sent, attempts)
        if answer.reading.control != 0x9C:
            detail = f"unexpected reply C = {answer.reading.control:02X} to a relay command"
            return self._outcome(job, False, detail, sent, attempts)
        currents = await self._read_item(job.address, CURRENT_DI)
        attempts += currents.attempts
        flowing = _currents(currents)
        if not trip:
            if flowing is None:
                detail = "acknowledged (9C) but the current read-back got no reply: not verified"
                return self._outcome(job, False, detail, sent, attempts)
            if any(a != 0 for _, a in flowing):
                return self._outcome(job, True, f"relay closed: {_amps(flowing)}", sent, attempts)
            detail = (
                "acknowledged (9C); no current flows yet, so closing is not proven "
                "(no load behind the meter?)"
            )
            return self._outcome(job, True, detail, sent, attempts)
        counted = await self._read_item(job.address, TRIP_COUNT_DI)
        attempts += counted.attempts
        after = _number(counted)
        if before is not None and after is not None and after > before:
            detail = f"relay open: trip count {before} → {after}"
            return self._outcome(job, True, detail, sent, attempts)
        if flowing is not None and all(a == 0 for _, a in flowing):
            detail = f"relay open: no current on any phase (trip count {after or 'not read'})"
            return self._outcome(job, True, detail, sent, attempts)
        if flowing is None:
            detail = "acknowledged (9C) but the read-back got no reply: not verified"
        else:
            detail = f"acknowledged (9C) but the trip count stayed {after} and {_amps(flowing)}"
        return self._outcome(job, False, detail, sent, attempts)

    async def _read(self, job: Target) -> Outcome:
        frame = read_request(job.address, ENERGY_BLOCK_DI)
        answer = await self._ask(job.address, frame, ENERGY_BLOCK_DI)
        sent = None if _never_left(answer) else frame.hex().upper()
        if answer.reading is None:
            return self._outcome(job, False, _unanswered(answer), sent, answer.attempts)
        if answer.reading.error is not None:
            return self._outcome(job, False, _refused(answer), sent, answer.attempts)
        at = self.now().replace(microsecond=0)
        reads = tuple(
            ("A+" if v.name == "total" else f"A+{v.name.split()[-1]}", v.value)
            for v in answer.reading.values
            if isinstance(v.value, Decimal)
        )
        if not reads:
            return self._outcome(job, False, "the reply carried no values", sent, answer.attempts)
        shown = ", ".join(f"{ch} {v} kWh" for ch, v in reads)
        return Outcome(
            job.command_id, job.meter_no, job.kind, True, shown, sent, answer.attempts, reads, at
        )

    async def _broadcast_sync(self) -> None:
        frame = time_sync_broadcast(self.now(), tz=self.tz)
        try:
            await self.link.broadcast(frame)
        except Unanswered as error:
            self._sync_failure = f"not sent: {error}"
            return
        self._sync_frame = frame.hex().upper()

    async def _time_sync(self, job: Target) -> Outcome:
        if self._sync_frame is None:
            return self._outcome(job, False, self._sync_failure, None, 0)
        attempts = 0
        drift: float | None = None
        for sync in range(self.policy.retry.retries + 1):
            if sync:
                await self._broadcast_sync()
            drift, asked = await self._drift(job.address)
            attempts += asked
            if drift is None:
                detail = f"no clock read-back after the sync ({asked} request(s))"
                return self._outcome(job, False, detail, self._sync_frame, attempts)
            if abs(drift) <= self.policy.clock_tolerance_s:
                tolerance = self.policy.clock_tolerance_s
                detail = f"clock off by {drift:+.1f} s after the sync (within {tolerance:g} s)"
                return self._outcome(job, True, detail, self._sync_frame, attempts)
        detail = (
            f"clock still {drift or 0:+.0f} s off after {self.policy.retry.retries + 1} sync(s)"
        )
        return self._outcome(job, False, detail, self._sync_frame, attempts)

    async def _drift(self, address: str) -> tuple[float | None, int]:
        """Meter clock minus the head-end's [s] (``None``: no reply), and requests sent."""
        day = await self._read_item(address, DATE_DI)
        if not day.ok or day.reading is None:
            return None, day.attempts
        clock = await self._read_item(address, TIME_DI)
        asked = day.attempts + clock.attempts
        if not clock.ok or clock.reading is None:
            return None, asked
        d, t = day.reading.values[0].value, clock.reading.values[0].value
        if not isinstance(d, date) or not isinstance(t, time):
            return None, asked
        return (datetime.combine(d, t, tzinfo=self.tz) - self.now()).total_seconds(), asked

    @staticmethod
    def _outcome(
        job: Target, confirmed: bool, detail: str, frame_hex: str | None, attempts: int
    ) -> Outcome:
        return Outcome(
            job.command_id, job.meter_no, job.kind, confirmed, detail, frame_hex, attempts
        )


def _number(answer: Answer) -> Decimal | None:
    if not answer.ok or answer.reading is None or not answer.reading.values:
        return None
    value = answer.reading.values[0].value
    return value if isinstance(value, Decimal) else None


def _currents(answer: Answer) -> list[tuple[str, Decimal]] | None:
    """Phase currents [A] of a ``0202FF00`` reply, phases the meter lacks left out."""
    if not answer.ok or answer.reading is None:
        return None
    return [
        (v.name.split()[-1], v.value) for v in answer.reading.values if isinstance(v.value, Decimal)
    ]


def _amps(currents: Sequence[tuple[str, Decimal]]) -> str:
    return ", ".join(f"phase {p} {a} A" for p, a in currents) or "no phase currents"
