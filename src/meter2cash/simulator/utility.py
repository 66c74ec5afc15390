"""The public façade: :func:`build_utility` turns a :class:`UtilitySpec` into a
:class:`SimulatedUtility` whose head-end data is collected one local day at a time.

Every random draw comes from a generator seeded by (seed, stream, day), so a day's collection is
the same whichever days were collected before it, and the same seed gives byte-identical tables.
Days are 96 quarter-hours long: the simulated zones (Asia/Shanghai) observe no daylight saving.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from meter2cash.core.calendar import CHINA, DAY_TYPES
from meter2cash.core.errors import InputError
from meter2cash.core.timezones import local_midnight, zone
from meter2cash.measurements.schema import (
    DELIVERED_EVENTS,
    DELIVERED_INTERVALS,
    DELIVERED_REGISTER_READS,
    DEMAND_REGISTER,
    ENERGY_REGISTERS,
    REACTIVE_REGISTER,
)
from meter2cash.simulator import payers
from meter2cash.simulator.grid import Grid, build_grid
from meter2cash.simulator.loads import (
    RESIDENTIAL,
    SLOTS,
    reactive_intervals,
    true_intervals,
)
from meter2cash.simulator.meters import (
    DRIFT_EVENT_THRESHOLD_S,
    NEVER,
    THEFT_KINDS,
    FaultPlan,
    draw_faults,
    rate_onehot,
)
from meter2cash.simulator.outages import Outages, draw_outages
from meter2cash.simulator.weather import daily_temperature

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Independent random streams, each seeded by (seed, stream[, day]).
_GRID, _WEATHER, _FAULTS, _PAYERS, _LOADS, _OUTAGES, _READS, _EVENTS = range(8)
_US: Final = 1_000_000
_SLOT_US: Final = 900 * _US
DEMAND_RANGE_KW: Final = 99.9999
"""Highest maximum demand a meter shows (DL/T 645 ``XX.XXXX`` kW) [kW, meter side]."""
C_AND_I_CHANNELS: Final = (REACTIVE_REGISTER, DEMAND_REGISTER)
"""Daily freezes only the meters with ``records_intervals`` keep: combined reactive 1
[kvarh] and forward active maximum demand since the month's settlement [kW]."""
DUPLICATE_SHARE: Final = 0.001
"""Share of register rows the head-end delivers twice [-]."""
CONCENTRATOR_DOWN_PROBABILITY: Final = 0.002
"""Chance that a concentrator collects nothing on a given day [-]."""
SPURIOUS_BOX_OPEN_PROBABILITY: Final = 0.0002
"""Chance per meter-day of a legitimate terminal-box opening (field work) [-]."""


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(keys)))


@dataclass(frozen=True)
class UtilitySpec:
    """What to simulate: ``accounts`` customer accounts for ``days`` local days from ``start``."""

    seed: int = 2026
    accounts: int = 3000
    start: date = date(2026, 7, 1)
    days: int = 92
    timezone: str = "Asia/Shanghai"

    def fingerprint(self) -> str:
        """Stable identity of the simulated utility, e.g. ``sim:seed=2026:accounts=3000:…``."""
        return (
            f"sim:seed={self.seed}:accounts={self.accounts}:start={self.start.isoformat()}"
            f":days={self.days}:tz={self.timezone}"
        )

    @property
    def end(self) -> date:
        """The first local day after the simulation."""
        return self.start + timedelta(days=self.days)


@dataclass(frozen=True)
class DayCollection:
    """What the head-end received for local ``day``: the daily freeze at the end of the day
    (local midnight starting ``day + 1``) and the day's 96 intervals."""

    day: date
    register_reads: pa.Table
    intervals: pa.Table
    events: pa.Table
    meters_expected: int
    meters_read: int


@dataclass(frozen=True)
class MeterDay:
    """What the meters themselves recorded on local ``day``, read or not: the load profile of
    the meters that keep one — cumulative registers at 00:00, 00:15 … 24:00 (97 points) [kWh,
    kvarh, meter side] — and the events they logged (:data:`DELIVERED_EVENTS`; clock drift is
    not a meter event, the head-end finds it)."""

    day: date
    curve_meters: npt.NDArray[np.int64]
    """Indices into :attr:`SimulatedUtility.meters` of the meters with a load profile."""
    forward_kwh: FloatArray
    reverse_kwh: FloatArray
    reactive_kvarh: FloatArray
    events: pa.Table


@dataclass(frozen=True)
class GroundTruth:
    """Labels the system never reads; only scorers do."""

    theft: pd.DataFrame
    failures: pd.DataFrame
    clock_drift: pd.DataFrame
    payers: pd.DataFrame
    true_daily_kwh: pd.DataFrame

    def write(self, directory: Path) -> None:
        """One Parquet file per label table, named after it, in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("theft", "failures", "clock_drift", "payers", "true_daily_kwh"):
            frame: pd.DataFrame = getattr(self, name)
            frame.to_parquet(directory / f"{name}.parquet", index=False)


@dataclass(frozen=True)
class _DayEnergy:
    true_kwh: FloatArray
    """True primary energy per meter and slot [kWh], (meters, 96); supply rows included."""
    outages: Outages


class SimulatedUtility:
    """A synthetic utility: asset tables, weather, and head-end data by day."""

    def __init__(self, spec: UtilitySpec, grid: Grid) -> None:
        self.spec = spec
        self._grid = grid
        self._tz = zone(spec.timezone)
        self._dates = [spec.start + timedelta(days=d) for d in range(spec.days)]
        self._day_type = CHINA.day_type_index(self._dates)
        self._temp = daily_temperature(spec.start, spec.days, _rng(spec.seed, _WEATHER))
        n = len(grid.meters)
        customers = grid.customer_count
        three_phase = grid.loads.customer_class != RESIDENTIAL
        self._faults: FaultPlan = draw_faults(
            _rng(spec.seed, _FAULTS), n, customers, three_phase, spec.days
        )
        self._behaviour = payers.draw_behaviours(_rng(spec.seed, _PAYERS), customers)
        self._meter_no = pa.array(grid.meters["meter_no"].tolist(), pa.string())
        self._events: dict[int, pa.Table] = {}
        self._last_energy: tuple[int, _DayEnergy] | None = None

        tariff_of_meter = (
            grid.meters["service_point_code"]
            .map(grid.service_points.set_index("code")["account_no"])
            .map(grid.accounts.set_index("account_no")["tariff_code"])
            .fillna("")
            .to_numpy()
        )
        programmes = {code: tariff_of_meter == code for code in np.unique(tariff_of_meter)}
        rates = np.empty((spec.days, n, 4))
        reverse = np.empty((spec.days, n))
        reactive = np.empty((spec.days, n))
        self._tan_phi = np.concatenate([grid.loads.tan_phi, grid.supply_tan_phi])
        self._true_daily = np.empty((spec.days, n))
        self._demand_register = np.full((spec.days, n), np.nan)
        self._demand_time = np.full((spec.days, n), np.datetime64("NaT"), dtype="datetime64[s]")
        curve = np.flatnonzero(grid.records_intervals)
        for d in range(spec.days):
            energy = self._energy(d).true_kwh
            daily = energy.sum(axis=1)
            self._true_daily[d] = daily
            to_meter = self._faults.forward_factor(d) / grid.multiplier
            month, kind = self._dates[d].month, DAY_TYPES[self._day_type[d]]
            for code, mask in programmes.items():
                rates[d, mask] = energy[mask] @ rate_onehot(month, kind, str(code))
            rates[d] *= to_meter[:, None]
            reverse[d] = daily * self._faults.reverse_factor(d) / grid.multiplier
            reactive[d] = daily * to_meter * self._tan_phi
            self._advance_demand(d, energy[curve] * to_meter[curve, None], curve)
        self._rate_registers = grid.registers_at_start + np.cumsum(rates, axis=0)
        self._reverse_register = np.cumsum(reverse, axis=0)
        self._reactive_register = np.cumsum(reactive, axis=0)

    def _advance_demand(self, d: int, recorded: FloatArray, meters: IntArray) -> None:
        """Fill day index ``d`` of the demand register of ``meters`` from the energy they
        recorded in each quarter-hour [kWh, meter side], (meters, 96): the day's highest
        quarter-hour demand (kWh × 4, at most :data:`DEMAND_RANGE_KW`) [kW] raises the running
        maximum, which the settlement at 00:00 on the 1st (just after the freeze closing the
        month) clears."""
        slot = recorded.argmax(axis=1)
        peak = np.minimum(recorded[np.arange(len(meters)), slot] * 4, DEMAND_RANGE_KW)
        day_start = np.datetime64(int(local_midnight(self._dates[d], self._tz).timestamp()), "s")
        ends = day_start + (slot + 1).astype("timedelta64[s]") * 900
        at = np.where(peak > 0, ends, np.datetime64("NaT"))
        if d > 0 and self._dates[d].day != 1:
            before = self._demand_register[d - 1, meters]
            higher = peak > before
            peak = np.where(higher, peak, before)
            at = np.where(higher, at, self._demand_time[d - 1, meters])
        self._demand_register[d, meters] = peak
        self._demand_time[d, meters] = at

    # What the meters themselves hold (for meters that answer on the wire) -------------------
    @property
    def rate_registers(self) -> FloatArray:
        """Rate registers A+1…A+4 at the end of each day [kWh, meter side], (days, meters, 4)."""
        return self._rate_registers

    @property
    def reverse_register(self) -> FloatArray:
        """Reverse active register at the end of each day [kWh, meter side], (days, meters)."""
        return self._reverse_register

    @property
    def reactive_register(self) -> FloatArray:
        """Combined reactive 1 register at the end of each day [kvarh, meter side], (days,
        meters): the forward energy as the meter records it × tan φ, from 0 at the start of
        the simulation. Only meters with ``records_intervals`` (three-phase C&I and supply
        meters) keep it."""
        return self._reactive_register

    @property
    def demand_register(self) -> FloatArray:
        """Forward active maximum demand at the end of each day [kW, meter side], (days,
        meters): the highest quarter-hour demand (the recorded kWh of a quarter-hour × 4)
        since the last settlement — 00:00 on the 1st of the month, just after the freeze
        that closes the month — or since the start of the simulation. NaN for meters without
        ``records_intervals``, which keep no demand register."""
        return self._demand_register

    @property
    def demand_time(self) -> npt.NDArray[np.datetime64]:
        """When each :attr:`demand_register` value occurred: the end of its quarter-hour
        [UTC, datetime64 s], (days, meters); NaT while the demand is 0 or not kept."""
        return self._demand_time

    @property
    def faults(self) -> FaultPlan:
        """What goes wrong with each meter (dead, comm loss, drift, theft), by day index."""
        return self._faults

    # Asset tables -------------------------------------------------------------------------
    @property
    def zones(self) -> pd.DataFrame:
        """code, name."""
        return self._grid.zones

    @property
    def transformer_areas(self) -> pd.DataFrame:
        """code, zone_code, name, capacity_kva [kVA], technical_loss_pct [%]."""
        return self._grid.transformer_areas

    @property
    def concentrators(self) -> pd.DataFrame:
        """code, transformer_area_code, address (12 digits), channel ('plc' | 'rf')."""
        return self._grid.concentrators

    @property
    def routes(self) -> pd.DataFrame:
        """code, zone_code, read_day."""
        return self._grid.routes

    @property
    def customers(self) -> pd.DataFrame:
        """customer_no, name, customer_class."""
        return self._grid.customers

    @property
    def accounts(self) -> pd.DataFrame:
        """account_no, customer_no, zone_code, route_code, tariff_code, household_size
        (0 for businesses), payment_terms_days [d], opened_on, prepay (a 费控 customer who
        tops up: :meth:`prepay_customers`)."""
        return self._grid.accounts

    @property
    def service_points(self) -> pd.DataFrame:
        """code, account_no (None for supply points), transformer_area_code,
        concentrator_code, role ('customer' | 'supply'), contracted_kva [kVA] and
        contract_demand_kw [kW] (合同最大需量, large industrial accounts; NaN if none)."""
        return self._grid.service_points

    @property
    def meters(self) -> pd.DataFrame:
        """meter_no, address, service_point_code, protocol, ct_ratio, pt_ratio, register_digits,
        records_intervals, installed_at (UTC), initial_read_kwh [kWh, meter side]."""
        return self._grid.meters

    @property
    def temperature(self) -> pd.DataFrame:
        """local_date, temp_c [°C, daily mean]."""
        return pd.DataFrame({"local_date": self._dates, "temp_c": self._temp})

    def day_types(self) -> pd.DataFrame:
        """local_date, day_type ('workday' | 'weekend' | 'holiday') of the simulated days."""
        kinds = np.array(DAY_TYPES)[self._day_type]
        return pd.DataFrame({"local_date": self._dates, "day_type": kinds})

    # Energy -------------------------------------------------------------------------------
    def true_kwh(self, day: date) -> FloatArray:
        """True energy of every meter in each quarter-hour of local ``day`` [kWh, primary],
        (meters, 96)."""
        return self._energy(self._day_index(day)).true_kwh

    def _energy(self, d: int) -> _DayEnergy:
        """True energy of day index ``d``: customers' loads, interrupted by outages, and each
        area's supply = its customers' sum × (1 + technical loss). The last day asked is
        kept: collection asks for the same day more than once."""
        if self._last_energy is not None and self._last_energy[0] == d:
            return self._last_energy[1]
        energy = self._day_energy(d)
        self._last_energy = (d, energy)
        return energy

    def _day_energy(self, d: int) -> _DayEnergy:
        grid = self._grid
        customers = true_intervals(
            grid.loads,
            int(self._day_type[d]),
            float(self._temp[d]),
            _rng(self.spec.seed, _LOADS, d),
        )
        areas = len(grid.area_loss)
        outages = draw_outages(_rng(self.spec.seed, _OUTAGES, d), areas)
        if len(outages.area):
            customers *= outages.powered_fraction(areas)[grid.meter_area[: len(customers)]]
        supply = np.add.reduceat(customers, grid.area_first_customer, axis=0)
        supply *= (1 + grid.area_loss)[:, None]
        return _DayEnergy(np.concatenate([customers, supply]), outages)

    # Collection ---------------------------------------------------------------------------
    def _day_index(self, day: date) -> int:
        d = (day - self.spec.start).days
        if not 0 <= d < self.spec.days:
            raise InputError(
                f"{day.isoformat()} is outside the simulation",
                f"collect a day from {self.spec.start} to {self.spec.end - timedelta(days=1)}",
            )
        return d

    def _read_ok(self, d: int) -> npt.NDArray[np.bool_]:
        """Meters whose daily freeze (and curve) reached the head-end on day index ``d``."""
        grid = self._grid
        rng = _rng(self.spec.seed, _READS, d)
        concentrator_up = rng.random(len(grid.read_success)) >= CONCENTRATOR_DOWN_PROBABILITY
        conc = grid.meter_concentrator
        success = rng.random(len(conc)) < grid.read_success[conc]
        return success & concentrator_up[conc] & ~self._faults.silent(d)

    def collect_day(self, day: date) -> DayCollection:
        """Everything the head-end received for local ``day``."""
        d = self._day_index(day)
        energy = self._energy(d)
        read = self._read_ok(d)
        start_us = int(local_midnight(day, self._tz).timestamp()) * _US
        freeze_us = int(local_midnight(day + timedelta(days=1), self._tz).timestamp()) * _US
        return DayCollection(
            day=day,
            register_reads=self._register_table(
                d, read, freeze_us, _rng(self.spec.seed, _EVENTS, d, 1)
            ),
            intervals=self._interval_table(d, read, energy.true_kwh, start_us),
            events=self._event_table(d, read, energy.outages, start_us, freeze_us),
            meters_expected=len(read),
            meters_read=int(read.sum()),
        )

    def meter_day(self, day: date) -> MeterDay:
        """What the meters recorded on local ``day`` (see :class:`MeterDay`)."""
        d = self._day_index(day)
        grid = self._grid
        energy = self._energy(d)
        meters = np.flatnonzero(grid.records_intervals)
        to_meter = self._faults.forward_factor(d)[meters] / grid.multiplier[meters]
        recorded = energy.true_kwh[meters] * to_meter[:, None]
        opening = grid.registers_at_start if d == 0 else self._rate_registers[d - 1]
        before = (
            np.zeros((2, len(meters)))
            if d == 0
            else np.stack([self._reverse_register[d - 1], self._reactive_register[d - 1]])[
                :, meters
            ]
        )

        def running(start: FloatArray, steps: FloatArray) -> FloatArray:
            zero = np.zeros((len(start), 1))
            points: FloatArray = start[:, None] + np.concatenate(
                [zero, np.cumsum(steps, axis=1)], axis=1
            )
            return points

        reverse_today = self._reverse_register[d, meters] - before[0]
        return MeterDay(
            day=day,
            curve_meters=meters,
            forward_kwh=running(opening[meters].sum(axis=1), recorded),
            reverse_kwh=before[0][:, None] + reverse_today[:, None] * np.linspace(0, 1, SLOTS + 1),
            reactive_kvarh=running(before[1], reactive_intervals(recorded, self._tan_phi[meters])),
            events=self.meter_events(day),
        )

    def meter_events(self, day: date) -> pa.Table:
        """The events the meters logged on local ``day`` (:data:`DELIVERED_EVENTS`), read or not;
        clock drift is left out — the head-end finds it, the meter does not log it."""
        d = self._day_index(day)
        if d in self._events:
            return self._events[d]
        outages = draw_outages(_rng(self.spec.seed, _OUTAGES, d), len(self._grid.area_loss))
        start_us = int(local_midnight(day, self._tz).timestamp()) * _US
        freeze_us = int(local_midnight(day + timedelta(days=1), self._tz).timestamp()) * _US
        everyone = np.ones(len(self._grid.meters), dtype=np.bool_)
        events = self._event_table(d, everyone, outages, start_us, freeze_us)
        kept = self._events[d] = events.filter(pc.not_equal(events["code"], "clock_drift"))
        return kept

    def _register_table(
        self, d: int, read: npt.NDArray[np.bool_], freeze_us: int, rng: np.random.Generator
    ) -> pa.Table:
        meters = np.flatnonzero(read)
        rates = np.round(self._rate_registers[d, meters], 2)
        total = np.round(rates.sum(axis=1), 2)
        values = np.column_stack([total, rates, np.round(self._reverse_register[d, meters], 2)])
        channels = len(ENERGY_REGISTERS)
        meter_idx = np.repeat(meters, channels)
        channel_idx = np.tile(np.arange(channels), len(meters))
        flat = values.ravel()
        again = np.flatnonzero(rng.random(len(flat)) < DUPLICATE_SHARE)
        meter_idx = np.concatenate([meter_idx, meter_idx[again]])
        channel_idx = np.concatenate([channel_idx, channel_idx[again]])
        flat = np.concatenate([flat, flat[again]])
        # The C&I meters' reactive and demand registers, never duplicated (no new draws).
        kept = meters[self._grid.records_intervals[meters]]
        extra = np.column_stack(
            [
                np.round(self._reactive_register[d, kept], 2),
                np.round(self._demand_register[d, kept], 4),
            ]
        )
        meter_idx = np.concatenate([meter_idx, np.repeat(kept, 2)])
        channel_idx = np.concatenate([channel_idx, np.tile([channels, channels + 1], len(kept))])
        flat = np.concatenate([flat, extra.ravel()])
        rows = len(flat)
        return pa.table(
            [
                self._meter_no.take(meter_idx),
                pa.array([*ENERGY_REGISTERS, *C_AND_I_CHANNELS], pa.string()).take(channel_idx),
                pa.array(np.full(rows, freeze_us, dtype=np.int64), pa.timestamp("us", tz="UTC")),
                pa.array(flat, pa.float64()),
                pa.array(["daily_frozen"], pa.string()).take(np.zeros(rows, dtype=np.int64)),
            ],
            schema=DELIVERED_REGISTER_READS,
        )

    def _interval_table(
        self, d: int, read: npt.NDArray[np.bool_], true_kwh: FloatArray, start_us: int
    ) -> pa.Table:
        grid = self._grid
        meters = np.flatnonzero(read & grid.records_intervals)
        to_meter = self._faults.forward_factor(d)[meters] / grid.multiplier[meters]
        recorded = true_kwh[meters] * to_meter[:, None]
        tan_phi = np.concatenate([grid.loads.tan_phi, grid.supply_tan_phi])[meters]
        kvarh = reactive_intervals(recorded, tan_phi)
        values = np.concatenate([np.round(recorded, 4).ravel(), np.round(kvarh, 4).ravel()])
        meter_idx = np.tile(np.repeat(meters, SLOTS), 2)
        channel_idx = np.repeat(np.arange(2), len(meters) * SLOTS)
        slot_us = start_us + np.arange(SLOTS, dtype=np.int64) * _SLOT_US
        ts = np.tile(slot_us, 2 * len(meters))
        return pa.table(
            [
                self._meter_no.take(meter_idx),
                pa.array(["kWh", "kvarh"], pa.string()).take(channel_idx),
                pa.array(ts, pa.timestamp("us", tz="UTC")),
                pa.array(values, pa.float64()),
            ],
            schema=DELIVERED_INTERVALS,
        )

    def _event_table(
        self,
        d: int,
        read: npt.NDArray[np.bool_],
        outages: Outages,
        start_us: int,
        freeze_us: int,
    ) -> pa.Table:
        grid, faults = self._grid, self._faults
        rng = _rng(self.spec.seed, _EVENTS, d)
        n = len(read)
        meter_parts: list[IntArray] = []
        ts_parts: list[IntArray] = []
        codes: list[npt.NDArray[np.str_]] = []
        details: list[npt.NDArray[np.str_]] = []

        def add(meters: IntArray, ts: IntArray, code: str, detail: npt.NDArray[np.str_]) -> None:
            meter_parts.append(meters)
            ts_parts.append(ts)
            codes.append(np.full(len(meters), code))
            details.append(detail)

        # Outages: every meter of the area logs power-down and power-up (a few seconds apart).
        for area, down_s, up_s in zip(outages.area, outages.start_s, outages.end_s, strict=True):
            members = np.flatnonzero(grid.meter_area == area)
            jitter = rng.integers(0, 5 * _US, (2, len(members)))
            minutes = np.full(len(members), f"outage {(up_s - down_s) // 60} min")
            add(members, start_us + down_s * _US + jitter[0], "power_down", minutes)
            add(members, start_us + up_s * _US + jitter[1], "power_up", minutes)

        # Tampering near the start of a theft, and reverse energy while wiring is reversed.
        tampered = np.flatnonzero(faults.tamper_day == d)
        for code in np.unique(faults.tamper_code[tampered]):
            who = tampered[faults.tamper_code[tampered] == code]
            at = start_us + rng.integers(0, 86_400 * _US, len(who))
            add(who, at, str(code), np.full(len(who), "tamper detected"))
        reversing = np.flatnonzero((faults.theft_kind == 2) & (d >= faults.theft_start))
        at = start_us + rng.integers(6 * 3600 * _US, 20 * 3600 * _US, len(reversing))
        add(reversing, at, "reverse_energy", np.full(len(reversing), "reverse active power"))

        # Field work opens terminal boxes on honest meters too.
        opened = np.flatnonzero(rng.random(n) < SPURIOUS_BOX_OPEN_PROBABILITY)
        at = start_us + rng.integers(9 * 3600 * _US, 17 * 3600 * _US, len(opened))
        add(opened, at, "terminal_box_open", np.full(len(opened), "terminal cover opened"))

        # Clock error found when the head-end reads the meter after midnight.
        offset = faults.clock_offset_s(d)
        drifted = np.flatnonzero(np.abs(offset) > DRIFT_EVENT_THRESHOLD_S)
        at = freeze_us + rng.integers(60 * _US, 3600 * _US, len(drifted))
        add(drifted, at, "clock_drift", np.array([f"offset {o:+.0f} s" for o in offset[drifted]]))

        meters = np.concatenate(meter_parts)
        ts = np.concatenate(ts_parts)
        keep = read[meters]
        meters, ts = meters[keep], ts[keep]
        code_arr = np.concatenate(codes)[keep]
        detail_arr = np.concatenate(details)[keep]
        order = np.lexsort((meters, ts))
        return pa.table(
            [
                self._meter_no.take(meters[order]),
                pa.array(ts[order], pa.timestamp("us", tz="UTC")),
                pa.array(code_arr[order].tolist(), pa.string()),
                pa.array(detail_arr[order].tolist(), pa.string()),
            ],
            schema=DELIVERED_EVENTS,
        )

    # Labels and payments ------------------------------------------------------------------
    def ground_truth(self) -> GroundTruth:
        """Theft, failures, clock drift, payer behaviour and true daily consumption."""
        faults, meter_no = self._faults, self._grid.meters["meter_no"].to_numpy()
        start = self.spec.start

        def dates(days: IntArray) -> list[date]:
            return [start + timedelta(days=int(x)) for x in days]

        thieves = np.flatnonzero(faults.theft_kind >= 0)
        theft = pd.DataFrame(
            {
                "meter_no": meter_no[thieves],
                "kind": np.array(THEFT_KINDS)[faults.theft_kind[thieves]],
                "start": dates(faults.theft_start[thieves]),
                "factor": faults.theft_factor[thieves],
            }
        )
        dead = np.flatnonzero(faults.dead_from < NEVER)
        lost = np.flatnonzero(faults.comm_loss_first < NEVER)
        failures = pd.DataFrame(
            {
                "meter_no": np.concatenate([meter_no[dead], meter_no[lost]]),
                "start": dates(faults.dead_from[dead]) + dates(faults.comm_loss_first[lost]),
                "end": [pd.NaT] * len(dead) + dates(faults.comm_loss_last[lost]),
                "kind": ["dead"] * len(dead) + ["comm_loss"] * len(lost),
            }
        )
        drifting = np.flatnonzero(faults.drift_s_per_day != 0)
        clock_drift = pd.DataFrame(
            {"meter_no": meter_no[drifting], "drift_s_per_day": faults.drift_s_per_day[drifting]}
        )
        payer_labels = pd.DataFrame(
            {
                "account_no": self._grid.accounts["account_no"].to_numpy(),
                "behaviour": np.array(payers.BEHAVIOURS)[self._behaviour],
            }
        )
        days, meters = self._true_daily.shape
        true_daily = pd.DataFrame(
            {
                "meter_no": np.tile(meter_no, days),
                "local_date": np.repeat(np.array(self._dates, dtype=object), meters),
                "kwh": np.round(self._true_daily.ravel(), 4),
            }
        )
        return GroundTruth(theft, failures, clock_drift, payer_labels, true_daily)

    def simulate_payments(self, bills: pd.DataFrame) -> pd.DataFrame:
        """Payments for ``bills`` (account_no, bill_no, total_minor [fen], bill_date, due_date)
        received by the last simulated day: account_no, bill_no, amount_minor [fen],
        received_on, channel, transaction_id."""
        behaviour = dict(
            zip(self._grid.accounts["account_no"].tolist(), self._behaviour.tolist(), strict=True)
        )
        last_day = self.spec.end - timedelta(days=1)
        return payers.simulate_payments(bills, behaviour, self.spec.fingerprint(), last_day)

    def prepay_customers(self) -> payers.PrepayCustomers:
        """The prepay accounts' customers, who top up as fee control's notices reach them."""
        accounts = self._grid.accounts
        prepay = accounts.loc[accounts["prepay"].to_numpy(bool), "account_no"].tolist()
        return payers.PrepayCustomers(prepay, self.spec.fingerprint())


def build_utility(spec: UtilitySpec) -> SimulatedUtility:
    """Build the utility ``spec`` describes (assets, weather, faults, registers)."""
    if spec.accounts < 1 or spec.days < 1:
        raise InputError("a simulated utility needs at least one account and one day")
    grid = build_grid(
        _rng(spec.seed, _GRID), spec.accounts, spec.start, spec.days, zone(spec.timezone)
    )
    return SimulatedUtility(spec, grid)
