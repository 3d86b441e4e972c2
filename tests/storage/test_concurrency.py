"""Many tasks at once against one database: the unique keys and single-statement upserts hold."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.clock import FakeClock
from storage import Store
from storage.communities import Community
from storage.members import Member
from storage.roles import MemberRole

TASKS = 40


async def test_concurrent_claims_of_one_update_succeed_exactly_once(
    store: Store, clock: FakeClock
) -> None:
    async def claim() -> bool:
        async with store.transaction() as s:
            return await store.updates.claim(s, "telegram", "777", clock.now())

    results = await asyncio.gather(*(claim() for _ in range(TASKS)))
    assert results.count(True) == 1


async def test_concurrent_first_sight_creates_one_community_and_one_member(
    store: Store, clock: FakeClock
) -> None:
    async def see(n: int) -> int:
        async with store.transaction() as s:
            c = await store.communities.ensure(
                s,
                platform="fake",
                chat_id="busy",
                chat_type="group",
                title=f"t{n}",
                now=clock.now(),
            )
            m = await store.members.record(
                s,
                community_id=c.id,
                platform_user_id="42",
                display_name=f"name{n}",
                username=None,
                is_bot=False,
                now=clock.now(),
                active=True,
            )
            return m.id

    ids = await asyncio.gather(*(see(n) for n in range(TASKS)))
    assert len(set(ids)) == 1
    async with store.transaction() as s:
        assert (await s.execute(select(func.count()).select_from(Community))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(Member))).scalar_one() == 1


async def test_concurrent_role_grants_write_one_row(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as s:
        c = await store.communities.ensure(
            s, platform="fake", chat_id="g", chat_type="group", title=None, now=clock.now()
        )
        m = await store.members.record(
            s,
            community_id=c.id,
            platform_user_id="1",
            display_name="M",
            username=None,
            is_bot=False,
            now=clock.now(),
        )

    async def grant() -> bool:
        async with store.transaction() as s:
            return await store.roles.grant(s, m.id, "moderator", None, clock.now())

    results = await asyncio.gather(*(grant() for _ in range(TASKS)))
    assert results.count(True) == 1
    async with store.transaction() as s:
        assert (await s.execute(select(func.count()).select_from(MemberRole))).scalar_one() == 1


async def test_batched_bookkeeping_under_concurrency(store: Store, clock: FakeClock) -> None:
    """Many batches at once, overlapping members and redelivered keys: every update is
    claimed once, every member exists once, activity is kept."""
    from bot.bookkeeping import record_events
    from bot.events import Chat, MessageEvent, User

    def event(n: int) -> MessageEvent:
        return MessageEvent(
            platform="telegram",
            update_key=f"k{n % 120}",  # 40 batches x 10 events over 120 keys: redeliveries
            chat=Chat(platform="telegram", id=f"-100{n % 3}", title=f"G{n % 3}"),
            sender=User(id=str(n % 7), name=f"Member {n % 7}"),
            at=clock.now(),
            message_id=str(n),
            text="hi",
        )

    batches = [[event(b * 10 + i) for i in range(10)] for b in range(40)]
    results = await asyncio.gather(*(record_events(store, batch, clock.now()) for batch in batches))
    recorded = [r for batch in results for r in batch if r is not None]
    assert len(recorded) == 120  # each of the 120 keys exactly once
    async with store.transaction() as s:
        assert (await s.execute(select(func.count()).select_from(Community))).scalar_one() == 3
        members = (await s.execute(select(Member))).scalars().all()
    assert len(members) == 21  # 7 senders seen in 3 groups
    assert all(m.last_active_at == clock.now() for m in members)


async def test_an_invite_code_with_n_uses_admits_exactly_n(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as s:
        c = await store.communities.ensure(
            s, platform="fake", chat_id="g", chat_type="group", title=None, now=clock.now()
        )
        await store.invites.create(s, c.id, "CODE2345", 3, None, clock.now())

    async def use() -> bool:
        async with store.transaction() as s:
            return await store.invites.use(s, c.id, "CODE2345", clock.now())

    results = await asyncio.gather(*(use() for _ in range(TASKS)))
    assert results.count(True) == 3
    async with store.transaction() as s:
        assert await store.invites.active(s, c.id, clock.now()) == []
