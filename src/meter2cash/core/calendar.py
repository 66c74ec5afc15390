"""Public holidays and day types (workday, weekend, holiday) of the utility's local dates.

:data:`CHINA` is the built-in calendar: Chinese public holidays and adjusted working days
(调休上班) from the State Council General Office notices (国务院办公厅关于…部分节假日安排的通知)
for 2024, 2025 and 2026. The 2027 notice is not yet published: its entries are a provisional
estimate from the lunar calendar and the 2025 rules, to be replaced when the notice appears
(``m2c calendar load``). Outside 2024–2027 only weekends are known.

A utility's own list replaces the built-in one year by year (:meth:`HolidayCalendar.replaced_by`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

DayType = Literal["workday", "weekend", "holiday"]
DAY_TYPES: Final[tuple[DayType, ...]] = ("workday", "weekend", "holiday")
"""Day types in index order: 0 workday, 1 weekend, 2 holiday."""
WORKDAY, WEEKEND, HOLIDAY = 0, 1, 2
_EPOCH_WEEKDAY: Final = 3
"""1970-01-01, day 0 of ``datetime64[D]``, was a Thursday (Monday = 0)."""


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _days(*spans: tuple[date, date]) -> frozenset[date]:
    return frozenset(d for first, last in spans for d in _span(first, last))


D = date
HOLIDAYS: Final[frozenset[date]] = _days(
    # 2024
    (D(2024, 1, 1), D(2024, 1, 1)),
    (D(2024, 2, 10), D(2024, 2, 17)),
    (D(2024, 4, 4), D(2024, 4, 6)),
    (D(2024, 5, 1), D(2024, 5, 5)),
    (D(2024, 6, 10), D(2024, 6, 10)),
    (D(2024, 9, 15), D(2024, 9, 17)),
    (D(2024, 10, 1), D(2024, 10, 7)),
    # 2025
    (D(2025, 1, 1), D(2025, 1, 1)),
    (D(2025, 1, 28), D(2025, 2, 4)),
    (D(2025, 4, 4), D(2025, 4, 6)),
    (D(2025, 5, 1), D(2025, 5, 5)),
    (D(2025, 5, 31), D(2025, 6, 2)),
    (D(2025, 10, 1), D(2025, 10, 8)),
    # 2026
    (D(2026, 1, 1), D(2026, 1, 3)),
    (D(2026, 2, 15), D(2026, 2, 23)),
    (D(2026, 4, 4), D(2026, 4, 6)),
    (D(2026, 5, 1), D(2026, 5, 5)),
    (D(2026, 6, 19), D(2026, 6, 21)),
    (D(2026, 9, 25), D(2026, 9, 27)),
    (D(2026, 10, 1), D(2026, 10, 7)),
    # 2027 (provisional)
    (D(2027, 1, 1), D(2027, 1, 3)),
    (D(2027, 2, 5), D(2027, 2, 13)),
    (D(2027, 4, 3), D(2027, 4, 5)),
    (D(2027, 5, 1), D(2027, 5, 5)),
    (D(2027, 6, 9), D(2027, 6, 9)),
    (D(2027, 9, 15), D(2027, 9, 15)),
    (D(2027, 10, 1), D(2027, 10, 7)),
)
"""Public holidays including the weekend days absorbed into each break."""

ADJUSTED_WORKDAYS: Final[frozenset[date]] = frozenset(
    {
        D(2024, 2, 4),
        D(2024, 2, 18),
        D(2024, 4, 7),
        D(2024, 4, 28),
        D(2024, 5, 11),
        D(2024, 9, 14),
        D(2024, 9, 29),
        D(2024, 10, 12),
        D(2025, 1, 26),
        D(2025, 2, 8),
        D(2025, 4, 27),
        D(2025, 9, 28),
        D(2025, 10, 11),
        D(2026, 1, 4),
        D(2026, 2, 14),
        D(2026, 2, 28),
        D(2026, 5, 9),
        D(2026, 9, 20),
        D(2026, 10, 10),
        D(2027, 2, 20),
        D(2027, 4, 25),
        D(2027, 9, 26),
        D(2027, 10, 9),
    }
)
"""Weekend days worked in exchange for a longer break (调休上班)."""
del D


def _days64(days: Collection[date]) -> npt.NDArray[np.datetime64]:
    return np.array(sorted(days), dtype="datetime64[D]")


@dataclass(frozen=True, slots=True)
class HolidayCalendar:
    """Public holidays and the weekend days worked instead (local dates); every other
    Saturday and Sunday is a weekend, every other day a workday."""

    holidays: frozenset[date]
    """Public holidays, including the weekend days absorbed into each break."""
    workdays: frozenset[date]
    """Weekend days worked in exchange for a longer break (调休上班)."""

    def day_type(self, day: date) -> DayType:
        """The day type of local ``day``; adjusted working days count as workdays.

        >>> CHINA.day_type(date(2026, 10, 1)), CHINA.day_type(date(2026, 9, 20))
        ('holiday', 'workday')
        """
        if day in self.holidays:
            return "holiday"
        if day in self.workdays:
            return "workday"
        return "weekend" if day.weekday() >= 5 else "workday"

    def day_type_index(
        self, days: Iterable[date] | npt.NDArray[np.datetime64]
    ) -> npt.NDArray[np.int8]:
        """Indices into :data:`DAY_TYPES` for local ``days`` (dates or ``datetime64[D]``)."""
        d = np.asarray(days if isinstance(days, np.ndarray) else list(days), dtype="datetime64[D]")
        weekday = (d.astype(np.int64) + _EPOCH_WEEKDAY) % 7
        index = np.where(weekday >= 5, WEEKEND, WORKDAY).astype(np.int8)
        index[np.isin(d, _days64(self.workdays))] = WORKDAY
        index[np.isin(d, _days64(self.holidays))] = HOLIDAY
        return index

    def day_types(self, days: Iterable[date] | npt.NDArray[np.datetime64]) -> npt.NDArray[np.str_]:
        """Day type names (``workday`` | ``weekend`` | ``holiday``) of local ``days``."""
        return np.array(DAY_TYPES)[self.day_type_index(days)]

    def replaced_by(
        self, holidays: Collection[date], workdays: Collection[date]
    ) -> HolidayCalendar:
        """This calendar with every year that ``holidays`` or ``workdays`` mention replaced
        whole by them (a utility's own list for those years).

        >>> own = CHINA.replaced_by({date(2027, 2, 6)}, set())
        >>> own.day_type(date(2027, 2, 5)), own.day_type(date(2026, 10, 1))
        ('workday', 'holiday')
        """
        years = {d.year for d in (*holidays, *workdays)}
        return HolidayCalendar(
            frozenset(d for d in self.holidays if d.year not in years) | frozenset(holidays),
            frozenset(d for d in self.workdays if d.year not in years) | frozenset(workdays),
        )


CHINA: Final = HolidayCalendar(HOLIDAYS, ADJUSTED_WORKDAYS)
"""The built-in calendar: China's public holidays and adjusted working days, 2024–2027."""
