"""Scheduled lifts of timed sanctions: one pending per member, claimed once, settled or retried."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import FakeClock
from storage import Store
from storage.sanctions import ABANDONED_AFTER, LiftRepo, ScheduledLift
from tests.support import a_member

TASKS = 40
UNBAN = "unban"


@dataclass(frozen=True)
class Banned:
    """A member with a timed ban to lift, and the repository of lifts."""

    lifts: LiftRepo
    community: int
    member: int
    now: datetime

    async def schedule(
        self, session: AsyncSession, after: timedelta, now: datetime | None = None
    ) -> int:
        """Their unban, ``after`` from now."""
        at = now or self.now
        return await self.lifts.schedule(
            session, self.community, self.member, UNBAN, at, at + after
        )

    async def cancel(self, session: AsyncSession) -> bool:
        return await self.lifts.cancel(session, self.community, self.member, UNBAN)


@pytest.fixture
async def banned(store: Store, clock: FakeClock) -> Banned:
    community, member = await a_member(store, clock.now())
    return Banned(LiftRepo(store.db), community, member, clock.now())


async def _statuses(store: Store) -> list[tuple[str, object]]:
    async with store.transaction() as s:
        rows = await s.execute(
            select(ScheduledLift.status, ScheduledLift.due_at).order_by(ScheduledLift.id)
        )
        return [(status, due) for status, due in rows.all()]


async def test_a_new_schedule_moves_the_pending_lift_and_cancel_stops_it(
    store: Store, banned: Banned
) -> None:
    lifts, now = banned.lifts, banned.now
    async with store.transaction() as s:
        first = await banned.schedule(s, timedelta(hours=1))
        again = await banned.schedule(s, timedelta(days=1))
    assert first == again
    assert await _statuses(store) == [("pending", now + timedelta(days=1))]
    async with store.transaction() as s:
        assert await lifts.due(s, UNBAN, now + timedelta(hours=2)) == []  # moved to a day
        assert await banned.cancel(s)
        assert not await banned.cancel(s)  # nothing pending now
        assert await lifts.due(s, UNBAN, now + timedelta(days=2)) == []
    assert [status for status, _ in await _statuses(store)] == ["cancelled"]


async def test_concurrent_schedules_leave_one_pending_lift(store: Store, banned: Banned) -> None:

    async def schedule(n: int) -> int:
        async with store.transaction() as s:
            return await banned.schedule(s, timedelta(minutes=n + 1))

    ids = await asyncio.gather(*(schedule(n) for n in range(TASKS)))
    assert len(set(ids)) == 1
    assert [status for status, _ in await _statuses(store)] == ["pending"]


async def test_a_due_lift_is_claimed_once_then_settled_or_put_back(
    store: Store, banned: Banned
) -> None:
    lifts, now = banned.lifts, banned.now
    async with store.transaction() as s:
        lift = await banned.schedule(s, timedelta(hours=1))
    later = now + timedelta(hours=1)
    async with store.transaction() as s:
        [due] = await lifts.due(s, UNBAN, later)
    assert (due.id, due.community_id, due.member_id, due.platform_user_id) == (
        lift,
        banned.community,
        banned.member,
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
        assert not await banned.cancel(s)  # done stays done
    assert [status for status, _ in await _statuses(store)] == ["done"]


async def test_a_lift_left_acting_by_a_stopped_process_is_taken_again(
    store: Store, banned: Banned
) -> None:
    lifts, now = banned.lifts, banned.now
    async with store.transaction() as s:
        lift = await banned.schedule(s, timedelta(0))
        assert await lifts.claim(s, lift, now)  # ...and the process stops
    async with store.transaction() as s:
        assert await lifts.due(s, UNBAN, now + ABANDONED_AFTER) == []
        assert not await lifts.claim(s, lift, now + ABANDONED_AFTER)  # still its claim
        stale = now + ABANDONED_AFTER + timedelta(seconds=1)
        assert [d.id for d in await lifts.due(s, UNBAN, stale)] == [lift]
        assert await lifts.claim(s, lift, stale)
        assert await lifts.settle(s, lift, done=True)


async def test_a_refused_lift_gives_way_to_one_scheduled_meanwhile(
    store: Store, banned: Banned
) -> None:
    """While a tick unbans, a moderator bans again for a day: if the unban is refused, the old
    lift does not come back beside the new one (one pending lift per member)."""
    lifts, now = banned.lifts, banned.now
    async with store.transaction() as s:
        old = await banned.schedule(s, timedelta(0))
        assert await lifts.claim(s, old, now)
        new = await banned.schedule(s, timedelta(days=1))
        assert new != old
        assert await lifts.settle(s, old, done=False)
    assert await _statuses(store) == [
        ("cancelled", now),
        ("pending", now + timedelta(days=1)),
    ]
