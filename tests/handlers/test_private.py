"""A private chat is not a community: what a member says about themselves there belongs to
their person and applies in every community they share with the bot; community commands
say where to use them; /help lists what works there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.clock import FakeClock
from handlers.birthdays import enqueue_greetings
from handlers.outbox import send_due
from persona.render import default_packs
from storage import Store
from storage.communities import Community
from storage.ledger import LedgerEntry
from storage.members import Member
from tests.support import Harness, make_settings
from tests.wording import is_variant

DM = {"private": True, "chat": "dm-alice"}


async def _member(h: Harness, chat: str, user: str = "id-alice") -> Member:
    async with h.store.transaction() as session:
        return (
            await session.execute(
                select(Member)
                .join(Community, Community.id == Member.community_id)
                .where(Community.chat_id == chat, Member.platform_user_id == user)
            )
        ).scalar_one()


async def test_community_commands_in_private_say_where_to_use_them(any_harness: Harness) -> None:
    h = any_harness
    for typed in (
        "签到",
        "签到！",
        "/checkin",
        "/points",
        "/top week",
        "发红包 100 5",
        "/poll a|b|c",
    ):
        [reply] = await h.say(typed, **DM)
        assert "群里" in reply and "/help" in reply, (typed, reply)
    for typed in ("/ban @Bob", "/give @Bob 5"):  # moderation: the same answer, no role check
        [reply] = await h.say(typed, **DM)
        assert "群里" in reply, (typed, reply)
    async with h.store.transaction() as session:
        entries = await session.scalar(select(func.count()).select_from(LedgerEntry))
    assert entries == 0  # no second, private balance


async def test_checkin_in_a_group_still_works_and_keywords_are_loose(harness: Harness) -> None:
    [first] = await harness.say("签到！")
    assert "+10" in first
    [again] = await harness.say("簽到了", user="Alice")
    assert is_variant(default_packs(), "zh-CN", "warm", "checkin.already", again)
    [bob] = await harness.say("打卡啦～", user="Bob")
    assert "+10" in bob
    assert await harness.say("签到？") == []  # a question is not a check-in


async def test_birthday_told_in_private_applies_in_every_shared_group(
    any_harness: Harness,
) -> None:
    h = any_harness
    await h.say("hi", chat="g1")
    await h.say("hi", chat="g2")
    await h.say("hi", chat="g3")
    await h.send(h.leave("Alice", chat="g3"))
    [saved] = await h.say("/birthday 11-25", **DM)
    assert "11-25" in saved and "2 个群" in saved
    for chat in ("g1", "g2", "g3"):  # a member who left gets it back if they return
        row = await _member(h, chat)
        assert (row.birthday_month, row.birthday_day) == (11, 25)
        assert row.person_id is not None
    private = await _member(h, "dm-alice")
    assert private.birthday_month is None  # the private chat is not a community
    [shown] = await h.say("/birthday", **DM)
    assert "11-25" in shown
    [zone] = await h.say("/timezone 东京", **DM)
    assert "Asia/Tokyo" in zone and "2 个群" in zone
    assert (await _member(h, "g2")).timezone == "Asia/Tokyo"
    [reset] = await h.say("/timezone off", **DM)
    assert "各个群的时区" in reset
    assert (await _member(h, "g2")).timezone is None
    [removed] = await h.say("/birthday off", **DM)
    assert "删除" in removed
    assert (await _member(h, "g1")).birthday_month is None


async def test_said_in_private_before_any_group_applies_on_join(any_harness: Harness) -> None:
    h = any_harness
    [saved] = await h.say("/birthday 11-25", **DM)
    assert "还没有共同所在的群" in saved
    [zone] = await h.say("/timezone utc+8", **DM)
    assert "UTC+8" in zone and "还没有共同所在的群" in zone
    await h.send(h.join("Alice", chat="g1"))
    row = await _member(h, "g1")
    assert (row.birthday_month, row.birthday_day, row.timezone) == (11, 25, "Etc/GMT-8")
    await h.say("hello", chat="g2")  # first seen by writing, without a join event
    row = await _member(h, "g2")
    assert (row.birthday_month, row.birthday_day) == (11, 25)
    [here] = await h.say("/birthday", chat="g1")
    assert "11-25" in here
    await h.say("/birthday 12-01", chat="g1")  # said in a group: that group's only
    assert (await _member(h, "g1")).birthday_month == 12
    assert (await _member(h, "g2")).birthday_month == 11


async def test_the_greeting_promised_in_private_comes_in_the_group(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(datetime(2026, 11, 24, 12, tzinfo=UTC))
    settings = make_settings(schedule={"quiet_start": "00:00", "quiet_end": "00:00"})
    h = Harness(store=Store(sqlite_db), settings=settings, clock=clock)
    await h.say("/birthday 11-25", **DM)
    await h.send(h.join("Alice", chat="g1"))
    sent = []
    while clock.now() < datetime(2026, 11, 26, 12, tzinfo=UTC):
        clock.advance(timedelta(minutes=30))
        h.adapter.actions.clear()
        await enqueue_greetings(h.dispatcher.tick_context())
        await send_due(h.dispatcher.tick_context())
        sent += [(a.chat_id, a.text.plain()) for a in h.adapter.take() if hasattr(a, "text")]
    birthdays = [(chat, text) for chat, text in sent if "生日" in text]
    assert len(birthdays) == 1 and birthdays[0][0] == "g1" and "Alice" in birthdays[0][1]
    assert all(chat != "dm-alice" for chat, _text in sent)  # nothing in the private chat


async def test_help_in_private_lists_what_works_there_and_the_group_commands(
    harness: Harness,
) -> None:
    [text] = await harness.say("/help", **DM)
    lines = text.splitlines()
    here = lines[
        lines.index("私聊里可以用：") + 1 : lines.index(
            next(x for x in lines if x.startswith("下面这些请在群里使用"))
        )
    ]
    assert [line.split()[0] for line in here] == [
        "/start",
        "/help",
        "/code",
        "/mylink",
        "/referrals",
        "/birthday",
        "/timezone",
        "/remindme",
        "/feedback",
        "/feedbacks",
        "/stats",
        "/ask",
        "/answer",
        "/solved",
        "/import",  # an operator names the group (``/import CHAT_ID ...``)
    ]
    assert any(line.startswith("积分与游戏：") and "/checkin" in line for line in lines)
    assert "/ban" not in text and "/give" not in text  # operator tools: not for a member


async def test_help_on_one_command_with_an_example(any_harness: Harness) -> None:
    h = any_harness
    [top] = await h.say("/help top")
    assert "用法：/top" in top and "例子：/top week" in top and "「排行榜」" in top
    [keyword] = await h.say("/help 签到")
    assert keyword.startswith("/checkin — 每日签到") and "在群里使用" in keyword
    [slash] = await h.say("/help /birthday", **DM)
    assert "群里和私聊都能用" in slash and "例子：/birthday 11-21" in slash
    [ban] = await h.say("/help ban")
    assert "仅限版主" in ban
    [unknown] = await h.say("/help frobnicate")
    assert "frobnicate" in unknown and "/help" in unknown


async def test_timezone_takes_what_people_type_and_refuses_the_rest(any_harness: Harness) -> None:
    h = any_harness
    for typed, shown in (
        ("asia/shanghai", "Asia/Shanghai"),
        ("UTC+8", "UTC+8"),
        ("GMT-5", "UTC-5"),
        ("北京", "Asia/Shanghai"),
        ("香港", "Asia/Hong_Kong"),
        ("New York", "America/New_York"),
        ("PST", "America/Los_Angeles"),
    ):
        [saved] = await h.say(f"/timezone {typed}")
        assert shown in saved, (typed, saved)
    await h.say("/timezone Asia/Tokyo")
    for bad in ("Asia", "America", "Etc", "x" * 255, "Mars/Olympus"):
        [refused] = await h.say(f"/timezone {bad}")
        assert "Asia/Shanghai" in refused and "UTC+8" in refused, (bad, refused)
    assert (await _member(h, "g1")).timezone == "Asia/Tokyo"  # refusals change nothing


async def test_top_week_is_this_calendar_week(harness: Harness) -> None:
    """2026-11-21 is a Saturday; the week began on Monday 11-16 in Shanghai."""
    h = harness
    await h.say("签到", user="Ann")  # Saturday: this week
    h.clock.advance(timedelta(days=1))
    await h.say("签到", user="Bob")  # Sunday: this week
    await h.say("签到", user="Ann")
    h.clock.advance(timedelta(days=1))  # Monday 11-23: a new week
    await h.say("签到", user="Carol")
    [week] = await h.say("/top week")
    assert week.splitlines() == ["积分排行榜（本周，11-23 周一起）：", "1. Carol：10"]
    [keyword] = await h.say("排行榜 本周")
    assert keyword == week
    [both] = await h.say("/top week points")
    assert both == week
    [all_time] = await h.say("/top")
    assert all_time.splitlines()[1] == "1. Ann：20"
