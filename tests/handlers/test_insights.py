"""Insights capture: what a small group does is counted per member and local day (messages,
replies both ways, links, files, check-ins, grabs, votes, RSVPs, submissions; joins and leaves
with their source), written by the flush in batched upserts, never twice (a duplicate
delivery, concurrent flushes, two bots on one database), written at the app's stop, pruned
after ``retention_days``; ``/stats optout|optin``. On SQLite and PostgreSQL, the fake clock
moved, nothing slept."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import delete, func, select
from sqlalchemy.exc import OperationalError

import bot.dispatch
import handlers.insights as insights_feature
from bot.actions import ActionResult, DeclineReason, Notify, Reply, Send
from bot.app import App
from bot.clock import FakeClock
from bot.config import StorageSettings
from bot.events import MemberJoined
from handlers.insights import flush, flush_when_due, prune_old
from storage import Store
from storage.insights import (
    COUNTERS,
    InsightMemberDay,
    InsightMovement,
    InsightOptOut,
    InsightRepo,
)
from storage.members import Member
from tests.conftest import START
from tests.handlers.test_intake import kill, take_in, unhandled
from tests.handlers.test_redpacket import fund
from tests.support import PLATFORM, FakeAdapter, Harness, make_settings, open_database

DAY = date(2026, 11, 21)  # START is 09:00 in Asia/Shanghai, the default zone


def english(base: Harness, clock: FakeClock | None = None, **sections: Any) -> Harness:
    """A bot speaking English over ``base``'s database (a second bot: its own tally)."""
    return Harness(
        store=Store(base.store.db),
        settings=make_settings(persona={"locale": "en"}, **sections),
        clock=clock or base.clock,
        adapter=FakeAdapter(),
    )


async def counted(h: Harness) -> dict[tuple[str, date], dict[str, int]]:
    """Every written member-day: (display name, day) -> its non-zero counters."""
    async with h.store.transaction() as s:
        rows = await s.execute(
            select(Member.display_name, InsightMemberDay).join(
                Member, Member.id == InsightMemberDay.member_id
            )
        )
        found = {}
        for name, row in rows.all():
            values = {c: getattr(row, c) for c in COUNTERS if getattr(row, c)}
            found[(name, row.day)] = values
        return found


async def movements(h: Harness) -> dict[tuple[date, str, str, str], int]:
    async with h.store.transaction() as s:
        rows = (await s.execute(select(InsightMovement))).scalars().all()
        return {(r.day, r.direction, r.how, r.link): r.n for r in rows}


async def written(h: Harness) -> int:
    return await flush(h.dispatcher.tick_context())


async def test_a_small_group_is_counted_by_kind(any_harness: Harness) -> None:
    h = english(any_harness)
    ann = h.user("Ann")
    await h.send(h.join("Ann"))
    await h.send(h.join("Bob"))
    await fund(h, "Carol", 100)
    await h.send(h.message("hello all", user="Ann"))
    await h.send(h.message("hi Ann!", user="Bob", reply_to=ann))
    await h.send(h.message("see https://example.com/a and example.org", user="Bob"))
    photo = h.message("", user="Carol").model_copy(update={"has_media": True})
    await h.send(photo)
    await h.send(h.message("me too", user="Ann", reply_to=ann))  # to oneself: no reply
    await h.send(h.message("/points", user="Ann"))  # a command is not talk
    await h.send(h.message("签到", user="Ann"))  # a keyword neither: an interaction
    await h.send(h.message("签到", user="Ann"))  # already done: not again
    await h.send(h.message("/checkin", user="Bob"))
    # A red packet (Carol sends, Ann grabs), a poll (Bob votes, then changes: one vote),
    # an event (Ann answers twice: two RSVPs; the same answer again is none), a submission.
    packet = [
        a for a in await h.send(h.message("发红包 10 2", user="Carol")) if isinstance(a, Send)
    ]
    [[grab]] = packet[0].buttons
    await h.send(h.press(grab.data, user="Ann"))
    await h.send(h.press(grab.data, user="Ann"))  # twice: refused, not counted
    await h.send(h.message("抢", user="Bob"))  # the keyword takes the last share
    await h.send(h.message("抢", user="Bob"))  # none left: not counted
    poll = [
        a for a in await h.send(h.message("/poll Lunch? | noodles | rice")) if isinstance(a, Send)
    ]
    [[first], [second]] = poll[0].buttons
    await h.send(h.press(first.data, user="Bob"))
    await h.send(h.press(second.data, user="Bob"))
    h.adapter.admins.add(("g1", "id-alice"))
    card = [
        a
        for a in await h.send(h.message('/event create "Tea" 2026-11-23 20:00'))
        if isinstance(a, Send)
    ]
    [[going, _maybe, no]] = card[0].buttons
    await h.send(h.press(going.data, user="Ann"))
    await h.send(h.press(going.data, user="Ann"))
    await h.send(h.press(no.data, user="Ann"))
    await h.send(h.message("/collect a name for the cat --for 1d", user="Alice"))
    await h.send(h.message("/submit Mochi", user="Carol"))
    await h.send(h.message("/submit Tofu", user="Carol"))  # a second entry is refused
    await h.send(h.leave("Bob"))
    assert await counted(h) == {}  # nothing is written before the flush
    assert await written(h) > 0
    assert await counted(h) == {
        ("Ann", DAY): {
            "messages": 2,
            "replies_received": 1,
            "checkins": 1,
            "grabs": 1,
            "rsvps": 2,
        },
        ("Bob", DAY): {
            "messages": 2,
            "replies_given": 1,
            "links": 1,
            "checkins": 1,
            "grabs": 1,
            "votes": 1,
        },
        ("Carol", DAY): {"messages": 1, "files": 1, "submissions": 1},
    }
    joins = await movements(h)
    assert joins == {(DAY, "join", "unknown", ""): 3, (DAY, "leave", "left", ""): 1}
    assert await written(h) == 0  # everything went: nothing is written twice


async def test_join_sources_and_removals(any_harness: Harness) -> None:
    h = english(any_harness)
    base = h.join("Ann")
    linked = MemberJoined(**{**base.model_dump(), "invite_link": "Spring fair"})
    await h.send(linked)
    request = h.join("Bob")
    await h.send(request.model_copy(update={"via_join_request": True}))
    added = h.join("Carol").model_copy(update={"invited_by": h.user("Dan")})
    await h.send(added)
    removed = h.leave("Carol").model_copy(update={"removed_by": h.user("Dan")})
    await h.send(removed)
    await h.send(h.join(h.user("Helper", is_bot=True)))  # a bot is nobody's growth
    await written(h)
    assert await movements(h) == {
        (DAY, "join", "link", "Spring fair"): 1,
        (DAY, "join", "request", ""): 1,
        (DAY, "join", "added", ""): 1,
        (DAY, "leave", "removed", ""): 1,
    }


async def test_the_local_day_follows_the_zone_and_the_reset_hour(any_harness: Harness) -> None:
    # 03:00 in New York on the 21st is still the 20th with days starting at 04:00.
    clock = FakeClock(datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    h = english(any_harness, clock, community={"timezone": "America/New_York", "day_reset_hour": 4})
    await h.send(h.message("late night", user="Ann"))
    await h.send(h.message("签到", user="Ann"))
    clock.advance(timedelta(hours=2))  # 05:00: the 21st
    await h.send(h.message("good morning", user="Ann"))
    await h.send(h.message("签到", user="Ann"))
    await written(h)
    assert await counted(h) == {
        ("Ann", date(2026, 11, 20)): {"messages": 1, "checkins": 1},
        ("Ann", date(2026, 11, 21)): {"messages": 1, "checkins": 1},
    }


async def test_a_duplicate_delivery_counts_once(any_harness: Harness) -> None:
    h = english(any_harness)
    message = h.message("hello", user="Ann", key="same-update")
    for _ in range(3):
        await h.send(message)
    checkin = h.message("/checkin", user="Ann", key="same-checkin")
    await h.send(checkin)
    await h.send(checkin)
    await written(h)
    assert await counted(h) == {("Ann", DAY): {"messages": 1, "checkins": 1}}


async def test_watched_chatter_stays_quiet_and_a_replay_is_not_counted_again(
    any_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting costs chatter no write of its own (it stays quiet), and an update handled
    again after a kill (its stamp not yet written) is not counted again."""
    monkeypatch.setattr(bot.dispatch, "QUIET_STAMP_DELAY", 3600.0)
    first = english(any_harness)
    await take_in(first, first.message("just chatting", user="Ann", key="k1"))
    await first.dispatcher.flush(quiet=False)
    assert await unhandled(first) == 1  # quiet: its stamp waits for a ride
    assert await written(first) == 1  # the count reached the database before the kill
    await kill(first)
    again = english(any_harness)
    await again.dispatcher.replay(PLATFORM)
    await again.dispatcher.drain()
    await again.dispatcher.flush()
    assert await unhandled(again) == 0  # handled again...
    assert await written(again) == 0  # ...and not counted again
    assert await counted(again) == {("Ann", DAY): {"messages": 1}}


async def test_the_tick_writes_only_every_flush_interval(any_harness: Harness) -> None:
    h = english(any_harness, insights={"flush_seconds": 10})
    tick = h.dispatcher.tick_context()
    await h.send(h.message("one", user="Ann"))
    h.clock.advance(timedelta(seconds=9))
    assert await flush_when_due(tick) == 0  # not yet: counted in memory only
    assert await counted(h) == {}
    h.clock.advance(timedelta(seconds=1))
    assert await flush_when_due(tick) == 1
    await h.send(h.message("two", user="Ann"))
    await h.send(h.message("three", user="Ann"))
    h.clock.advance(timedelta(seconds=5))
    assert await flush_when_due(tick) == 0  # 5 s after the last write
    h.clock.advance(timedelta(seconds=5))
    assert await flush_when_due(tick) == 1  # one row write for both messages
    assert await counted(h) == {("Ann", DAY): {"messages": 3}}


async def test_many_tasks_and_flushes_at_once_lose_nothing_and_double_nothing(
    any_harness: Harness,
) -> None:
    one, two = english(any_harness), english(any_harness)  # two bots on one database
    two._keys = iter(f"two-{n}" for n in range(10_000))  # type: ignore[assignment]
    members, each = 12, 8

    async def talk(h: Harness, n: int) -> None:
        for _ in range(each):
            await h.dispatcher.handle(h.message("hi", user=f"M{n}"))
            await asyncio.sleep(0)

    async def keep_flushing(h: Harness) -> None:
        for _ in range(10):
            await written(h)

    await asyncio.gather(
        *(talk(one, n) for n in range(members)),
        *(talk(two, n) for n in range(members)),
        keep_flushing(one),
        keep_flushing(two),
        keep_flushing(one),
    )
    await asyncio.gather(written(one), written(two), written(one))
    found = await counted(one)
    assert found == {(f"M{n}", DAY): {"messages": 2 * each} for n in range(members)}


async def test_a_failed_write_keeps_the_counts_for_the_next_flush(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.send(h.message("hello", user="Ann"))
    repo_add = InsightRepo.add_rows

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database went away")

    def broken_on_loop(*args: Any, **kwargs: Any) -> bool:
        raise OperationalError("insights flush", None, Exception("disk I/O error"))

    InsightRepo.add_rows = broken  # type: ignore[method-assign]
    on_loop = insights_feature.write_on_loop
    insights_feature.write_on_loop = broken_on_loop  # type: ignore[assignment]
    try:
        assert await written(h) == 0
    finally:
        InsightRepo.add_rows = repo_add  # type: ignore[method-assign]
        insights_feature.write_on_loop = on_loop  # type: ignore[assignment]
    await h.send(h.message("again", user="Ann"))
    assert await written(h) == 1
    assert await counted(h) == {("Ann", DAY): {"messages": 2}}


async def test_counts_of_a_member_deleted_meanwhile_do_not_block_later_flushes(
    any_harness: Harness,
) -> None:
    h = english(any_harness)
    await h.send(h.message("hello", user="Ann"))
    async with h.store.transaction() as s:
        await s.execute(delete(Member).where(Member.display_name == "Ann"))
    assert await written(h) == 0  # refused by the database: dropped, not kept forever
    await h.send(h.message("hi", user="Bob"))
    assert await written(h) == 1
    assert await counted(h) == {("Bob", DAY): {"messages": 1}}


async def test_the_stop_path_writes_what_was_counted(app_storage: StorageSettings) -> None:
    settings = make_settings(storage=app_storage.model_dump(), console={"enabled": True})
    app = App(settings, clock=FakeClock(START), console=Console(file=io.StringIO()))
    app.handle_signals = False
    await app.run(script=["hello there", "签到", "/as Bob", "hi Alice"])
    db = open_database(app_storage)
    try:
        async with db.transaction() as s:
            rows = await s.execute(
                select(Member.display_name, InsightMemberDay.messages, InsightMemberDay.checkins)
                .join(Member, Member.id == InsightMemberDay.member_id)
                .order_by(Member.display_name)
            )
            assert [tuple(r) for r in rows.all()] == [("Alice", 1, 1), ("Bob", 1, 0)]
    finally:
        await db.dispose()


async def test_old_daily_rows_are_deleted_by_the_retention_tick(any_harness: Harness) -> None:
    h = english(any_harness, insights={"retention_days": 30})
    await h.send(h.message("long ago", user="Ann"))
    await h.send(h.join("Bob"))
    await written(h)
    h.clock.advance(timedelta(days=30))
    await h.send(h.message("recently", user="Ann"))
    await written(h)
    tick = h.dispatcher.tick_context()
    assert await prune_old(tick) == 0  # 30 days old: kept
    h.clock.advance(timedelta(days=1))
    assert await prune_old(tick) == 2  # the first day's two rows
    assert await counted(h) == {("Ann", DAY + timedelta(days=30)): {"messages": 1}}
    assert await movements(h) == {}


async def opted_out(h: Harness, chat: str = "g1") -> set[str]:
    async with h.store.transaction() as s:
        community = await h.store.communities.find(s, "fake", chat)
        assert community is not None
        ids = await InsightRepo(h.store.db).opted_out(s, community.id)
        rows = await s.execute(select(Member.display_name).where(Member.id.in_(ids)))
        return set(rows.scalars())


async def test_opting_out_and_back_in(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.send(h.message("hello", user="Ann"))
    # In a group the answer goes to the member privately; the group reads only that it did.
    [out, told] = await h.send(h.message("/stats optout", user="Ann"))
    assert isinstance(out, Notify) and out.user_id == "id-ann"
    assert "never name you" in out.text.plain() and "totals" in out.text.plain()
    assert isinstance(told, Reply) and told.text.plain() == "Done, I've told you privately."
    assert await opted_out(h) == {"Ann"}
    await h.send(h.message("/stats optout", user="Ann"))  # again: still once
    await h.send(h.message("still here", user="Ann"))  # an opted-out member still counts
    await written(h)
    assert (await counted(h))[("Ann", DAY)] == {"messages": 2}
    await h.send(h.message("hello", user="Ann", chat="g2"))
    h.adapter.decline["notify"] = ActionResult.declined(DeclineReason.FAILED, "timed out")
    [_notice, back] = await h.send(h.message("/stats OPTIN", user="Ann"))
    # It could not go privately: the answer (nothing secret in it) is given here instead.
    assert isinstance(back, Reply) and back.private and "name you again" in back.text.plain()
    del h.adapter.decline["notify"]
    assert await opted_out(h) == set()
    # In private: every group the member shares with the bot.
    [everywhere] = await h.send(h.message("/stats optout", user="Ann", chat="p", private=True))
    assert "any of the 2 groups" in everywhere.text.plain()
    assert await opted_out(h) == {"Ann"} and await opted_out(h, "g2") == {"Ann"}
    [nobody] = await h.send(h.message("/stats optout", user="Zed", chat="p2", private=True))
    assert "don't know you from any group" in nobody.text.plain()
    async with h.store.transaction() as s:
        assert (await s.execute(select(func.count()).select_from(InsightOptOut))).scalar_one() == 2


async def test_other_arguments_get_the_usage_and_change_nothing(any_harness: Harness) -> None:
    h = english(any_harness)
    for command in ("/stats opt-out", "/stats <b>&", "/stats optout please", "/stats 7 days"):
        [answer] = await h.send(h.message(command, user="Ann"))
        assert isinstance(answer, Reply) and answer.private
        assert "/stats optout" in answer.text.plain(), command
    async with h.store.transaction() as s:
        assert (await s.execute(select(func.count()).select_from(InsightOptOut))).scalar_one() == 0
    await written(h)
    assert await counted(h) == {}  # commands are not talk
    [zh] = await any_harness.say("/stats weekly", user="Ann", key="zh")
    assert "用法" in zh and "/stats optout" in zh


async def test_reactions_given_and_received_never_go_negative(any_harness: Harness) -> None:
    """A reaction counts for the one who gave it and, when the author is known (the platform
    says, or the bot saw the message), for the one who got it; one taken back counts for
    nothing; a duplicate delivery counts once; a bot's reaction and one in private not at all."""
    h = english(any_harness)
    hello = h.message("hello all", user="Ann")
    await h.send(hello)
    await h.send(h.message("hi", user="Carol"))  # Carol is a member: a known author below
    await h.send(h.react(hello.message_id, user="Bob", added=("👍", "custom:42")))
    await h.send(h.react(hello.message_id, user="Bob", added=(), removed=("👍",)))
    twice = h.react(hello.message_id, user="Dan", key="same-reaction")
    await h.send(twice)
    await h.send(twice)
    await h.send(h.react(hello.message_id, user="Ann"))  # to oneself: given, not received
    await h.send(h.react("older", user="Bob", author="id-carol"))  # the platform names her
    await h.send(h.react("unseen", user="Bob"))  # nobody known wrote it: given only
    await h.send(h.react("unseen", user="Eve", author="id-nobody"))  # never seen: dropped
    await h.send(h.react(hello.message_id, user=h.user("Helper", is_bot=True)))
    private = h.chat("id-bob", private=True)
    await h.send(h.react("m9", user="Bob").model_copy(update={"chat": private}))
    await written(h)
    assert await counted(h) == {
        ("Ann", DAY): {"messages": 1, "reactions": 1, "reactions_received": 3},
        ("Bob", DAY): {"reactions": 4},
        ("Carol", DAY): {"messages": 1, "reactions_received": 1},
        ("Dan", DAY): {"reactions": 1},
        ("Eve", DAY): {"reactions": 1},
    }
    # Only removals later: nothing is written, nothing goes below zero.
    await h.send(h.react(hello.message_id, user="Bob", added=(), removed=("custom:42",)))
    assert await written(h) == 0
    assert (await counted(h))[("Bob", DAY)] == {"reactions": 4}


async def test_a_make_up_counts_for_the_day_it_fills_and_here_as_attendance(
    any_harness: Harness,
) -> None:
    h = english(any_harness, checkin={"base": 10, "makeup_cost": 5})
    await h.send(h.message("签到", user="Ann"))  # the 21st
    h.clock.advance(timedelta(days=2))  # the 22nd is missed
    await h.send(h.message("补签", user="Ann"))  # fills the 22nd
    await h.send(h.message("/makeup", user="Ann"))  # nothing missing now: not counted
    await h.send(h.message("/here", user="Ann"))  # no event now: not counted
    h.adapter.admins.add(("g1", "id-alice"))
    card = [
        a
        for a in await h.send(h.message('/event create "Tea" 2026-11-23 20:00'))
        if isinstance(a, Send)
    ]
    [[going, _maybe, _no]] = card[0].buttons
    await h.send(h.press(going.data, user="Ann"))  # an RSVP, on the 23rd
    h.clock.set(datetime(2026, 11, 23, 11, 50, tzinfo=UTC))  # 19:50 in Shanghai
    await h.send(h.message("/here", user="Ann"))
    await h.send(h.message("到场", user="Ann"))  # again: not counted
    await written(h)
    assert await counted(h) == {
        ("Ann", DAY): {"checkins": 1},
        ("Ann", DAY + timedelta(days=1)): {"checkins": 1},
        ("Ann", DAY + timedelta(days=2)): {"rsvps": 1, "attendances": 1},
    }
