"""The community's calendar: weekends, and the holidays its language celebrates.

Lunar holidays (春节, 元宵, 端午, 七夕, 中秋, 重阳, 除夕) come from ``lunardate`` (the
Chinese calendar as published tables, 1900-2099: no astronomy of ours). 清明 is a solar term,
not a lunar date: its day (April 4 or 5) is a table for 2024-2040 taken from python-holidays'
Chinese calendar and checked by the tests; outside it, 清明 is not marked. Easter is
``dateutil``'s Western Easter; Thanksgiving is the fourth Thursday of November (US).

A holiday is a key (its name is in the persona pack, ``moments.holiday.<key>``) or a
community's own (its name as the operators wrote it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

from dateutil.easter import easter
from lunardate import LunarDate

__all__ = [
    "CALENDARS",
    "QINGMING_DAY",
    "Occasion",
    "holidays_in",
    "holidays_on",
    "weekend_of",
]

#: The day of April 清明 falls on (the solar term of 15° solar longitude, in China's time).
QINGMING_DAY: dict[int, int] = {
    2024: 4, 2025: 4, 2026: 5, 2027: 5, 2028: 4, 2029: 4, 2030: 5, 2031: 5, 2032: 4,
    2033: 4, 2034: 5, 2035: 5, 2036: 4, 2037: 4, 2038: 5, 2039: 5, 2040: 4,
}  # fmt: skip

Finder = Callable[[int], date | None]


def _fixed(month: int, day: int) -> Finder:
    return lambda year: date(year, month, day)


def _lunar(month: int, day: int, shift: int = 0) -> Finder:
    def find(year: int) -> date | None:
        try:
            return LunarDate(year, month, day).to_solar_date() + timedelta(days=shift)
        except ValueError:  # outside the library's years
            return None

    return find


def _qingming(year: int) -> date | None:
    day = QINGMING_DAY.get(year)
    return date(year, 4, day) if day else None


def _thanksgiving(year: int) -> date:
    first = date(year, 11, 1)
    return first + timedelta(days=(3 - first.weekday()) % 7 + 21)


#: Built-in holidays by calendar: key -> the day it falls on in a (Gregorian) year. 除夕 is
#: the day before 春节 (the twelfth month has 29 or 30 days).
CALENDARS: dict[str, dict[str, Finder]] = {
    "zh-CN": {
        "new_year": _fixed(1, 1),
        "chuxi": _lunar(1, 1, -1),
        "spring_festival": _lunar(1, 1),
        "lantern": _lunar(1, 15),
        "qingming": _qingming,
        "labour_day": _fixed(5, 1),
        "dragon_boat": _lunar(5, 5),
        "qixi": _lunar(7, 7),
        "mid_autumn": _lunar(8, 15),
        "national_day": _fixed(10, 1),
        "double_ninth": _lunar(9, 9),
    },
    "en": {
        "new_year": _fixed(1, 1),
        "valentines": _fixed(2, 14),
        "easter": easter,
        "halloween": _fixed(10, 31),
        "thanksgiving": _thanksgiving,
        "christmas_eve": _fixed(12, 24),
        "christmas": _fixed(12, 25),
        "new_years_eve": _fixed(12, 31),
    },
}

CalendarChoice = Literal["auto", "zh-CN", "en", "both", "none"]


@dataclass(frozen=True, slots=True)
class Occasion:
    """A holiday on a day: a built-in ``key`` (named by the pack) or a community's ``name``."""

    key: str
    day: date
    name: str | None = None

    @property
    def claim_key(self) -> str:
        """What makes it once: the holiday and its year (a community's own by its date)."""
        if self.name is None:
            return f"{self.key}:{self.day.year}"
        return f"own:{self.day.isoformat()}"


def calendars_for(choice: CalendarChoice, locale: str) -> tuple[str, ...]:
    if choice == "none":
        return ()
    if choice == "both":
        return tuple(CALENDARS)
    if choice == "auto":
        return (locale,) if locale in CALENDARS else ()
    return (choice,)


@lru_cache(maxsize=256)
def _built_in(calendar: str, year: int) -> dict[date, tuple[str, ...]]:
    days: dict[date, tuple[str, ...]] = {}
    for key, find in CALENDARS[calendar].items():
        day = find(year)
        if day is not None and day.year == year:
            days[day] = (*days.get(day, ()), key)
    return days


def holidays_on(
    day: date,
    calendars: Iterable[str],
    own: Sequence[tuple[int, int, str]] = (),
) -> list[Occasion]:
    """The holidays on ``day``: a community's own first (the operators chose them), then the
    built-in ones in the calendars' order (a key once, even if two calendars have it)."""
    found = [
        Occasion("own", day, name) for month, d, name in own if (month, d) == (day.month, day.day)
    ]
    seen: set[str] = set()
    for calendar in calendars:
        for key in _built_in(calendar, day.year).get(day, ()):
            if key not in seen:
                seen.add(key)
                found.append(Occasion(key, day))
    return found


def holidays_in(
    first: date,
    last: date,
    calendars: Sequence[str],
    own: Sequence[tuple[int, int, str]] = (),
) -> list[Occasion]:
    """The holidays from ``first`` to ``last``, both included, in date order."""
    found: list[Occasion] = []
    day = first
    while day <= last:
        found += holidays_on(day, calendars, own)
        day += timedelta(days=1)
    return found


def weekend_of(day: date) -> str | None:
    """The weekend ``day`` belongs to (``2026-W48``), or ``None`` on a weekday."""
    if day.weekday() < 5:
        return None
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
