"""``storage.persona_voice`` on SQLite and PostgreSQL: a community's own texts held in memory
and seen by another process within ``REFRESH``; a greeting answered once however many replies
arrive at once; first words set once; old greetings deleted."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.clock import FakeClock
from storage import Store
from storage.persona_voice import KEEP, REFRESH, REPLY_WINDOW, PersonaSendRepo
from tests.support import a_member


async def test_own_texts_reach_another_process_within_refresh(
    store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    cid, _ = await a_member(store, now)
    other = Store(store.db)  # a second process over the same database
    await other.persona_texts.refresh(now)
    assert other.persona_texts.of(cid) == {}
    async with store.transaction() as s:
        await store.persona_texts.put(s, cid, "en", "welcome.join", ["Hi {member}"], now)
    await store.persona_texts.reload(cid)
    assert store.persona_texts.of(cid) == {"en": {"welcome.join": ("Hi {member}",)}}
    await other.persona_texts.refresh(now + REFRESH - timedelta(seconds=1))
    assert other.persona_texts.of(cid) == {}  # not read again yet: no statement per event
    await other.persona_texts.refresh(now + REFRESH)
    assert other.persona_texts.of(cid) == {"en": {"welcome.join": ("Hi {member}",)}}
    async with store.transaction() as s:
        assert await store.persona_texts.remove(s, cid, "en", "welcome.join")
        assert not await store.persona_texts.remove(s, cid, "en", "welcome.join")
    await other.persona_texts.refresh(now + 2 * REFRESH)
    assert other.persona_texts.of(cid) == {}


async def test_a_greeting_is_answered_once_under_concurrency(
    store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    cid, mid = await a_member(store, now)
    repo = PersonaSendRepo()
    async with store.transaction() as s:
        row = await repo.record(s, cid, "welcome", "sister", now, member_id=mid, message_id="77")

    async def answer() -> bool:
        async with store.transaction() as s:
            return await repo.answered(s, cid, "77", now + timedelta(minutes=1))

    async def speak() -> bool:
        async with store.transaction() as s:
            return await repo.spoke(s, row, now + timedelta(minutes=2))

    answers = await asyncio.gather(*(answer() for _ in range(20)))
    spoken = await asyncio.gather(*(speak() for _ in range(20)))
    assert answers.count(True) == 1 and spoken.count(True) == 1
    async with store.transaction() as s:
        [effect] = await repo.effect(s, cid, now - timedelta(days=1), now + timedelta(hours=1))
        assert (effect.preset, effect.welcomes, effect.welcomes_answered, effect.spoke) == (
            "sister",
            1,
            1,
            1,
        )
        assert effect.median_first_message == timedelta(minutes=2)
        # Too late, or another group's message with the same id: nothing.
        await repo.record(s, cid, "welcome", "", now, message_id="78")
    async with store.transaction() as s:
        assert not await repo.answered(s, cid, "78", now + REPLY_WINDOW + timedelta(seconds=1))
        assert not await repo.answered(s, cid + 1, "78", now)
        assert await repo.prune(s, now + KEEP) == 0
        assert await repo.prune(s, now + KEEP + timedelta(seconds=1)) == 2
