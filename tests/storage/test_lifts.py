"""Scheduled lifts of timed sanctions: one pending per member, claimed once, settled or retried."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.clock import FakeClock
from storage import Store
from storage.sanctions import ABANDONED_AFTER, LiftRepo, ScheduledLift

TASKS = 40
UNBAN = "unban"


async def _member(store: Store, clock: FakeClock, user: str = "1") -> tuple[int, int]:
    async with store.transaction() as s:
        c = await store.communities.ensure(
            s, platform="fake", chat_id="g", chat_type="group", title=None, now=clock.now()
        )
        m = await store.members.record(
            s,
            community_id=c.id,
            platform_user_id=user,
            display_name=f"M{user}",
            username=None,
            is_bot=False,
            now=clock.now(),
        )
    return c.id, m.id


async def _statuses(store: Store) -> list[tuple[str, object]]:
    async with store.transaction() as s:
        rows = await s.execute(
            select(ScheduledLift.status, ScheduledLift.due_at).order_by(ScheduledLift.id)
        )
        return [(status, due) for status, due in rows.all()]


async def test_a_new_schedule_moves_the_pending_lift_and_cancel_stops_it(
    store: Store, clock: FakeClock
) -> None:
    lifts = LiftRepo(store.db)
    community, member = await _member(store, clock)
    now = clock.now()
    async with store.transaction() as s:
        first = await lifts.schedule(s, community, member, UNBAN, now, now + timedelta(hours=1))
        again = await lifts.schedule(s, community, member, UNBAN, now, now + timedelta(days=1))
    assert first == again
    assert await _statuses(store) == [("pending", now + timedelta(days=1))]
    async with store.transaction() as s:
        assert await lifts.due(s, UNBAN, now + timedelta(hours=2)) == []  # moved to a day
        assert await lifts.cancel(s, community, member, UNBAN)
        assert not await lifts.cancel(s, community, member, UNBAN)  # nothing pending now
        assert await lifts.due(s, UNBAN, now + timedelta(days=2)) == []
    assert [status for status, _ in await _statuses(store)] == ["cancelled"]


async def test_concurrent_schedules_leave_one_pending_lift(store: Store, clock: FakeClock) -> None:
    lifts = LiftRepo(store.db)
    community, member = await _member(store, clock)

    async def schedule(n: int) -> int:
        async with store.transaction() as s:
            due = clock.now() + timedelta(minutes=n + 1)
            return await lifts.schedule(s, community, member, UNBAN, clock.now(), due)

    ids = await asyncio.gather(*(schedule(n) for n in range(TASKS)))
    assert len(set(ids)) == 1
    assert [status for status, _ in await _statuses(store)] == ["pending"]


async def test_a_due_lift_is_claimed_once_then_settled_or_put_back(
    store: Store, clock: FakeClock
) -> None:
    lifts = LiftRepo(store.db)
    community, member = await _member(store, clock)
    now = clock.now()
    async with store.transaction() as s:
        lift = await lifts.schedule(s, community, member, UNBAN, now, now + timedelta(hours=1))
    later = now + timedelta(hours=1)
    async with store.transaction() as s:
        [due] = await lifts.due(s, UNBAN, later)
    assert (due.id, due.community_id, due.member_id, due.platform_user_id) == (
        lift,
        community,
        member,
        "1",
    )

    async def claim() -> bool:
        async with store.transaction() as s:
            return await lifts.claim(s, lift, later)

    assert (await asyncio.gather(*(claim() for _ in range(TASKS)))).count(True) == 1
    async with store.transaction() as s:
        assert await lifts.due(s, UNBAN, later) == []  # claimed: not due for anyone else
        assert await lifts.settle(s, lift, done=False)  # the platform refused: back
        assert [d.id for d in await lifts.due(s, UNBAN, later)] == [lift]
        assert await lifts.claim(s, lift, later)
        assert await lifts.settle(s, lift, done=True)
        assert not await lifts.settle(s, lift, done=True)  # once
        assert not await lifts.claim(s, lift, later + timedelta(days=1))
        assert not await lifts.cancel(s, community, member, UNBAN)  # done stays done
    assert [status for status, _ in await _statuses(store)] == ["done"]


async def test_a_lift_left_acting_by_a_stopped_process_is_taken_again(
    store: Store, clock: FakeClock
) -> None:
    lifts = LiftRepo(store.db)
    community, member = await _member(store, clock)
    now = clock.now()
    async with store.transaction() as s:
        lift = await lifts.schedule(s, community, member, UNBAN, now, now)
        assert await lifts.claim(s, lift, now)  # ...and the process stops
    async with store.transaction() as s:
        assert await lifts.due(s, UNBAN, now + ABANDONED_AFTER) == []
        assert not await lifts.claim(s, lift, now + ABANDONED_AFTER)  # still its claim
        stale = now + ABANDONED_AFTER + timedelta(seconds=1)
        assert [d.id for d in await lifts.due(s, UNBAN, stale)] == [lift]
        assert await lifts.claim(s, lift, stale)
        assert await lifts.settle(s, lift, done=True)


async def test_a_refused_lift_gives_way_to_one_scheduled_meanwhile(
    store: Store, clock: FakeClock
) -> None:
    """While a tick unbans, a moderator bans again for a day: if the unban is refused, the old
    lift does not come back beside the new one (one pending lift per member)."""
    lifts = LiftRepo(store.db)
    community, member = await _member(store, clock)
    now = clock.now()
    async with store.transaction() as s:
        old = await lifts.schedule(s, community, member, UNBAN, now, now)
        assert await lifts.claim(s, old, now)
        new = await lifts.schedule(s, community, member, UNBAN, now, now + timedelta(days=1))
        assert new != old
        assert await lifts.settle(s, old, done=False)
    assert await _statuses(store) == [
        ("cancelled", now),
        ("pending", now + timedelta(days=1)),
    ]
