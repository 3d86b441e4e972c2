"""The points ledger on SQLite and PostgreSQL: exactly once, never below zero, books balance."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from bot.clock import FakeClock
from storage import Store
from storage.ledger import ISSUE, REMOVE, TRANSFER, InsufficientPoints, Movement, PointAccount


async def community(store: Store, clock: FakeClock) -> int:
    async with store.transaction() as s:
        c = await store.communities.ensure(
            s, platform="fake", chat_id="g", chat_type="group", title=None, now=clock.now()
        )
    return c.id


async def test_posts_are_exactly_once_and_verified(store: Store, clock: FakeClock) -> None:
    cid = await community(store, clock)
    async with store.transaction() as s:
        assert await store.ledger.post(
            s,
            community_id=cid,
            key="give:1",
            movements=[Movement("m:1", 100)],
            reason=ISSUE,
            reference=None,
            now=clock.now(),
        )
        assert not await store.ledger.post(
            s,
            community_id=cid,
            key="give:1",
            movements=[Movement("m:1", 100)],
            reason=ISSUE,
            reference=None,
            now=clock.now(),
        )
        assert await store.ledger.post(
            s,
            community_id=cid,
            key="pay:1",
            movements=[Movement("m:1", -30), Movement("m:2", 30)],
            reason=TRANSFER,
            reference="test",
            now=clock.now(),
        )
        assert await store.ledger.post(
            s,
            community_id=cid,
            key="take:1",
            movements=[Movement("m:2", -10)],
            reason=REMOVE,
            reference=None,
            now=clock.now(),
        )
    async with store.transaction() as s:
        assert await store.ledger.balance(s, cid, "m:1") == 70
        assert await store.ledger.balance(s, cid, "m:2") == 20
        assert await store.ledger.rank(s, cid, "m:2") == 2
        assert await store.ledger.top(s, cid) == [("m:1", 70), ("m:2", 20)]
        assert await store.ledger.verify(s, cid) == []


async def test_overdraw_posts_nothing(store: Store, clock: FakeClock) -> None:
    cid = await community(store, clock)
    async with store.transaction() as s:
        await store.ledger.post(
            s,
            community_id=cid,
            key="seed",
            movements=[Movement("m:1", 5)],
            reason=ISSUE,
            reference=None,
            now=clock.now(),
        )
    with pytest.raises(InsufficientPoints):
        async with store.transaction() as s:
            await store.ledger.post(
                s,
                community_id=cid,
                key="too-much",
                movements=[Movement("m:1", -6), Movement("m:2", 6)],
                reason=TRANSFER,
                reference=None,
                now=clock.now(),
            )
    async with store.transaction() as s:
        assert await store.ledger.balance(s, cid, "m:1") == 5
        assert await store.ledger.balance(s, cid, "m:2") == 0
        # the failed key was rolled back with everything else: it can be posted later
        assert await store.ledger.post(
            s,
            community_id=cid,
            key="too-much",
            movements=[Movement("m:1", -5), Movement("m:2", 5)],
            reason=TRANSFER,
            reference=None,
            now=clock.now(),
        )
        assert await store.ledger.verify(s, cid) == []


async def test_concurrent_transfers_never_overdraw(store: Store, clock: FakeClock) -> None:
    cid = await community(store, clock)
    async with store.transaction() as s:
        await store.ledger.post(
            s,
            community_id=cid,
            key="seed",
            movements=[
                Movement("m:1", 100),
            ],
            reason=ISSUE,
            reference=None,
            now=clock.now(),
        )

    async def pay(n: int) -> bool:
        try:
            async with store.transaction() as s:
                return await store.ledger.post(
                    s,
                    community_id=cid,
                    key=f"pay:{n}",
                    movements=[Movement("m:1", -7), Movement(f"m:{n + 10}", 7)],
                    reason=TRANSFER,
                    reference=None,
                    now=clock.now(),
                )
        except InsufficientPoints:
            return False

    results = await asyncio.gather(*(pay(n) for n in range(40)))
    assert results.count(True) == 14  # 14 x 7 = 98 <= 100 < 105
    async with store.transaction() as s:
        assert await store.ledger.balance(s, cid, "m:1") == 2
        assert await store.ledger.verify(s, cid) == []


async def test_verify_reports_a_tampered_balance(store: Store, clock: FakeClock) -> None:
    cid = await community(store, clock)
    async with store.transaction() as s:
        await store.ledger.post(
            s,
            community_id=cid,
            key="seed",
            movements=[Movement("m:1", 10)],
            reason=ISSUE,
            reference=None,
            now=clock.now(),
        )
        await s.execute(update(PointAccount).where(PointAccount.owner == "m:1").values(balance=15))
        problems = await store.ledger.verify(s, cid)
    assert any("balance 15 != entries 10" in p for p in problems)
    assert any("hold 15" in p for p in problems)
