"""Repositories on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.clock import FakeClock
from storage import Store
from storage.audit import AuditEntry
from storage.base import NAME_LEN
from storage.members import Member


async def test_community_ensure_is_idempotent_and_refreshes_title(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as s:
        first = await store.communities.ensure(
            s,
            platform="telegram",
            chat_id="-1001234567890123",
            chat_type="group",
            title="Old",
            now=clock.now(),
        )
    async with store.transaction() as s:
        again = await store.communities.ensure(
            s,
            platform="telegram",
            chat_id="-1001234567890123",
            chat_type="group",
            title="New",
            now=clock.now(),
        )
        untitled = await store.communities.ensure(
            s,
            platform="telegram",
            chat_id="-1001234567890123",
            chat_type="group",
            title=None,
            now=clock.now(),
        )
    assert first.id == again.id == untitled.id
    assert again.title == "New" and untitled.title == "New"
    assert (
        first.chat_id == "-1001234567890123"
    )  # a platform id is a string, never truncated to 32 bits


async def test_member_join_keeps_first_join_and_leave_is_recorded(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as s:
        community = await store.communities.ensure(
            s, platform="fake", chat_id="g", chat_type="group", title="G", now=clock.now()
        )
        first_join = clock.now()
        await store.members.record(
            s,
            community_id=community.id,
            platform_user_id="9007199254740993",
            display_name="Ann",
            username="ann",
            is_bot=False,
            now=clock.now(),
            joined_at=first_join,
        )
    clock.advance(timedelta(days=10))
    async with store.transaction() as s:
        left = await store.members.record(
            s,
            community_id=community.id,
            platform_user_id="9007199254740993",
            display_name="Ann",
            username="ann",
            is_bot=False,
            now=clock.now(),
            left_at=clock.now(),
        )
    assert left.left_at == clock.now() and left.joined_at == first_join
    clock.advance(timedelta(days=1))
    async with store.transaction() as s:
        back = await store.members.record(
            s,
            community_id=community.id,
            platform_user_id="9007199254740993",
            display_name="Ann B",
            username="ann",
            is_bot=False,
            now=clock.now(),
            joined_at=clock.now(),
            active=True,
        )
    assert back.joined_at == first_join
    assert back.left_at is None
    assert back.display_name == "Ann B"
    assert back.last_active_at == clock.now()
    assert back.first_seen_at == first_join
    assert back.platform_user_id == "9007199254740993"
    assert back.joined_at is not None and back.joined_at.tzinfo is not None


async def test_overlong_names_are_cut_before_storage(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as s:
        community = await store.communities.ensure(
            s, platform="fake", chat_id="g", chat_type="group", title="T" * 1000, now=clock.now()
        )
        member = await store.members.record(
            s,
            community_id=community.id,
            platform_user_id="1",
            display_name="名" * 5000,
            username=None,
            is_bot=False,
            now=clock.now(),
        )
    assert len(member.display_name) == NAME_LEN and member.display_name.endswith("…")
    assert community.title is not None and len(community.title) == 256


async def test_find_by_name_username_first_any_case_current_members_only(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as s:
        c = await store.communities.ensure(
            s, platform="fake", chat_id="g", chat_type="group", title=None, now=clock.now()
        )

        async def add(uid: str, name: str, username: str | None = None, **kw: object) -> None:
            await store.members.record(
                s,
                community_id=c.id,
                platform_user_id=uid,
                display_name=name,
                username=username,
                is_bot=False,
                now=clock.now(),
                **kw,  # type: ignore[arg-type]
            )

        await add("1", "bob", "someone")
        await add("2", "Robert", "Bob")
        await add("3", "Иван")
        await add("4", "Émile")
        await add("5", "Twin")
        await add("6", "twin")
        await add("7", "Gone", left_at=clock.now())
        by_username = await store.members.find_by_name(s, c.id, "@BOB")
        cyrillic = await store.members.find_by_name(s, c.id, "@иван")
        accented = await store.members.find_by_name(s, c.id, "@ÉMILE")
        twins = await store.members.find_by_name(s, c.id, "@TWIN")
        gone = await store.members.find_by_name(s, c.id, "@gone")
        missing = await store.members.find_by_name(s, c.id, "@nobody")
    assert [m.platform_user_id for m in by_username] == ["2"]
    assert [m.platform_user_id for m in cyrillic] == ["3"]
    assert [m.platform_user_id for m in accented] == ["4"]
    assert [m.platform_user_id for m in twins] == ["5", "6"]
    assert gone == [] and missing == []


async def test_roles_grant_revoke_and_audit(store: Store, clock: FakeClock) -> None:
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
        assert await store.roles.grant(s, m.id, "planner", None, clock.now()) is True
        assert await store.roles.grant(s, m.id, "planner", None, clock.now()) is False
        assert await store.roles.of_member(s, m.id) == {"planner"}
        await store.audit.add(
            s,
            community_id=c.id,
            actor_member_id=m.id,
            action="role.grant",
            now=clock.now(),
            detail={"role": "planner"},
        )
    async with store.transaction() as s:
        assert await store.roles.revoke(s, m.id, "planner") is True
        assert await store.roles.revoke(s, m.id, "planner") is False
        entries = await store.audit.recent(s, c.id)
    assert [e.action for e in entries] == ["role.grant"]
    assert entries[0].detail == {"role": "planner"}


async def test_processed_updates_claim_once_and_prune(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as s:
        assert await store.updates.claim(s, "telegram", "123", clock.now()) is True
        assert await store.updates.claim(s, "telegram", "123", clock.now()) is False
        assert await store.updates.claim(s, "discord", "123", clock.now()) is True
    clock.advance(timedelta(days=3))
    async with store.transaction() as s:
        assert await store.updates.claim(s, "telegram", "456", clock.now()) is True
        removed = await store.updates.prune(s, clock.now() - timedelta(days=2))
    assert removed == 2
    async with store.transaction() as s:
        assert await store.updates.claim(s, "telegram", "456", clock.now()) is False


async def test_failed_transaction_rolls_back(store: Store, clock: FakeClock) -> None:
    try:
        async with store.transaction() as s:
            c = await store.communities.ensure(
                s,
                platform="fake",
                chat_id="rollback",
                chat_type="group",
                title=None,
                now=clock.now(),
            )
            await store.members.record(
                s,
                community_id=c.id,
                platform_user_id="1",
                display_name="X",
                username=None,
                is_bot=False,
                now=clock.now(),
            )
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with store.transaction() as s:
        assert await store.communities.find(s, "fake", "rollback") is None
        assert (await s.execute(select(func.count()).select_from(Member))).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(AuditEntry))).scalar_one() == 0


async def test_kept_updates_wait_in_recorded_order_until_marked_handled(
    store: Store, clock: FakeClock
) -> None:
    keys = [("telegram", k) for k in ("9", "10", "2")]  # recorded order, not key order
    events = {key: f'{{"n": "{key[1]}"}}' for key in keys}
    async with store.transaction() as s:
        assert await store.updates.claim_many(s, keys, clock.now(), events) == set(keys)
        assert await store.updates.claim_many(s, [("discord", "1")], clock.now()) == {
            ("discord", "1")
        }
    async with store.db.reading() as s:
        waiting = await store.updates.unhandled(s, "telegram", limit=10)
        assert waiting == [("9", '{"n": "9"}'), ("10", '{"n": "10"}'), ("2", '{"n": "2"}')]
        assert await store.updates.unhandled(s, "discord", limit=10) == []  # nothing kept
    clock.advance(timedelta(days=3))
    async with store.transaction() as s:
        await store.updates.mark_handled(s, [("telegram", "10")], clock.now())
        # Old, but "9" and "2" still wait to be handled: only handled rows are forgotten.
        assert await store.updates.prune(s, clock.now() - timedelta(days=2)) == 2
    async with store.db.reading() as s:
        assert [k for k, _ in await store.updates.unhandled(s, "telegram", limit=10)] == [
            "9",
            "2",
        ]
