"""One TCP connection to a concentrator, and asking a meter behind it with retries.

Requests are pipelined on the connection and replies matched by meter address, so each meter
has at most one request in flight. A reset or closed connection fails the requests in flight
(each counts as a failed attempt) and the next request reconnects; ``reconnect_after_timeouts``
consecutive timeouts are taken as a hung connection, dropped and reopened. Frames that fail
to decode are quarantined (raw hex and reason), never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from meter2cash.headend.protocols.dlt645 import (
    Frame,
    FrameError,
    FrameReader,
    Reading,
    encode_frame,
    interpret,
    read_request,
)

Endpoint = tuple[str, int]
"""(host, port) of a concentrator."""


@dataclass(frozen=True, slots=True)
class QuarantinedFrame:
    """A frame received from ``concentrator_code`` that could not be used."""

    concentrator_code: str
    raw_hex: str
    reason: str


class Unanswered(Exception):
    """An attempt got no usable reply (timeout, lost connection, mismatched reply)."""


@dataclass
class ConcentratorLink:
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
        return await self.transact(address, read_request(address, di), di)

    async def transact(
        self, address: str, frame: bytes, di: str | None = None, seq: int | None = None
    ) -> Reading:
        """Send ``frame`` to the meter at ``address`` and await its reply (one try). A normal
        reply must carry ``di`` and, for a follow-up, frame number ``seq`` when given (a late
        reply to an earlier try is not taken for this one); an error reply is returned as it
        is."""
        writer = await self._connect()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reading] = loop.create_future()
        self._pending[address] = future
        timer = loop.call_later(self.timeout_s, _expire, future)
        try:
            writer.write(frame)
            await writer.drain()
            reading = await future
        except TimeoutError as error:
            self._timeouts += 1
            if self._timeouts >= self.reconnect_after_timeouts:
                self._drop()
            raise Unanswered(f"no reply within {self.timeout_s} s") from error
        except ConnectionError as error:
            if self._writer is writer:  # else it was dropped already, maybe reopened since
                self._drop()
            raise Unanswered(f"connection lost: {error!r}") from error
        finally:
            timer.cancel()
            if self._pending.get(address) is future:
                del self._pending[address]
        self._timeouts = 0
        if di is not None and reading.error is None and reading.di != di:
            raise Unanswered(f"reply for DI {reading.di}, asked {di}")
        if seq is not None and reading.error is None and reading.seq != seq:
            raise Unanswered(f"reply is follow-up frame {reading.seq}, asked {seq}")
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
            raise Unanswered(f"connection lost: {error!r}") from error

    async def _connect(self) -> asyncio.StreamWriter:
        async with self._lock:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.endpoint), self.timeout_s
                )
            except (OSError, TimeoutError) as error:
                raise Unanswered(f"cannot connect to {self.endpoint}: {error!r}") from error
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


def _expire(future: asyncio.Future[Reading]) -> None:
    """The reply timeout: fail the request if nothing answered it."""
    if not future.done():
        future.set_exception(TimeoutError())


@dataclass(frozen=True)
class RetryPolicy:
    """Each request is tried ``1 + retries`` times, waiting ``backoff_s`` [s] (first, cap;
    doubling) between tries."""

    retries: int = 2
    backoff_s: tuple[float, float] = (0.05, 0.2)

    def delay(self, failed: int) -> float:
        """Wait after the ``failed``-th failed attempt [s]: doubling from the first bound,
        capped at the second."""
        first, cap = self.backoff_s
        return float(min(cap, first * 2 ** (failed - 1)))


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of asking one meter: its ``reading`` (``None`` when it never answered),
    the ``attempts`` made and the last failure (or the meter's error reason) in ``detail``."""

    reading: Reading | None
    attempts: int
    detail: str = ""

    @property
    def ok(self) -> bool:
        """A normal reply arrived."""
        return self.reading is not None and self.reading.error is None


async def ask(
    link: ConcentratorLink,
    policy: RetryPolicy,
    address: str,
    frame: bytes,
    di: str | None,
    seq: int | None = None,
) -> Answer:
    """Send ``frame`` to ``address`` until a reply comes or the tries run out; an error reply
    is an answer (not retried)."""
    detail = ""
    for attempt in range(1, policy.retries + 2):
        try:
            reading = await link.transact(address, frame, di, seq)
        except Unanswered as failure:
            detail = str(failure)
            if attempt <= policy.retries:
                await asyncio.sleep(policy.delay(attempt))
            continue
        reason = reading.error[1] if reading.error is not None else ""
        return Answer(reading, attempt, reason)
    return Answer(None, policy.retries + 1, detail)
