"""The event sweep: read a meter's event counters and fetch the records of new events.

A meter counts power-downs, meter-cover and terminal-box openings and constant-magnetic-field
tampering, and keeps the last 10 records of the first three (start and end). The sweep reads
the counters and the reverse active register, compares them with what the head-end read last
time (``known``), and for each rise reads the newest records — as many as the rise, at most
10. Magnetic tampering has no record: the event is stamped ``observed`` (when the sweep ran);
so is ``reverse_energy``, raised when the reverse active register moved. A first sweep of a
meter (nothing known) takes what the meter holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from meter2cash.headend.link import ConcentratorLink, RetryPolicy, ask
from meter2cash.headend.protocols.dlt645 import read_request

EVENT_RECORDS: Final = 10
"""Records a DL/T 645-2007 meter keeps per event kind (last 1…10) [-]."""
RECORDED: Final = {
    "03110000": ("power_down", "031100"),
    "03300D00": ("cover_open", "03300D"),
    "03300E00": ("terminal_box_open", "03300E"),
}
"""Counter DI → (event code, DI3…DI1 of its records)."""
COUNTED: Final = {"03350000": "magnetic_tamper"}
"""Counter DIs whose events carry no record."""
REVERSE_REGISTER: Final = "00020000"
COUNTERS: Final = (*RECORDED, *COUNTED, REVERSE_REGISTER)

EventRow = tuple[str, datetime, str, str]
"""(meter_no, ts (aware), code, detail) as the measurement store takes events."""


@dataclass(frozen=True, slots=True)
class Sweep:
    """What one meter's sweep found: new events, the counters read, requests sent, and the
    failure that stopped it (counters not read are left out, so the next sweep retries)."""

    events: tuple[EventRow, ...]
    counters: Mapping[str, Decimal]
    attempts: int
    detail: str = ""


async def sweep_meter(
    link: ConcentratorLink,
    policy: RetryPolicy,
    meter_no: str,
    address: str,
    known: Mapping[str, Decimal],
    observed: datetime,
) -> Sweep:
    """Sweep one meter (see the module docstring)."""
    events: list[EventRow] = []
    counters: dict[str, Decimal] = {}
    attempts = 0
    for di in COUNTERS:
        answer = await ask(link, policy, address, read_request(address, di), di)
        attempts += answer.attempts
        if not answer.ok or answer.reading is None:
            return Sweep(tuple(events), counters, attempts, answer.detail or "no reply")
        value = answer.reading.values[0].value
        if not isinstance(value, Decimal):
            continue  # not available on this meter
        rise = value - known.get(di, Decimal(0))
        counters[di] = value
        if rise <= 0:
            continue
        if di == REVERSE_REGISTER:
            detail = f"reverse active register +{rise} kWh to {value} kWh"
            events.append((meter_no, observed, "reverse_energy", detail))
        elif di in COUNTED:
            events.append((meter_no, observed, COUNTED[di], f"{int(rise)} new, count {value}"))
        else:
            code, prefix = RECORDED[di]
            for last in range(1, min(int(rise), EVENT_RECORDS) + 1):
                record_di = f"{prefix}{last:02X}"
                answer = await ask(
                    link, policy, address, read_request(address, record_di), record_di
                )
                attempts += answer.attempts
                if not answer.ok or answer.reading is None:
                    del counters[di]  # read these records again next time
                    return Sweep(tuple(events), counters, attempts, answer.detail or "no reply")
                start, end = (v.value for v in answer.reading.values[:2])
                if isinstance(start, datetime):
                    events.append((meter_no, start, code, f"record {last} of {value}"))
                if code == "power_down" and isinstance(end, datetime):
                    events.append((meter_no, end, "power_up", f"record {last} of {value}"))
    return Sweep(tuple(events), counters, attempts)
