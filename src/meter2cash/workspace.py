"""The workspace: settings, clock, records database, measurement store and batch engine of
one data home, opened once per command or job and closed at its end."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine

from meter2cash.core.clock import Clock, FixedClock, SystemClock
from meter2cash.core.errors import DataHomeError
from meter2cash.core.settings import Settings
from meter2cash.core.timezones import local_midnight
from meter2cash.db.session import open_engine
from meter2cash.engines import BatchEngine
from meter2cash.engines import open_engine as open_batch_engine
from meter2cash.measurements.store import MeasurementStore

SIMULATION_FILE = "simulation.json"


@dataclass
class Workspace:
    """Everything a command needs; the batch engine starts only when first asked for."""

    settings: Settings
    clock: Clock
    records: Engine
    store: MeasurementStore
    _batch: BatchEngine | None = field(default=None, repr=False)

    @property
    def batch(self) -> BatchEngine:
        if self._batch is None:
            self._batch = open_batch_engine(self.settings, self.store)
        return self._batch

    def close(self) -> None:
        if self._batch is not None:
            self._batch.close()
            self._batch = None
        self.records.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def simulation_window(settings: Settings) -> tuple[date, date] | None:
    """First and last simulated local day if this data home holds a simulated utility."""
    path = settings.home / SIMULATION_FILE
    if not path.exists():
        return None
    try:
        spec = json.loads(path.read_text())
        start = date.fromisoformat(spec["start"])
        return start, start + timedelta(days=int(spec["days"]) - 1)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataHomeError(
            f"{path} is not a simulation description ({exc})",
            "move it away, or start from an empty M2C_HOME",
        ) from exc


def clock_for(settings: Settings) -> Clock:
    """A simulated data home lives in simulated time: its clock stands at the simulation's
    end (local midnight after the last day). Anything else runs on the wall clock."""
    window = simulation_window(settings)
    if window is None:
        return SystemClock()
    return FixedClock(local_midnight(window[1] + timedelta(days=1), settings.tz))


def open_workspace(settings: Settings, *, require_schema: bool = True) -> Workspace:
    home: Path = settings.home
    if home.exists() and not home.is_dir():
        raise DataHomeError(
            f"M2C_HOME={home} is a file, not a directory", "point it at a directory"
        )
    return Workspace(
        settings=settings,
        clock=clock_for(settings),
        records=open_engine(settings, require_schema=require_schema),
        store=MeasurementStore(settings.measurements_dir, settings.tz),
    )


def today(clock: Clock, settings: Settings) -> date:
    return clock.now().astimezone(settings.tz).date()
