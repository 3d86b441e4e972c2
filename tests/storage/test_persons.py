"""Persons on SQLite and PostgreSQL: what a member says in private reaches every membership
of the account in a community, on this platform only, and later memberships take it once."""

from __future__ import annotations

import asyncio

from bot.clock import FakeClock
from storage import Store
from storage.members import MemberInfo


async def _member(
    store: Store, clock: FakeClock, platform: str, chat: str, user: str, kind: str = "group"
) -> MemberInfo:
    async with store.transaction() as s:
        community = await store.communities.ensure(
            s, platform=platform, chat_id=chat, chat_type=kind, title=None, now=clock.now()
        )
        return await store.members.record(
            s,
            community_id=community.id,
            platform_user_id=user,
            display_name=user,
            username=None,
            is_bot=False,
            now=clock.now(),
        )


async def _zone(store: Store, member: MemberInfo) -> str | None:
    async with store.transaction() as s:
        found = await store.members.get(s, member.id)
    assert found is not None
    return found.timezone


async def test_tell_reaches_the_accounts_communities_only(store: Store, clock: FakeClock) -> None:
    here = await _member(store, clock, "telegram", "g1", "42")
    there = await _member(store, clock, "telegram", "g2", "42")
    private = await _member(store, clock, "telegram", "42", "42", kind="private")
    stranger = await _member(store, clock, "telegram", "g1", "43")
    elsewhere = await _member(store, clock, "discord", "g1", "42")  # another platform's 42
    async with store.transaction() as s:
        shared = await store.persons.tell(
            s,
            platform="telegram",
            platform_user_id="42",
            display_name="Ann",
            now=clock.now(),
            values={"timezone": "Asia/Tokyo"},
        )
    assert shared == 2
    assert await _zone(store, here) == await _zone(store, there) == "Asia/Tokyo"
    assert await _zone(store, private) is None
    assert await _zone(store, stranger) is None and await _zone(store, elsewhere) is None


async def test_concurrent_tells_make_one_person(store: Store, clock: FakeClock) -> None:
    await _member(store, clock, "telegram", "g1", "42")

    async def tell(zone: str) -> int:
        async with store.transaction() as s:
            return await store.persons.tell(
                s,
                platform="telegram",
                platform_user_id="42",
                display_name="Ann",
                now=clock.now(),
                values={"timezone": zone},
            )

    counts = await asyncio.gather(*(tell(z) for z in ("Asia/Tokyo", "Europe/London") * 4))
    assert counts == [1] * 8
    async with store.transaction() as s:
        person = await store.persons.of_account(s, "telegram", "42")
    assert person is not None and person.timezone in ("Asia/Tokyo", "Europe/London")


async def test_adopt_fills_new_memberships_and_keeps_linked_ones(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as s:
        shared = await store.persons.tell(
            s,
            platform="telegram",
            platform_user_id="42",
            display_name="Ann",
            now=clock.now(),
            values={"birthday_month": 11, "birthday_day": 25, "timezone": "Asia/Tokyo"},
        )
    assert shared == 0
    new = await _member(store, clock, "telegram", "g9", "42")
    async with store.transaction() as s:
        assert await store.persons.adopt(s, [("telegram", new.id, "42")]) == 1
        await store.birthdays.update(s, new.id, {"timezone": "Europe/Paris"})  # said in g9
        assert await store.persons.adopt(s, [("telegram", new.id, "42")]) == 0
        mine = await store.birthdays.get(s, new.id)
        assert await store.persons.adopt(s, []) == 0
    assert (mine.month, mine.day, mine.timezone) == (11, 25, "Europe/Paris")
