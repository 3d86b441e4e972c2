"""Input people type: time zone names (``bot.zones.parse_zone``) and loose keywords
(``bot.features.Registry.keyword``)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot.context import Context
from bot.features import KEYWORD_MEMO, Arg, Feature, Registry, RegistryError, loose_keyword
from bot.zones import ZONE_EXAMPLES, parse_zone, zone_label


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        ("Asia/Shanghai", "Asia/Shanghai"),
        ("asia/shanghai", "Asia/Shanghai"),
        ("ASIA/TOKYO", "Asia/Tokyo"),
        ("Shanghai", "Asia/Shanghai"),
        ("new york", "America/New_York"),
        ("北京", "Asia/Shanghai"),
        ("上海", "Asia/Shanghai"),
        ("香港", "Asia/Hong_Kong"),
        ("台北", "Asia/Taipei"),
        ("东京", "Asia/Tokyo"),
        ("纽约", "America/New_York"),
        ("伦敦", "Europe/London"),
        ("Beijing", "Asia/Shanghai"),
        ("PST", "America/Los_Angeles"),
        ("est", "America/New_York"),
        ("UTC", "UTC"),
        ("UTC+8", "Etc/GMT-8"),
        ("utc + 8", "Etc/GMT-8"),
        ("ＵＴＣ＋８", "Etc/GMT-8"),
        ("GMT-5", "Etc/GMT+5"),  # people mean five hours behind, whatever POSIX says
        ("+8", "Etc/GMT-8"),
        ("UTC+08:00", "Etc/GMT-8"),
        ("东八区", "Etc/GMT-8"),
        ("西五区", "Etc/GMT+5"),
        ("Etc/GMT-8", "Etc/GMT-8"),  # an IANA name is taken as written
    ],
)
def test_zones_people_type(typed: str, zone: str) -> None:
    assert parse_zone(typed) == zone
    ZoneInfo(zone)  # every answer opens


@pytest.mark.parametrize(
    "typed",
    [
        "Asia",
        "America",
        "Etc",
        "x" * 255,
        "Asia/" + "x" * 250,
        "../etc/passwd",
        "",
        "  ",
        "Mars/Olympus",
        "UTC+15",
        "GMT-13",
        "CST",
        "\x00",
        "Asia/Shanghai\x00",
    ],
)
def test_what_is_not_a_zone_is_refused_not_raised(typed: str) -> None:
    assert parse_zone(typed) is None


def test_examples_parse_and_offsets_read_the_way_people_write_them() -> None:
    assert all(parse_zone(example) for example in ZONE_EXAMPLES)
    assert zone_label("Etc/GMT-8") == "UTC+8" and zone_label("Etc/GMT+5") == "UTC-5"
    assert zone_label("Asia/Shanghai") == "Asia/Shanghai"


def _registry(*extra: Feature) -> Registry:
    feature = Feature("kw")

    async def handler(ctx: Context) -> None:
        return None

    feature.command("checkin", keywords=["签到", "打卡"])(handler)
    feature.command("redpacket", keywords=["发红包"], args=[Arg("spec", "text")])(handler)
    feature.command("polls", keywords=["投票列表"])(handler)
    feature.command("poll", keywords=["投票"], args=[Arg("spec", "text")])(handler)
    return Registry([feature, *extra])


@pytest.mark.parametrize(
    "typed",
    [
        "签到",
        "签到!",
        "签到！",
        "签到！！🎉",
        "签到 ~",
        "打卡了",
        "签到啦～",
        "签到一下",
        "簽到",
        "簽到了！",
        "  签到  ",
        "签到\u200b",
        "签到\ufe0f",
    ],
)
def test_keywords_match_loosely(typed: str) -> None:
    found = _registry().keyword(typed)
    assert found is not None and found[0].name == "checkin" and found[1] == ""


@pytest.mark.parametrize(
    "typed", ["签到？", "签到?", "我要签到", "签到吗", "签到 今天", "了", "签到了了了", "打卡了吗"]
)
def test_what_is_not_a_keyword_stays_silent(typed: str) -> None:
    assert _registry().keyword(typed) is None


def test_asking_again_answers_each_text_for_itself() -> None:
    """The registry remembers its last answer (the dispatcher asks twice per message): a
    repeated text gets the same answer, and any other text its own."""
    registry = _registry()
    for typed, expected in [
        ("签到", ("checkin", "")),
        ("签到", ("checkin", "")),
        ("发红包 100 5", ("redpacket", "100 5")),
        ("发红包 100 5", ("redpacket", "100 5")),
        ("hello", None),
        ("hello", None),
        ("投票列表", ("polls", "")),
        ("签到？", None),
    ]:
        found = registry.keyword(typed)
        assert (found[0].name, found[1]) == expected if found else expected is None


def test_keywords_with_arguments_still_parse() -> None:
    registry = _registry()
    found = registry.keyword("发红包 100 5")
    assert found is not None and found[0].name == "redpacket" and found[1] == "100 5"
    found = registry.keyword("發紅包 100 5 恭喜！")
    assert found is not None and found[0].name == "redpacket" and found[1] == "100 5 恭喜！"
    found = registry.keyword("投票列表！")
    assert found is not None and found[0].name == "polls"
    found = registry.keyword("投票 午饭 | 面 | 饭")
    assert found is not None and found[0].name == "poll"


def test_two_keywords_that_read_the_same_loosely_are_refused() -> None:
    other = Feature("other")

    async def handler(ctx: Context) -> None:
        return None

    other.command("sign", keywords=["簽到了"])(handler)
    with pytest.raises(RegistryError, match="read the same"):
        _registry(other)


def test_loose_form_is_linear_and_bounded() -> None:
    assert loose_keyword("签到" + "！" * 10_000) == "签到"
    assert loose_keyword("了") == "了"  # never empty: a lone particle stays itself
    registry = _registry()
    assert registry.keyword("签到" + " " * 100 + "!") is not None  # exact form collapses spaces
    assert registry.keyword("签到" + "!" * 200) is None  # too long to be a keyword message


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Hello there", None),  # plain ASCII chatter starting with no keyword's letter
        ("checkin", "extra"),
        ("CHECKIN!!", "extra"),
        ("Ｃｈｅｃｋｉｎ", "extra"),  # full-width: ASCII once normalized
        ("\u212aick 3", "kick"),  # the Kelvin sign reads as K
        ("kick 3", "kick"),
        ("签到", "checkin"),
    ],
)
def test_english_keywords_still_match_past_the_quick_refusal(
    typed: str, expected: str | None
) -> None:
    """A message is refused at once when its normalized form is ASCII and starts with no
    keyword's first character; an operator's English keyword still matches in every form."""
    extra = Feature("extra")

    async def handler(ctx: Context) -> None:
        return None

    extra.command("extra", keywords=["checkin"])(handler)
    extra.command("kick", keywords=["kick"], args=[Arg("n", "int")])(handler)
    found = _registry(extra).keyword(typed)
    assert (found[0].name if found else None) == expected


def test_remembered_keyword_answers_are_the_computed_ones_and_bounded() -> None:
    """``keyword`` remembers the latest texts' answers (each message is asked about three
    times, a page apart): the same answers as computing them, at most ``KEYWORD_MEMO`` kept."""
    registry = _registry()
    texts = [
        "签到！",
        "hello",
        "发红包 100 5",
        "投票列表",
        "签到？",
        *[f"chat {n}" for n in range(600)],
    ]
    for _round in range(2):  # asked again: answered from memory, or computed after eviction
        for text in texts:
            assert registry.keyword(text) == registry._keyword(text), text
    assert len(registry._keyword_memo) == KEYWORD_MEMO
    assert "签到！" not in registry._keyword_memo  # the oldest went first
