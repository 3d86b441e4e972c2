"""The community's calendar: lunar holidays from ``lunardate``, 清明 from its checked table,
Easter and Thanksgiving, a community's own days, weekends; and the moments' priority order."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from handlers.moments import MomentSettings, checkin_candidates
from handlers.moments.calendar import (
    CALENDARS,
    QINGMING_DAY,
    calendars_for,
    holidays_in,
    holidays_on,
    weekend_of,
)
from persona import default_packs
from storage.moments import MomentFacts


def keys_on(day: date, calendars: tuple[str, ...] = ("zh-CN",)) -> list[str]:
    return [o.key for o in holidays_on(day, calendars)]


@pytest.mark.parametrize(
    ("day", "key"),
    [
        (date(2026, 2, 17), "spring_festival"),  # 2026 春节
        (date(2027, 2, 6), "spring_festival"),  # 2027 春节
        (date(2026, 2, 16), "chuxi"),  # the day before (the twelfth month had 29 days)
        (date(2026, 3, 3), "lantern"),
        (date(2026, 4, 5), "qingming"),
        (date(2026, 6, 19), "dragon_boat"),
        (date(2026, 8, 19), "qixi"),
        (date(2026, 9, 25), "mid_autumn"),  # 2026 中秋
        (date(2027, 9, 15), "mid_autumn"),
        (date(2026, 10, 18), "double_ninth"),
        (date(2026, 10, 1), "national_day"),
        (date(2026, 5, 1), "labour_day"),
        (date(2026, 1, 1), "new_year"),
    ],
)
def test_chinese_holidays_fall_on_their_known_days(day: date, key: str) -> None:
    assert key in keys_on(day)


@pytest.mark.parametrize(
    ("day", "key"),
    [
        (date(2026, 4, 5), "easter"),
        (date(2027, 3, 28), "easter"),
        (date(2026, 11, 26), "thanksgiving"),  # the fourth Thursday
        (date(2027, 11, 25), "thanksgiving"),
        (date(2026, 12, 25), "christmas"),
        (date(2026, 10, 31), "halloween"),
        (date(2026, 2, 14), "valentines"),
    ],
)
def test_english_holidays_fall_on_their_known_days(day: date, key: str) -> None:
    assert key in keys_on(day, ("en",))


def test_qingming_table_covers_2024_to_2040_on_april_4_or_5() -> None:
    assert sorted(QINGMING_DAY) == list(range(2024, 2041))
    assert set(QINGMING_DAY.values()) == {4, 5}
    assert (QINGMING_DAY[2024], QINGMING_DAY[2025], QINGMING_DAY[2026]) == (4, 4, 5)
    assert "qingming" not in keys_on(date(2041, 4, 5))  # outside the table: not guessed


def test_ordinary_days_and_the_choice_of_calendars() -> None:
    assert keys_on(date(2026, 11, 25)) == []
    assert calendars_for("auto", "en") == ("en",)
    assert calendars_for("auto", "fr") == ()
    assert calendars_for("none", "zh-CN") == ()
    both = holidays_on(date(2026, 1, 1), calendars_for("both", "en"))
    assert [o.key for o in both] == ["new_year"]  # once, though both calendars have it


def test_own_holidays_come_first_and_are_keyed_by_their_date() -> None:
    found = holidays_on(date(2026, 9, 25), ("zh-CN",), [(9, 25, "社庆")])
    assert [(o.key, o.name) for o in found] == [("own", "社庆"), ("mid_autumn", None)]
    assert [o.claim_key for o in found] == ["own:2026-09-25", "mid_autumn:2026"]
    week = holidays_in(date(2026, 9, 20), date(2026, 10, 2), ("zh-CN",))
    assert [o.key for o in week] == ["mid_autumn", "national_day"]


def test_weekends() -> None:
    assert weekend_of(date(2026, 11, 21)) == weekend_of(date(2026, 11, 22)) == "2026-W47"
    assert weekend_of(date(2026, 11, 23)) is None


def test_every_holiday_is_named_and_greeted_in_every_locale() -> None:
    packs = default_packs()
    keys = {key for calendar in CALENDARS.values() for key in calendar} | {"own"}
    for locale in ("zh-CN", "en"):
        have = packs.keys(locale)
        missing = {f"moments.greeting.{k}" for k in keys} - have
        missing |= {f"moments.holiday.{k}" for k in keys - {"own"}} - have
        assert not missing, (locale, sorted(missing))


def facts(**changes: object) -> MomentFacts:
    base = {
        "checkins": 5,
        "last_seen": date(2026, 9, 24),
        "birthday": None,
        "member_since": datetime(2026, 1, 1, tzinfo=UTC),
    }
    return MomentFacts(**{**base, **changes})  # type: ignore[arg-type]


def test_candidates_come_in_priority_order() -> None:
    rules = MomentSettings(weekends=True)
    day = date(2026, 9, 26)  # a Saturday, the day after 中秋
    occasions = holidays_on(date(2026, 9, 26), ("zh-CN",), [(9, 26, "社庆")])
    found = checkin_candidates(
        rules,
        facts(checkins=100, birthday=(9, 26), last_seen=date(2026, 9, 1),
              member_since=datetime(2025, 9, 24, tzinfo=UTC)),
        30,
        day,
        occasions,
    )  # fmt: skip
    assert [c.kind for c in found] == [
        "birthday",
        "streak",
        "checkins",
        "joined",
        "return",
        "holiday",
        "weekend",
    ]
    assert found[1].occasion == "30:2026-08-28"  # this streak, begun that day
    assert found[4].values == {"days": 25}


def test_the_day_before_a_round_streak_and_nothing_on_an_ordinary_day() -> None:
    rules = MomentSettings()
    [almost] = checkin_candidates(rules, facts(), 29, date(2026, 9, 25), [])
    assert (almost.kind, almost.occasion, almost.values) == (
        "almost",
        "30:2026-08-28",
        {"target": 30},
    )
    assert checkin_candidates(rules, facts(), 6, date(2026, 9, 25), []) == []  # 7 < almost_from
    assert checkin_candidates(rules, facts(), 3, date(2026, 9, 25), []) == []


def test_a_february_29_birthday_follows_the_setting() -> None:
    rules = MomentSettings()
    leapling = facts(birthday=(2, 29), last_seen=date(2027, 2, 27))
    on_28 = checkin_candidates(rules, leapling, 3, date(2027, 2, 28), [], "feb28")
    on_1 = checkin_candidates(rules, leapling, 3, date(2027, 3, 1), [], "mar1")
    assert [c.kind for c in on_28] == [c.kind for c in on_1] == ["birthday"]
