"""The FAQ's storage: numbers per community, race-free and never reused; edit and remove in one
statement; a promoted question becomes one entry; ``version`` moves with every change."""

from __future__ import annotations

import asyncio

import pytest

from bot.clock import FakeClock
from storage import Store
from storage.faq import ANSWER_LEN, QUESTION_LEN, FaqEntry, FaqFullError
from tests.support import a_member

TASKS = 30


async def test_numbers_follow_per_community_and_are_not_reused(
    store: Store, clock: FakeClock
) -> None:
    community, member = await a_member(store, clock.now())
    async with store.transaction() as s:
        other = await store.communities.ensure(
            s, platform="fake", chat_id="other", chat_type="group", title=None, now=clock.now()
        )
        one = await store.faq.add(
            s, community, "How to check in?", "Say 签到.", member, now=clock.now()
        )
        two = await store.faq.add(s, community, "积分有什么用", "换礼物", member, now=clock.now())
        elsewhere = await store.faq.add(s, other.id, "Q", "A", None, now=clock.now())
    assert (one.number, two.number, elsewhere.number) == (1, 2, 1)
    async with store.transaction() as s:
        assert await store.faq.remove(s, community, 2, now=clock.now()) == two
        assert await store.faq.remove(s, community, 2, now=clock.now()) is None
        three = await store.faq.add(s, community, "New", "Entry", member, now=clock.now())
    assert three.number == 3
    async with store.transaction() as s:
        assert await store.faq.entries(s, community) == [one, three]
        assert await store.faq.get(s, community, 2) is None
        assert await store.faq.get(s, community, 1) == one
        assert await store.faq.get(s, other.id, 3) is None
        assert await store.faq.count(s, community) == 2


async def test_concurrent_adds_take_distinct_numbers(store: Store, clock: FakeClock) -> None:
    community, member = await a_member(store, clock.now())

    async def add(n: int) -> int:
        async with store.transaction() as s:
            entry = await store.faq.add(s, community, f"q{n}", f"a{n}", member, now=clock.now())
            return entry.number

    numbers = await asyncio.gather(*(add(n) for n in range(TASKS)))
    assert sorted(numbers) == list(range(1, TASKS + 1))
    async with store.transaction() as s:
        assert [e.number for e in await store.faq.entries(s, community)] == list(
            range(1, TASKS + 1)
        )


async def test_edit_changes_only_what_is_given_and_not_removed_entries(
    store: Store, clock: FakeClock
) -> None:
    community, member = await a_member(store, clock.now())
    async with store.transaction() as s:
        await store.faq.add(s, community, "Q1", "A1", member, now=clock.now())
        await store.faq.add(s, community, "Q2", "A2", member, now=clock.now())
        assert await store.faq.edit(s, community, 1, None, "A1b", now=clock.now()) == FaqEntry(
            1, "Q1", "A1b"
        )
        assert await store.faq.edit(s, community, 1, "Q1c", None, now=clock.now()) == FaqEntry(
            1, "Q1c", "A1b"
        )
        await store.faq.remove(s, community, 2, now=clock.now())
        assert await store.faq.edit(s, community, 2, "Q", "A", now=clock.now()) is None
        assert await store.faq.edit(s, community, 9, "Q", "A", now=clock.now()) is None
        assert await store.faq.entries(s, community) == [FaqEntry(1, "Q1c", "A1b")]


async def test_text_outside_the_limits_is_refused_and_nothing_changes(
    store: Store, clock: FakeClock
) -> None:
    community, member = await a_member(store, clock.now())
    async with store.transaction() as s:
        await store.faq.add(s, community, "Q", "A", member, now=clock.now())
        for question, answer in (
            ("", "A"),
            ("Q", ""),
            ("x" * (QUESTION_LEN + 1), "A"),
            ("Q", "y" * (ANSWER_LEN + 1)),
        ):
            with pytest.raises(ValueError):
                await store.faq.add(s, community, question, answer, member, now=clock.now())
            with pytest.raises(ValueError):
                await store.faq.edit(s, community, 1, question, answer, now=clock.now())
        longest = await store.faq.add(
            s, community, "x" * QUESTION_LEN, "y" * ANSWER_LEN, member, now=clock.now()
        )
        assert longest.number == 2
        assert await store.faq.get(s, community, 1) == FaqEntry(1, "Q", "A")


async def test_a_question_is_promoted_once(store: Store, clock: FakeClock) -> None:
    community, member = await a_member(store, clock.now())

    async def promote() -> FaqEntry:
        async with store.transaction() as s:
            return await store.faq.add(s, community, "Q", "A", member, 77, now=clock.now())

    entries = await asyncio.gather(*(promote() for _ in range(10)))
    assert set(entries) == {FaqEntry(1, "Q", "A")}
    async with store.transaction() as s:
        assert await store.faq.count(s, community) == 1


async def test_version_moves_with_every_change(store: Store, clock: FakeClock) -> None:
    community, member = await a_member(store, clock.now())
    seen = []
    async with store.transaction() as s:
        seen.append(await store.faq.version(s, community))
        await store.faq.add(s, community, "Q", "A", member, now=clock.now())
        seen.append(await store.faq.version(s, community))
        await store.faq.edit(s, community, 1, None, "B", now=clock.now())
        seen.append(await store.faq.version(s, community))
        await store.faq.edit(s, community, 1, None, "C", now=clock.now())
        seen.append(await store.faq.version(s, community))
        await store.faq.remove(s, community, 1, now=clock.now())
        seen.append(await store.faq.version(s, community))
        # A failed edit (removed entry) changes nothing.
        await store.faq.edit(s, community, 1, None, "D", now=clock.now())
        seen.append(await store.faq.version(s, community))
    assert len(set(seen[:-1])) == 5
    assert seen[-1] == seen[-2]


async def test_the_most_entries_hold_under_concurrent_adds(store: Store, clock: FakeClock) -> None:
    community, member = await a_member(store, clock.now())

    async def add(n: int) -> bool:
        try:
            async with store.transaction() as s:
                await store.faq.add(s, community, f"q{n}", "a", member, now=clock.now(), most=5)
        except FaqFullError:
            return False
        return True

    added = await asyncio.gather(*(add(n) for n in range(TASKS)))
    assert added.count(True) == 5
    async with store.transaction() as s:
        assert await store.faq.count(s, community) == 5
        await store.faq.remove(s, community, 1, now=clock.now())
        # A removed entry frees its place; its number is not reused.
        assert (await store.faq.add(s, community, "q", "a", member, most=5)).number == 6
