"""Reports on SQLite and PostgreSQL: one per member per message however many arrive at once,
and a report claimed by exactly one of many presses; a refused action puts it back."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.clock import FakeClock
from storage import Store
from storage.reports import ABANDONED_AFTER, ReportRepo
from tests.support import a_member

TASKS = 30


async def _file(
    store: Store, repo: ReportRepo, community: int, reporter: int, target: int, now: datetime
) -> int | None:
    async with store.transaction() as session:
        return await repo.file(
            session,
            community_id=community,
            reporter_member_id=reporter,
            target_member_id=target,
            channel_id=None,
            message_id="42",
            reason="spam",
            now=now,
        )


async def test_one_report_per_member_per_message_under_concurrency(
    store: Store, clock: FakeClock
) -> None:
    community, reporter = await a_member(store, clock.now(), "1")
    _, target = await a_member(store, clock.now(), "2")
    repo = ReportRepo(store.db)
    filed = await asyncio.gather(
        *(_file(store, repo, community, reporter, target, clock.now()) for _ in range(TASKS))
    )
    assert len([f for f in filed if f is not None]) == 1
    async with store.transaction() as session:
        assert await repo.open_count(session, community) == 1


async def test_a_report_is_claimed_once_and_a_refusal_reopens_it(
    store: Store, clock: FakeClock
) -> None:
    community, reporter = await a_member(store, clock.now(), "1")
    _, target = await a_member(store, clock.now(), "2")
    repo = ReportRepo(store.db)
    report = await _file(store, repo, community, reporter, target, clock.now())
    assert report is not None

    async def claim() -> bool:
        async with store.transaction() as session:
            return await repo.claim(session, report, reporter, clock.now())

    won = await asyncio.gather(*(claim() for _ in range(TASKS)))
    assert won.count(True) == 1
    async with store.transaction() as session:
        await repo.settle(session, report, None)  # the platform refused
    assert await claim() is True
    async with store.transaction() as session:
        await repo.settle(session, report, "deleted")
        found = await repo.get(session, report)
    assert found is not None and found.status == "deleted"
    clock.advance(ABANDONED_AFTER * 2)
    assert await claim() is False  # handled stays handled


async def test_an_abandoned_claim_may_be_taken_again(store: Store, clock: FakeClock) -> None:
    community, reporter = await a_member(store, clock.now(), "1")
    _, target = await a_member(store, clock.now(), "2")
    repo = ReportRepo(store.db)
    report = await _file(store, repo, community, reporter, target, clock.now())
    assert report is not None
    async with store.transaction() as session:
        assert await repo.claim(session, report, reporter, clock.now())
    async with store.transaction() as session:
        assert not await repo.claim(session, report, reporter, clock.now())
    clock.advance(ABANDONED_AFTER + ABANDONED_AFTER / 5)
    async with store.transaction() as session:
        assert await repo.claim(session, report, reporter, clock.now())
