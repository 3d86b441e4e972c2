"""Injectable time, so that code never calls ``datetime.now()`` and tests move a fake clock."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = [
    "Clock",
    "FakeClock",
    "OffsetClock",
    "RepeatableEntropy",
    "SystemClock",
    "parse_duration",
    "parse_offset",
    "utc",
]


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Clock(Protocol):
    """Tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that stands still until a test (or the console's ``/clock``) moves it."""

    def __init__(self, start: datetime) -> None:
        self._now = utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, when: datetime) -> None:
        self._now = utc(when)


class OffsetClock:
    """The real clock plus an offset: the console uses it so ``/clock +1d`` shows tomorrow."""

    def __init__(self, base: Clock | None = None) -> None:
        self._base = base or SystemClock()
        self._offset = timedelta()

    def now(self) -> datetime:
        return self._base.now() + self._offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta


_OFFSET = re.compile(r"^\s*\+?\s*(\d{1,5})\s*([dhm])\s*$", re.IGNORECASE)
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_offset(text: str) -> timedelta | None:
    """Parse ``+1d``, ``+3h`` or ``+30m``; ``None`` when the text is not such an offset."""
    match = _OFFSET.match(text)
    if not match:
        return None
    amount, unit = match.groups()
    return timedelta(**{_UNITS[unit.lower()]: int(amount)})


_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta | None:
    """``30m``, ``2h``, ``1d``, ``1w`` (or ``45s``); ``None`` when the text is not a duration."""
    match = _DURATION.match(text)
    if not match:
        return None
    amount, unit = match.groups()
    return timedelta(**{_DURATION_UNITS[unit.lower()]: int(amount)})


class RepeatableEntropy:
    """Random-looking hex tokens that are the same run after run, for demos with a fixed
    console clock (``[console] start_time``) and for tests; real groups use ``secrets``."""

    def __init__(self, seed: str) -> None:
        self._seed = seed
        self._counter = 0

    def __call__(self, nbytes: int) -> str:
        self._counter += 1
        digest = hashlib.sha256(f"{self._seed}:{self._counter}".encode()).hexdigest()
        return digest[: 2 * min(nbytes, 32)]
