"""The DL/T 645-2007 collector: reads every meter's daily freeze through its concentrator over
TCP, retries with backoff, backfills missing earlier days from the meter's 62 stored freezes.

Days are *consumption* days, as in the simulator's ``collect_day``: the freeze of local day
``D`` is taken at local midnight starting ``D + 1`` (its ``ts``). The collector runs on
``day + 1``, so the freeze of ``day`` is "last 1" (DI ``05060101``) and that of an earlier day
``B`` is "last n" with n = (day − B) + 1, up to 62.

Per concentrator: one TCP connection and ``concurrency_per_concentrator`` workers, each with at
most one request in flight (pipelined on the connection, replies matched by meter address).
The concentrator queues them onto its half-duplex PLC; 1 is the strictly serial, most realistic
setting, 4 (default) hides the timeouts of lost frames behind other meters' exchanges. A reset
or closed connection fails the requests in flight (each counts as a failed attempt) and the next
request reconnects; ``reconnect_after_timeouts`` consecutive timeouts are taken as a hung
connection and it is dropped and reopened. Frames that fail to decode are quarantined (raw hex
and reason), never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Final, Literal
from zoneinfo import ZoneInfo

import pyarrow as pa

from meter2cash.core.errors import InputError
from meter2cash.core.timezones import local_midnight
from meter2cash.headend.protocols.dlt645 import (
    Frame,
    FrameError,
    FrameReader,
    Reading,
    encode_frame,
    interpret,
    read_request,
)

DAILY_FREEZES: Final = 62
"""Daily freezes a DL/T 645-2007 meter keeps (DI0 01…3E) [-]."""
READ_SCHEMA: Final = pa.schema(
    [
        ("meter_no", pa.string()),
        ("channel", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("value", pa.float64()),
        ("read_type", pa.string()),
    ]
)
"""Register reads as the measurement store ingests them (value [kWh], ts the freeze, UTC)."""

Outcome = Literal["first_try", "after_retry", "backfilled", "error_reply", "unreachable"]
Endpoint = tuple[str, int]
MeterRef = tuple[str, str]
"""(meter_no, 12-digit address)."""


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
class QuarantinedFrame:
    """A frame received from ``concentrator_code`` that could not be used."""

    concentrator_code: str
    raw_hex: str
    reason: str


@dataclass(frozen=True)
class CollectionResult:
    """Register reads (:data:`READ_SCHEMA`) and the exchange log of one day's collection."""

    day: date
    reads: pa.Table
    exchanges: tuple[Exchange, ...]
    quarantined: tuple[QuarantinedFrame, ...]
    reconnects: int
    late_replies: int

    def outcome_counts(self, *, backfill: bool = False) -> dict[str, int]:
        """Outcomes of the day's own reads, or of the backfill reads when ``backfill``."""
        return dict(Counter(e.outcome for e in self.exchanges if (e.day != self.day) == backfill))

    @property
    def read_success(self) -> float:
        """Share of meters whose freeze of ``day`` was read, retries included [-]."""
        own = [e for e in self.exchanges if e.day == self.day]
        read = sum(e.outcome in ("first_try", "after_retry") for e in own)
        return read / len(own) if own else 1.0


class _Unanswered(Exception):
    """An attempt got no usable reply (timeout, lost connection, mismatched reply)."""


@dataclass
class _Link:
    """The TCP connection to one concentrator, reopened when it breaks or hangs."""

    code: str
    endpoint: Endpoint
    tz: ZoneInfo
    timeout_s: float
    reconnect_after_timeouts: int
    quarantined: list[QuarantinedFrame]
    reconnects: int = 0
    late_replies: int = 0
    _writer: asyncio.StreamWriter | None = None
    _reader_task: asyncio.Task[None] | None = None
    _pending: dict[str, asyncio.Future[Reading]] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _timeouts: int = 0
    _connections: int = 0

    async def exchange(self, address: str, di: str) -> Reading:
        """Send a read of ``di`` to ``address`` and await its reply (one try)."""
        writer = await self._connect()
        future: asyncio.Future[Reading] = asyncio.get_running_loop().create_future()
        self._pending[address] = future
        try:
            writer.write(read_request(address, di))
            await writer.drain()
            reading = await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError as error:
            self._timeouts += 1
            if self._timeouts >= self.reconnect_after_timeouts:
                self._drop()
            raise _Unanswered(f"no reply within {self.timeout_s} s") from error
        except ConnectionError as error:
            if self._writer is writer:  # else it was dropped already, maybe reopened since
                self._drop()
            raise _Unanswered(f"connection lost: {error!r}") from error
        finally:
            if self._pending.get(address) is future:
                del self._pending[address]
        self._timeouts = 0
        if reading.error is None and reading.di != di:
            raise _Unanswered(f"reply for DI {reading.di}, asked {di}")
        return reading

    async def broadcast(self, frame: bytes) -> None:
        """Send a frame that expects no reply (broadcast time sync, freeze)."""
        writer = await self._connect()
        try:
            writer.write(frame)
            await writer.drain()
        except ConnectionError as error:
            if self._writer is writer:
                self._drop()
            raise _Unanswered(f"connection lost: {error!r}") from error

    async def _connect(self) -> asyncio.StreamWriter:
        async with self._lock:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.endpoint), self.timeout_s
                )
            except (OSError, TimeoutError) as error:
                raise _Unanswered(f"cannot connect to {self.endpoint}: {error!r}") from error
            self.reconnects += self._connections > 0
            self._connections += 1
            self._timeouts = 0
            self._writer = writer
            self._reader_task = asyncio.create_task(self._read(reader, writer))
            return writer

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader()
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(4096):
                for frame in frames.feed(chunk):
                    self._dispatch(frame)
        if self._writer is writer:
            self._drop()

    def _dispatch(self, frame: Frame | FrameError) -> None:
        if isinstance(frame, FrameError):
            self._quarantine(frame.raw, str(frame))
            return
        try:
            reading = interpret(frame, self.tz)
        except FrameError as error:
            raw = encode_frame(frame.address, frame.control, frame.data)
            self._quarantine(raw, str(error))
            return
        future = self._pending.get(frame.address)
        if future is None or future.done():
            self.late_replies += 1
        else:
            future.set_result(reading)

    def _quarantine(self, raw: bytes, reason: str) -> None:
        self.quarantined.append(QuarantinedFrame(self.code, raw.hex().upper(), reason))

    def _drop(self) -> None:
        """Close the connection and fail what is in flight on it."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.transport.abort()
        if self._reader_task is not None and self._reader_task is not asyncio.current_task():
            self._reader_task.cancel()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionResetError("connection dropped"))
        self._pending.clear()

    async def close(self) -> None:
        """Close the connection for good."""
        self._drop()
        if self._reader_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task


@dataclass(frozen=True)
class _Policy:
    retries: int
    backoff_s: tuple[float, float]

    def delay(self, failed: int) -> float:
        """Wait after the ``failed``-th failed attempt [s]: doubling from the first bound,
        capped at the second."""
        first, cap = self.backoff_s
        return float(min(cap, first * 2 ** (failed - 1)))


@dataclass
class _Job:
    meter_no: str
    address: str
    backfill: Sequence[date]


async def _read_freeze(
    link: _Link, policy: _Policy, job: _Job, day: date, last: int, backfill: bool
) -> tuple[Exchange, Reading | None]:
    di = f"050601{last:02X}"
    detail = ""
    for attempt in range(1, policy.retries + 2):
        try:
            reading = await link.exchange(job.address, di)
        except _Unanswered as failure:
            detail = str(failure)
            if attempt <= policy.retries:
                await asyncio.sleep(policy.delay(attempt))
            continue
        if reading.error is not None:
            outcome: Outcome = "error_reply"
            exchange = Exchange(
                job.meter_no, link.code, day, di, attempt, outcome, reading.error[1]
            )
            return exchange, None
        outcome = "backfilled" if backfill else "first_try" if attempt == 1 else "after_retry"
        return Exchange(job.meter_no, link.code, day, di, attempt, outcome), reading
    attempts = policy.retries + 1
    return Exchange(job.meter_no, link.code, day, di, attempts, "unreachable", detail), None


async def _collect_concentrator(
    link: _Link,
    policy: _Policy,
    jobs: Sequence[_Job],
    day: date,
    workers: int,
    exchanges: list[Exchange],
    rows: list[tuple[str, str, date, Decimal]],
) -> None:
    queue: asyncio.Queue[_Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    def keep(meter_no: str, freeze_day: date, reading: Reading) -> None:
        for value in reading.values:
            if isinstance(value.value, Decimal):
                channel = "A+" if value.name == "total" else f"A+{value.name.split()[-1]}"
                rows.append((meter_no, channel, freeze_day, value.value))

    async def work() -> None:
        while not queue.empty():
            job = queue.get_nowait()
            exchange, reading = await _read_freeze(link, policy, job, day, 1, backfill=False)
            exchanges.append(exchange)
            if reading is not None:
                keep(job.meter_no, day, reading)
            for earlier in job.backfill:
                last = (day - earlier).days + 1
                if exchange.outcome == "unreachable":
                    exchanges.append(
                        Exchange(
                            job.meter_no,
                            link.code,
                            earlier,
                            f"050601{last:02X}",
                            0,
                            "unreachable",
                            "skipped: the meter did not answer for the day",
                        )
                    )
                    continue
                filled, reading = await _read_freeze(link, policy, job, earlier, last, True)
                exchanges.append(filled)
                if reading is not None:
                    keep(job.meter_no, earlier, reading)

    try:
        await asyncio.gather(*(work() for _ in range(max(1, min(workers, len(jobs))))))
    finally:
        await link.close()


async def collect(
    endpoints: Mapping[str, Endpoint],
    meters_by_concentrator: Mapping[str, Sequence[MeterRef]],
    day: date,
    *,
    tz: ZoneInfo,
    missing: Mapping[str, Sequence[date]] | None = None,
    concurrency_per_concentrator: int = 4,
    timeout_s: float = 0.5,
    retries: int = 2,
    backoff_s: tuple[float, float] = (0.05, 0.2),
    reconnect_after_timeouts: int = 8,
) -> CollectionResult:
    """Read the freeze of consumption ``day`` from every meter, then backfill ``missing``.

    ``endpoints`` maps concentrator code → (host, port); ``missing`` maps meter_no → earlier
    consumption days to read from the meter's history (at most 62 freezes back). Each read is
    tried ``1 + retries`` times, ``timeout_s`` [s] each, waiting ``backoff_s`` [s] (first,
    cap; doubling) between tries. Concentrators are read concurrently.
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
    policy = _Policy(retries, backoff_s)
    exchanges: list[Exchange] = []
    rows: list[tuple[str, str, date, Decimal]] = []
    quarantined: list[QuarantinedFrame] = []
    links = {
        code: _Link(code, endpoints[code], tz, timeout_s, reconnect_after_timeouts, quarantined)
        for code in meters_by_concentrator
    }
    await asyncio.gather(
        *(
            _collect_concentrator(
                links[code],
                policy,
                [_Job(no, address, missing.get(no, ())) for no, address in meters],
                day,
                concurrency_per_concentrator,
                exchanges,
                rows,
            )
            for code, meters in meters_by_concentrator.items()
        )
    )
    return CollectionResult(
        day,
        _table(rows, tz),
        tuple(exchanges),
        tuple(quarantined),
        sum(link.reconnects for link in links.values()),
        sum(link.late_replies for link in links.values()),
    )


def _table(rows: Sequence[tuple[str, str, date, Decimal]], tz: ZoneInfo) -> pa.Table:
    """Rows (meter_no, channel, consumption day, value [kWh]) as :data:`READ_SCHEMA`."""
    freeze_ts = {d: local_midnight(d + timedelta(days=1), tz) for d in {r[2] for r in rows}}
    return pa.table(
        {
            "meter_no": [r[0] for r in rows],
            "channel": [r[1] for r in rows],
            "ts": [freeze_ts[r[2]] for r in rows],
            "value": [float(r[3]) for r in rows],
            "read_type": ["daily_frozen"] * len(rows),
        },
        schema=READ_SCHEMA,
    )
