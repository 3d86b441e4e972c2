"""The in-memory caches of known communities and memberships (the inbound hot path), on SQLite
and PostgreSQL: a plain message from a known member writes only its dedupe row, the caches stay
bounded, every write they do not account for empties them, a rolled-back transaction leaves
nothing behind, and throttled activity is still stamped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from bot.bookkeeping import record_events
from bot.clock import FakeClock
from bot.events import Chat, MemberJoined, MessageEvent, User
from storage import Store
from storage.communities import CommunityInfo
from storage.members import REFRESH, Member, Sighting
from storage.updates import ProcessedUpdate

_COUNTER = iter(range(1, 1_000_000))


def message(
    clock: FakeClock, user: str = "7", name: str = "Ann", chat: str = "-1001"
) -> MessageEvent:
    n = next(_COUNTER)
    return MessageEvent(
        platform="telegram",
        update_key=f"u{n}",
        chat=Chat(platform="telegram", id=chat, title="Group"),
        sender=User(id=user, name=name),
        at=clock.now(),
        message_id=str(n),
        text="hello",
    )


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """The SQL statements run meanwhile, first words only."""
    seen: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(" ".join(statement.split()[:3]))

    engine = store.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def writes_to(seen: list[str], table: str) -> list[str]:
    return [s for s in seen if re.match(rf"(INSERT INTO|UPDATE|DELETE FROM) {table}\b", s)]


async def group(store: Store, clock: FakeClock) -> CommunityInfo:
    async with store.transaction() as s:
        return await store.communities.ensure(
            s,
            platform="telegram",
            chat_id="-1001",
            chat_type="supergroup",
            title="Group",
            now=clock.now(),
        )


async def row_of(store: Store, member_id: int) -> Member:
    async with store.transaction() as s:
        return (await s.execute(select(Member).where(Member.id == member_id))).scalar_one()


async def test_a_known_member_writes_only_the_dedupe_row(store: Store, clock: FakeClock) -> None:
    [first] = await record_events(store, [message(clock)], clock.now())
    assert first is not None and first.member is not None
    clock.advance(timedelta(seconds=30))
    second = message(clock)
    with statements(store) as seen:
        [again] = await record_events(store, [second], clock.now())
    assert again is not None and again.member is not None
    assert again.member.id == first.member.id and again.community.id == first.community.id
    # Its dedupe row, written through SQLAlchemy, or on a plain connection (no ORM events).
    assert writes_to(seen, "processed_updates") or store.updates.plain
    async with store.transaction() as s:
        kept = await s.scalar(
            select(ProcessedUpdate.event).where(ProcessedUpdate.update_key == second.update_key)
        )
    assert kept is None  # recorded (the row exists: else no redelivery would be a duplicate)
    assert await record_events(store, [second], clock.now()) == [None]
    assert not writes_to(seen, "members") and not writes_to(seen, "communities")
    assert not [s for s in seen if s.startswith("SELECT")]


async def test_a_new_name_is_written_at_once(store: Store, clock: FakeClock) -> None:
    await record_events(store, [message(clock, name="Ann")], clock.now())
    clock.advance(timedelta(seconds=5))
    [renamed] = await record_events(store, [message(clock, name="Ann B")], clock.now())
    assert renamed is not None and renamed.member is not None
    assert renamed.member.display_name == "Ann B"
    async with store.transaction() as s:
        found = await store.members.find_by_name(s, renamed.community.id, "ann b")
    assert [m.id for m in found] == [renamed.member.id]


async def test_activity_is_stamped_at_most_every_refresh(store: Store, clock: FakeClock) -> None:
    start = clock.now()
    [first] = await record_events(store, [message(clock)], clock.now())
    assert first is not None and first.member is not None
    assert (await row_of(store, first.member.id)).last_active_at == start
    clock.advance(REFRESH - timedelta(seconds=1))
    await record_events(store, [message(clock)], clock.now())
    assert (await row_of(store, first.member.id)).last_active_at == start  # throttled
    clock.advance(timedelta(seconds=1))
    [later] = await record_events(store, [message(clock)], clock.now())
    assert (await row_of(store, first.member.id)).last_active_at == clock.now()
    assert later is not None and later.member is not None
    assert later.member.last_active_at == clock.now()


async def test_a_sighting_without_activity_does_not_hide_the_next_activity(
    store: Store, clock: FakeClock
) -> None:
    community = await group(store, clock)
    seen = Sighting(community.id, "7", "Ann", None, False, active=False)
    async with store.transaction() as s:
        [quiet] = (await store.members.see_many(s, [seen], clock.now())).values()
    assert quiet.last_active_at is None
    clock.advance(timedelta(seconds=10))
    [spoke] = await record_events(store, [message(clock)], clock.now())
    assert spoke is not None and spoke.member is not None
    assert (await row_of(store, spoke.member.id)).last_active_at == clock.now()


async def test_the_caches_are_bounded(store: Store, clock: FakeClock) -> None:
    store.members.known.entries.max_size = 3
    store.communities.known.entries.max_size = 2
    for n in range(6):
        await record_events(store, [message(clock, user=str(n), chat=f"-100{n % 4}")], clock.now())
    assert len(store.members.known) == 3
    assert len(store.communities.known) == 2
    # The forgotten ones are written again, and stay correct.
    [back] = await record_events(store, [message(clock, user="0", chat="-1000")], clock.now())
    assert back is not None and back.member is not None and back.member.platform_user_id == "0"


async def test_a_settings_change_is_seen_by_the_next_event(store: Store, clock: FakeClock) -> None:
    [first] = await record_events(store, [message(clock)], clock.now())
    assert first is not None and first.member is not None
    async with store.transaction() as s:
        await store.communities.set_setting(s, first.community.id, "gate", "captcha", clock.now())
        await store.communities.set_persona(s, first.community.id, "name", "Mimi", clock.now())
    async with store.transaction() as s:
        await store.members.set_approved(s, first.member.id, True)
        await store.members.set_timezone(s, first.member.id, "Asia/Tokyo")
    [after] = await record_events(store, [message(clock)], clock.now())
    assert after is not None and after.member is not None
    assert after.community.settings == {"gate": "captcha"}
    assert after.community.persona_name == "Mimi"
    assert after.member.approved is True and after.member.timezone == "Asia/Tokyo"


async def test_what_a_person_tells_reaches_the_cached_member(
    store: Store, clock: FakeClock
) -> None:
    [first] = await record_events(store, [message(clock)], clock.now())
    async with store.transaction() as s:
        await store.persons.tell(
            s,
            platform="telegram",
            platform_user_id="7",
            display_name="Ann",
            now=clock.now(),
            values={"timezone": "Europe/Paris"},
        )
    [after] = await record_events(store, [message(clock)], clock.now())
    assert first is not None and after is not None and after.member is not None
    assert after.member.timezone == "Europe/Paris"


async def test_a_leave_and_a_join_are_seen_by_the_next_event(
    store: Store, clock: FakeClock
) -> None:
    [first] = await record_events(store, [message(clock)], clock.now())
    assert first is not None and first.member is not None
    async with store.transaction() as s:
        await store.members.record(
            s,
            community_id=first.community.id,
            platform_user_id="7",
            display_name="Ann",
            username=None,
            is_bot=False,
            now=clock.now(),
            left_at=clock.now(),
        )
    [gone] = await record_events(store, [message(clock)], clock.now())
    assert gone is not None and gone.member is not None and gone.member.left_at == clock.now()
    clock.advance(timedelta(minutes=1))
    ann = User(id="7", name="Ann")
    joined = MemberJoined(
        platform="telegram",
        update_key="join-7",
        chat=Chat(platform="telegram", id="-1001", title="Group"),
        sender=ann,
        member=ann,
        at=clock.now(),
    )
    await record_events(store, [joined], clock.now())
    [back] = await record_events(store, [message(clock)], clock.now())
    assert back is not None and back.member is not None and back.member.left_at is None


async def test_a_rolled_back_transaction_leaves_no_entry(store: Store, clock: FakeClock) -> None:
    community = await group(store, clock)
    seen = Sighting(community.id, "7", "Ann", None, False, active=True)
    with pytest.raises(RuntimeError):
        async with store.transaction() as s:
            await store.members.see_many(s, [seen], clock.now())
            await store.communities.ensure_many(
                s, [("telegram", "-1002", "group", "Other")], clock.now()
            )
            raise RuntimeError("the rest of the transaction failed")
    assert len(store.members.known) == 0
    assert ("telegram", "-1002") not in store.communities.known
    # The next sighting writes the member for real.
    with statements(store) as written:
        [ann] = await record_events(store, [message(clock)], clock.now())
    assert writes_to(written, "members")
    assert ann is not None and ann.member is not None
    assert (await row_of(store, ann.member.id)).display_name == "Ann"


async def test_a_write_during_a_transaction_keeps_it_from_filling_the_cache(
    store: Store, clock: FakeClock
) -> None:
    """What a transaction read before another write to the table is not remembered: here a
    newcomer's person adopted in the same transaction (an uncached ``UPDATE members``)."""
    [first] = await record_events(store, [message(clock)], clock.now())
    assert first is not None and first.member is not None
    store.members.known.entries.clear()
    async with store.transaction() as s:
        seen = Sighting(first.community.id, "7", "Ann", None, False, active=True)
        [read] = (await store.members.see_many(s, [seen], clock.now())).values()
        await store.members.set_timezone(s, read.id, "Asia/Tokyo")
    assert len(store.members.known) == 0
    [after] = await record_events(store, [message(clock)], clock.now())
    assert after is not None and after.member is not None
    assert after.member.timezone == "Asia/Tokyo"
    assert len(store.members.known) == 1


async def test_a_concurrent_write_keeps_a_transaction_from_filling_the_cache(
    store: Store, clock: FakeClock
) -> None:
    """PostgreSQL (SQLite has one writer at a time): another transaction writes the table
    while ours is open; ours remembers nothing of what it read."""
    if store.db.dialect != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")
    [first] = await record_events(store, [message(clock)], clock.now())
    assert first is not None and first.member is not None
    store.members.known.entries.clear()
    async with store.transaction() as s:
        seen = Sighting(first.community.id, "7", "Ann", None, False, active=True)
        await store.members.see_many(s, [seen], clock.now())
        async with store.transaction() as other:
            await store.members.set_approved(other, first.member.id + 1000, True)  # another row
    assert len(store.members.known) == 0


async def test_a_failing_cache_fill_does_not_fail_the_committed_transaction(
    store: Store, clock: FakeClock
) -> None:
    def broken() -> None:
        raise RuntimeError("a cache could not be filled")

    community = await group(store, clock)
    async with store.transaction() as s:
        store.db.after_commit(s, broken)
        await store.communities.set_setting(s, community.id, "gate", "captcha", clock.now())
    async with store.transaction() as s:
        found = await store.communities.get(s, community.id)
    assert found is not None and found.settings == {"gate": "captcha"}
