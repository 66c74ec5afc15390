"""The DL/T 645-2007 collector: one day's reading of every meter through its concentrator over
TCP — the daily freeze (retried with backoff, missed days backfilled from the meter's 62 stored
freezes), the reactive and maximum-demand freezes of the C&I meters, the 96-point curve of
meters that keep one, and the event sweep of meters due.

Days are *consumption* days, as in the simulator's ``collect_day``: the freeze of local day
``D`` is taken at local midnight starting ``D + 1`` (its ``ts``). The collector runs on
``day + 1``, so the freeze of ``day`` is "last 1" (DI ``05060101``) and that of an earlier day
``B`` is "last n" with n = (day − B) + 1, up to 62.

Meters in ``registers_for`` are also asked, for each day whose forward active freeze was read
(backfilled days too), the same freeze of combined reactive 1 (``050603xx`` → channel ``R+``
[kvarh]) and of forward active maximum demand (``050609xx`` → ``MD+`` [kW]; the total only, its
time of occurrence checked to lie in the settlement period — from 00:00 on the 1st of the
day's month to the freeze — and not stored). Their outcome is an :class:`ItemRead` ``register``;
a failure there never costs the forward active freeze already read.

Per concentrator: one TCP connection (:class:`~meter2cash.headend.link.ConcentratorLink`) and
``concurrency_per_concentrator`` workers, each with at most one request in flight. The
concentrator queues them onto its half-duplex PLC; 1 is the strictly serial, most realistic
setting, 4 (default) hides the timeouts of lost frames behind other meters' exchanges. A meter
that does not answer its freeze is not asked for anything else that day.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from meter2cash.core.errors import InputError
from meter2cash.core.timezones import local_midnight
from meter2cash.headend.curves import SLOTS, CurveRead, read_curve
from meter2cash.headend.event_sweep import EventRow, sweep_meter
from meter2cash.headend.link import (
    Answer,
    ConcentratorLink,
    Endpoint,
    QuarantinedFrame,
    RetryPolicy,
    ask,
)
from meter2cash.headend.protocols.dlt645 import Reading, read_request
from meter2cash.measurements.schema import (
    DELIVERED_EVENTS,
    DELIVERED_INTERVALS,
    DELIVERED_REGISTER_READS,
    DEMAND_REGISTER,
    REACTIVE_REGISTER,
)

DAILY_FREEZES: Final = 62
"""Daily freezes a DL/T 645-2007 meter keeps (DI0 01…3E) [-]."""

Outcome = Literal["first_try", "after_retry", "backfilled", "error_reply", "unreachable"]
ItemOutcome = Literal["complete", "partial", "failed", "done"]
REGISTER_FREEZES: Final = {"050603": REACTIVE_REGISTER, "050609": DEMAND_REGISTER}
"""DI3…DI1 of the daily freezes read from the meters in ``registers_for`` → stored channel:
combined reactive 1 [kvarh] and forward active maximum demand [kW]."""
MeterRef = tuple[str, str]
"""(meter_no, 12-digit address)."""
CounterKey = tuple[str, str]
"""(meter_no, counter DI)."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """How one freeze of one meter was read: ``day`` the consumption day, ``attempts`` the
    requests sent (0 when skipped), ``detail`` the last failure or the meter's error reason."""

    meter_no: str
    concentrator_code: str
    day: date
    di: str
    attempts: int
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ItemRead:
    """How a meter's curve, register freezes or event sweep of ``day`` went: ``item``
    ``curve`` or ``register`` (the :data:`REGISTER_FREEZES` of ``day``; outcome complete,
    partial or failed) or ``sweep`` (done or failed), the requests sent and the failures if
    any."""

    meter_no: str
    concentrator_code: str
    day: date
    item: Literal["curve", "register", "sweep"]
    attempts: int
    outcome: ItemOutcome
    detail: str = ""


@dataclass(frozen=True)
class CollectionResult:
    """One day's collection: register reads (:data:`DELIVERED_REGISTER_READS`), intervals
    (:data:`DELIVERED_INTERVALS`), events (:data:`DELIVERED_EVENTS`), the freeze exchange log, the
    event counters read, and how the register freezes, curves and sweeps went."""

    day: date
    reads: pa.Table
    exchanges: tuple[Exchange, ...]
    quarantined: tuple[QuarantinedFrame, ...]
    reconnects: int
    late_replies: int
    intervals: pa.Table
    events: pa.Table
    counters: Mapping[CounterKey, Decimal]
    item_reads: tuple[ItemRead, ...] = ()
    curves_expected: int = 0
    sweeps_expected: int = 0

    @property
    def curves_complete(self) -> int:
        return sum(r.item == "curve" and r.outcome == "complete" for r in self.item_reads)

    @property
    def sweeps_done(self) -> int:
        return sum(r.item == "sweep" and r.outcome == "done" for r in self.item_reads)

    def outcome_counts(self, *, backfill: bool = False) -> dict[str, int]:
        """Outcomes of the day's own reads, or of the backfill reads when ``backfill``."""
        return dict(Counter(e.outcome for e in self.exchanges if (e.day != self.day) == backfill))

    @property
    def read_success(self) -> float:
        """Share of meters whose freeze of ``day`` was read, retries included [-]."""
        own = [e for e in self.exchanges if e.day == self.day]
        read = sum(e.outcome in ("first_try", "after_retry") for e in own)
        return read / len(own) if own else 1.0


@dataclass
class _Job:
    meter_no: str
    address: str
    backfill: Sequence[date]
    curve: bool
    sweep: bool
    registers: bool


@dataclass
class _Gathered:
    """What the workers of every concentrator gather (one event loop: no locking)."""

    exchanges: list[Exchange]
    freezes: list[tuple[str, str, date, Decimal]]
    """(meter_no, channel, consumption day, value [kWh, kvarh or kW])."""
    curves: list[tuple[str, CurveRead]]
    events: list[EventRow]
    counters: dict[CounterKey, Decimal]
    item_reads: list[ItemRead]


async def _read_freeze(
    link: ConcentratorLink, policy: RetryPolicy, job: _Job, day: date, last: int, backfill: bool
) -> tuple[Exchange, Reading | None]:
    di = f"050601{last:02X}"
    answer = await ask(link, policy, job.address, read_request(job.address, di), di)
    return _freeze_exchange(link.code, job, day, di, answer, backfill), answer.reading


def _freeze_exchange(
    code: str, job: _Job, day: date, di: str, answer: Answer, backfill: bool, attempts: int = 0
) -> Exchange:
    """The exchange-log entry of a freeze read; ``attempts`` overrides the answer's count."""
    tries = attempts or answer.attempts
    if answer.reading is None:
        return Exchange(job.meter_no, code, day, di, tries, "unreachable", answer.detail)
    if answer.reading.error is not None:
        return Exchange(job.meter_no, code, day, di, tries, "error_reply", answer.detail)
    outcome: Outcome = "backfilled" if backfill else "first_try" if tries == 1 else "after_retry"
    return Exchange(job.meter_no, code, day, di, tries, outcome)


def _register_value(
    answer: Answer, channel: str, freeze_day: date, tz: ZoneInfo
) -> tuple[Decimal | None, str]:
    """The total of a register-freeze reply, or ``None`` and why: no reply, an error reply,
    filler, or (``MD+``) a demand whose time of occurrence is missing or outside the
    settlement period (00:00 on the 1st of ``freeze_day``'s month, the freeze]."""
    reading = answer.reading
    if reading is None or reading.error is not None:
        return None, answer.detail
    total = reading.values[0].value
    if not isinstance(total, Decimal):
        return None, "total not available (filler)"
    if channel == DEMAND_REGISTER:
        at = reading.values[1].value
        settled = local_midnight(freeze_day.replace(day=1), tz)
        frozen = local_midnight(freeze_day + timedelta(days=1), tz)
        if at is None and total == 0:
            return total, ""
        if not isinstance(at, datetime) or not settled < at <= frozen:
            return None, f"demand time {at} outside the settlement period {settled}…{frozen}"
    return total, ""


async def _collect_concentrator(
    link: ConcentratorLink,
    policy: RetryPolicy,
    jobs: Sequence[_Job],
    day: date,
    workers: int,
    known: Mapping[CounterKey, Decimal],
    out: _Gathered,
) -> None:
    """Rounds over the meters: each round asks every meter still unread for its freeze once
    (so one silent meter delays no other), waiting the backoff between rounds; a meter that
    answers is then backfilled, its curve read and its events swept."""
    observed = local_midnight(day + timedelta(days=1), link.tz)
    once = RetryPolicy(0, policy.backoff_s)
    di = "05060101"

    def keep(meter_no: str, freeze_day: date, reading: Reading) -> None:
        for value in reading.values:
            if isinstance(value.value, Decimal):
                channel = "A+" if value.name == "total" else f"A+{value.name.split()[-1]}"
                out.freezes.append((meter_no, channel, freeze_day, value.value))

    async def registers(job: _Job, freeze_day: date) -> None:
        last = (day - freeze_day).days + 1
        attempts, failures = 0, []
        for di3_di1, channel in REGISTER_FREEZES.items():
            di = f"{di3_di1}{last:02X}"
            answer = await ask(link, policy, job.address, read_request(job.address, di), di)
            attempts += answer.attempts
            value, problem = _register_value(answer, channel, freeze_day, link.tz)
            if value is None:
                failures.append(f"{di}: {problem}")
            else:
                out.freezes.append((job.meter_no, channel, freeze_day, value))
        read = len(REGISTER_FREEZES) - len(failures)
        shape: ItemOutcome = "complete" if not failures else "partial" if read else "failed"
        out.item_reads.append(
            ItemRead(
                job.meter_no,
                link.code,
                freeze_day,
                "register",
                attempts,
                shape,
                "; ".join(failures),
            )
        )

    async def follow(job: _Job, read_today: bool) -> None:
        if job.registers and read_today:
            await registers(job, day)
        for earlier in job.backfill:
            last = (day - earlier).days + 1
            filled, reading = await _read_freeze(link, policy, job, earlier, last, True)
            out.exchanges.append(filled)
            if reading is not None:
                keep(job.meter_no, earlier, reading)
                if job.registers and reading.error is None:
                    await registers(job, earlier)
        if job.curve:
            curve = await read_curve(link, policy, job.address, day, link.tz)
            out.curves.append((job.meter_no, curve))
            shape: ItemOutcome = (
                "complete" if curve.complete else "partial" if curve.intervals else "failed"
            )
            out.item_reads.append(
                ItemRead(job.meter_no, link.code, day, "curve", curve.attempts, shape, curve.detail)
            )
        if job.sweep:
            mine = {di: v for (no, di), v in known.items() if no == job.meter_no}
            swept = await sweep_meter(link, policy, job.meter_no, job.address, mine, observed)
            out.events.extend(swept.events)
            out.counters.update(((job.meter_no, di), v) for di, v in swept.counters.items())
            out.item_reads.append(
                ItemRead(
                    job.meter_no,
                    link.code,
                    day,
                    "sweep",
                    swept.attempts,
                    "failed" if swept.detail else "done",
                    swept.detail,
                )
            )

    async def work(queue: list[_Job], attempt: int, failed: list[tuple[_Job, Answer]]) -> None:
        while queue:
            job = queue.pop()
            answer = await ask(link, once, job.address, read_request(job.address, di), di)
            if answer.reading is None and attempt <= policy.retries:
                failed.append((job, answer))
                continue
            out.exchanges.append(_freeze_exchange(link.code, job, day, di, answer, False, attempt))
            if answer.reading is None:
                out.exchanges.extend(_skipped(link.code, job, day))
                continue
            if answer.reading.error is None:
                keep(job.meter_no, day, answer.reading)
            await follow(job, answer.reading.error is None)

    try:
        pending = list(reversed(jobs))
        for attempt in range(1, policy.retries + 2):
            if attempt > 1:
                await asyncio.sleep(policy.delay(attempt - 1))
            failed: list[tuple[_Job, Answer]] = []
            crew = max(1, min(workers, len(pending)))
            await asyncio.gather(*(work(pending, attempt, failed) for _ in range(crew)))
            pending = [job for job, _ in reversed(failed)]
            if not pending:
                break
    finally:
        await link.close()


def _skipped(code: str, job: _Job, day: date) -> list[Exchange]:
    """Backfills not tried because the meter did not answer for ``day``."""
    return [
        Exchange(
            job.meter_no,
            code,
            earlier,
            f"050601{(day - earlier).days + 1:02X}",
            0,
            "unreachable",
            "skipped: the meter did not answer for the day",
        )
        for earlier in job.backfill
    ]


async def collect(
    endpoints: Mapping[str, Endpoint],
    meters_by_concentrator: Mapping[str, Sequence[MeterRef]],
    day: date,
    *,
    tz: ZoneInfo,
    missing: Mapping[str, Sequence[date]] | None = None,
    curves_for: Collection[str] = (),
    sweep_for: Collection[str] = (),
    registers_for: Collection[str] = (),
    known_counters: Mapping[CounterKey, Decimal] | None = None,
    concurrency_per_concentrator: int = 4,
    timeout_s: float = 0.5,
    retries: int = 2,
    backoff_s: tuple[float, float] = (0.05, 0.2),
    reconnect_after_timeouts: int = 8,
) -> CollectionResult:
    """Read the freeze of consumption ``day`` from every meter, backfill ``missing``, read the
    reactive and maximum-demand freezes of the meters in ``registers_for`` (for ``day`` and the
    days backfilled), the curve of ``day`` from the meters in ``curves_for`` and sweep the
    events of ``sweep_for``.

    ``endpoints`` maps concentrator code → (host, port); ``missing`` maps meter_no → earlier
    consumption days to read from the meter's history (at most 62 freezes back);
    ``known_counters`` the event counters read by earlier sweeps. Each request is tried
    ``1 + retries`` times, ``timeout_s`` [s] each, waiting ``backoff_s`` [s] (first, cap;
    doubling) between tries. Concentrators are read concurrently.
    """
    missing = missing or {}
    for meter_no, days in missing.items():
        for earlier in days:
            if not 1 <= (day - earlier).days < DAILY_FREEZES:
                raise InputError(
                    f"cannot backfill {earlier} for meter {meter_no} while collecting {day}",
                    f"backfill days from {day - timedelta(days=DAILY_FREEZES - 1)} to "
                    f"{day - timedelta(days=1)}",
                )
    unknown = sorted(set(meters_by_concentrator) - set(endpoints))
    if unknown:
        raise InputError(f"no endpoint for concentrators {unknown}")
    policy = RetryPolicy(retries, backoff_s)
    out = _Gathered([], [], [], [], {}, [])
    quarantined: list[QuarantinedFrame] = []
    links = {
        code: ConcentratorLink(
            code, endpoints[code], tz, timeout_s, reconnect_after_timeouts, quarantined
        )
        for code in meters_by_concentrator
    }
    curves, sweeps, read_registers = set(curves_for), set(sweep_for), set(registers_for)
    known = known_counters or {}
    await asyncio.gather(
        *(
            _collect_concentrator(
                links[code],
                policy,
                [
                    _Job(
                        no,
                        address,
                        missing.get(no, ()),
                        no in curves,
                        no in sweeps,
                        no in read_registers,
                    )
                    for no, address in meters
                ],
                day,
                concurrency_per_concentrator,
                {key: v for key, v in known.items() if key[0] in sweeps},
                out,
            )
            for code, meters in meters_by_concentrator.items()
        )
    )
    every = {no for meters in meters_by_concentrator.values() for no, _ in meters}
    return CollectionResult(
        day,
        _freeze_table(out.freezes, tz),
        tuple(out.exchanges),
        tuple(quarantined),
        sum(link.reconnects for link in links.values()),
        sum(link.late_replies for link in links.values()),
        _interval_table(out.curves, day, tz),
        _table(sorted(out.events, key=lambda e: (e[1], e[0])), DELIVERED_EVENTS),
        out.counters,
        tuple(out.item_reads),
        curves_expected=len(curves & every),
        sweeps_expected=len(sweeps & every),
    )


def _freeze_table(rows: Sequence[tuple[str, str, date, Decimal]], tz: ZoneInfo) -> pa.Table:
    """Rows (meter_no, channel, consumption day, value [kWh, kvarh or kW]) as register reads."""
    freeze_ts = {d: local_midnight(d + timedelta(days=1), tz) for d in {r[2] for r in rows}}
    return pa.table(
        {
            "meter_no": [r[0] for r in rows],
            "channel": [r[1] for r in rows],
            "ts": [freeze_ts[r[2]] for r in rows],
            "value": [float(r[3]) for r in rows],
            "read_type": ["daily_frozen"] * len(rows),
        },
        schema=DELIVERED_REGISTER_READS,
    )


def _interval_table(curves: Sequence[tuple[str, CurveRead]], day: date, tz: ZoneInfo) -> pa.Table:
    """The curves read as :data:`DELIVERED_INTERVALS` rows (missing intervals left out)."""
    start_us = int(local_midnight(day, tz).timestamp()) * 1_000_000
    slot_us = start_us + np.arange(SLOTS, dtype=np.int64) * 900_000_000
    if not curves:
        return DELIVERED_INTERVALS.empty_table()
    values = np.stack([np.concatenate([c.kwh, c.kvarh]) for _, c in curves])  # (meters, 192)
    meter, column = np.nonzero(np.isfinite(values))
    return pa.table(
        [
            pa.array([no for no, _ in curves], pa.string()).take(meter),
            pa.array(["kWh", "kvarh"], pa.string()).take(column // SLOTS),
            pa.array(slot_us[column % SLOTS], pa.timestamp("us", tz="UTC")),
            pa.array(values[meter, column], pa.float64()),
        ],
        schema=DELIVERED_INTERVALS,
    )


def _table(rows: Sequence[tuple[object, ...]], schema: pa.Schema) -> pa.Table:
    """Row tuples in ``schema``'s column order as a table."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table(
        {f.name: pa.array(list(c), f.type) for f, c in zip(schema, columns, strict=True)},
        schema=schema,
    )
