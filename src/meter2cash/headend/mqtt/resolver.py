"""Meter address → meter number, from the records database."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from meter2cash.assets.models import Meter


class MeterAddresses:
    """``resolve(address) -> meter_no | None`` over the ``meters`` table, cached in memory.

    An unknown address reloads the table at most once per ``refresh_seconds`` [s], so a meter
    registered after the worker started is found without a lookup per message.
    """

    def __init__(self, records: Engine, *, refresh_seconds: float = 60.0) -> None:
        self._records = records
        self._refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._by_address: dict[str, str] = {}
        self._loaded_at = -float("inf")

    def __call__(self, address: str) -> str | None:
        meter_no = self._by_address.get(address)
        if meter_no is not None:
            return meter_no
        with self._lock:
            if time.monotonic() - self._loaded_at >= self._refresh_seconds:
                with Session(self._records) as session:
                    rows = session.execute(select(Meter.address, Meter.meter_no)).all()
                self._by_address = {address: meter_no for address, meter_no in rows}
                self._loaded_at = time.monotonic()
        return self._by_address.get(address)
