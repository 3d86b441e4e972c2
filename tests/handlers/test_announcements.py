"""Announcements on real SQLite and PostgreSQL with a fake clock: /announce (and a declined
pin), one-off and recurring schedules through the outbox, New York's DST changes, quiet
hours, the hourly cap, a restart, two processes, too late after downtime, /unschedule."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.actions import ActionResult, DeclineReason, Pin, Send
from bot.clock import FakeClock
from handlers.announcements import enqueue_next
from handlers.outbox import send_due
from storage import Store
from storage.announcements import Announcement
from storage.outbox import ScheduledSend
from tests.support import Harness, make_settings

# The harness starts on Saturday 2026-11-21 at 09:00 in Asia/Shanghai (the default zone).
TEN = datetime(2026, 11, 21, 2, tzinfo=UTC)  # 10:00 in Shanghai


def restarted(h: Harness) -> Harness:
    again = Harness(store=Store(h.store.db), settings=h.settings, clock=h.clock)
    again._keys = itertools.count(10_000)
    return again


def admin(h: Harness, name: str = "Alice") -> None:
    h.adapter.admins.add(("g1", f"id-{name.casefold()}"))


async def ticks(h: Harness, at: datetime | None = None) -> list[str]:
    """Move the clock, run the enqueue and outbox ticks; the texts posted."""
    if at is not None:
        h.clock.set(at)
    h.adapter.take()
    context = h.dispatcher.tick_context()
    await enqueue_next(context)
    await send_due(context)
    return [a.text.plain() for a in h.adapter.take() if isinstance(a, Send)]


async def statuses(h: Harness) -> list[str]:
    async with h.store.transaction() as s:
        rows = await s.execute(select(ScheduledSend.status).order_by(ScheduledSend.id))
    return list(rows.scalars())


async def test_announce_posts_now_and_pins(any_harness: Harness) -> None:
    h = any_harness
    [refused] = await h.say("/announce Hello", user="Bob")
    assert "策划" in refused or "管理员" in refused
    admin(h)
    [empty] = await h.say("/announce --pin")
    assert "/announce" in empty
    actions = await h.send(h.message("/announce 今晚 8 点 <b>分享会</b> --pin"))
    [post] = [a for a in actions if isinstance(a, Send)]
    [pin] = [a for a in actions if isinstance(a, Pin)]
    assert "今晚 8 点 <b>分享会</b>" in post.text.plain() and "--pin" not in post.text.plain()
    assert pin.message_id and pin.chat_id == "g1"
    # The platform refuses the pin: the dispatcher's declined reply names the right.
    h.adapter.decline["pin"] = ActionResult(
        ok=False, reason=DeclineReason.MISSING_RIGHT, detail="can_pin_messages"
    )
    texts = await h.say("/announce --pin Second")
    assert len(texts) == 2 and "Second" in texts[0] and "can_pin_messages" in texts[1]
    [unpinned] = await h.say("/announce Third")  # no pin asked: no pin tried
    assert "Third" in unpinned


async def test_bad_input_is_refused_and_changes_nothing(any_harness: Harness) -> None:
    h = any_harness
    [refused] = await h.say('/schedule "every friday 20:00" Hi', user="Bob")
    assert "策划" in refused or "管理员" in refused
    admin(h)
    bad = {
        '/schedule "every blursday 20:00" Hi': "every blursday 20:00",
        "/schedule sometime Hi": "sometime",
        '/schedule "2026-11-20 09:00" Hi': "2026-11-20 09:00",  # past
        "/schedule 2026-11-20 09:00 Hi": "2026-11-20 09:00",  # unquoted, also past
        '/schedule "*/10 * * * *" Hi': "*/10 * * * *",  # too often
        '/schedule "0 0 31 2 *" Hi': "0 0 31 2 *",  # never
        '/schedule "every friday 20:00"': "/schedule",  # no text
        "/schedule": "/schedule",
        "/unschedule 42": "42",
        "/unschedule x": "/unschedule",
    }
    for command, hint in bad.items():
        actions = await h.send(h.message(command))
        [reply] = actions
        assert hint in reply.text.plain(), (command, reply.text.plain())
        assert getattr(reply, "private", False), command
    async with h.store.transaction() as s:
        assert (await s.execute(select(func.count()).select_from(Announcement))).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(ScheduledSend))).scalar_one() == 0
    [none] = await h.say("/schedules")
    assert "暂无" in none


async def test_one_off_goes_out_once(any_harness: Harness) -> None:
    h = any_harness
    admin(h)
    [made] = await h.say('/schedule "2026-11-21 10:00" 记得 <i>交周报</i>')
    assert "2026-11-21 10:00" in made and "1" in made
    assert "第一次" not in made and "首发" not in made and "下次" not in made  # it goes out once
    [listed] = await h.say("/schedules")
    assert "2026-11-21 10:00" in listed and "交周报" in listed
    assert await ticks(h, TEN - timedelta(minutes=1)) == []
    [posted] = await ticks(h, TEN)
    assert "记得 <i>交周报</i>" in posted
    assert await ticks(h, TEN + timedelta(minutes=1)) == []
    assert await statuses(h) == ["sent"]
    [none] = await h.say("/schedules")
    assert "暂无" in none  # a one-off is finished once sent


async def test_recurring_every_sunday_in_new_york_across_dst(db, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(community={"timezone": "America/New_York"})
    clock.set(datetime(2026, 2, 27, 15, tzinfo=UTC))
    h = Harness(store=Store(db), settings=settings, clock=clock)
    admin(h)
    [made] = await h.say('/schedule "every sunday 09:00" Sunday brunch')
    assert "2026-03-01 09:00" in made
    sent: list[datetime] = []
    for week in range(40):  # step the clock to each due row, as the ticks would find it
        async with h.store.transaction() as s:
            due = (
                await s.execute(
                    select(func.min(ScheduledSend.due_at)).where(ScheduledSend.status == "pending")
                )
            ).scalar_one()
        assert due is not None, week
        if due > datetime(2026, 11, 10, tzinfo=UTC):
            break
        posted = await ticks(h, due)
        assert len(posted) == 1 and "Sunday brunch" in posted[0]
        sent.append(due)
    local = {f"{moment.astimezone(ZoneInfo('America/New_York')):%a %H:%M}" for moment in sent}
    assert local == {"Sun 09:00"}
    hours = {moment.date().isoformat(): moment.hour for moment in sent}
    assert hours["2026-03-01"] == 14 and hours["2026-03-08"] == 13  # EST -> EDT
    assert hours["2026-10-25"] == 13 and hours["2026-11-01"] == 14  # EDT -> EST
    assert len(sent) == 37 and len(set(sent)) == 37


async def _community(h: Harness):  # type: ignore[no-untyped-def]
    async with h.store.transaction() as s:
        return await h.store.communities.find(s, "fake", "g1")


async def test_quiet_hours_hold_a_post_until_they_end(any_harness: Harness) -> None:
    h = any_harness
    admin(h)
    made = await h.say('/schedule "every day 23:30" 晚安')
    assert "23:30" in made[0] and "08:00" in made[0]  # told at once it will wait
    at_2330 = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
    assert await ticks(h, at_2330) == []
    async with h.store.transaction() as s:
        held = (
            await s.execute(select(ScheduledSend.due_at).where(ScheduledSend.status == "pending"))
        ).scalars()
        assert sorted(held) == [
            datetime(2026, 11, 22, 0, tzinfo=UTC),  # 08:00 the next morning
            datetime(2026, 11, 22, 15, 30, tzinfo=UTC),  # and the next night's occurrence
        ]
    assert await ticks(h, datetime(2026, 11, 21, 23, 59, tzinfo=UTC)) == []
    [posted] = await ticks(h, datetime(2026, 11, 22, 0, tzinfo=UTC))
    assert "晚安" in posted


async def test_hourly_posts_held_overnight_become_one_post(harness: Harness) -> None:
    h = harness
    admin(h)
    await h.say('/schedule "0 * * * *" 整点报时')
    posted = []
    for hour in range(23):  # 10:00 Saturday to 08:00 Sunday, Shanghai time
        posted += await ticks(h, datetime(2026, 11, 21, 1, tzinfo=UTC) + timedelta(hours=hour + 1))
    # 10:00-22:00 hourly (13), then one at 08:00, not the 9 held overnight in a burst.
    assert len(posted) == 14


async def test_hourly_cap_four_due_at_once(any_harness: Harness) -> None:
    h = any_harness
    admin(h)
    for n in range(4):
        await h.say(f'/schedule "2026-11-21 10:00" 公告{n}')
    first = await ticks(h, TEN)
    assert len(first) == 3 and all(f"公告{n}" in first[n] for n in range(3))
    assert await ticks(h, TEN + timedelta(minutes=59)) == []
    # The slot frees an hour after the first posts; the outbox tick (every 30 s) then sends.
    [fourth] = await ticks(h, TEN + timedelta(hours=1, seconds=30))
    assert "公告3" in fourth
    assert await statuses(h) == ["sent"] * 4


async def test_restart_between_enqueue_and_due_time_sends_once(any_harness: Harness) -> None:
    h = any_harness
    admin(h)
    await h.say('/schedule "every day 10:00" 早安')
    h2 = restarted(h)
    [posted] = await ticks(h2, TEN)
    assert "早安" in posted
    assert await ticks(h, TEN) == []
    assert await ticks(h2, TEN + timedelta(minutes=1)) == []
    [tomorrow] = await ticks(restarted(h2), TEN + timedelta(days=1))
    assert "早安" in tomorrow


async def test_two_processes_post_each_once(db, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    h = Harness(store=Store(db), settings=make_settings(), clock=clock)
    admin(h)
    for n in range(3):
        await h.say(f'/schedule "every day 10:00" 早报{n}')
    h2 = restarted(h)
    clock.set(TEN)
    h.adapter.take()
    one, two = h.dispatcher.tick_context(), h2.dispatcher.tick_context()
    await asyncio.gather(enqueue_next(one), enqueue_next(two))
    counts = await asyncio.gather(send_due(one), send_due(two))
    assert sum(counts) == 3
    texts = [a.text.plain() for a in h.adapter.take() + h2.adapter.take() if isinstance(a, Send)]
    assert sorted(texts) == sorted(f"📢 早报{n}" for n in range(3))
    async with h.store.transaction() as s:
        pending = (
            await s.execute(
                select(func.count())
                .select_from(ScheduledSend)
                .where(ScheduledSend.status == "pending")
            )
        ).scalar_one()
    assert pending == 3  # tomorrow's, once each


async def test_too_late_after_downtime_is_skipped_then_resumes(any_harness: Harness) -> None:
    h = any_harness
    admin(h)
    await h.say('/schedule "every day 10:00" 早安')
    # Down from before 10:00 until 13 h later: later than late_limit_hours (12).
    assert await ticks(h, TEN + timedelta(hours=13)) == []
    assert await statuses(h) == ["skipped", "pending"]
    [posted] = await ticks(h, TEN + timedelta(days=1))
    assert "早安" in posted


async def test_unschedule_cancels_pending_posts(any_harness: Harness) -> None:
    h = any_harness
    admin(h)
    await h.say('/schedule "every day 10:00" 早安')
    async with h.store.transaction() as s:
        announcement_id = (await s.execute(select(Announcement.id))).scalar_one()
    # A planner who did not create it may not remove it; a moderator may.
    async with h.store.transaction() as s:
        bob = await h.store.members.record(
            s,
            community_id=(await _community(h)).id,
            platform_user_id="id-bob",
            display_name="Bob",
            username=None,
            is_bot=False,
            now=h.clock.now(),
        )
        await h.store.roles.grant(s, bob.id, "planner", None, h.clock.now())
    [refused] = await h.say(f"/unschedule {announcement_id}", user="Bob")
    assert "管理员" in refused or "版主" in refused or "moderator" in refused.lower()
    [removed] = await h.say(f"/unschedule #{announcement_id}")
    assert str(announcement_id) in removed and "every day 10:00" in removed
    assert await statuses(h) == ["skipped"]
    assert await ticks(h, TEN) == []
    [again] = await h.say(f"/unschedule {announcement_id}")
    assert str(announcement_id) in again
    [none] = await h.say("/schedules")
    assert "暂无" in none


async def test_a_one_off_held_by_quiet_hours_stays_listed_until_sent(any_harness: Harness) -> None:
    h = any_harness
    admin(h)
    await h.say('/schedule "2026-11-21 23:30" 明早见')
    [before] = await h.say("/schedules")
    assert "明早见" in before and "2026-11-22 08:00" in before  # when it will actually go out
    assert await ticks(h, datetime(2026, 11, 21, 15, 30, tzinfo=UTC)) == []  # 23:30: quiet
    assert await statuses(h) == ["pending"]
    [held] = await h.say("/schedules")
    assert "明早见" in held and "2026-11-21 23:30" in held and "2026-11-22 08:00" in held
    [posted] = await ticks(h, datetime(2026, 11, 22, 0, tzinfo=UTC))
    assert "明早见" in posted
    [none] = await h.say("/schedules")
    assert "暂无" in none


async def test_a_held_one_off_can_still_be_unscheduled(any_harness: Harness) -> None:
    h = any_harness
    admin(h)
    await h.say('/schedule "2026-11-21 23:30" 明早见')
    assert await ticks(h, datetime(2026, 11, 21, 15, 30, tzinfo=UTC)) == []
    async with h.store.transaction() as s:
        announcement_id = (await s.execute(select(Announcement.id))).scalar_one()
    [removed] = await h.say(f"/unschedule {announcement_id}")
    assert "2026-11-21 23:30" in removed
    assert await statuses(h) == ["skipped"]
    assert await ticks(h, datetime(2026, 11, 22, 0, tzinfo=UTC)) == []
    [none] = await h.say("/schedules")
    assert "暂无" in none
    [again] = await h.say(f"/unschedule {announcement_id}")
    assert "没有" in again
