"""Reading /schedule's time rules: one-offs, every-day/week forms in English and Chinese,
crontab rules (weekdays counted from Sunday, as cron does), and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from handlers.announcements import BadSchedule, crontab_weekdays, next_fire, parse_schedule

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
#: Saturday 2026-11-21, 09:00 in Shanghai.
NOW = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)


def local(spec: str, zone: ZoneInfo = SHANGHAI) -> str:
    return f"{parse_schedule(spec, zone, NOW).first.astimezone(zone):%a %Y-%m-%d %H:%M}"


@pytest.mark.parametrize(
    ("spec", "first"),
    [
        ("2026-12-01 09:00", "Tue 2026-12-01 09:00"),
        ("2026-12-01 9：05", "Tue 2026-12-01 09:05"),
        ("every friday 20:00", "Fri 2026-11-27 20:00"),
        ("Every Fri at 20:00", "Fri 2026-11-27 20:00"),
        ("every day 09:00", "Sun 2026-11-22 09:00"),  # 09:00 today is now: next is tomorrow
        ("every day 09:01", "Sat 2026-11-21 09:01"),
        ("daily 18:30", "Sat 2026-11-21 18:30"),
        ("every weekday 08:30", "Mon 2026-11-23 08:30"),
        ("every mon, wed 20:00", "Mon 2026-11-23 20:00"),
        ("每周五 20:00", "Fri 2026-11-27 20:00"),
        ("每周日20:00", "Sun 2026-11-22 20:00"),
        ("每天 09:30", "Sat 2026-11-21 09:30"),
        ("工作日 09:00", "Mon 2026-11-23 09:00"),
        ("周末 10:00", "Sat 2026-11-21 10:00"),
        ("0 9 * * 1-5", "Mon 2026-11-23 09:00"),  # cron's 1-5 is Monday to Friday
        ("30 20 * * 0", "Sun 2026-11-22 20:30"),  # cron's 0 is Sunday
        ("0 10 1 * *", "Tue 2026-12-01 10:00"),
    ],
)
def test_forms(spec: str, first: str) -> None:
    assert local(spec) == first


def test_crontab_weekdays_are_counted_from_sunday() -> None:
    assert crontab_weekdays("1-5") == "mon,tue,wed,thu,fri"
    assert crontab_weekdays("0,7") == "sun"
    assert crontab_weekdays("5-7") == "fri,sat,sun"
    assert crontab_weekdays("*/2") == "sun,tue,thu,sat"
    assert crontab_weekdays("mon-fri") == "mon,tue,wed,thu,fri"
    for bad in ("8", "5-1", "1/0", "funday"):
        with pytest.raises(ValueError):
            crontab_weekdays(bad)


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ("every blursday 20:00", "announcements.bad_spec"),
        ("every friday 25:00", "announcements.bad_spec"),
        ("2026-13-01 09:00", "error.bad_date"),  # a date, but not a real one
        ("9999-12-31 23:59", "error.bad_date"),  # a date, but not one to wait for
        ("tomorrow", "announcements.bad_spec"),
        ("61 * * * *", "announcements.bad_spec"),
        ("0 9 * * 8", "announcements.bad_spec"),
        ("2026-11-20 09:00", "announcements.past"),
        ("2026-11-21 09:00", "announcements.past"),  # now is not the future
        ("0 0 31 2 *", "announcements.never"),
        ("*/30 * * * *", "announcements.too_often"),
        ("0,30 9 * * *", "announcements.too_often"),
    ],
)
def test_refusals_say_why_and_name_what_was_typed(spec: str, key: str) -> None:
    with pytest.raises(BadSchedule) as refused:
        parse_schedule(spec, SHANGHAI, NOW)
    assert refused.value.key == key
    assert refused.value.values["value"] == spec


def test_sunday_nine_stays_nine_in_new_york_across_both_dst_changes() -> None:
    rule = parse_schedule("every sunday 09:00", NEW_YORK, datetime(2026, 2, 25, tzinfo=UTC))
    assert rule.cron is not None
    fires, moment = [], rule.first
    while moment < datetime(2026, 11, 10, tzinfo=UTC):
        fires.append(moment)
        following = next_fire(rule.cron, NEW_YORK, moment + timedelta(seconds=1))
        assert following is not None
        moment = following
    assert {f"{fire.astimezone(NEW_YORK):%a %H:%M}" for fire in fires} == {"Sun 09:00"}
    utc_hours = {fire.date().isoformat(): fire.hour for fire in fires}
    assert utc_hours["2026-03-01"] == 14 and utc_hours["2026-03-08"] == 13  # EST -> EDT
    assert utc_hours["2026-10-25"] == 13 and utc_hours["2026-11-01"] == 14  # EDT -> EST
    assert len(fires) == 37
