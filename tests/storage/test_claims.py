"""``storage.claims``, the claim lifecycle the outbox and reminders share, on SQLite and
PostgreSQL: only due pending rows are taken, soonest first and at most ``limit``, each once;
only claims older than the cut-off become ``unsure``."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.clock import FakeClock
from storage import Store, claims
from storage.outbox import Scheduled, ScheduledSend


async def _statuses(store: Store) -> dict[str, str]:
    async with store.transaction() as s:
        rows = await s.execute(select(ScheduledSend.target, ScheduledSend.status))
        return {str(target): str(status) for target, status in rows.all()}


async def test_claim_takes_due_rows_once_soonest_first_and_stale_claims_become_unsure(
    store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with store.transaction() as s:
        community = await store.communities.ensure(
            s, platform="fake", chat_id="g", chat_type="group", title="G", now=now
        )
        await store.outbox.enqueue(
            s,
            [
                Scheduled(community.id, target, "test", "1", now + timedelta(minutes=due), {})
                for target, due in [("late", -1), ("early", -5), ("middle", -3), ("future", 5)]
            ],
            now,
        )
    async with store.transaction() as s:
        first = await claims.claim_due(s, store.db, ScheduledSend, now, limit=2)
        taken = await s.execute(select(ScheduledSend.target).where(ScheduledSend.id.in_(first)))
        assert sorted(taken.scalars()) == ["early", "middle"]
    clock.advance(timedelta(minutes=1))
    async with store.transaction() as s:
        second = await claims.claim_due(s, store.db, ScheduledSend, clock.now())
        again = await claims.claim_due(s, store.db, ScheduledSend, clock.now())
    assert len(second) == 1 and set(second).isdisjoint(first) and again == []
    assert await _statuses(store) == {
        "early": "sending",
        "middle": "sending",
        "late": "sending",
        "future": "pending",
    }
    # Only the two claimed before the cut-off are given up; the later claim stays.
    async with store.transaction() as s:
        assert await claims.abandon_stale(s, ScheduledSend, now + timedelta(seconds=30)) == 2
    assert await _statuses(store) == {
        "early": "unsure",
        "middle": "unsure",
        "late": "sending",
        "future": "pending",
    }
