"""Community days for reports: the fast day search agrees with the exact conversion, across
daylight saving changes and day reset hours; periods and hour slots."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.insight_reports import Calendar, Days


@pytest.mark.parametrize(
    ("zone", "reset"), [("America/New_York", 0), ("America/New_York", 4), ("Asia/Shanghai", 6)]
)
def test_the_day_search_agrees_with_day_of(zone: str, reset: int) -> None:
    calendar = Calendar(ZoneInfo(zone), reset)
    find = calendar.finder(date(2026, 3, 1), date(2026, 11, 30))
    moment = datetime(2026, 2, 27, tzinfo=UTC)  # starts before the range, ends after it
    while moment < datetime(2026, 12, 3, tzinfo=UTC):
        assert find(moment) == calendar.day_of(moment), moment
        moment += timedelta(minutes=37)


def test_a_day_starts_at_the_reset_hour_in_the_zone() -> None:
    calendar = Calendar(ZoneInfo("Asia/Shanghai"), 4)
    start = calendar.start(date(2026, 11, 27))
    assert start == datetime(2026, 11, 26, 20, tzinfo=UTC)
    assert calendar.day_of(start) == date(2026, 11, 27)
    assert calendar.day_of(start - timedelta(microseconds=1)) == date(2026, 11, 26)
    # the heatmap's slot is the clock members see: 02:00 on the 27th, not the 26th's night
    assert calendar.slot(datetime(2026, 11, 26, 18, tzinfo=UTC)) == (date(2026, 11, 27), 2)


def test_periods_and_the_period_before() -> None:
    week = Days.ending(date(2026, 11, 27), 7)
    assert (week.first, week.count) == (date(2026, 11, 21), 7)
    assert week.previous() == Days(date(2026, 11, 14), date(2026, 11, 20))
    assert week.each()[0] == week.first and week.each()[-1] == week.last
