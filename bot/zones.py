"""Time zone names as people type them: one parser for ``/timezone`` and the config.

``parse_zone`` accepts an IANA name in any case (``asia/shanghai``), a city without its region
(``Shanghai``, ``new york``), a common alias (``北京``, ``香港``, ``Beijing``, ``PST``), a
whole-hour offset (``UTC+8``, ``GMT-5``, ``+8``, ``东八区``) and gives back a key that
``zoneinfo.ZoneInfo`` opens. Anything else is ``None``: the caller refuses it with examples.
It never touches the file system with member text (``ZoneInfo("Asia")`` raises
``IsADirectoryError``; a 255-byte name raises ``OSError``), so no input can crash it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo

__all__ = ["ZONE_EXAMPLES", "parse_zone", "zone_label"]

#: Shown when a zone is refused.
ZONE_EXAMPLES = ("Asia/Shanghai", "UTC+8", "北京", "America/New_York", "GMT-5")

#: Longer input is not a zone name (the longest IANA name has 32 characters).
LONGEST = 64

#: Names people use that are not IANA keys, or that should mean a place rather than a fixed
#: offset (``EST`` is an IANA key without daylight saving; people mean New York). Ambiguous
#: abbreviations (``CST``: China or Central; ``IST``: India, Israel or Ireland) are left out.
ALIASES: dict[str, str] = {
    # Chinese names of the places our members most often live in.
    "北京": "Asia/Shanghai",
    "上海": "Asia/Shanghai",
    "中国": "Asia/Shanghai",
    "北京时间": "Asia/Shanghai",
    "香港": "Asia/Hong_Kong",
    "澳门": "Asia/Macau",
    "台北": "Asia/Taipei",
    "台湾": "Asia/Taipei",
    "东京": "Asia/Tokyo",
    "日本": "Asia/Tokyo",
    "首尔": "Asia/Seoul",
    "韩国": "Asia/Seoul",
    "新加坡": "Asia/Singapore",
    "吉隆坡": "Asia/Kuala_Lumpur",
    "曼谷": "Asia/Bangkok",
    "纽约": "America/New_York",
    "洛杉矶": "America/Los_Angeles",
    "旧金山": "America/Los_Angeles",
    "西雅图": "America/Los_Angeles",
    "芝加哥": "America/Chicago",
    "温哥华": "America/Vancouver",
    "多伦多": "America/Toronto",
    "伦敦": "Europe/London",
    "英国": "Europe/London",
    "巴黎": "Europe/Paris",
    "柏林": "Europe/Berlin",
    "莫斯科": "Europe/Moscow",
    "悉尼": "Australia/Sydney",
    "墨尔本": "Australia/Melbourne",
    "奥克兰": "Pacific/Auckland",
    # English names that are not the last part of an IANA key.
    "beijing": "Asia/Shanghai",
    "peking": "Asia/Shanghai",
    "china": "Asia/Shanghai",
    "hongkong": "Asia/Hong_Kong",
    "taiwan": "Asia/Taipei",
    "japan": "Asia/Tokyo",
    "korea": "Asia/Seoul",
    "los angeles": "America/Los_Angeles",
    "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "nyc": "America/New_York",
    "washington": "America/New_York",
    "uk": "Europe/London",
    # Abbreviations that name one place.
    "pst": "America/Los_Angeles",
    "pdt": "America/Los_Angeles",
    "pt": "America/Los_Angeles",
    "mst": "America/Denver",
    "mdt": "America/Denver",
    "est": "America/New_York",
    "edt": "America/New_York",
    "et": "America/New_York",
    "bst": "Europe/London",
    "cet": "Europe/Paris",
    "cest": "Europe/Paris",
    "jst": "Asia/Tokyo",
    "kst": "Asia/Seoul",
    "hkt": "Asia/Hong_Kong",
    "sgt": "Asia/Singapore",
    "utc": "UTC",
    "gmt": "UTC",
    "z": "UTC",
}

_OFFSET = re.compile(r"(?:utc|gmt)?([+-])(\d{1,2})(?::?00)?")
_CHINESE_OFFSET = re.compile(r"([东西])([一二三四五六七八九十]{1,3}|\d{1,2})区")
_CHINESE_DIGITS = {
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
    "十一": 11,
    "十二": 12,
}


@functools.cache
def _known() -> dict[str, str]:
    """Every IANA key by its case-folded name, and by its last part when that is unique
    (``shanghai``, ``new_york``)."""
    keys = zoneinfo.available_timezones()
    by_name = {key.casefold(): key for key in keys}
    by_city: dict[str, set[str]] = {}
    for key in keys:
        if "/" in key and not key.startswith("Etc/"):  # Etc/GMT-5 is UTC+5: never by its tail
            by_city.setdefault(key.rsplit("/", 1)[1].casefold(), set()).add(key)
    for city, found in by_city.items():
        if len(found) == 1 and city not in by_name:
            by_name[city] = found.pop()
    return by_name


def _offset_zone(sign: str, hours: int) -> str | None:
    """A whole-hour offset as an ``Etc/GMT`` key (whose sign is POSIX's: UTC+8 is GMT-8)."""
    east = sign in ("+", "东")
    if hours == 0:
        return "UTC"
    if (east and hours > 14) or (not east and hours > 12):
        return None
    return f"Etc/GMT{'-' if east else '+'}{hours}"


def parse_zone(text: str) -> str | None:
    """The IANA key ``text`` names (see the module docstring), or ``None``."""
    if not isinstance(text, str) or len(text) > LONGEST:
        return None
    value = " ".join(unicodedata.normalize("NFKC", text).split()).casefold()
    if not value:
        return None
    if value in ALIASES:
        return ALIASES[value]
    compact = value.replace(" ", "")
    # Offsets first: people mean UTC+8 by GMT+8, which the IANA key GMT+8 is not.
    if match := _OFFSET.fullmatch(compact):
        return _offset_zone(match[1], int(match[2]))
    known = _known()
    for candidate in (value, value.replace(" ", "_")):
        if candidate in known:
            return known[candidate]
    if match := _CHINESE_OFFSET.fullmatch(compact):
        number = match[2]
        hours = int(number) if number.isdigit() else _CHINESE_DIGITS.get(number)
        return None if hours is None else _offset_zone(match[1], hours)
    return None


def zone_label(key: str) -> str:
    """How a zone is shown: ``Etc/GMT-8`` (POSIX's inverted sign) reads ``UTC+8``."""
    if key.startswith("Etc/GMT") and key[7:8] in ("+", "-"):
        return f"UTC{'-' if key[7] == '+' else '+'}{key[8:]}"
    return key
