"""Waiting actions stored by a shutdown, on SQLite and PostgreSQL: kept in their order, per
platform, read back as the same actions, deleted once performed; a row another version wrote
that is no action any more is dropped, not a reason not to start."""

from __future__ import annotations

from sqlalchemy import insert

from bot.actions import Ban, Delete, Merge, Reply, Send
from bot.clock import FakeClock
from bot.richtext import Bold, Mention, RichText
from storage import Store
from storage.waiting import WaitingAction


def _reply(n: int, chat: str = "g1", platform: str = "telegram") -> Reply:
    line = RichText.of(Mention(text=f"<i>M{n}</i>", user_id=str(n)), f" 连续 {n} 天")
    return Reply(
        platform=platform,
        chat_id=chat,
        text=line,
        to_message_id=str(n),
        merge=Merge(key="checkin", header=RichText.of(Bold(text="签到成功")), line=line),
    )


async def test_actions_come_back_in_their_order_per_platform(
    store: Store, clock: FakeClock
) -> None:
    telegram = [_reply(n) for n in range(300)]
    telegram.insert(150, Delete(platform="telegram", chat_id="g1", message_id="9"))
    discord = [Send(platform="discord", chat_id="s1", channel_id="c1", text=RichText.of("hi"))]
    async with store.transaction() as s:
        ids = await store.waiting.save(s, telegram[:100], clock.now())
        await store.waiting.save(s, discord, clock.now())
        ids += await store.waiting.save(s, telegram[100:], clock.now())
    assert ids == sorted(ids) and len(set(ids)) == len(telegram)
    async with store.transaction() as s:
        loaded = await store.waiting.load(s, "telegram")
        assert await store.waiting.count(s) == len(telegram) + 1
        assert await store.waiting.count(s, "discord") == 1
    assert [row_id for row_id, _ in loaded] == ids
    assert [action for _, action in loaded] == telegram
    async with store.transaction() as s:
        assert [a for _, a in await store.waiting.load(s, "discord")] == discord
        assert await store.waiting.load(s, "console") == []


async def test_forget_deletes_only_the_rows_named(store: Store, clock: FakeClock) -> None:
    actions = [_reply(n) for n in range(5)]
    async with store.transaction() as s:
        ids = await store.waiting.save(s, actions, clock.now())
        assert await store.waiting.save(s, [], clock.now()) == []
    async with store.transaction() as s:
        assert await store.waiting.forget(s, [ids[1], ids[3]]) == 2
        assert await store.waiting.forget(s, []) == 0
    async with store.transaction() as s:
        left = await store.waiting.load(s, "telegram")
    assert [a for _, a in left] == [actions[0], actions[2], actions[4]]


async def test_an_unreadable_row_is_dropped(store: Store, clock: FakeClock) -> None:
    ban = Ban(platform="telegram", chat_id="g1", user_id="7")
    async with store.transaction() as s:
        await s.execute(
            insert(WaitingAction),
            [
                {
                    "platform": "telegram",
                    "chat_id": "g1",
                    "kind": "teleport",
                    "action": {"kind": "teleport"},
                    "created_at": clock.now(),
                }
            ],
        )
        await store.waiting.save(s, [ban], clock.now())
    async with store.transaction() as s:
        assert [a for _, a in await store.waiting.load(s, "telegram")] == [ban]
    async with store.transaction() as s:
        assert await store.waiting.count(s) == 1  # the unreadable row is gone
