"""Night mode rows on SQLite and PostgreSQL: one row per community under concurrent setting,
a due row claimed by one of many ticks at once, a closed room reopened where it was closed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.clock import FakeClock
from storage import Store
from storage.pace import NightModeRepo
from tests.support import a_member

TASKS = 8


async def test_one_row_per_community_and_one_claim_at_once(store: Store, clock: FakeClock) -> None:
    community, _ = await a_member(store, clock.now(), "1")
    repo = NightModeRepo(store.db)

    async def set_window(i: int) -> None:
        async with store.transaction() as session:
            await repo.set(session, community, "c1", ("23:00", f"0{i % 8}:00"), clock.now())

    await asyncio.gather(*(set_window(i) for i in range(TASKS)))
    async with store.transaction() as session:
        [row] = await repo.due(session, clock.now())

    async def claim() -> bool:
        async with store.transaction() as session:
            return await repo.claim(session, row.id, clock.now())

    assert sorted(await asyncio.gather(*(claim() for _ in range(TASKS)))) == [False] * (
        TASKS - 1
    ) + [True]
    async with store.transaction() as session:
        assert await repo.due(session, clock.now()) == []


async def test_a_closed_room_is_reopened_where_it_was_closed(
    store: Store, clock: FakeClock
) -> None:
    community, _ = await a_member(store, clock.now(), "1")
    repo = NightModeRepo(store.db)
    async with store.transaction() as session:
        await repo.set(session, community, "c1", ("23:00", "07:00"), clock.now())
        [row] = await repo.due(session, clock.now())
        assert await repo.claim(session, row.id, clock.now())
        await repo.settle(session, row.id, closed=True, due_at=clock.now() + timedelta(hours=1))
        await repo.set(session, community, "c2", None, clock.now())  # off, from elsewhere
        [off] = await repo.due(session, clock.now())
    assert (off.channel_id, off.closed, off.starts) == ("c1", True, None)
    async with store.transaction() as session:
        assert await repo.claim(session, off.id, clock.now())
        await repo.settle(session, off.id, closed=False, due_at=None)
        await repo.set(session, community, "c2", ("22:00", "06:00"), clock.now())
        [moved] = await repo.due(session, clock.now())
    assert moved.channel_id == "c2"  # open: the window now applies where it was set
