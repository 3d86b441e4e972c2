"""The bounded parsers every typed or pressed argument goes through: durations, whole numbers,
dates and button data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.arguments import parse_button, parse_count, parse_datetime, parse_int
from bot.clock import looks_like_duration, parse_duration
from bot.errors import ArgError
from bot.features import INT_LIMIT, Arg, Feature

H, M, D = timedelta(hours=1), timedelta(minutes=1), timedelta(days=1)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("2h", 2 * H),
        ("2 h", 2 * H),
        ("1.5h", 90 * M),
        ("2 hours", 2 * H),
        ("90m", 90 * M),
        ("90 minutes", 90 * M),
        ("1d12h", 36 * H),
        ("1h30m", 90 * M),
        ("7days", 7 * D),
        ("1w", 7 * D),
        ("45s", timedelta(seconds=45)),
        ("2小时", 2 * H),
        ("2个小时", 2 * H),
        ("1天", D),
        ("半小时", 30 * M),
        ("半天", 12 * H),
        ("30分钟", 30 * M),
        ("一小时", H),
        ("两天", 2 * D),
        ("十二小时", 12 * H),
        ("一个半小时", 90 * M),
        ("1周", 7 * D),
        ("２ｈ", 2 * H),
        ("１天", D),
        ("2H", 2 * H),
    ],
)
def test_durations_are_read_as_people_type_them(typed: str, meant: timedelta) -> None:
    assert parse_duration(typed) == meant
    assert looks_like_duration(typed)


@pytest.mark.parametrize("typed", ["7dayz", "2xyz", "1mo", "90", "1个月", "2.h"])
def test_words_meant_as_durations_are_recognised_but_not_read(typed: str) -> None:
    assert parse_duration(typed) is None
    assert looks_like_duration(typed)


@pytest.mark.parametrize("typed", ["spam", "广告", "一直刷屏", "3次刷屏", "@bob", "v2"])
def test_reasons_are_not_taken_for_durations(typed: str) -> None:
    assert not looks_like_duration(typed)


def test_whole_numbers_accept_full_width_digits_and_stay_in_range() -> None:
    assert parse_int("１００", minimum=1, maximum=1000) == 100
    assert parse_int("+7", minimum=1, maximum=10) == 7
    assert parse_count("#12") == 12
    for bad in ("²", "99999999999999999999", "1_000", "١٢", "0x10", "", "1.5", str(INT_LIMIT + 1)):
        with pytest.raises(ArgError) as refused:
            parse_count(bad)
        assert refused.value.reason == "bad_number"
        assert refused.value.detail["minimum"] == "1"
        assert refused.value.detail["maximum"] == "1,000,000,000,000"
    with pytest.raises(ArgError) as refused:
        parse_int("1001", minimum=1, maximum=1000)
    assert refused.value.detail == {"value": "1001", "minimum": "1", "maximum": "1,000"}


def test_dates_are_bounded() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    now = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
    assert parse_datetime("2026-12-01", "20:00", zone, now) == datetime(
        2026, 12, 1, 20, 0, tzinfo=zone
    )
    assert parse_datetime("２０２６-１２-０１", "２０：００", zone, now).day == 1
    for day, clock in (
        ("9999-12-31", "23:59"),
        ("2037-01-01", "00:00"),
        ("1999-12-31", "23:59"),
        ("2026-02-30", "10:00"),
        ("2026-12-01", "25:00"),
        ("tomorrow", "20:00"),
    ):
        with pytest.raises(ArgError) as refused:
            parse_datetime(day, clock, zone, now)
        assert refused.value.reason == "bad_date"
        assert refused.value.detail["example"] == "2027-12-01 20:00"
        assert refused.value.detail["years"] == 10


def _spec(prefix: str, *fields: Arg):  # type: ignore[no-untyped-def]
    feature = Feature("f")

    @feature.button(prefix, fields=fields)
    async def handler(ctx: object) -> None:
        return None

    return feature.buttons[0]


def test_button_data_is_parsed_against_its_fields() -> None:
    poll = _spec(
        "poll", Arg("poll", "int", minimum=1), Arg("position", "int", minimum=1, maximum=100)
    )
    assert parse_button(poll, "poll:12:3") == {"poll": 12, "position": 3}
    for forged in (
        "poll",
        "poll:12",
        "poll:12:3:4",
        "poll:99999999999999999999:1",
        "poll:12:101",
        "poll:0:1",
        "poll:²:1",
        "poll:12:-1",
        "poll::1",
        "poll:１:1",
    ):
        assert parse_button(poll, forged) is None, forged
    request = _spec(
        "gatereq",
        Arg("verdict", "choice", choices=("y", "n")),
        Arg("user", "word", max_length=64),
        Arg("group", "word", max_length=64),
    )
    assert parse_button(request, "gatereq:y:42:-100123") == {
        "verdict": "y",
        "user": "42",
        "group": "-100123",
    }
    for forged in ("gatereq:x", "gatereq", "gatereq:x:1:2", "gatereq:y:1:" + "9" * 65):
        assert parse_button(request, forged) is None, forged


def test_buttons_declare_only_bounded_kinds() -> None:
    with pytest.raises(ValueError):
        Feature("f").button("x", fields=[Arg("who", "member")])
