"""Reports, purge and pins through the dispatcher, on SQLite and PostgreSQL: who is told, what
is stored, one report per member per message, a button acting once, the platform's refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.actions import (
    CAPPED,
    Action,
    ActionResult,
    DeclineReason,
    Delete,
    DeleteMany,
    Notify,
    Pin,
    Restrict,
    Send,
    Unpin,
)
from bot.events import MessageEvent, ReplyTo
from storage.moderation import Warn
from storage.reports import Report
from tests.support import Harness, make_settings

HOSTILE = "<b>{group}</b> & @everyone"


@pytest.fixture
def settings():  # type: ignore[no-untyped-def]
    return make_settings(owners={"ids": ["fake:id-olivia"]})


@pytest.fixture
async def group(any_harness: Harness) -> Harness:
    h = any_harness
    h.adapter.admins.add(("g1", "id-alice"))
    for who in ("Alice", "Bob", "Carol", "Olivia"):
        await h.send(h.message("hello", user=who))
    return h


def replying(
    h: Harness, text: str, *, user: str, to: str, message: str = "42", said: str = "", **at: Any
) -> MessageEvent:
    event = h.message(text, user=user)
    reply_to = ReplyTo(message_id=message, sender=h.user(to), text=said, **at)
    return event.model_copy(update={"reply_to": reply_to})


def of(actions: list[Action], kind: type) -> list[Any]:
    return [a for a in actions if isinstance(a, kind)]


async def reports(h: Harness) -> list[Report]:
    async with h.store.transaction() as session:
        return list((await session.execute(select(Report).order_by(Report.id))).scalars())


async def test_a_report_reaches_the_moderators_privately_and_thanks_the_reporter(
    group: Harness,
) -> None:
    h = group
    actions = await h.send(
        replying(h, "/report scam link", user="Bob", to="Carol", said=HOSTILE + " buy now")
    )
    notices = of(actions, Notify)
    to_alice = [n for n in notices if n.user_id == "id-alice"]
    to_bob = [n for n in notices if n.user_id == "id-bob"]
    assert len(to_alice) == 1 and len(to_bob) == 1
    text = to_alice[0].text.plain()
    assert HOSTILE in text and "scam link" in text and "Carol" in text and "Bob" in text
    assert [b.data for b in to_alice[0].buttons[0]] == [
        "rpt:1:delete",
        "rpt:1:warn",
        "rpt:1:mute",
        "rpt:1:dismiss",
    ]
    assert "管理员" in to_bob[0].text.plain()
    assert not of(actions, Send)  # nothing said in the group
    [row] = await reports(h)
    assert (row.message_id, row.reason, row.status) == ("42", "scam link", "open")


async def test_one_report_per_member_per_message(group: Harness) -> None:
    h = group
    await h.send(replying(h, "/report", user="Bob", to="Carol"))
    again = await h.send(replying(h, "/report spam", user="Bob", to="Carol"))
    assert not [n for n in of(again, Notify) if n.user_id == "id-alice"]
    assert "已经举报过" in again[0].text.plain()  # type: ignore[union-attr]
    other = await h.send(replying(h, "@admin", user="Olivia", to="Carol"))
    assert [n for n in of(other, Notify) if n.user_id == "id-alice"]
    assert len(await reports(h)) == 2


@pytest.mark.parametrize("text", ["/report", "/report spam", "@admin"])
async def test_a_report_without_a_reply_explains_and_stores_nothing(
    group: Harness, text: str
) -> None:
    actions = await group.send(group.message(text, user="Bob"))
    assert len(actions) == 1 and "回复" in actions[0].text.plain()  # type: ignore[union-attr]
    assert not of(actions, Notify)
    assert await reports(group) == []


async def test_a_report_of_an_operator_goes_to_the_owners_only(group: Harness) -> None:
    h = group
    actions = await h.send(replying(h, "/report rude", user="Bob", to="Alice"))
    told = {n.user_id for n in of(actions, Notify)}
    assert told == {"id-olivia", "id-bob"}


async def test_the_first_moderator_press_acts_once_and_others_cannot(group: Harness) -> None:
    h = group
    await h.send(replying(h, "/report", user="Bob", to="Carol", message="77"))
    refused = await h.send(h.press("rpt:1:delete", user="Carol", chat="id-carol"))
    assert not of(refused, Delete) and "版主" in refused[0].text  # type: ignore[union-attr]
    done = await h.send(h.press("rpt:1:delete", user="Alice", chat="id-alice"))
    [deleted] = of(done, Delete)
    assert (deleted.chat_id, deleted.message_id) == ("g1", "77")
    again = await h.send(h.press("rpt:1:warn", user="Olivia", chat="id-olivia"))
    assert not of(again, Delete) and "已经有人处理" in again[0].text  # type: ignore[union-attr]
    [row] = await reports(h)
    assert row.status == "deleted"


async def test_warn_from_a_report_is_the_moderation_warn(group: Harness) -> None:
    h = group
    await h.send(replying(h, "/report flooding", user="Bob", to="Carol"))
    actions = await h.send(h.press("rpt:1:warn", user="Alice", chat="id-alice"))
    said = [s for s in of(actions, Send) if s.chat_id == "g1"]
    assert said and "Carol" in said[0].text.plain()
    async with h.store.transaction() as session:
        warns = list((await session.execute(select(Warn))).scalars())
    assert len(warns) == 1 and "flooding" in (warns[0].reason or "")


async def test_a_refused_mute_leaves_the_report_open(group: Harness) -> None:
    h = group
    await h.send(replying(h, "/report", user="Bob", to="Carol"))
    h.adapter.decline["restrict"] = ActionResult.declined(
        DeclineReason.MISSING_RIGHT, "can_restrict_members"
    )
    refused = await h.send(h.press("rpt:1:mute", user="Alice", chat="id-alice"))
    assert "can_restrict_members" in refused[-1].text  # type: ignore[union-attr]
    assert (await reports(h))[0].status == "open"
    del h.adapter.decline["restrict"]
    muted = await h.send(h.press("rpt:1:mute", user="Alice", chat="id-alice"))
    assert of(muted, Restrict) and (await reports(h))[0].status == "muted"


async def test_purge_deletes_the_run_and_says_how_many(group: Harness) -> None:
    h = group
    h.adapter.decline["delete_many"] = ActionResult(ok=True, count=12, too_old=0)
    actions = await h.send(replying(h, "/purge", user="Alice", to="Carol", message="30"))
    [run] = of(actions, DeleteMany)
    assert (run.first_message_id, run.limit) == ("30", 500)
    assert "12 条" in of(actions, Send)[0].text.plain()


async def test_purge_past_the_window_changes_nothing_and_says_why(group: Harness) -> None:
    h = group
    h.adapter.decline["delete_many"] = ActionResult.declined(DeclineReason.TOO_OLD, "48")
    old = h.clock.now() - timedelta(days=3)
    actions = await h.send(replying(h, "/purge", user="Alice", to="Carol", at=old))
    [run] = of(actions, DeleteMany)
    assert run.first_at == old
    reply = actions[-1].text.plain()  # type: ignore[union-attr]
    assert "2 天以内" in reply and "没有删除" in reply


async def test_purge_needs_a_reply_a_moderator_and_the_right(group: Harness) -> None:
    h = group
    alone = await h.send(h.message("/purge", user="Alice"))
    assert not of(alone, DeleteMany) and "回复" in alone[0].text.plain()  # type: ignore[union-attr]
    member = await h.send(replying(h, "/purge", user="Bob", to="Carol"))
    assert not of(member, DeleteMany)
    h.adapter.decline["delete_many"] = ActionResult.declined(
        DeclineReason.MISSING_RIGHT, "can_delete_messages"
    )
    lacking = await h.send(replying(h, "/purge", user="Alice", to="Carol"))
    assert "can_delete_messages" in lacking[-1].text.plain()  # type: ignore[union-attr]


async def test_pin_unpin_and_unpinall(group: Harness) -> None:
    h = group
    loud = of(await h.send(replying(h, "/pin", user="Alice", to="Carol", message="5")), Pin)
    quiet = of(
        await h.send(replying(h, "/pin --silent", user="Alice", to="Carol", message="6")), Pin
    )
    assert [(p.message_id, p.silent) for p in loud + quiet] == [("5", False), ("6", True)]
    bad = await h.send(replying(h, "/pin --loud", user="Alice", to="Carol"))
    assert not of(bad, Pin) and "--silent" in bad[0].text.plain()  # type: ignore[union-attr]
    unpinned = of(await h.send(replying(h, "/unpin", user="Alice", to="Carol", message="5")), Unpin)
    latest = of(await h.send(h.message("/unpin", user="Alice")), Unpin)
    every = of(await h.send(h.message("/unpinall", user="Alice")), Unpin)
    assert [(u.message_id, u.everything) for u in unpinned + latest + every] == [
        ("5", False),
        (None, False),
        (None, True),
    ]
    refused = await h.send(replying(h, "/pin", user="Bob", to="Carol"))
    assert not of(refused, Pin)


async def test_purge_at_its_limit_says_how_to_go_on(group: Harness) -> None:
    h = group
    h.adapter.decline["delete_many"] = ActionResult(ok=True, count=500, detail=CAPPED)
    actions = await h.send(replying(h, "/purge", user="Alice", to="Carol", message="1"))
    text = of(actions, Send)[0].text.plain()
    assert "500 条" in text and "再发一次 /purge" in text
