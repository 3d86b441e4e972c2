"""Timed bans end through their scheduled lift: exactly once under racing ticks and processes,
retried when the platform refuses, cancelled by a manual /unban or a ban for good."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.actions import ActionResult, DeclineReason, Unban
from handlers.moderation import lift_expired_bans
from storage import Database, Store
from storage.audit import AuditEntry
from tests.support import Harness

MEMBERS = ("Bob", "Carol", "Dave", "Erin", "Frank")
TICKS = 12


async def _ready(h: Harness) -> Harness:
    h.adapter.admins.add(("g1", "id-alice"))  # Alice operates g1 and makes Mod a moderator
    for who in (*MEMBERS, "Mod"):
        await h.send(h.join(who))
    await h.say("/role grant @Mod moderator")
    return h


@pytest.fixture
async def group(harness: Harness) -> Harness:
    return await _ready(harness)


def _unbanned(h: Harness) -> list[str]:
    return [a.user_id for a in h.adapter.actions if isinstance(a, Unban)]


async def _lifts_audited(store: Store) -> int:
    async with store.transaction() as s:
        counted = await s.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "unban.scheduled")
        )
        return int(counted.scalar_one())


async def test_racing_ticks_of_two_processes_lift_each_ban_once(any_harness: Harness) -> None:
    """Two bots over one database (SQLite and PostgreSQL), each running many ticks at once:
    every timed ban is lifted by exactly one of them, once, and audited once."""
    first = await _ready(any_harness)
    for who in MEMBERS:
        [banned] = await first.say(f"/ban @{who} 1d spam", user="Mod")
        assert who in banned
    db = first.store.db
    second_db = Database(db.url, schema=db.schema)
    try:
        second = Harness(store=Store(second_db), settings=first.settings, clock=first.clock)
        first.clock.advance(timedelta(days=1, minutes=1))
        first.adapter.actions.clear()
        ticks = [h.dispatcher.tick_context() for h in (first, second) for _ in range(TICKS)]
        lifted = await asyncio.gather(*(lift_expired_bans(tick) for tick in ticks))
        assert sum(lifted) == len(MEMBERS)
        unbanned = _unbanned(first) + _unbanned(second)
        assert sorted(unbanned) == sorted(f"id-{who.lower()}" for who in MEMBERS)
        assert await _lifts_audited(first.store) == len(MEMBERS)
        assert await lift_expired_bans(second.dispatcher.tick_context()) == 0
    finally:
        await second_db.dispose()


async def test_a_refused_unban_is_tried_again_on_a_later_tick(group: Harness) -> None:
    await group.send(group.message("/ban @Bob 1h spam", user="Mod"))
    group.clock.advance(timedelta(hours=1, minutes=1))
    group.adapter.decline["unban"] = ActionResult.declined(
        DeclineReason.MISSING_RIGHT, "can_restrict_members"
    )
    tick = group.dispatcher.tick_context()
    assert await lift_expired_bans(tick) == 0
    assert await _lifts_audited(group.store) == 0  # not done, so not said to be done
    del group.adapter.decline["unban"]
    group.adapter.actions.clear()
    group.clock.advance(timedelta(minutes=1))
    assert await lift_expired_bans(tick) == 1
    assert await lift_expired_bans(tick) == 0
    assert _unbanned(group) == ["id-bob"]
    assert await _lifts_audited(group.store) == 1


async def test_a_manual_unban_cancels_the_scheduled_lift(group: Harness) -> None:
    await group.send(group.message("/ban @Bob 1d spam", user="Mod"))
    [unbanned] = await group.say("/unban @Bob", user="Mod")
    assert "Bob" in unbanned
    group.clock.advance(timedelta(days=2))
    group.adapter.actions.clear()
    assert await lift_expired_bans(group.dispatcher.tick_context()) == 0
    assert _unbanned(group) == []


async def test_a_ban_for_good_cancels_the_lift_of_a_timed_one(group: Harness) -> None:
    await group.send(group.message("/ban @Bob 1d spam", user="Mod"))
    await group.send(group.message("/ban @Bob scam", user="Mod"))
    group.clock.advance(timedelta(days=2))
    group.adapter.actions.clear()
    assert await lift_expired_bans(group.dispatcher.tick_context()) == 0
    assert _unbanned(group) == []  # banned for good stays banned


async def test_a_new_timed_ban_moves_the_lift(group: Harness) -> None:
    await group.send(group.message("/ban @Bob 1d spam", user="Mod"))
    await group.send(group.message("/ban @Bob 3d spam again", user="Mod"))
    tick = group.dispatcher.tick_context()
    group.clock.advance(timedelta(days=1, minutes=1))
    assert await lift_expired_bans(tick) == 0  # not at the first ban's end
    group.clock.advance(timedelta(days=2))
    group.adapter.actions.clear()
    assert await lift_expired_bans(tick) == 1
    assert _unbanned(group) == ["id-bob"]
