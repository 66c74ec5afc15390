"""Each meter's daily mean temperature: its zone's series, else the whole utility's."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import pandas as pd

from meter2cash.weather.models import WHOLE_UTILITY


@dataclass(frozen=True)
class MeterTemperatures:
    """Daily mean temperatures [°C] by series, and the zone of each meter."""

    daily: pd.DataFrame
    """Index: local dates (``datetime.date``); one float column per zone code with weather,
    and :data:`WHOLE_UTILITY` when the utility has a series of its own; NaN = not given."""
    zone_of: Mapping[str, str]
    """meter_no → code of the zone it is installed in now."""

    def series_key(self, meter_no: str) -> str | None:
        """Whose weather ``meter_no`` takes: its zone's (filled from the whole utility's on
        days the zone lacks), the whole utility's, or none."""
        zone = self.zone_of.get(meter_no)
        if zone is not None and zone in self.daily.columns:
            return zone
        return WHOLE_UTILITY if WHOLE_UTILITY in self.daily.columns else None

    def series(self, key: str) -> pd.Series:
        """The daily mean temperature [°C] of series ``key`` by local date."""
        own = self.daily[key]
        if key != WHOLE_UTILITY and WHOLE_UTILITY in self.daily.columns:
            return own.fillna(self.daily[WHOLE_UTILITY])
        return own

    def groups(self, meters: Collection[str]) -> dict[str | None, list[str]]:
        """``meters`` grouped by :meth:`series_key`, in the order given."""
        out: dict[str | None, list[str]] = {}
        for meter in meters:
            out.setdefault(self.series_key(meter), []).append(meter)
        return out


def describe(key: str) -> str:
    """``zone Z1`` or ``the whole utility``, for messages."""
    return "the whole utility" if key == WHOLE_UTILITY else f"zone {key}"
