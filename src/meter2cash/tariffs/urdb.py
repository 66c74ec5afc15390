"""OpenEI Utility Rate Database (URDB) records → tariff documents.

A URDB rate record (as the OpenEI API returns it, ``{"items": [record]}``, or bare) becomes a
one-version :class:`TariffDocument` in USD: ``energyratestructure`` with its 12×24 weekday and
weekend schedules → ``energy_periods`` (price = ``rate`` + ``adj``; blocks on the month's total
in kWh, kWh/kW, kWh daily or kWh/kW daily); ``fixedchargefirstmeter`` in $/month or $/day →
``fixed``; ``mincharge`` in $/month or $/day → ``minimum``; ``flatdemandstructure`` with
``flatdemandmonths`` → ``demand_monthly``; ``demandratestructure`` with its schedules →
``demand_tou``. Every field that changes a bill but is not honoured — ratchets, coincident
demand, $/year charges, export rates, free-text notes — is listed in
:attr:`UrdbImport.not_honoured` as ``"field: why"``; nothing is dropped silently. Demand in kVA
or hp, or energy blocks in units other than kWh, refuse the record naming the field.

Reference: OpenEI URDB API v7 field list, https://openei.org/services/doc/rest/util_rates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from pydantic import ValidationError

from meter2cash.core.errors import TariffError
from meter2cash.tariffs.schema import EnergyTierUnit, TariffDocument

_ENERGY_UNITS: Final[Mapping[str, EnergyTierUnit]] = {
    "kWh": "kWh",
    "kWh/kW": "kWh/kW",
    "kWh daily": "kWh/day",
    "kWh/kW daily": "kWh/kW/day",
}
_CLASSES: Final = {
    "residential": "residential",
    "commercial": "commercial",
    "industrial": "industrial",
    "agricultural": "agricultural",
}
_DESCRIPTIVE: Final = frozenset(
    {
        "label",
        "uri",
        "utility",
        "eiaid",
        "name",
        "sector",
        "servicetype",
        "source",
        "sourceparent",
        "startdate",
        "approved",
        "is_default",
        "revisions",
        "supersedes",
        "country",
        "voltagecategory",
        "phasewiring",
    }
)
"""Fields that describe the rate without changing a bill (or feed the document's header)."""

_HANDLED: Final = frozenset(
    {
        "energyratestructure",
        "energyweekdayschedule",
        "energyweekendschedule",
        "fixedchargefirstmeter",
        "fixedmonthlycharge",
        "fixedchargeunits",
        "mincharge",
        "minmonthlycharge",
        "minchargeunits",
        "flatdemandstructure",
        "flatdemandmonths",
        "flatdemandunit",
        "demandratestructure",
        "demandweekdayschedule",
        "demandweekendschedule",
        "demandrateunit",
        "demandunits",
    }
)

_UNHONOURED_IF_SET: Final[Mapping[str, str]] = {
    "enddate": "versions have no end date; the tariff stays in force after it",
    "description": "free text is not interpreted; read it for charges it states",
    "energycomments": "free text is not interpreted; read it for charges it states",
    "demandcomments": "free text is not interpreted; read it for charges it states",
    "basicinformationcomments": "free text is not interpreted; read it for charges it states",
    "dgrules": "export (distributed generation) compensation is not modelled; imports only",
    "demandratchetpercentage": "demand ratchets are not applied; billing demand is the "
    "month's own maximum",
    "demandwindow": "the demand window is not applied; demand is the maximum interval "
    "average of the load data",
    "lookbackpercent": "look-back billing demand is not applied",
    "lookbackrange": "look-back billing demand is not applied",
    "lookbackmonths": "look-back billing demand is not applied",
    "demandreactivepowercharge": "reactive demand is not charged",
    "coincidentratestructure": "coincident (system-peak) demand is not charged",
    "coincidentrateschedule": "coincident (system-peak) demand is not charged",
    "coincidentrateunit": "coincident (system-peak) demand is not charged",
    "coincidentsched": "coincident (system-peak) demand is not charged",
    "fixedchargeeaaddl": "charges for additional meters are not billed",
    "fueladjustmentsmonthly": "monthly fuel adjustments are not applied",
    "annualmincharge": "an annual minimum is not applied to monthly bills",
    "energyattrs": "extra energy attributes are not interpreted",
    "demandattrs": "extra demand attributes are not interpreted",
    "fixedattrs": "extra fixed-charge attributes are not interpreted",
    "demandmin": "eligibility limits are not checked",
    "demandmax": "eligibility limits are not checked",
    "demandhistory": "eligibility limits are not checked",
    "peakkwcapacitymin": "eligibility limits are not checked",
    "peakkwcapacitymax": "eligibility limits are not checked",
    "peakkwcapacityhistory": "eligibility limits are not checked",
    "peakkwhusagemin": "eligibility limits are not checked",
    "peakkwhusagemax": "eligibility limits are not checked",
    "peakkwhusagehistory": "eligibility limits are not checked",
    "voltageminimum": "eligibility limits are not checked",
    "voltagemaximum": "eligibility limits are not checked",
}


@dataclass(frozen=True)
class UrdbImport:
    """A URDB record as our tariff, and each field not honoured as ``"field: why"``."""

    document: TariffDocument
    not_honoured: tuple[str, ...]


def parse_urdb(text: str, source: str) -> UrdbImport:
    """Import the URDB record in JSON ``text`` read from ``source`` (a name for messages)."""
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise TariffError(
            f"{source}: line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})",
            "fix the JSON syntax or download the record again",
        ) from exc
    return import_urdb(urdb_record(data, source), source)


def looks_like_urdb(text: str) -> bool:
    """Whether ``text`` is a JSON object (a URDB record or ``{"items": …}``), not YAML."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(data, dict) and ("items" in data or "energyratestructure" in data)


def urdb_record(data: Any, source: str) -> Mapping[str, Any]:
    """The single rate record of ``data``: a bare record or OpenEI's ``{"items": [record]}``."""
    if isinstance(data, dict) and "items" in data:
        items = data["items"]
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            count = len(items) if isinstance(items, list) else "no"
            raise TariffError(
                f"{source}: items: holds {count} records, not one",
                "download one rate (OpenEI getpage=<label>) per file",
            )
        return items[0]
    if not isinstance(data, dict):
        raise TariffError(f"{source}: not a URDB rate record", "give a JSON object")
    return data


def import_urdb(record: Mapping[str, Any], source: str) -> UrdbImport:
    """Our tariff document for URDB ``record``, with the fields it cannot honour."""
    reader = _Reader(record, source)
    components = [
        *reader.fixed(),
        reader.energy(),
        *reader.flat_demand(),
        *reader.tou_demand(),
        *reader.minimum(),
    ]
    reader.note_unhonoured()
    label = str(record.get("label") or "RECORD")
    name = " — ".join(str(record[k]) for k in ("utility", "name") if record.get(k)) or label
    document = {
        "code": "URDB-" + re.sub(r"[^A-Z0-9]+", "-", label.upper()).strip("-")[:58],
        "name": name[:200],
        "customer_class": reader.customer_class(),
        "currency": "USD",
        "source": str(record.get("uri") or record.get("source") or source),
        "versions": [
            {
                "version": 1,
                "effective_from": reader.effective_from(),
                "components": components,
            }
        ],
    }
    try:
        parsed = TariffDocument.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TariffError(
            f"{source}: the imported tariff is invalid at {where}: {first['msg']}",
            "correct the record's field behind it",
        ) from exc
    return UrdbImport(parsed, tuple(reader.not_honoured))


class _Reader:
    """Reads one record's fields, naming the field in every error and every report."""

    def __init__(self, record: Mapping[str, Any], source: str) -> None:
        self.record = record
        self.source = source
        self.not_honoured: list[str] = []

    def fail(self, field: str, problem: str, fix: str) -> TariffError:
        return TariffError(f"{self.source}: {field}: {problem}", fix)

    def report(self, field: str, why: str) -> None:
        self.not_honoured.append(f"{field}: {why}")

    def number(self, value: Any, field: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
            raise self.fail(field, f"{value!r} is not a number", "give a number")
        try:
            number = Decimal(value)
        except InvalidOperation as exc:
            raise self.fail(field, f"{value!r} is not a number", "give a number") from exc
        if not number.is_finite():
            raise self.fail(field, f"{value!r} is not finite", "give a finite number")
        return number

    # -- header -------------------------------------------------------------------------------

    def customer_class(self) -> str:
        sector = str(self.record.get("sector") or "")
        cls = _CLASSES.get(sector.lower())
        if cls is None:
            self.report(
                "sector", f"{sector or 'missing'!r} has no customer class; filed as commercial"
            )
            return "commercial"
        return cls

    def effective_from(self) -> str:
        start = self.record.get("startdate")
        if start is None:
            self.report("startdate", "missing; the tariff is taken as in force from 1970-01-01")
            return date(1970, 1, 1).isoformat()
        seconds = self.number(start, "startdate")
        return datetime.fromtimestamp(int(seconds), UTC).date().isoformat()

    # -- structures ---------------------------------------------------------------------------

    def structure(self, field: str) -> list[list[Mapping[str, Any]]]:
        value = self.record[field]
        if not isinstance(value, list) or not value:
            raise self.fail(field, "is not a list of periods", "give periods × tiers")
        for p, period in enumerate(value):
            if not isinstance(period, list) or not period:
                raise self.fail(f"{field}[{p}]", "is not a list of tiers", "give tiers")
            for t, tier in enumerate(period):
                if not isinstance(tier, dict):
                    raise self.fail(f"{field}[{p}][{t}]", "is not a tier object", "give rate")
        return value

    def tier_tables(
        self, field: str, unit_of: Callable[[str, Mapping[str, Any]], None] | None = None
    ) -> list[dict[str, Any]]:
        tables: list[dict[str, Any]] = []
        for p, period in enumerate(self.structure(field)):
            tiers: list[dict[str, Any]] = []
            for t, tier in enumerate(period):
                where = f"{field}[{p}][{t}]"
                if unit_of is not None:
                    unit_of(where, tier)
                if "rate" not in tier and "adj" not in tier:
                    raise self.fail(where, "has no rate", "give rate (and adj)")
                price = self.number(tier.get("rate", 0), f"{where}.rate") + self.number(
                    tier.get("adj", 0), f"{where}.adj"
                )
                if price < 0:
                    raise self.fail(where, f"rate + adj is negative ({price})", "check rate/adj")
                if tier.get("sell"):
                    self.report(f"{where}.sell", "export is not credited; imports only")
                up_to = tier.get("max")
                last = t == len(period) - 1
                if up_to is not None and last:
                    self.report(
                        f"{where}.max",
                        f"the last block's bound {up_to} is dropped; use above it is priced "
                        "at this block's rate (NREL SAM bills nothing above it)",
                    )
                    up_to = None
                if up_to is None and not last:
                    raise self.fail(f"{where}.max", "is missing below the last tier", "give max")
                bound = None if up_to is None else self.number(up_to, f"{where}.max")
                tiers.append({"up_to": None if bound is None else str(bound), "price": str(price)})
            tables.append({"tiers": tiers})
        return tables

    def schedule(self, prefix: str, periods: int) -> dict[str, list[list[int]]]:
        """Weekday and weekend 12×24 matrices, numbered from 1."""
        matrices: dict[str, list[list[int]]] = {}
        for day, field in (
            ("weekday", f"{prefix}weekdayschedule"),
            ("weekend", f"{prefix}weekendschedule"),
        ):
            value = self.record.get(field)
            if value is None:
                if periods > 1:
                    raise self.fail(field, "is missing", "give the 12×24 period schedule")
                value = [[0] * 24 for _ in range(12)]
            matrices[day] = self.matrix(value, field, periods)
        return matrices

    def matrix(self, value: Any, field: str, periods: int) -> list[list[int]]:
        if not isinstance(value, list) or len(value) != 12:
            raise self.fail(field, "is not 12 rows (months)", "give 12 rows of 24 periods")
        rows: list[list[int]] = []
        for m, row in enumerate(value):
            if not isinstance(row, list) or len(row) != 24:
                raise self.fail(f"{field}[{m}]", "is not 24 hours", "give 24 period numbers")
            for h, cell in enumerate(row):
                if isinstance(cell, bool) or not isinstance(cell, int) or not 0 <= cell < periods:
                    raise self.fail(
                        f"{field}[{m}][{h}]",
                        f"period {cell!r} is not one of the {periods} priced",
                        f"use 0–{periods - 1}",
                    )
            rows.append([cell + 1 for cell in row])
        return rows

    def demand_unit(self, *fields: str) -> None:
        for field in fields:
            unit = self.record.get(field)
            if unit not in (None, "", "kW"):
                raise self.fail(
                    field, f"demand in {unit!r} is not supported", "only kW demand can be billed"
                )

    # -- components ---------------------------------------------------------------------------

    def energy(self) -> dict[str, Any]:
        if "energyratestructure" not in self.record:
            zero = {"tiers": [{"up_to": None, "price": "0"}]}
            return {
                "kind": "energy_periods",
                "schedule": self.schedule("energy", 1),
                "periods": [zero],
            }
        units: set[str] = set()

        def unit_of(where: str, tier: Mapping[str, Any]) -> None:
            unit = tier.get("unit", "kWh")
            if unit not in _ENERGY_UNITS:
                raise self.fail(
                    f"{where}.unit",
                    f"energy blocks in {unit!r} are not supported",
                    f"use one of {', '.join(_ENERGY_UNITS)}",
                )
            units.add(unit)

        periods = self.tier_tables("energyratestructure", unit_of)
        if len(units) > 1:
            raise self.fail(
                "energyratestructure",
                f"mixes block units {', '.join(sorted(units))}",
                "give every tier the same unit",
            )
        return {
            "kind": "energy_periods",
            "schedule": self.schedule("energy", len(periods)),
            "tier_unit": _ENERGY_UNITS[units.pop() if units else "kWh"],
            "periods": periods,
        }

    def fixed(self) -> list[dict[str, Any]]:
        field = "fixedchargefirstmeter" if "fixedchargefirstmeter" in self.record else None
        units = str(self.record.get("fixedchargeunits") or "$/month")
        if field is None and "fixedmonthlycharge" in self.record:
            field, units = "fixedmonthlycharge", "$/month"
        if field is None:
            return []
        amount = self.number(self.record[field], field)
        per = {"$/month": "month", "$/day": "day"}.get(units)
        if per is None:
            self.report(field, f"{amount} in {units!r} is not billed monthly; not charged")
            return []
        return [{"kind": "fixed", "per": per, "amount": str(amount), "name": "fixed charge"}]

    def minimum(self) -> list[dict[str, Any]]:
        field = "mincharge" if "mincharge" in self.record else None
        units = str(self.record.get("minchargeunits") or "$/month")
        if field is None and "minmonthlycharge" in self.record:
            field, units = "minmonthlycharge", "$/month"
        if field is None:
            return []
        amount = self.number(self.record[field], field)
        per = {"$/month": "month", "$/day": "day"}.get(units)
        if per is None:
            self.report(
                field, f"a minimum of {amount} in {units!r} is not applied to monthly bills"
            )
            return []
        return [{"kind": "minimum", "per": per, "amount": str(amount)}]

    def flat_demand(self) -> list[dict[str, Any]]:
        if "flatdemandstructure" not in self.record:
            return []
        self.demand_unit("demandunits", "flatdemandunit")
        seasons = self.tier_tables("flatdemandstructure")
        months = self.record.get("flatdemandmonths")
        if months is None:
            if len(seasons) > 1:
                raise self.fail("flatdemandmonths", "is missing", "give 12 season numbers")
            months = [0] * 12
        field = "flatdemandmonths"
        if not isinstance(months, list) or len(months) != 12:
            raise self.fail(field, "is not 12 months", "give one season number per month")
        for m, season in enumerate(months):
            if isinstance(season, bool) or not isinstance(season, int):
                raise self.fail(f"{field}[{m}]", f"{season!r} is not a season", "give an index")
            if not 0 <= season < len(seasons):
                raise self.fail(
                    f"{field}[{m}]",
                    f"season {season} is not one of the {len(seasons)} priced",
                    f"use 0–{len(seasons) - 1}",
                )
        return [{"kind": "demand_monthly", "months": [s + 1 for s in months], "seasons": seasons}]

    def tou_demand(self) -> list[dict[str, Any]]:
        if "demandratestructure" not in self.record:
            return []
        self.demand_unit("demandunits", "demandrateunit")
        periods = self.tier_tables("demandratestructure")
        return [
            {
                "kind": "demand_tou",
                "schedule": self.schedule("demand", len(periods)),
                "periods": periods,
            }
        ]

    def note_unhonoured(self) -> None:
        for field, value in self.record.items():
            if field in _DESCRIPTIVE or field in _HANDLED or not _is_set(value):
                continue
            why = _UNHONOURED_IF_SET.get(field.lower(), "not recognised by the importer")
            self.report(field, f"{why} ({_short(value)})")


def _is_set(value: Any) -> bool:
    """Whether a field says something: not null, empty, blank or all zeros."""
    if value is None or value == "" or value == [] or value == {}:
        return False
    if isinstance(value, Sequence) and not isinstance(value, str):
        return any(_is_set(v) for v in value)
    return not (isinstance(value, int | Decimal) and not isinstance(value, bool) and value == 0)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "…"
