"""The simulator's meters on the wire: each concentrator an asyncio TCP endpoint that forwards
DL/T 645-2007 read requests to the meters behind it over a lossy simulated PLC channel.

Register source: the meter-side registers the utility computes when it is built (days × meters ×
4 rates [kWh]), read from inside the simulator package. ``collect_day`` is not used because it
drops the freezes the simulated PLC lost that day, while the meter itself still holds them.
Values are rounded as ``collect_day`` rounds them (rates to 0.01 kWh, total = the rounded sum of
the rounded rates), so a read over the wire equals the simulator's delivered read.

The meters with ``records_intervals`` (three-phase C&I and supply meters) also keep the combined
reactive 1 register and the forward active maximum demand, frozen daily (``050603xx``,
``050609xx``) and current (``00030000``, ``01010000``); the others answer those DIs with ERR 02
(no such data). See :meth:`MeterBank._register_freeze` for what the rate fields hold.

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
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Final, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from meter2cash.core.errors import InputError
from meter2cash.core.timezones import local_midnight, zone
from meter2cash.headend.protocols.dlt645 import (
    BROADCAST,
    Frame,
    FrameError,
    FrameReader,
    bcd,
    encode_frame,
    error_reply,
    profile,
    read_reply,
)
from meter2cash.headend.protocols.dlt645.registry import ValueType
from meter2cash.simulator.meters import THEFT_KINDS
from meter2cash.simulator.utility import MeterDay, SimulatedUtility

READ: Final = 0x11
READ_FOLLOW_UP: Final = 0x12
ERR_OTHER: Final = 0x01
ERR_NO_SUCH_DATA: Final = 0x02
DAILY_FREEZES: Final = 62
"""Daily freezes a DL/T 645-2007 meter keeps (DI0 01…3E) [-]."""
COLLECTION_OFFSET: Final = timedelta(minutes=5)
"""The simulated "now" when a server starts: ``today`` local midnight + 5 min."""
TIME_SYNC: Final = 0x08
"""Control function of the broadcast time sync."""
SLOT: Final = timedelta(minutes=15)
EVENT_RECORDS: Final = 10
"""Records a meter keeps per event kind (last 1…10) [-]."""
COUNTED_EVENTS: Final = {
    "03110000": "power_down",
    "03300D00": "cover_open",
    "03300E00": "terminal_box_open",
    "03350000": "magnetic_tamper",
}
"""Event-count DI → the simulator's event code."""
RECORDED_EVENTS: Final = {
    "031100": "power_down",
    "03300D": "cover_open",
    "03300E": "terminal_box_open",
}
"""DI3…DI1 of event records (DI0 = last n) → the simulator's event code."""
COVER_OPEN_FOR: Final = timedelta(minutes=3)
"""How long a simulated cover or terminal box stays open [s]."""

RELAY_CONTROL: Final = 0x1C
"""Control function of relay trip / close (拉合闸)."""
RELAY_TRIP: Final = 0x1A
RELAY_CLOSE: Final = (0x1B, 0x1C)
"""N1 of a close: ``1B`` close allowed (the customer presses the button), ``1C`` direct
close; a simulated meter closes at once on either."""
ERR_PASSWORD: Final = 0x04
"""ERR bit 2: password wrong or unauthorised."""
METER_PASSWORD: Final = bytes.fromhex("02000000")
"""``PA P0 P1 P2`` the simulated meters accept for control: level 02, password 000000."""
INSTANT_POWER_FACTOR: Final = 0.92
"""Power factor behind the simulated instantaneous currents [-]."""
PHASE_VOLTS: Final = (220.0, 57.7)
"""Nominal phase voltage [V]: direct or CT-connected (220/380 V), with a PT (57.7/100 V)."""

Fault = Literal["reset", "hang"]


@dataclass
class MeterMemory:
    """What the simulated meters remember from one day to the next: time syncs (meter index →
    (day index, clock offset [s]) of the last sync), open relays and relay trip counts."""

    synced: dict[int, tuple[int, float]]
    relay_open: set[int]
    trip_counts: npt.NDArray[np.int64]

    @classmethod
    def empty(cls, meters: int) -> MeterMemory:
        """Every clock as the simulator drifts it, every relay closed, no trips."""
        return cls({}, set(), np.zeros(meters, dtype=np.int64))


class MeterBank:
    """What every simulated meter holds on local day ``today`` (collection just after midnight).

    ``today`` runs from the day after the simulation starts to :attr:`UtilitySpec.end`; the
    newest freeze (last 1) is the one taken at ``today`` 00:00, closing the day before.
    """

    def __init__(
        self,
        utility: SimulatedUtility,
        today: date,
        memory: MeterMemory | None = None,
    ) -> None:
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
        self.memory = memory or MeterMemory.empty(len(utility.meters))
        plan = faults.clock_offset_s(newest)
        self._clock_offset_s = plan.copy()
        for i, (day, offset) in self.memory.synced.items():
            self._clock_offset_s[i] = offset + plan[i] - faults.clock_offset_s(day)[i]
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
        self._reverse = utility.reverse_register
        self._reactive = utility.reactive_register  # (days, meters) [kvarh, meter side]
        self._demand = utility.demand_register  # (days, meters) [kW, meter side]
        self._demand_time = utility.demand_time
        self._keeps_registers = meters["records_intervals"].to_numpy(dtype=np.bool_)
        curve = utility.meter_day(today - timedelta(days=1))
        self._curve = curve
        self._curve_row = {
            str(meters["address"].iat[m]): row for row, m in enumerate(curve.curve_meters)
        }
        self._curve_start = local_midnight(curve.day, self.tz)
        self._curve_points = curve.forward_kwh.shape[1]
        self._curve_records = _encode_curves(curve, self._curve_start, self.tz)
        self._events = _event_index(utility, today, meters["meter_no"].tolist())
        self._follow_ups: dict[str, tuple[str, list[bytes]]] = {}
        self._utility = utility  # for the instantaneous values, computed on first use

    def set_clocks(self, concentrator_code: str, offset_s: float) -> None:
        """A broadcast time sync heard behind ``concentrator_code``: its answering meters'
        clocks now run ``offset_s`` [s] from true time (the master's own error)."""
        for _, address in self.meters_by_concentrator.get(concentrator_code, []):
            i = self._index[address]
            if not self._silent[i]:
                self._clock_offset_s[i] = offset_s
                self.memory.synced[i] = (self._newest, offset_s)

    def pool(self, concentrators: int) -> None:
        """Serve the meters from ``concentrators`` pooled concentrators ``P001``…, each
        taking a run of neighbouring ones."""
        codes = sorted(self.meters_by_concentrator)
        if not 1 <= concentrators <= len(codes):
            raise InputError(f"cannot pool {len(codes)} concentrators into {concentrators}")
        pooled: dict[str, list[tuple[str, str]]] = {}
        for n, code in enumerate(codes):
            name = f"P{n * concentrators // len(codes) + 1:03d}"
            pooled.setdefault(name, []).extend(self.meters_by_concentrator[code])
        self.meters_by_concentrator = pooled
        self.concentrator_of = {a: c for c, ms in pooled.items() for _, a in ms}

    def silent_meters(self) -> set[str]:
        """Addresses of the meters that never answer today (dead or out of communication)."""
        return {a for a, i in self._index.items() if self._silent[i]}

    def answers(self, address: str) -> bool:
        """Whether meter ``address`` is behind some concentrator and answers today."""
        i = self._index.get(address)
        return i is not None and not self._silent[i]

    def answer(self, address: str, di: str, now: datetime, params: bytes = b"") -> bytes | None:
        """The reply frame of meter ``address`` to a read of ``di`` (``params`` the bytes after
        the DI) at ``now`` (UTC), or ``None`` when the meter is unknown or silent. A load
        profile too long for one frame is answered ``B1`` and the rest kept for follow-ups."""
        i = self._index.get(address)
        if i is None or self._silent[i]:
            return None
        if di == profile.PROFILE_DI:
            return self._profile(address, params)
        values = self._values(i, di, now)
        if values is None:
            return error_reply(address, READ, ERR_NO_SUCH_DATA)
        return read_reply(address, di, values, tz=self.tz)

    def follow_up(self, address: str, di: str, seq: int) -> bytes | None:
        """Frame ``seq`` (1…) of the reply to the last load-profile read of ``address``."""
        i = self._index.get(address)
        if i is None or self._silent[i]:
            return None
        kept = self._follow_ups.get(address)
        if kept is None or kept[0] != di or not 1 <= seq < len(kept[1]):
            return error_reply(address, READ_FOLLOW_UP, ERR_NO_SUCH_DATA)
        chunks = kept[1]
        control = 0xB2 if seq < len(chunks) - 1 else 0x92
        return encode_frame(address, control, profile.PROFILE_WIRE + chunks[seq] + bytes((seq,)))

    def _profile(self, address: str, params: bytes) -> bytes:
        """Records from the requested start: yesterday's 97 points are what the meter holds."""
        row = self._curve_row.get(address)
        try:
            start, count = profile.parse_request(params, self.tz)
        except FrameError:
            return error_reply(address, READ, ERR_OTHER)
        first = (start - self._curve_start) / SLOT
        if row is None or first != int(first) or not 0 <= first <= self._curve_points:
            return error_reply(address, READ, ERR_NO_SUCH_DATA)
        records = self._curve_records[row, int(first) : int(first) + count].tobytes()
        size = profile.RECORDS_PER_FRAME * profile.RECORD_SIZE
        chunks = [records[i : i + size] for i in range(0, len(records), size)]
        self._follow_ups[address] = (profile.PROFILE_DI, chunks)
        control = 0xB1 if len(chunks) > 1 else 0x91
        return encode_frame(address, control, profile.PROFILE_WIRE + chunks[0])

    def _values(self, i: int, di: str, now: datetime) -> list[ValueType] | None:
        di3_di1, di0 = di[:6], int(di[6:], 16)
        if di in ("0001FF00", "00010000", "00010100", "00010200", "00010300", "00010400"):
            block = self._freeze(i, 1)  # "now" is just after midnight: current = newest freeze
            assert block is not None
            return block if di == "0001FF00" else [block[int(di[4:6], 16)]]
        if di3_di1 == "050601" and 1 <= di0 <= DAILY_FREEZES:
            return self._freeze(i, di0)
        if di3_di1 in ("050603", "050609") and 1 <= di0 <= DAILY_FREEZES:
            return self._register_freeze(i, di3_di1, di0)
        if di in ("00030000", "01010000"):
            return self._current_register(i, di)
        if di3_di1 == "050600" and 1 <= di0 <= DAILY_FREEZES:
            if self._freeze(i, di0) is None:
                return None
            return [local_midnight(self.today - timedelta(days=di0 - 1), self.tz)]
        if di in ("04000101", "04000102"):
            clock = now.astimezone(self.tz) + timedelta(seconds=float(self._clock_offset_s[i]))
            clock = clock.replace(microsecond=0)
            return [clock.date() if di == "04000101" else clock.time()]
        if di == "00020000":
            return [_kwh(self._reverse[self._newest, i])]
        if di in COUNTED_EVENTS:
            return [Decimal(len(self._events.get((i, COUNTED_EVENTS[di]), ())))]
        if di3_di1 in RECORDED_EVENTS and 1 <= di0 <= EVENT_RECORDS:
            return self._event_record(i, RECORDED_EVENTS[di3_di1], di0)
        if di[:2] in ("02", "1D"):
            return self._live(i, di)
        return None

    def _event_record(self, i: int, code: str, last: int) -> list[ValueType] | None:
        """Start, end (and for covers twelve energies, not kept: filler) of the ``last``-th
        newest event ``code`` of meter ``i``."""
        happened = self._events.get((i, code), ())
        if last > len(happened):
            return None
        start, end = happened[-last]
        if code == "power_down":
            return [start, end]
        return [start, end, *([None] * 12)]

    def control_relay(self, address: str, data: bytes, now: datetime) -> bytes | None:
        """The reply of meter ``address`` to a relay control (C = 1C) with payload ``data``
        (``PA P0 P1 P2 C0…C3 N1 N2 N3…N8``) at ``now`` (UTC), or ``None`` when the meter is
        unknown or silent.

        N1 ``1A`` trips the relay (counted in ``1D000001`` when it was closed), ``1B``/``1C``
        close it. A wrong password is refused with ERR 04; a garbled payload, another N1, or
        an expiry ``N3…N8`` not after the meter's own clock with ERR 01 (other error). The
        normal reply is ``9C`` with no data.
        """
        i = self._index.get(address)
        if i is None or self._silent[i]:
            return None
        if len(data) != 16:
            return error_reply(address, RELAY_CONTROL, ERR_OTHER)
        if data[:4] != METER_PASSWORD:
            return error_reply(address, RELAY_CONTROL, ERR_PASSWORD)
        try:
            ss, mm, hh, dd, mo, yy = (int(f"{b:02x}") for b in data[10:16])
            expiry = datetime(2000 + yy, mo, dd, hh, mm, ss, tzinfo=self.tz)
        except ValueError:
            return error_reply(address, RELAY_CONTROL, ERR_OTHER)
        meter_now = now + timedelta(seconds=float(self._clock_offset_s[i]))
        command = data[8]
        if expiry <= meter_now or command not in (RELAY_TRIP, *RELAY_CLOSE):
            return error_reply(address, RELAY_CONTROL, ERR_OTHER)
        if command == RELAY_TRIP:
            if i not in self.memory.relay_open:
                self.memory.relay_open.add(i)
                self.memory.trip_counts[i] += 1
        else:
            self.memory.relay_open.discard(i)
        return encode_frame(address, RELAY_CONTROL | 0x80, b"")

    def relay_open(self, address: str) -> bool:
        """Whether the relay of meter ``address`` is open (tripped); every relay starts closed."""
        return self._index[address] in self.memory.relay_open

    def restore_relays(self, open_addresses: Iterable[str]) -> None:
        """Open the relays of ``open_addresses`` as left by earlier runs: a meter remembers
        its relay, a freshly started simulation does not (trips counted once each)."""
        for address in open_addresses:
            i = self._index.get(address)
            if i is not None and i not in self.memory.relay_open:
                self.memory.relay_open.add(i)
                self.memory.trip_counts[i] += 1

    def _live(self, i: int, di: str) -> list[ValueType] | None:
        """Present-state items of meter ``i``: voltage ``0201``, current ``0202`` (signed) and
        active power ``0203`` (signed, with a total ``00``) per phase ``01``…``03`` or as the
        ``FF`` block, and the relay trip count ``1D000001``. A phase the meter lacks is filler
        (``None``); an open relay passes no current."""
        if di == "1D000001":
            return [Decimal(int(self.memory.trip_counts[i]))]
        quantity, which = di[:4], di[4:6]
        if di[6:] != "00" or quantity not in ("0201", "0202", "0203"):
            return None
        volts, amps = self._phases
        v, a = volts[i], amps[i] * (i not in self.memory.relay_open)
        if quantity == "0201":
            phases, total = _readings(v, 1, 999.9), None
        elif quantity == "0202":
            phases, total = _readings(a, 3, 799.999), None
        else:
            kw = v * a * INSTANT_POWER_FACTOR / 1000
            phases = _readings(kw, 4, 79.9999)
            total = _readings(np.array([np.nansum(kw)]), 4, 79.9999)[0]
        if which == "FF":
            return phases if quantity != "0203" else [total, *phases]
        if which == "00":
            return None if quantity != "0203" else [total]
        phase = int(which, 16)
        return [phases[phase - 1]] if 1 <= phase <= 3 else None

    @cached_property
    def _phases(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Phase voltages [V] and signed currents [A] of every meter, secondary side,
        (meters, 3), NaN where the meter has no such phase (residential meters are
        single-phase).

        The load is the simulator's true load of the quarter-hour before ``today`` 00:00
        (what flows at the collection time just after midnight), split over the phases
        within ±10 %, at :data:`INSTANT_POWER_FACTOR`; voltages are nominal −3 %…+5 %. Theft
        shows as it would on site: a partial bypass takes the bypassed phases' current past
        the meter — on a three-phase meter one or two phases (C, then B) as its factor says,
        on a single-phase meter all of it (the jumper is in at night: the register factor is
        a daily mean) — so those phases show voltage without current; a slowed meter
        measures ``factor`` of the current; reversed wiring reverses phase A's current.
        """
        utility = self._utility
        meters = utility.meters
        n = len(meters)
        account = meters["service_point_code"].map(
            utility.service_points.set_index("code")["account_no"]
        )
        customer = account.map(utility.accounts.set_index("account_no")["customer_no"])
        klass = customer.map(utility.customers.set_index("customer_no")["customer_class"])
        single = (klass == "residential").to_numpy()
        ct = meters["ct_ratio"].to_numpy(dtype=np.float64)
        pt = meters["pt_ratio"].to_numpy(dtype=np.float64)
        rng = np.random.default_rng([utility.spec.seed, self.today.toordinal(), 645])
        kw = utility.true_kwh(self.today - timedelta(days=1))[:, -1] * 4  # primary [kW]
        share = np.where(single[:, None], np.array([1.0, 0.0, 0.0]), rng.uniform(0.9, 1.1, (n, 3)))
        share /= share.sum(axis=1, keepdims=True)
        nominal = np.where(pt > 1, PHASE_VOLTS[1], PHASE_VOLTS[0])
        volts = nominal[:, None] * rng.uniform(0.97, 1.05, (n, 3))
        amps = kw[:, None] * share * 1000 / (ct * pt)[:, None] / (volts * INSTANT_POWER_FACTOR)

        faults = utility.faults
        kind = np.where(faults.theft_start <= self._newest, faults.theft_kind, -1)
        factor = faults.theft_factor
        bypassed_phases = np.clip(np.round((1 - factor) * 3), 1, 2)
        phase = np.arange(3)[None, :]
        bypassed = (kind == THEFT_KINDS.index("partial_bypass"))[:, None] & (
            single[:, None] | (phase >= 3 - bypassed_phases[:, None])
        )
        amps[bypassed] = 0.0
        slowed = kind == THEFT_KINDS.index("meter_slowed")
        amps[slowed] *= factor[slowed, None]
        amps[kind == THEFT_KINDS.index("reversed_wiring"), 0] *= -1
        volts[single, 1:] = np.nan
        amps[single, 1:] = np.nan
        return volts, amps

    def _register_freeze(self, i: int, di3_di1: str, last: int) -> list[ValueType] | None:
        """The combined reactive 1 block (``050603``: total [kvarh] then rates 1–4, the total
        split by the shares of the A+ rate registers in the same freeze, each rounded to
        0.01 kvarh) or the forward active maximum demand block (``050609``: total demand
        [kW] and its time, rates 1–4 filler — the meters keep no demand per rate) of meter
        ``i``, ``last`` freezes back; ``None`` before the simulation or for a meter without
        these registers."""
        d = self._newest - (last - 1)
        if d < 0 or not self._keeps_registers[i]:
            return None
        if di3_di1 == "050603":
            total = float(np.round(self._reactive[d, i], 2))
            rates = self._registers[d, i]
            shares = rates / rates.sum() if rates.sum() > 0 else np.zeros_like(rates)
            return [_kwh(x) for x in (total, *np.round(total * shares, 2))]
        stamp = self._demand_time[d, i]
        at = None if np.isnat(stamp) else datetime.fromtimestamp(int(stamp.astype(int)), UTC)
        demand = Decimal(f"{np.round(self._demand[d, i], 4):.4f}")
        return [demand, at, *([None] * 8)]

    def _current_register(self, i: int, di: str) -> list[ValueType] | None:
        """Combined reactive 1 total ``00030000`` [kvarh] or forward active maximum demand and
        its time ``01010000`` [kW] of meter ``i`` now, just after midnight: the newest freeze,
        except that on the 1st the settlement has just cleared the demand (0, no time)."""
        if di == "00030000":
            block = self._register_freeze(i, "050603", 1)
            return None if block is None else block[:1]
        block = self._register_freeze(i, "050609", 1)
        if block is None:
            return None
        return [Decimal("0.0000"), None] if self.today.day == 1 else block[:2]

    def _freeze(self, i: int, last: int) -> list[ValueType] | None:
        """Total and rates 1–4 [kWh] frozen ``last`` freezes back, or ``None`` before the
        simulation."""
        d = self._newest - (last - 1)
        if d < 0:
            return None
        rates = np.round(self._registers[d, i], 2)
        total = np.round(rates.sum(), 2)
        return [Decimal(f"{x:.2f}") for x in (total, *rates)]


def _readings(values: npt.NDArray[np.float64], decimals: int, limit: float) -> list[ValueType]:
    """Values as a meter shows them: rounded to ``decimals``, within ±``limit`` (the item's
    BCD range), ``None`` (filler) for NaN."""
    shown = [round(float(np.clip(x, -limit, limit)), decimals) + 0.0 for x in values]
    return [None if np.isnan(x) else Decimal(f"{x:.{decimals}f}") for x in shown]


def _kwh(value: float) -> Decimal:
    """A register as the meter shows it: 0.01 kWh (kvarh) resolution."""
    return Decimal(f"{value:.2f}")


def _encode_curves(curve: MeterDay, start: datetime, tz: ZoneInfo) -> npt.NDArray[np.uint8]:
    """Every curve meter's load-profile records as sent, (meters, points, record bytes): class
    4 only (forward, reverse, combined reactive 1 and 2 — the last not kept: 0)."""
    meters, points = curve.forward_kwh.shape
    out = np.empty((meters, points, profile.RECORD_SIZE), dtype=np.uint8)
    out[:, :, 0:2] = profile.START[0]
    out[:, :, 2] = profile.RECORD_SIZE - 5
    stamps = b"".join(bcd.encode_datetime(start + k * SLOT, 5, tz) for k in range(points))
    out[:, :, 3:8] = np.frombuffer(stamps, dtype=np.uint8).reshape(points, 5)
    out[:, :, 8:11] = profile.SEPARATOR
    energies = (curve.forward_kwh, curve.reverse_kwh, curve.reactive_kvarh)
    for j, values in enumerate((*energies, np.zeros_like(curve.forward_kwh))):
        out[:, :, 11 + 4 * j : 15 + 4 * j] = _bcd_cents(values)
    out[:, :, 27:30] = profile.SEPARATOR
    out[:, :, 30] = out[:, :, :30].sum(axis=2, dtype=np.int64) & 0xFF
    out[:, :, 31] = profile.END
    return out


def _bcd_cents(values: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    """``XXXXXX.XX`` registers as 4 packed-BCD bytes, low byte first (rolling over at 10⁶)."""
    cents = np.round(values * 100).astype(np.int64) % 10**8
    pairs = np.stack([(cents // 100**j) % 100 for j in range(4)], axis=-1)
    packed: npt.NDArray[np.uint8] = ((pairs // 10) << 4 | pairs % 10).astype(np.uint8)
    return packed


EventIndex = dict[tuple[int, str], list[tuple[datetime, datetime]]]


def _event_index(utility: SimulatedUtility, today: date, meter_nos: list[str]) -> EventIndex:
    """Every meter's logged events up to ``today`` by (meter index, code), oldest first, as
    (start, end) whole-second times: a power-down ends at the next power-up."""
    spec = utility.spec
    days = [spec.start + timedelta(days=d) for d in range((today - spec.start).days)]
    index = {no: i for i, no in enumerate(meter_nos)}
    tables = [utility.meter_events(day) for day in days]
    events: EventIndex = {}
    pending_down: dict[int, datetime] = {}
    for table in tables:
        for meter_no, ts, code in zip(
            table["meter_no"].to_pylist(),
            table["ts"].to_pylist(),
            table["code"].to_pylist(),
            strict=True,
        ):
            i = index[meter_no]
            at = ts.replace(microsecond=0)
            if code == "power_down":
                pending_down[i] = at
            elif code == "power_up" and i in pending_down:
                events.setdefault((i, "power_down"), []).append((pending_down.pop(i), at))
            elif code in ("cover_open", "terminal_box_open", "magnetic_tamper"):
                events.setdefault((i, code), []).append((at, at + COVER_OPEN_FOR))
    return events


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
        """Stop listening and drop every connection (replies still due go nowhere)."""
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
                    self._forward(frame, writer)
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _forward(self, frame: Frame, writer: asyncio.StreamWriter) -> None:
        """Carry ``frame`` to its meter and the reply back after the PLC's latency, unless the
        PLC loses it (a timer, not a task: the server's hot path)."""
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
        if frame.function in (READ, READ_FOLLOW_UP) and len(frame.data) >= 4:
            di = f"{int.from_bytes(frame.data[:4], 'little'):08X}"
            if frame.function == READ:
                reply: bytes | None = self.bank.answer(address, di, self.now(), frame.data[4:])
            else:
                reply = self.bank.follow_up(
                    address, di, frame.data[4] if len(frame.data) > 4 else 0
                )
        elif frame.function == RELAY_CONTROL:
            reply = self.bank.control_relay(address, frame.data, self.now())
        else:
            reply = error_reply(address, frame.function, ERR_OTHER)
        if reply is not None:
            delay = self._rng.uniform(*self.latency_s)
            asyncio.get_running_loop().call_later(delay, _deliver, writer, reply)


def _deliver(writer: asyncio.StreamWriter, reply: bytes) -> None:
    """Put a meter's reply on the concentrator's connection, if it is still open."""
    if not writer.is_closing():
        writer.write(reply)


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
    memory: MeterMemory | None = None,
    concentrators: int | None = None,
) -> Fleet:
    """One :class:`ConcentratorServer` per concentrator of ``utility``, listening in the
    running loop on free ports of ``host``; ``memory`` carries what the meters remember
    from the fleet of an earlier day. ``concentrators`` pools the meters
    into that many larger concentrators (neighbouring ones merged), as benchmarks need."""
    bank = MeterBank(utility, today, memory)
    if concentrators is not None:
        bank.pool(concentrators)
    servers = {
        code: ConcentratorServer(bank, code, host, loss=loss, latency_s=latency_s, seed=seed)
        for code in bank.meters_by_concentrator
    }
    await asyncio.gather(*(s.start() for s in servers.values()))
    return Fleet(bank, servers)
