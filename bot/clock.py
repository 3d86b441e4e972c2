"""Injectable time, so that code never calls ``datetime.now()`` and tests move a fake clock."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = [
    "Clock",
    "FakeClock",
    "OffsetClock",
    "RepeatableEntropy",
    "SystemClock",
    "looks_like_duration",
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


#: Units members type, after NFKC and casefolding: English words and abbreviations, Chinese.
_UNIT_SECONDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds", "秒", "秒钟"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes", "分", "分钟"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours", "小时", "个小时", "钟头", "个钟头"), 3600),
    **dict.fromkeys(("d", "day", "days", "天", "日"), 86400),
    **dict.fromkeys(
        ("w", "wk", "wks", "week", "weeks", "周", "星期", "个星期", "礼拜", "个礼拜"), 604800
    ),
}
_CHINESE_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_NUMBER = r"(?:\d{1,6}(?:\.\d{1,3})?|[零一二两三四五六七八九十]{1,3}|半)"
_UNIT = "|".join(sorted((re.escape(unit) for unit in _UNIT_SECONDS), key=len, reverse=True))
_PART = re.compile(rf"({_NUMBER})\s*(个半|个)?\s*({_UNIT})(半)?\s*")
#: A word that is meant as a duration even if it cannot be read: a number followed by Latin
#: letters only (``7dayz``, ``2xyz``, ``90``), or a number followed by a Chinese time unit.
_LOOKS_LATIN = re.compile(r"\d[\d.]*[a-z\d.]*")
_LOOKS_CHINESE = re.compile(rf"{_NUMBER}\s*个?\s*(?:小时|钟头|分|秒|天|日|周|星期|礼拜|月|年|时)")


def _small_number(text: str) -> float | None:
    """``12``, ``1.5``, ``两``, ``十二``, ``二十``, ``半``: small numbers as members write them."""
    if text == "半":
        return 0.5
    if text[0].isdigit():
        return float(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        if (
            "十" in ones
            or (tens and tens not in _CHINESE_DIGITS)
            or (ones and ones not in _CHINESE_DIGITS)
        ):
            return None
        return 10 * (_CHINESE_DIGITS[tens] if tens else 1) + (_CHINESE_DIGITS[ones] if ones else 0)
    if len(text) != 1:
        return None
    return float(_CHINESE_DIGITS[text])


def _normal(text: str) -> str:
    """Full-width digits and letters read as ASCII; case and outer spaces ignored."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def parse_duration(text: str) -> timedelta | None:
    """A duration as people type it: ``30m``, ``2h``, ``2 h``, ``1.5h``, ``2 hours``, ``90m``,
    ``1d12h``, ``1w``, ``2小时``, ``30分钟``, ``1天``, ``半小时``, ``一个半小时``, ``两天``, ``1周``,
    full-width digits too; ``None`` when the text is not one. Bounds are the caller's."""
    normal = _normal(text)
    if not normal:
        return None
    seconds, position = 0.0, 0
    while position < len(normal):
        match = _PART.match(normal, position)
        if match is None:
            return None
        number, middle, unit, after = match.groups()
        amount = _small_number(number)
        if amount is None or (middle == "个半" and after) or (number == "半" and (middle or after)):
            return None
        if middle == "个半" or after:
            amount += 0.5
        seconds += amount * _UNIT_SECONDS[unit]
        position = match.end()
        if seconds > 10**9:
            return None
    return timedelta(seconds=round(seconds))


def looks_like_duration(text: str) -> bool:
    """Whether a word was meant as a duration (``7dayz``, ``2xyz``, ``0h``, ``1个月``), so that
    it is refused when unreadable rather than taken as the start of a reason."""
    normal = _normal(text)
    return bool(normal) and (
        parse_duration(normal) is not None
        or _LOOKS_LATIN.fullmatch(normal) is not None
        or _LOOKS_CHINESE.match(normal) is not None
    )


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
