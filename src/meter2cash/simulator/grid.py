"""The network and its assets: zones → transformer areas → concentrators → customers,
accounts, service points and meters.

Customer meters are ordered by transformer area (so an area's customers are one contiguous
block) and followed by one supply meter per area. Per-meter arrays in :class:`Grid` are aligned
with that order.

Registers never roll over during a simulation: installation dates are capped so that every
register stays below 60 % of its 6-digit range (1,000,000 kWh) at the end of the period.
Deliberate rollovers are not simulated yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd

from meter2cash.simulator import names
from meter2cash.simulator.loads import (
    CLASS_NAMES,
    COMMERCIAL,
    INDUSTRIAL,
    RESIDENTIAL,
    CustomerLoads,
    draw_customer_loads,
    household_sizes,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

CLASS_SHARES: Final = (0.88, 0.09, 0.03)
"""Share of accounts by class: residential, commercial, industrial."""
ACCOUNTS_PER_ZONE: Final = 1000
ACCOUNTS_PER_AREA: Final = 95
AREAS_PER_ROUTE: Final = 3
REGISTER_DIGITS: Final = 6
REGISTER_HEADROOM_KWH: Final = 600_000.0
"""Highest register value [kWh] any meter may reach by the end of the simulation."""
RATES: Final = 4
"""TOU rate registers A+1..A+4 (尖/峰/平/谷)."""
_START_RATE_SHARES: Final = np.array([0.04, 0.46, 0.12, 0.38])
_TRANSFORMER_KVA: Final = np.array(
    [100, 160, 200, 250, 315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500, 3150, 4000.0]
)
_CONTRACT_KVA: Final = np.array([315, 400, 500, 630, 800, 1000, 1250, 1600, 2000.0])
_CT_PRIMARY_A: Final = np.array(
    [50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 750, 800, 1000, 1500, 2000, 3000, 4000, 6000]
)
_DIRECT_LIMIT_A: Final = 60.0
"""Largest current [A] a direct-connected (CT-less) meter carries."""
_TARIFFS: Final = ("RES-TIER-ZJ", "RES-TOU-TIER", "COM-TOU", "IND-TWO-PART")
CONTRACT_DEMAND_TARIFF: Final = "IND-TWO-PART-CD"
"""Large (high-voltage) industrial accounts' tariff: basic charge by contract demand."""
CONTRACT_DEMAND_OF_MEAN: Final = 2.1
"""Declared contract demand (合同最大需量) ÷ mean load [1], rounded up to 10 kW: the
plant's usual monthly peak; now and then a month passes 105 % of it."""
_PAYMENT_TERMS_DAYS: Final = np.array([20, 15, 10])
PREPAY_SHARE: Final = 0.05
"""Share of residential accounts on prepay with remote fee control (费控) [-]."""


@dataclass(frozen=True)
class Grid:
    """Asset tables plus the per-meter, per-area and per-concentrator arrays the meters need."""

    zones: pd.DataFrame
    transformer_areas: pd.DataFrame
    concentrators: pd.DataFrame
    routes: pd.DataFrame
    customers: pd.DataFrame
    accounts: pd.DataFrame
    service_points: pd.DataFrame
    meters: pd.DataFrame
    loads: CustomerLoads
    """Load parameters of the customer meters (the first ``len(loads.base_kwh)`` meters)."""
    meter_area: IntArray
    meter_concentrator: IntArray
    multiplier: FloatArray
    """CT × PT ratio per meter [-]: primary energy = register energy × multiplier."""
    records_intervals: BoolArray
    area_first_customer: IntArray
    """Index of each area's first customer meter (customers are contiguous by area)."""
    area_loss: FloatArray
    """Technical loss per area as a fraction of delivered energy [-]."""
    supply_tan_phi: FloatArray
    """Reactive over active energy at each area's supply meter [-]."""
    read_success: FloatArray
    """Probability that a concentrator collects a meter's daily freeze [-]."""
    registers_at_start: FloatArray
    """Rate registers A+1..A+4 at the start of the simulation [kWh, meter side], (meters, 4)."""

    @property
    def customer_count(self) -> int:
        """Number of customer (non-supply) meters."""
        return len(self.loads.base_kwh)


def _smallest_at_least(options: FloatArray | IntArray, needed: FloatArray) -> FloatArray:
    """The smallest of the sorted ``options`` not below ``needed``, else the largest."""
    index = np.minimum(np.searchsorted(options, needed), len(options) - 1)
    return np.asarray(options[index], dtype=np.float64)


def _ct_ratio(current_a: FloatArray) -> IntArray:
    """CT ratio (primary / 5 A) of the smallest standard CT carrying ``current_a`` [A]."""
    return (_smallest_at_least(_CT_PRIMARY_A, current_a) // 5).astype(np.int64)


def _unique_digits(rng: np.random.Generator, n: int, digits: int = 12) -> list[str]:
    """``n`` distinct zero-padded numbers of ``digits`` digits (e.g. DL/T 645 addresses)."""
    values = rng.choice(10**digits, size=n, replace=False)
    return [f"{v:0{digits}d}" for v in values]


def _area_sizes(rng: np.random.Generator, accounts: int, areas: int) -> IntArray:
    """Customers per area [-]: drawn around 40–150 and summing to ``accounts``."""
    weights = rng.uniform(40, 150, areas)
    sizes: IntArray = np.floor(weights / weights.sum() * accounts).astype(np.int64)
    sizes[: accounts - sizes.sum()] += 1
    return sizes


def _local_instant(day: date, hour: int, tz: ZoneInfo) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC))


def build_grid(
    rng: np.random.Generator, accounts: int, start: date, days: int, tz: ZoneInfo
) -> Grid:
    """Draw a utility's assets for ``accounts`` customer accounts simulated for ``days``.

    Which residential accounts are prepay is drawn from a stream spawned from ``rng``:
    spawning leaves ``rng``'s own draws, and so every other asset, as they were.
    """
    prepay_rng = rng.spawn(1)[0]
    n_zones = max(2, round(accounts / ACCOUNTS_PER_ZONE))
    n_areas = max(n_zones, round(accounts / ACCOUNTS_PER_AREA))

    # Classes, shuffled so that every area mixes them.
    n_ind = max(1, round(accounts * CLASS_SHARES[2]))
    n_com = max(1, round(accounts * CLASS_SHARES[1]))
    klass = np.repeat(
        np.array([RESIDENTIAL, COMMERCIAL, INDUSTRIAL], dtype=np.int8),
        [accounts - n_com - n_ind, n_com, n_ind],
    )
    klass = rng.permutation(klass)
    sizes = _area_sizes(rng, accounts, n_areas)
    customer_area = np.repeat(np.arange(n_areas), sizes)
    area_first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    area_zone = np.arange(n_areas) * n_zones // n_areas

    household = household_sizes(rng, accounts)
    loads = draw_customer_loads(rng, klass, household)
    is_res, is_com, is_ind = (klass == RESIDENTIAL), (klass == COMMERCIAL), (klass == INDUSTRIAL)

    # Zones, areas, concentrators, routes.
    zone_codes = [f"Z{z + 1:02d}" for z in range(n_zones)]
    zones = pd.DataFrame({"code": zone_codes, "name": [names.zone_name(z) for z in range(n_zones)]})
    summer_peak_kw = loads.base_kwh * 1.3 / 24 * 1.5
    area_peak_kva = np.bincount(customer_area, summer_peak_kw, n_areas) / 0.9
    capacity = _smallest_at_least(_TRANSFORMER_KVA, area_peak_kva * 1.1)
    loss_pct = np.round(rng.uniform(2.0, 6.0, n_areas), 2)
    area_codes = [f"TA{a + 1:05d}" for a in range(n_areas)]
    streets = rng.integers(0, len(names.STREETS), n_areas)
    transformer_areas = pd.DataFrame(
        {
            "code": area_codes,
            "zone_code": [zone_codes[z] for z in area_zone],
            "name": [f"{names.STREETS[s]}{a + 1}号台区" for a, s in enumerate(streets)],
            "capacity_kva": capacity,
            "technical_loss_pct": loss_pct,
        }
    )
    conc_per_area = np.where(sizes > 100, 2, 1)
    conc_area = np.repeat(np.arange(n_areas), conc_per_area)
    n_conc = len(conc_area)
    conc_first = np.concatenate([[0], np.cumsum(conc_per_area)[:-1]])
    is_plc = rng.random(n_conc) < 0.8
    read_success = np.where(
        is_plc, rng.uniform(0.97, 0.995, n_conc), rng.uniform(0.985, 0.998, n_conc)
    )
    addresses = _unique_digits(rng, n_conc + accounts + n_areas)
    conc_codes = [f"C{c + 1:05d}" for c in range(n_conc)]
    concentrators = pd.DataFrame(
        {
            "code": conc_codes,
            "transformer_area_code": [area_codes[a] for a in conc_area],
            "address": addresses[:n_conc],
            "channel": np.where(is_plc, "plc", "rf"),
        }
    )
    area_route_in_zone = (np.arange(n_areas) - np.searchsorted(area_zone, area_zone)) // (
        AREAS_PER_ROUTE
    )
    route_labels = [
        f"{zone_codes[z]}-R{r + 1:02d}" for z, r in zip(area_zone, area_route_in_zone, strict=True)
    ]
    route_codes = list(dict.fromkeys(route_labels))
    routes = pd.DataFrame(
        {
            "code": route_codes,
            "zone_code": [c.split("-")[0] for c in route_codes],
            "read_day": np.ones(len(route_codes), dtype=np.int64),
        }
    )

    # Customers and accounts.
    customer_no = [f"9{p + 1:09d}" for p in rng.permutation(accounts)]
    account_no = [f"33{p + 1:08d}" for p in rng.permutation(accounts)]
    customer_names = np.empty(accounts, dtype=object)
    customer_names[is_res] = names.person_names(rng, int(is_res.sum()))
    customer_names[is_com] = names.business_names(rng, int(is_com.sum()))
    customer_names[is_ind] = names.company_names(rng, int(is_ind.sum()))
    customers = pd.DataFrame(
        {
            "customer_no": customer_no,
            "name": customer_names.astype(str),
            "customer_class": np.array(CLASS_NAMES)[klass],
        }
    )
    tariff_index = np.where(is_res, (rng.random(accounts) < 0.25).astype(np.int64), klass + 1)
    opened_on = [start - timedelta(days=int(d)) for d in rng.integers(60, 30 * 365, accounts)]
    accounts_df = pd.DataFrame(
        {
            "account_no": account_no,
            "customer_no": customer_no,
            "zone_code": [zone_codes[area_zone[a]] for a in customer_area],
            "route_code": [route_labels[a] for a in customer_area],
            "tariff_code": np.array(_TARIFFS)[tariff_index],
            "household_size": np.where(is_res, household, 0),
            "payment_terms_days": _PAYMENT_TERMS_DAYS[klass],
            "opened_on": opened_on,
            "prepay": is_res & (prepay_rng.random(accounts) < PREPAY_SHARE),
        }
    )

    # Metering: contracted capacity, CT/PT, multipliers.
    avg_kw = loads.base_kwh / 24
    contracted = np.where(is_ind, _smallest_at_least(_CONTRACT_KVA, avg_kw * 1.6 / 0.75), np.nan)
    high_voltage = is_ind & (contracted > 630)
    accounts_df.loc[high_voltage, "tariff_code"] = CONTRACT_DEMAND_TARIFF
    contract_demand = np.where(
        high_voltage, np.ceil(avg_kw * CONTRACT_DEMAND_OF_MEAN / 10) * 10, np.nan
    )
    ind_current = np.where(high_voltage, contracted * 0.0577, contracted * 1.443)
    com_current = avg_kw * 2.2 * 1.52
    ct = np.ones(accounts, dtype=np.int64)
    ct[is_ind] = np.clip(_ct_ratio(ind_current[is_ind]), 20, 200)
    big_com = is_com & (com_current > _DIRECT_LIMIT_A)
    ct[big_com] = _ct_ratio(com_current[big_com])
    pt = np.where(high_voltage, 100, 1)
    supply_ct = _ct_ratio(capacity * 1.443)
    all_ct = np.concatenate([ct, supply_ct])
    all_pt = np.concatenate([pt, np.ones(n_areas, dtype=np.int64)])
    multiplier = (all_ct * all_pt).astype(np.float64)
    area_loss = loss_pct / 100
    area_kwh = np.bincount(customer_area, loads.base_kwh, n_areas) * (1 + area_loss)
    expected_kwh = np.concatenate([loads.base_kwh, area_kwh]) * 1.3 / multiplier
    n_meters = accounts + n_areas

    # Installation: new meters read 0; re-used ones carry a reading. Age is capped for headroom.
    initial = np.where(rng.random(n_meters) < 0.6, 0.0, np.round(rng.uniform(0, 8000, n_meters), 2))
    open_age = np.concatenate([[(start - d).days for d in opened_on], np.full(n_areas, 20 * 365)])
    age = np.minimum(open_age, rng.integers(60, 10 * 365, n_meters))
    budget = REGISTER_HEADROOM_KWH - initial - expected_kwh * 2 * days
    age = np.maximum(1, np.minimum(age, budget // (expected_kwh * 1.2))).astype(np.int64)
    accrued = initial + expected_kwh * age * rng.uniform(0.85, 1.15, n_meters)
    shares = _START_RATE_SHARES * np.exp(0.2 * rng.standard_normal((n_meters, RATES)))
    registers_at_start = accrued[:, None] * shares / shares.sum(axis=1, keepdims=True)
    install_hours = rng.integers(9, 17, n_meters)
    installed_at = [
        _local_instant(start - timedelta(days=int(a)), int(h), tz)
        for a, h in zip(age, install_hours, strict=True)
    ]

    meter_area = np.concatenate([customer_area, np.arange(n_areas)])
    customer_conc = conc_first[customer_area] + (
        (np.arange(accounts) - area_first[customer_area]) % conc_per_area[customer_area]
    )
    meter_conc = np.concatenate([customer_conc, conc_first])
    sp_codes = [f"SP{p + 1:07d}" for p in range(n_meters)]
    service_points = pd.DataFrame(
        {
            "code": sp_codes,
            "account_no": pd.Series([*account_no, *([None] * n_areas)], dtype=object),
            "transformer_area_code": [area_codes[a] for a in meter_area],
            "concentrator_code": [conc_codes[c] for c in meter_conc],
            "role": ["customer"] * accounts + ["supply"] * n_areas,
            "contracted_kva": np.concatenate([contracted, np.full(n_areas, np.nan)]),
            "contract_demand_kw": np.concatenate([contract_demand, np.full(n_areas, np.nan)]),
        }
    )
    records_intervals = np.concatenate([~is_res, np.ones(n_areas, dtype=np.bool_)])
    meters = pd.DataFrame(
        {
            "meter_no": [f"ZJ{3300000000 + p:010d}" for p in rng.permutation(n_meters)],
            "address": addresses[n_conc:],
            "service_point_code": sp_codes,
            "protocol": "dlt645-2007",
            "ct_ratio": all_ct,
            "pt_ratio": all_pt,
            "register_digits": REGISTER_DIGITS,
            "records_intervals": records_intervals,
            "installed_at": pd.Series(installed_at, dtype="datetime64[us, UTC]"),
            "initial_read_kwh": initial,
        }
    )
    return Grid(
        zones=zones,
        transformer_areas=transformer_areas,
        concentrators=concentrators,
        routes=routes,
        customers=customers,
        accounts=accounts_df,
        service_points=service_points,
        meters=meters,
        loads=loads,
        meter_area=meter_area,
        meter_concentrator=meter_conc,
        multiplier=multiplier,
        records_intervals=records_intervals,
        area_first_customer=area_first,
        area_loss=area_loss,
        supply_tan_phi=np.sqrt(1 / rng.uniform(0.90, 0.96, n_areas) ** 2 - 1),
        read_success=read_success,
        registers_at_start=registers_at_start,
    )
