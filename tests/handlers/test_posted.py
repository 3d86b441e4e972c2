"""Posted objects through the dispatcher, on SQLite and PostgreSQL: a feature returns its
message anchored to its row and the dispatcher binds the message id, for every feature that
posts one, also when the message went out only after a restart; later edits find it."""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import timedelta

import pytest

from bot.actions import Anchor, Edit, Send
from handlers.gates import remove_the_silent
from storage import Store, posts
from tests.handlers.test_redpacket import fund
from tests.handlers.test_shutdown import deadline, run
from tests.support import PLATFORM, Harness, make_settings


def anchored(actions: list) -> Send:  # type: ignore[type-arg]
    [sent] = [a for a in actions if isinstance(a, Send) and a.anchor is not None]
    return sent


async def bound(store: Store, anchor: Anchor) -> str | None:
    async with store.transaction() as session:
        return await store.posts.message_of(session, anchor)


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ("/poll 午饭吃什么？| 面条 | 米饭", "poll"),
        ('/event create "读书会" 2026-11-23 20:00', "event"),
        ("/collect 给吉祥物起个名字 --for 1d", "call"),
        ("发红包 100 3 新年快乐", "redpacket"),
    ],
)
async def test_each_feature_posts_anchored_and_its_row_is_bound(
    any_harness: Harness, command: str, kind: str
) -> None:
    h = any_harness
    await fund(h, "Alice", 500)
    h.adapter.admins.add(("g1", "id-alice"))  # /event create is for planners
    h.adapter.actions.clear()
    results = await h.dispatcher.handle(h.message(command))
    post = anchored(h.adapter.take())
    assert post.anchor is not None and post.anchor.kind == kind
    # What the platform answered for this post is on the row now (a first red packet is
    # followed by its thanks: handlers.moments).
    message_id = results[0].message_id
    assert len(results) == (2 if kind == "redpacket" else 1)
    assert message_id and await bound(h.store, post.anchor) == message_id


async def test_a_captcha_question_is_bound_to_its_challenge_and_deleted_by_it(
    sqlite_db, clock
) -> None:  # type: ignore[no-untyped-def]
    h = Harness(
        store=Store(sqlite_db), settings=make_settings(gates={"mode": "captcha"}), clock=clock
    )
    actions = await h.send(h.join("Newbie"))
    question = anchored(actions)
    assert question.anchor is not None and question.anchor.kind == "gate"
    message_id = await bound(h.store, question.anchor)
    assert message_id is not None
    clock.advance(timedelta(minutes=30))
    h.adapter.actions.clear()
    assert await remove_the_silent(h.dispatcher.tick_context()) == 1
    assert [a.message_id for a in h.adapter.actions if a.kind == "delete"] == [message_id]


async def test_a_poll_posted_after_a_restart_is_bound_and_edited_by_votes(
    any_harness: Harness,
) -> None:
    """The post met an outage and was stored with its anchor at the stop; after the restart
    it goes out, its id is bound to the poll, and the first vote edits that very message."""
    first, platform, clock = run(any_harness)
    platform.down = clock.held = True
    handled = first.dispatcher.submit(first.message("/poll 午饭吃什么？| 面条 | 米饭"))
    await asyncio.wait_for(platform.refusing.wait(), 5)
    assert await first.dispatcher.persist_waiting(deadline(5.0)) == 1
    [result] = await asyncio.wait_for(handled, 5)
    assert result.is_persisted
    anchor = Anchor(kind="poll", id=1)
    assert await bound(first.store, anchor) is None  # not sent yet

    second, again, _clock = run(any_harness)
    second._keys = itertools.count(10_000)
    assert await second.dispatcher.restore_waiting(PLATFORM) == 1
    await asyncio.wait_for(second.dispatcher.drain(), 10)
    [post] = again.take()
    assert isinstance(post, Send) and post.anchor == anchor
    assert await bound(second.store, anchor) == "100"  # the restarted platform's first id

    await second.send(second.join("Bob"))
    actions = await second.send(second.press("poll:1:1", user="Bob"))
    [edit] = [a for a in actions if isinstance(a, Edit)]
    assert edit.message_id == "100"


async def test_a_press_right_after_the_post_finds_the_message_to_edit(
    any_harness: Harness,
) -> None:
    """Events of a chat wait for an anchored post before them (as when the handler posted and
    bound it itself): a vote submitted together with /poll edits the poll's message."""
    h = any_harness
    await h.send(h.join("Bob"))
    posting = h.dispatcher.submit(h.message("/poll 午饭吃什么？| 面条 | 米饭"))
    voting = h.dispatcher.submit(h.press("poll:1:1", user="Bob"))
    await asyncio.wait_for(asyncio.gather(posting, voting), 10)
    [post] = [a for a in h.adapter.actions if isinstance(a, Send)]
    [edit] = [a for a in h.adapter.actions if isinstance(a, Edit)]
    assert h.adapter.actions.index(post) < h.adapter.actions.index(edit)
    assert edit.message_id == await bound(h.store, Anchor(kind="poll", id=1))


async def test_binding_an_unknown_kind_or_a_missing_row_binds_nothing(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="storage.posts"):
        async with store.transaction() as session:
            assert not await store.posts.bind(session, Anchor(kind="nothing", id=1), "7")
            assert not await store.posts.bind(session, Anchor(kind="poll", id=999), "7")
            assert await store.posts.message_of(session, Anchor(kind="nothing", id=1)) is None
    assert "unknown kind 'nothing'" in caplog.text


def test_a_kind_names_one_table_with_a_message_id() -> None:
    from storage.communities import Community
    from storage.polls import Poll
    from storage.redpackets import RedPacket

    assert {"poll", "redpacket", "event", "call", "gate"} <= posts.kinds()
    assert posts.register("poll", Poll) == "poll"  # again, the same table: fine
    with pytest.raises(ValueError, match="names Poll"):
        posts.register("poll", RedPacket)
    with pytest.raises(TypeError, match="message_id"):
        posts.register("community", Community)
