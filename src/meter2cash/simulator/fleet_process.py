"""The simulated concentrators served from a child process, day after day.

The meters live apart from the head-end, as in the field: the child builds the same utility
from its :class:`~meter2cash.simulator.UtilitySpec` (deterministic), serves one TCP endpoint
per concentrator (:mod:`~meter2cash.simulator.wire`) and moves to the next day when asked,
keeping what the meters remember across days (time syncs, relays). The head-end in the parent
and the meters in the child run on separate cores.

>>> from datetime import date
>>> from meter2cash.simulator import UtilitySpec
>>> with FleetProcess(UtilitySpec(accounts=20, days=3), loss=0.0) as fleet:
...     day = fleet.open_day(date(2026, 7, 2))
>>> len(day.endpoints)
2
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Final

from meter2cash.core.errors import InputError
from meter2cash.core.timezones import local_midnight, zone
from meter2cash.simulator.utility import UtilitySpec, build_utility
from meter2cash.simulator.wire import (
    COLLECTION_OFFSET,
    Fleet,
    MeterMemory,
    start_concentrators,
)

START_TIMEOUT_S: Final = 300.0
"""How long the child may take to build the utility and open a day [s]."""


@dataclass(frozen=True)
class FleetDay:
    """The concentrators serving local day ``today``: endpoints, the meters behind each, and
    the wall-clock instant (``time.time()``) the simulated day's clock started."""

    today: date
    endpoints: dict[str, tuple[str, int]]
    meters_by_concentrator: dict[str, list[tuple[str, str]]]
    started_at: float
    timezone: str

    def now(self) -> datetime:
        """True time in the simulation (see :meth:`~meter2cash.simulator.wire.Fleet.now`)."""
        start = local_midnight(self.today, zone(self.timezone)) + COLLECTION_OFFSET
        return start + timedelta(seconds=time.time() - self.started_at)


class FleetProcess:
    """A child process serving the simulated concentrators of ``spec`` (see module doc)."""

    def __init__(
        self, spec: UtilitySpec, *, loss: float = 0.03, concentrators: int | None = None
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._spec = spec
        self._process = context.Process(
            target=_serve,
            args=(spec, loss, concentrators, child),
            name="m2c-meters",
            daemon=True,
        )
        self._process.start()
        child.close()

    def open_day(self, today: date) -> FleetDay:
        """Serve the meters as they are just after midnight starting ``today``."""
        try:
            self._conn.send(("day", today))
            if not self._conn.poll(START_TIMEOUT_S):
                raise InputError(
                    f"the simulated meters did not open {today} in {START_TIMEOUT_S} s"
                )
            reply = self._conn.recv()
        except (EOFError, OSError) as error:
            raise InputError(
                f"the simulated meters' process ended (exit code {self._process.exitcode})",
                "see its error output above",
            ) from error
        if isinstance(reply, str):
            raise InputError(f"the simulated meters cannot open {today}: {reply}")
        endpoints, meters, started_at = reply
        return FleetDay(today, endpoints, meters, started_at, self._spec.timezone)

    def close(self) -> None:
        """Stop serving and end the child."""
        if self._process.is_alive():
            with contextlib.suppress(OSError):  # the child may be gone already
                self._conn.send(("stop", None))
            self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()

    def __enter__(self) -> FleetProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _serve(spec: UtilitySpec, loss: float, pool: int | None, conn: Connection) -> None:
    """The child: build the utility, then open days until told to stop."""
    asyncio.run(_serve_days(spec, loss, pool, conn))


async def _serve_days(spec: UtilitySpec, loss: float, pool: int | None, conn: Connection) -> None:
    utility = build_utility(spec)
    loop = asyncio.get_running_loop()
    memory = MeterMemory.empty(len(utility.meters))
    fleet: Fleet | None = None
    try:
        while True:
            command, today = await loop.run_in_executor(None, conn.recv)
            if fleet is not None:
                await fleet.close()
                fleet = None
            if command == "stop":
                return
            try:
                fleet = await start_concentrators(
                    utility,
                    today,
                    loss,
                    seed=today.toordinal(),
                    memory=memory,
                    concentrators=pool,
                )
            except InputError as error:
                conn.send(str(error))
                continue
            started = time.time() - (fleet.now() - _day_start(today, spec)).total_seconds()
            conn.send((fleet.endpoints, fleet.meters_by_concentrator, started))
    except EOFError:
        return
    finally:
        if fleet is not None:
            await fleet.close()


def _day_start(today: date, spec: UtilitySpec) -> datetime:
    return local_midnight(today, zone(spec.timezone)) + COLLECTION_OFFSET
