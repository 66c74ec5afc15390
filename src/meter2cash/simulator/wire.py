"""The simulator's meters on the wire: each concentrator an asyncio TCP endpoint that forwards
DL/T 645-2007 read requests to the meters behind it over a lossy simulated PLC channel.

Register source: the meter-side registers the utility computes when it is built (days × meters ×
4 rates [kWh]), read from inside the simulator package. ``collect_day`` is not used because it
drops the freezes the simulated PLC lost that day, while the meter itself still holds them.
Values are rounded as ``collect_day`` rounds them (rates to 0.01 kWh, total = the rounded sum of
the rounded rates), so a read over the wire equals the simulator's delivered read.

A meter silent on the day before ``today`` (dead or in a communication-loss spell) never answers.

>>> import asyncio
>>> from meter2cash.simulator import UtilitySpec, build_utility
>>> utility = build_utility(UtilitySpec(accounts=20, days=3))
>>> async def demo() -> int:
...     fleet = await start_concentrators(utility, utility.spec.end, loss=0.0)
...     await fleet.close()
...     return len(fleet.endpoints)
>>> asyncio.run(demo())
2
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final, Literal

import numpy as np

from meter2cash.core.errors import InputError
from meter2cash.core.timezones import local_midnight, zone
from meter2cash.headend.protocols.dlt645 import (
    BROADCAST,
    Frame,
    FrameError,
    FrameReader,
    error_reply,
    read_reply,
)
from meter2cash.headend.protocols.dlt645.registry import ValueType
from meter2cash.simulator.utility import SimulatedUtility

READ: Final = 0x11
ERR_OTHER: Final = 0x01
ERR_NO_SUCH_DATA: Final = 0x02
DAILY_FREEZES: Final = 62
"""Daily freezes a DL/T 645-2007 meter keeps (DI0 01…3E) [-]."""
COLLECTION_OFFSET: Final = timedelta(minutes=5)
TIME_SYNC: Final = 0x08
"""Control function of the broadcast time sync."""
"""The simulated "now" when a server starts: ``today`` local midnight + 5 min."""

Fault = Literal["reset", "hang"]


class MeterBank:
    """What every simulated meter holds on local day ``today`` (collection just after midnight).

    ``today`` runs from the day after the simulation starts to :attr:`UtilitySpec.end`; the
    newest freeze (last 1) is the one taken at ``today`` 00:00, closing the day before.
    """

    def __init__(self, utility: SimulatedUtility, today: date) -> None:
        spec = utility.spec
        newest = (today - spec.start).days - 1
        if not 0 <= newest < spec.days:
            raise InputError(
                f"today {today.isoformat()} has no freeze in the simulation",
                f"pick a day from {spec.start + timedelta(days=1)} to {spec.end}",
            )
        self.today = today
        self.tz = zone(spec.timezone)
        self._newest = newest
        self._registers = utility.rate_registers  # (days, meters, 4) [kWh, meter side]
        faults = utility.faults
        self._silent = faults.silent(newest)
        self._clock_offset_s = faults.clock_offset_s(newest).copy()
        meters = utility.meters
        self._index = {address: i for i, address in enumerate(meters["address"].tolist())}
        concentrator = meters["service_point_code"].map(
            utility.service_points.set_index("code")["concentrator_code"]
        )
        self.concentrator_of = dict(zip(meters["address"], concentrator, strict=True))
        self.meters_by_concentrator: dict[str, list[tuple[str, str]]] = {}
        for meter_no, address, code in zip(
            meters["meter_no"], meters["address"], concentrator, strict=True
        ):
            self.meters_by_concentrator.setdefault(str(code), []).append((meter_no, address))

    def set_clocks(self, concentrator_code: str, offset_s: float) -> None:
        """A broadcast time sync heard behind ``concentrator_code``: its answering meters'
        clocks now run ``offset_s`` [s] from true time (the master's own error)."""
        for _, address in self.meters_by_concentrator.get(concentrator_code, []):
            i = self._index[address]
            if not self._silent[i]:
                self._clock_offset_s[i] = offset_s

    def silent_meters(self) -> set[str]:
        """Addresses of the meters that never answer today (dead or out of communication)."""
        return {a for a, i in self._index.items() if self._silent[i]}

    def answer(self, address: str, di: str, now: datetime) -> bytes | None:
        """The reply frame of meter ``address`` to a read of ``di`` at ``now`` (UTC), or
        ``None`` when the meter is unknown or silent."""
        i = self._index.get(address)
        if i is None or self._silent[i]:
            return None
        values = self._values(i, di, now)
        if values is None:
            return error_reply(address, READ, ERR_NO_SUCH_DATA)
        return read_reply(address, di, values, tz=self.tz)

    def _values(self, i: int, di: str, now: datetime) -> list[ValueType] | None:
        di3_di1, di0 = di[:6], int(di[6:], 16)
        if di in ("0001FF00", "00010000", "00010100", "00010200", "00010300", "00010400"):
            block = self._freeze(i, 1)  # "now" is just after midnight: current = newest freeze
            assert block is not None
            return block if di == "0001FF00" else [block[int(di[4:6], 16)]]
        if di3_di1 == "050601" and 1 <= di0 <= DAILY_FREEZES:
            return self._freeze(i, di0)
        if di3_di1 == "050600" and 1 <= di0 <= DAILY_FREEZES:
            if self._freeze(i, di0) is None:
                return None
            return [local_midnight(self.today - timedelta(days=di0 - 1), self.tz)]
        if di in ("04000101", "04000102"):
            clock = now.astimezone(self.tz) + timedelta(seconds=float(self._clock_offset_s[i]))
            clock = clock.replace(microsecond=0)
            return [clock.date() if di == "04000101" else clock.time()]
        return None

    def _freeze(self, i: int, last: int) -> list[ValueType] | None:
        """Total and rates 1–4 [kWh] frozen ``last`` freezes back, or ``None`` before the
        simulation."""
        d = self._newest - (last - 1)
        if d < 0:
            return None
        rates = np.round(self._registers[d, i], 2)
        total = np.round(rates.sum(), 2)
        return [Decimal(f"{x:.2f}") for x in (total, *rates)]


@dataclass
class ConcentratorServer:
    """One concentrator as a TCP endpoint: DL/T 645 frames in (possibly split), replies out.

    Each read is forwarded to the addressed meter behind this concentrator; per attempt the PLC
    loses it with probability ``loss`` [-] (no reply), else the reply comes after a uniform
    latency in ``latency_s`` [s]. Requests are served concurrently; bounding them is the
    collector's job. ``fault`` breaks the first connection after ``fault_after`` requests:
    ``"reset"`` aborts it, ``"hang"`` keeps it open but answers nothing more on it.
    """

    bank: MeterBank
    concentrator_code: str
    host: str = "127.0.0.1"
    port: int = 0
    loss: float = 0.03
    latency_s: tuple[float, float] = (0.0, 0.002)
    seed: int = 0
    fault: Fault | None = None
    fault_after: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _server: asyncio.Server | None = field(init=False, default=None, repr=False)
    _faulted: bool = field(init=False, default=False, repr=False)
    _started: float = field(init=False, default=0.0, repr=False)
    _tasks: set[asyncio.Task[None]] = field(init=False, default_factory=set, repr=False)
    _writers: set[asyncio.StreamWriter] = field(init=False, default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.seed}:{self.concentrator_code}")

    async def start(self) -> None:
        """Listen on ``host``:``port`` (``port`` 0 picks a free port; read it back from
        :attr:`port`)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._started = asyncio.get_running_loop().time()

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        for task in list(self._tasks):
            task.cancel()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _broadcast_offset(self, data: bytes) -> float:
        """Seconds between the time a sync broadcast carries (``ss mm hh DD MM YY``, local,
        BCD) and true time now; 0 when the broadcast cannot be read."""
        try:
            ss, mm, hh, dd, mo, yy = (int(f"{b:02x}") for b in data)
            sent = datetime(2000 + yy, mo, dd, hh, mm, ss, tzinfo=self.bank.tz)
        except ValueError:
            return 0.0
        return (sent - self.now()).total_seconds()

    def now(self) -> datetime:
        elapsed = asyncio.get_running_loop().time() - self._started
        start = local_midnight(self.bank.today, self.bank.tz) + COLLECTION_OFFSET
        return start + timedelta(seconds=elapsed)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader()
        served = 0
        hung = False
        self._writers.add(writer)
        try:
            while chunk := await reader.read(4096):
                for frame in frames.feed(chunk):
                    if isinstance(frame, FrameError) or hung:
                        continue  # a meter ignores a garbled frame
                    if self.fault is not None and not self._faulted and served >= self.fault_after:
                        self._faulted = True
                        if self.fault == "reset":
                            writer.transport.abort()
                            return
                        hung = True
                        continue
                    served += 1
                    task = asyncio.create_task(self._forward(frame, writer))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _forward(self, frame: Frame, writer: asyncio.StreamWriter) -> None:
        """Carry ``frame`` to its meter and the reply back, unless the PLC loses it."""
        address = frame.address
        if frame.direction != "request":
            return
        if address == BROADCAST:
            if frame.function == TIME_SYNC and len(frame.data) == 6:
                self.bank.set_clocks(self.concentrator_code, self._broadcast_offset(frame.data))
            return
        if self.bank.concentrator_of.get(address) != self.concentrator_code:
            return
        if self._rng.random() < self.loss:
            return
        await asyncio.sleep(self._rng.uniform(*self.latency_s))
        if frame.function != READ or len(frame.data) < 4:
            reply: bytes | None = error_reply(address, frame.function, ERR_OTHER)
        else:
            di = f"{int.from_bytes(frame.data[:4], 'little'):08X}"
            reply = self.bank.answer(address, di, self.now())
        if reply is not None and not writer.is_closing():
            writer.write(reply)
            with contextlib.suppress(ConnectionError):
                await writer.drain()


@dataclass
class Fleet:
    """Running concentrator servers: ``endpoints`` code → (host, port), and which meters
    (meter_no, address) sit behind each."""

    bank: MeterBank
    servers: dict[str, ConcentratorServer]

    @property
    def endpoints(self) -> dict[str, tuple[str, int]]:
        """Concentrator code → (host, port)."""
        return {code: (s.host, s.port) for code, s in self.servers.items()}

    @property
    def meters_by_concentrator(self) -> dict[str, list[tuple[str, str]]]:
        """Concentrator code → [(meter_no, address)]."""
        return self.bank.meters_by_concentrator

    def now(self) -> datetime:
        """True time in the simulation: what a head-end synchronised to a time source reads."""
        return next(iter(self.servers.values())).now()

    async def close(self) -> None:
        """Close every server."""
        await asyncio.gather(*(s.close() for s in self.servers.values()))


async def start_concentrators(
    utility: SimulatedUtility,
    today: date,
    loss: float = 0.03,
    *,
    latency_s: tuple[float, float] = (0.0, 0.002),
    seed: int = 0,
    host: str = "127.0.0.1",
) -> Fleet:
    """One :class:`ConcentratorServer` per concentrator of ``utility``, listening in the
    running loop on free ports of ``host``."""
    bank = MeterBank(utility, today)
    servers = {
        code: ConcentratorServer(bank, code, host, loss=loss, latency_s=latency_s, seed=seed)
        for code in bank.meters_by_concentrator
    }
    await asyncio.gather(*(s.start() for s in servers.values()))
    return Fleet(bank, servers)
