"""Events with RSVP on real SQLite and PostgreSQL: creation and bad input, the waitlist,
reminders exactly once with a fake clock (also across a restart), cancellation, /here."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.actions import AnswerButton, Edit, Send
from bot.clock import FakeClock
from handlers.events import refresh_events, send_reminders
from storage import Store
from storage.events import Event, EventReminder, EventRsvp
from storage.ledger import LedgerEntry
from tests.support import Harness, make_settings

# 2026-11-23 20:00 in Asia/Shanghai (the default zone); the harness starts 2026-11-21 09:00.
STARTS = datetime(2026, 11, 23, 12, tzinfo=UTC)
CREATE = '/event create "读书会 <b>" 2026-11-23 20:00 --where "3 楼 & 咖啡角" --limit 2'


def restarted(h: Harness) -> Harness:
    again = Harness(store=Store(h.store.db), settings=h.settings, clock=h.clock)
    again._keys = itertools.count(10_000)
    return again


async def create(h: Harness, command: str = CREATE) -> str:
    """Create the event as an admin; the prefix of its buttons' data."""
    h.adapter.admins.add(("g1", "id-alice"))
    actions = await h.send(h.message(command))
    [card] = [a for a in actions if isinstance(a, Send)]
    [[going, maybe, no]] = card.buttons
    assert (
        going.data.endswith(":going") and maybe.data.endswith(":maybe") and no.data.endswith(":no")
    )
    return going.data.rsplit(":", 1)[0]


async def press(h: Harness, data: str, user: str) -> tuple[str, list]:  # type: ignore[type-arg]
    actions = await h.send(h.press(data, user=user))
    [answer] = [a for a in actions if isinstance(a, AnswerButton)]
    return answer.text or "", [a for a in actions if not isinstance(a, AnswerButton)]


async def test_create_and_refuse_bad_input(any_harness: Harness) -> None:
    h = any_harness
    [refused] = await h.say(CREATE, user="Bob")
    assert "策划" in refused or "管理员" in refused
    h.adapter.admins.add(("g1", "id-alice"))
    bad = {
        '/event create "Tea"': "/event",
        '/event create "Tea" 2026-13-01 20:00': "2026-13-01 20:00",
        '/event create "Tea" 2026-11-20 20:00': "2026-11-20 20:00",  # past
        '/event create "Tea" 2026-11-23 20:00 --limit 0': "0",
        '/event create "Tea" 2026-11-23 20:00 --limit many': "many",
        '/event create "Tea" 2026-11-23 20:00 --for 9d': "9d",
        '/event create "Tea" 2026-11-23 20:00 --colour red': "/event",
        "/event dance": "/event",
    }
    for command, hint in bad.items():
        [reply] = await h.say(command)
        assert hint in reply, (command, reply)
    async with h.store.transaction() as s:
        assert (await s.execute(select(func.count()).select_from(Event))).scalar_one() == 0
    [card] = await h.say(CREATE)
    assert "读书会 <b>" in card and "2026-11-23 20:00" in card and "3 楼 & 咖啡角" in card
    assert "0/2" in card
    [listed] = await h.say("活动")
    assert "读书会 <b>" in listed and "0/2" in listed


async def test_waitlist_and_promotion(any_harness: Harness) -> None:
    h = any_harness
    prefix = await create(h)
    note, edits = await press(h, f"{prefix}:going", "Ann")
    assert "已报名" in note and edits and "1/2" in edits[0].text.plain()
    await press(h, f"{prefix}:going", "Ben")
    note, _ = await press(h, f"{prefix}:going", "Cat")
    assert "候补第 1 位" in note
    note, _ = await press(h, f"{prefix}:going", "Dan")
    assert "候补第 2 位" in note
    note, _ = await press(h, f"{prefix}:going", "Ann")  # again: keeps the place
    assert "已报名" in note
    note, follow = await press(h, f"{prefix}:no", "Ann")
    assert "不参加" in note
    [promoted] = [a for a in follow if isinstance(a, Send)]
    assert "Cat" in promoted.text.plain() and "Dan" not in promoted.text.plain()
    _, follow = await press(h, f"{prefix}:maybe", "Ben")
    [promoted] = [a for a in follow if isinstance(a, Send)]
    assert "Dan" in promoted.text.plain()
    async with h.store.transaction() as s:
        answers = dict(
            (
                await s.execute(select(EventRsvp.answer, func.count()).group_by(EventRsvp.answer))
            ).all()
        )
    assert answers == {"going": 2, "no": 1, "maybe": 1}
    # Edits were coalesced: the refresh tick shows the final counts once.
    tick = h.dispatcher.tick_context()
    await refresh_events(tick)
    h.adapter.take()
    assert await refresh_events(tick) == 0


async def test_fifty_members_press_going_at_once_on_ten_places(any_harness: Harness) -> None:
    h = any_harness
    prefix = await create(h, CREATE.replace("--limit 2", "--limit 10"))
    await asyncio.gather(
        *(h.dispatcher.handle(h.press(f"{prefix}:going", user=f"M{n}")) for n in range(50))
    )
    async with h.store.transaction() as s:
        answers = dict(
            (
                await s.execute(select(EventRsvp.answer, func.count()).group_by(EventRsvp.answer))
            ).all()
        )
    assert answers == {"going": 10, "waiting": 40}


async def test_reminders_exactly_once_across_a_restart(db, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    h = Harness(store=Store(db), settings=make_settings(), clock=clock)
    prefix = await create(h)
    await press(h, f"{prefix}:going", "Ann")
    await press(h, f"{prefix}:maybe", "Ben")
    tick = h.dispatcher.tick_context()
    assert await send_reminders(tick) == 0  # two days before: nothing due
    clock.set(STARTS - timedelta(days=1))
    h2 = restarted(h)
    results = await asyncio.gather(
        send_reminders(h2.dispatcher.tick_context()), send_reminders(tick)
    )
    assert sorted(results) == [0, 1]  # one process sends it
    [day_before] = [a for a in h.adapter.take() + h2.adapter.take() if isinstance(a, Send)]
    text = day_before.text.plain()
    assert "读书会 <b>" in text and "1 天后" in text and "Ann" in text and "Ben" not in text
    assert await send_reminders(tick) == 0
    # Down across the hour-before reminder, back after the start: too late, skipped.
    clock.set(STARTS + timedelta(minutes=5))
    assert await send_reminders(h2.dispatcher.tick_context()) == 0
    async with h.store.transaction() as s:
        statuses = sorted((await s.execute(select(EventReminder.status))).scalars())
    assert statuses == ["sent", "skipped"]


async def test_after_downtime_one_reminder_says_the_real_time_left(harness: Harness) -> None:
    h = harness
    prefix = await create(h)
    await press(h, f"{prefix}:going", "Ann")
    h.clock.set(STARTS - timedelta(minutes=20))  # both reminders were due while down
    h.adapter.take()
    assert await send_reminders(h.dispatcher.tick_context()) == 1  # not a burst of two
    [reminder] = h.adapter.texts()
    assert "20 分钟后" in reminder
    async with h.store.transaction() as s:
        statuses = sorted((await s.execute(select(EventReminder.status))).scalars())
    assert statuses == ["sent", "skipped"]
    assert await send_reminders(h.dispatcher.tick_context()) == 0


async def test_cancel_tells_everyone_signed_up(any_harness: Harness) -> None:
    h = any_harness
    prefix = await create(h)
    await press(h, f"{prefix}:going", "Ann")
    await press(h, f"{prefix}:maybe", "Ben")
    await press(h, f"{prefix}:no", "Cat")
    event_id = prefix.split(":")[1]
    [refused] = await h.say(f"/event cancel {event_id}", user="Ben")
    assert "管理员" in refused or "版主" in refused
    actions = await h.send(h.message(f"/event cancel {event_id}"))
    [notice] = [a for a in actions if isinstance(a, Send)]
    assert "取消" in notice.text.plain() and "Ann" in notice.text.plain()
    assert "Ben" in notice.text.plain() and "Cat" not in notice.text.plain()
    [edit] = [a for a in actions if isinstance(a, Edit)]
    assert "已取消" in edit.text.plain() and not edit.buttons
    note, _ = await press(h, f"{prefix}:going", "Dan")
    assert "取消" in note
    [again] = await h.say(f"/event cancel {event_id}")
    assert event_id in again
    h.clock.set(STARTS - timedelta(minutes=30))
    assert await send_reminders(h.dispatcher.tick_context()) == 0
    [none] = await h.say("/events")
    assert "没有活动" in none


async def test_here_at_the_event_pays_once(any_harness: Harness) -> None:
    h = any_harness
    prefix = await create(h)
    await press(h, f"{prefix}:going", "Ann")
    await press(h, f"{prefix}:maybe", "Ben")
    [none] = await h.say("到场", user="Ann")  # days before: when check-in opens
    assert "2026-11-23 19:30" in none and "2026-11-23 20:00" in none and "读书会 <b>" in none
    h.clock.set(STARTS - timedelta(hours=1))
    [early] = await h.say("/here", user="Ann")  # an hour early: the same, in community time
    assert "2026-11-23 19:30" in early and "还没开始" in early
    h.clock.set(STARTS - timedelta(minutes=10))
    [done] = await h.say("/here", user="Ann")
    assert "20" in done and "读书会 <b>" in done
    [again] = await h.say("到场", user="Ann")
    assert "签过到" in again
    [maybe] = await h.say("到场", user="Ben")
    assert "没有报名" in maybe
    h.clock.set(STARTS + timedelta(hours=2, minutes=1))
    [over] = await h.say("到场", user="Ann")
    assert "没有可以签到" in over
    async with h.store.transaction() as s:
        paid = (
            await s.execute(
                select(func.sum(LedgerEntry.delta)).where(LedgerEntry.reference.like("event:%"))
            )
        ).scalar_one()
        assert await h.store.ledger.verify(s) == []
    assert paid == 20
