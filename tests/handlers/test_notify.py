"""Private notices in the dispatcher: who holds a role (owners, platform admins, granted roles
and what they imply; not those who left), a notice to a role split into one per holder, the
fallbacks when the platform refuses, ``/start`` in private recording that a member can be
reached, and notices and pictures stored at a stop going out after the restart. On SQLite and
PostgreSQL (``any_harness``)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.actions import Action, ActionResult, DeclineReason, Document, Notify, Picture, SendImage
from bot.permissions import Role
from bot.richtext import RichText
from storage.notices import UndeliverableNotice
from tests.support import PLATFORM, FakeAdapter, Harness, make_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"picture"
REFUSED = "Forbidden: bot can't initiate conversation with a user"


class Refusing(FakeAdapter):
    """The fake adapter, refusing private messages to some members."""

    def __init__(self, refused: set[str]) -> None:
        super().__init__()
        self.refused = refused

    async def perform(self, action: Action) -> ActionResult:
        if isinstance(action, Notify) and action.user_id in self.refused:
            self.actions.append(action)
            return ActionResult.declined(DeclineReason.UNREACHABLE, REFUSED)
        return await super().perform(action)


@pytest.fixture
def settings():  # type: ignore[no-untyped-def]
    return make_settings(owners={"ids": [f"{PLATFORM}:id-olivia", "telegram:1"]})


def notice(**target: str) -> Notify:
    return Notify(platform=PLATFORM, chat_id="g1", text=RichText.of("a quiet word"), **target)


async def meet(h: Harness, *names: str) -> None:
    for name in names:
        await h.send(h.message("hello", user=name))


async def grant(h: Harness, name: str, role: Role) -> None:
    async with h.store.transaction() as session:
        community = await h.store.communities.find(session, PLATFORM, "g1")
        assert community is not None
        member = await h.store.members.find(session, community.id, h.user(name).id)
        assert member is not None
        await h.store.roles.grant(session, member.id, role.value, None, h.clock.now())


async def test_holders_are_owners_admins_and_granted_roles_with_what_they_imply(
    any_harness: Harness,
) -> None:
    h = any_harness
    await meet(h, "Ann", "Bob", "Carol", "Dan")
    h.adapter.admins.add(("g1", "id-ann"))
    await grant(h, "Bob", Role.MODERATOR)
    await grant(h, "Carol", Role.EXPERT)
    await grant(h, "Dan", Role.PLANNER)
    await h.send(h.leave("Dan"))
    holders = h.dispatcher.holders
    assert await holders(PLATFORM, "g1", Role.PLANNER) == ["id-olivia", "id-ann", "id-bob"]
    assert await holders(PLATFORM, "g1", Role.EXPERT) == ["id-olivia", "id-ann", "id-carol"]
    assert await holders(PLATFORM, "g1", Role.ADMIN) == ["id-olivia", "id-ann"]
    assert await holders(PLATFORM, "g1", Role.OWNER) == ["id-olivia"]


async def test_a_notice_to_a_role_goes_to_each_holder_privately(any_harness: Harness) -> None:
    h = any_harness
    await meet(h, "Ann", "Carol")
    await grant(h, "Carol", Role.EXPERT)
    result = await h.dispatcher.perform(notice(role="expert"))
    assert result.ok
    sent = h.adapter.take()
    assert [(a.kind, a.user_id, a.role) for a in sent if isinstance(a, Notify)] == [
        ("notify", "id-olivia", None),
        ("notify", "id-carol", None),
    ]


async def test_a_role_nobody_holds_is_reported(harness: Harness) -> None:
    h = harness
    h.settings.owners.ids = []
    await meet(h, "Ann")
    result = await h.dispatcher.perform(notice(role="analyst"))
    assert (result.ok, result.reason, result.detail) == (
        False,
        DeclineReason.NOT_FOUND,
        "role:analyst",
    )
    assert h.adapter.take() == []


async def test_a_refused_notice_is_recorded_for_whoever_asked(any_harness: Harness) -> None:
    h = any_harness
    adapter = Refusing({"id-bob"})
    h.dispatcher.attach(adapter)
    await meet(h, "Bob")
    async with h.store.transaction() as session:
        await h.store.persons.mark_reachable(session, PLATFORM, ("id-bob", "Bob"), h.clock.now())
    result = await h.dispatcher.perform(
        notice(user_id="id-bob").model_copy(update={"fallback": "record"})
    )
    assert (result.ok, result.reason, result.detail, result.unreached) == (
        False,
        DeclineReason.UNREACHABLE,
        "recorded",
        ("id-bob",),
    )
    assert [a.kind for a in adapter.take()] == ["notify"]  # nothing said in the group
    async with h.store.db.reading() as session:
        [kept] = await h.store.notices.of_user(session, PLATFORM, "id-bob")
        assert not await h.store.persons.reachable(session, PLATFORM, "id-bob")
    assert (kept.text.plain(), kept.reason, kept.chat_id) == ("a quiet word", REFUSED, "g1")


async def test_a_refused_holder_is_mentioned_the_others_reached(harness: Harness) -> None:
    h = harness
    adapter = Refusing({"id-ann"})
    adapter.admins |= {("g1", "id-ann"), ("g1", "id-bea")}
    h.dispatcher.attach(adapter)
    h.settings.owners.ids = []
    await meet(h, "Ann")
    result = await h.dispatcher.perform(notice(role="admin"))
    assert (result.ok, result.detail, result.unreached) == (False, "mentioned", ("id-ann",))
    sent = adapter.take()
    [mention] = [a for a in sent if a.kind == "send"]
    assert "/start" in mention.text.plain()
    assert [s.user_id for s in mention.text if s.kind == "mention"] == ["id-ann"]
    assert sorted(a.user_id for a in sent if isinstance(a, Notify)) == ["id-ann", "id-bea"]


async def test_start_in_private_records_that_the_member_can_be_reached(harness: Harness) -> None:
    h = harness
    await h.send(h.message("/start", user="Bob"))  # in the group: nothing recorded
    async with h.store.db.reading() as session:
        assert not await h.store.persons.reachable(session, PLATFORM, "id-bob")
    await h.send(h.message("/start", user="Bob", chat="id-bob", private=True))
    h.clock.advance(timedelta(days=1))
    await h.send(h.message("/start", user="Bob", chat="id-bob", private=True))  # again: fine
    async with h.store.db.reading() as session:
        assert await h.store.persons.reachable(session, PLATFORM, "id-bob")
        assert not await h.store.persons.reachable(session, PLATFORM, "id-ann")


async def test_notices_and_pictures_stored_at_a_stop_go_out_after_the_restart(
    any_harness: Harness,
) -> None:
    h = any_harness
    await meet(h, "Carol")
    await grant(h, "Carol", Role.EXPERT)
    picture = SendImage(platform=PLATFORM, chat_id="g1", png=PNG, caption=RichText.of("week"))
    # A notice to a role with a picture and a file: split after the restart, each holder
    # gets both (base64 in the stored row).
    csv = b"day,member,messages\n2026-11-26,Carol,3\n"
    attached = notice(role="expert").model_copy(
        update={
            "pictures": (Picture(png=PNG, caption=RichText.of("active"), filename="active.png"),),
            "document": Document(data=csv, filename="stats-30d.csv", mime_type="text/csv"),
        }
    )
    async with h.store.transaction() as session:
        await h.store.waiting.save(
            session, [attached, picture, notice(user_id="id-zed")], h.clock.now()
        )
    h.adapter.take()
    assert await h.dispatcher.restore_waiting(PLATFORM) == 3
    assert await h.dispatcher.drain(asyncio.get_running_loop().time() + 10) is True
    sent = h.adapter.take()
    assert sorted((a.kind, getattr(a, "user_id", None)) for a in sent) == [
        ("notify", "id-carol"),
        ("notify", "id-olivia"),
        ("notify", "id-zed"),
        ("send_image", None),
    ]
    [image] = [a for a in sent if isinstance(a, SendImage)]
    assert image.png == PNG
    for part in sent:
        if isinstance(part, Notify) and part.user_id != "id-zed":
            assert part.pictures == attached.pictures and part.pictures[0].png == PNG
            assert part.document == attached.document and part.document.data == csv
    async with h.store.db.reading() as session:
        assert await h.store.waiting.count(session) == 0


async def test_a_refused_notice_keeps_how_many_attachments_were_dropped_not_them(
    any_harness: Harness,
) -> None:
    h = any_harness
    adapter = Refusing({"id-bob"})
    h.dispatcher.attach(adapter)
    await meet(h, "Bob")
    refused = Notify(
        platform=PLATFORM,
        chat_id="g1",
        user_id="id-bob",
        text=RichText.of("your export"),
        fallback="record",
        pictures=(Picture(png=PNG), Picture(png=PNG)),
        document=Document(data=b"secret,data\n", filename="stats.csv", mime_type="text/csv"),
    )
    result = await h.dispatcher.perform(refused)
    assert (result.ok, result.detail) == (False, "recorded")
    async with h.store.db.reading() as session:
        [kept] = await h.store.notices.of_user(session, PLATFORM, "id-bob")
        [row] = (await session.execute(select(UndeliverableNotice.text))).scalars()
    assert (kept.text.plain(), kept.dropped_pictures, kept.dropped_files) == ("your export", 2, 1)
    stored = json.dumps(row)
    assert "stats.csv" not in stored and "c2VjcmV0" not in stored and "secret" not in stored


async def test_a_stop_before_the_holders_are_known_stores_the_notice_whole(
    harness: Harness,
) -> None:
    h = harness
    found = asyncio.Event()
    looked_up = h.dispatcher.holders

    async def slow(platform: str, chat_id: str, role: Role) -> list[str]:
        await found.wait()  # the lookup is still under way when the stop comes
        return await looked_up(platform, chat_id, role)

    h.dispatcher.holders = slow  # type: ignore[method-assign]
    sent = h.dispatcher.enqueue(notice(role="admin"))
    await asyncio.sleep(0)
    assert await h.dispatcher.persist_waiting(asyncio.get_running_loop().time() + 5) == 1
    assert (await sent).is_persisted
    async with h.store.transaction() as session:
        [(_row, stored)] = await h.store.waiting.load(session, PLATFORM)
    assert stored == notice(role="admin")
    assert h.adapter.take() == []
