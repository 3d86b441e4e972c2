"""Reminders (``/remindme 2h TEXT``, 提醒我), the same on Telegram and Discord: the group is
told only that a reminder was set (its text stays private), the reminder arrives privately to
the member at its time and once, a member who refuses private messages is mentioned in the
group instead (once, without the text), bad input is refused naming what was expected and
schedules nothing, and ``/remindme`` alone lists the member's own reminders privately.

The bot runs on a ``FakeClock`` the scenario moves; ticks run by hand (``platform.scheduled``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import App
from bot.clock import FakeClock
from handlers.reminders import send_reminders
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person, Seen

ANN = Person(1, "Ann", "ann")
BOB = Person(2, "Bob <b>&", "bob")


async def started(platform: Platform, **sections: Any) -> tuple[App, FakeClock]:
    """The bot on a clock the scenario moves, with Ann and Bob in the group."""
    clock = FakeClock(datetime.now(UTC))
    platform.clock = clock  # type: ignore[union-attr]
    app = await platform.start(members=(ANN, BOB), **sections)
    return app, clock


async def tick(platform: Platform, app: App) -> Seen:
    """What members saw while the reminders tick ran once."""
    return await platform.scheduled(lambda: send_reminders(app.dispatcher.tick_context()))


def shown(app: App, moment: datetime) -> str:
    """A moment as the bot shows it: the community's time zone, to the minute."""
    return f"{moment.astimezone(ZoneInfo(app.settings.community.timezone)):%Y-%m-%d %H:%M}"


async def test_a_reminder_arrives_privately_once_at_its_time(platform: Platform) -> None:
    app, clock = await started(platform)
    due_at = clock.now() + timedelta(hours=2)
    seen = await platform.say(BOB, "/remindme 2h 交周报")
    [confirmed] = seen.texts
    assert seen.to == [None]  # answered where it was asked
    assert shown(app, due_at) in confirmed and "私聊" in confirmed
    assert "交周报" not in confirmed  # the reminder itself stays private
    assert seen.pinged == [set()]
    clock.advance(timedelta(hours=1, minutes=59))
    assert (await tick(platform, app)).texts == []
    clock.advance(timedelta(minutes=2))
    due = await tick(platform, app)
    [reminder] = due.texts
    assert due.to == [platform.user_id(BOB)] and due.private == [True]
    assert "交周报" in reminder and "Bob <b>&" in reminder
    assert due.pinged[0] <= {platform.user_id(BOB)}
    assert (await tick(platform, app)).texts == []  # once
    clock.advance(timedelta(days=1))
    assert (await tick(platform, app)).texts == []


async def test_a_member_who_refuses_private_messages_is_mentioned_in_the_group(
    platform: Platform,
) -> None:
    app, clock = await started(platform)
    await platform.say(BOB, "/remindme 2h 交周报")
    platform.refuse_private(BOB)
    clock.advance(timedelta(hours=2, minutes=1))
    due = await tick(platform, app)
    [line] = due.texts
    assert due.to == [None]
    assert "Bob <b>&" in line and "/start" in line
    assert "交周报" not in line  # not told to the whole group
    assert due.pinged == [{platform.user_id(BOB)}]
    assert (await tick(platform, app)).texts == []  # once


async def test_bad_input_is_refused_clearly_and_schedules_nothing(platform: Platform) -> None:
    app, clock = await started(platform, reminders={"most_pending": 2})
    for text, named in (
        ("/remindme soon 交周报", "soon"),
        ("/remindme 30s 交周报", "30s"),
        ("/remindme 367d 交周报", "367d"),
    ):
        seen = await platform.say(ANN, text)
        [refused] = seen.texts
        assert named in refused and "1 分钟到 366 天" in refused, refused
        assert "/remindme 2h" in refused  # the usage, to copy
    [refused] = (await platform.say(ANN, "/remindme 2h")).texts
    assert "要提醒你什么" in refused and "/remindme 2h" in refused
    [refused] = (await platform.say(ANN, "/remindme 2h \u200b\u2060 \ufeff")).texts
    assert "要提醒你什么" in refused  # only invisible characters: no text
    [refused] = (await platform.say(ANN, "/remindme 2h " + "长" * 501)).texts
    assert "500" in refused
    for number in (1, 2):
        assert len((await platform.say(ANN, f"/remindme {number}h 第{number}条")).texts) == 1
    [refused] = (await platform.say(ANN, "/remindme 3h 第三条")).texts
    assert "2 条" in refused and "上限" in refused
    clock.advance(timedelta(days=367))
    due = await tick(platform, app)
    assert sorted(due.texts) == sorted(t for t in due.texts if "第1条" in t or "第2条" in t)
    assert len(due.texts) == 2 and due.to == [platform.user_id(ANN)] * 2


async def test_alone_it_lists_the_members_own_reminders_privately(platform: Platform) -> None:
    app, clock = await started(platform)
    [none] = (await platform.say(ANN, "/remindme")).texts
    assert "没有待发的提醒" in none
    await platform.say(ANN, "/remindme 1d 浇花")
    await platform.say(ANN, "提醒我 30m 伸个懒腰")
    await platform.say(BOB, "/remindme 2h 不是安的")
    seen = await platform.say(ANN, "/remindme")
    [listed, told] = seen.texts
    assert seen.to == [platform.user_id(ANN), None]  # the list privately, a line in the group
    lines = listed.splitlines()
    assert "2 条" in lines[0]
    assert lines[1] == f"{shown(app, clock.now() + timedelta(minutes=30))}  伸个懒腰"
    assert lines[2] == f"{shown(app, clock.now() + timedelta(days=1))}  浇花"
    assert "不是安的" not in listed
    assert "2 条" in told and "私聊" in told and "浇花" not in told
    platform.refuse_private(BOB)
    seen = await platform.say(BOB, "/remindme")
    [mention] = seen.texts
    assert seen.to == [None] and "/start" in mention
    assert "不是安的" not in mention  # a member who cannot be written to is not listed aloud


async def test_a_reminder_never_pings_anyone_but_its_member(platform: Platform) -> None:
    """Markup, @everyone and a mention of someone else in the text: shown as typed, and the
    reminder pings nobody else."""
    app, clock = await started(platform)
    text = "@everyone @here <b>x</b> **y** @ann"
    [confirmed] = (await platform.say(BOB, f"/remindme 1m {text}")).texts
    assert "@everyone" not in confirmed
    clock.advance(timedelta(minutes=1))
    due = await tick(platform, app)
    [reminder] = due.texts
    assert "@everyone @here <b>x</b> **y** @" in reminder
    assert due.pinged[0] <= {platform.user_id(BOB)}
    assert due.to == [platform.user_id(BOB)]


async def test_a_long_list_arrives_whole_in_parts(platform: Platform) -> None:
    """Ten reminders of 500 characters: more than one message holds (Discord: 2,000)."""
    await started(platform)
    for number in range(10):
        await platform.say(ANN, f"/remindme {number + 1}h {number}" + "长" * 499)
    seen = await platform.say(ANN, "/remindme")
    assert seen.to[:-1] == [platform.user_id(ANN)] * (len(seen.texts) - 1)
    assert seen.to[-1] is None and "10 条" in seen.texts[-1]
    listed = "".join(seen.texts[:-1])
    assert all(f"{number}{'长' * 499}" in listed for number in range(10))


async def test_a_reminder_outlives_a_restart_and_still_arrives_once(platform: Platform) -> None:
    _app, clock = await started(platform)
    await platform.say(ANN, "提醒我 1h 交周报")
    app = await platform.restart()
    clock.advance(timedelta(hours=3))  # the bot was down across the time
    due = await tick(platform, app)
    assert due.to == [platform.user_id(ANN)] and "交周报" in due.texts[0]
    app = await platform.restart()
    assert (await tick(platform, app)).texts == []
