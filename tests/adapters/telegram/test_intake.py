"""Telegram intake against the fake Bot API: an update is confirmed (the next getUpdates offset
passes it) only once recorded; at most ``max_pending`` are fetched and not handled; a webhook
post is answered only once its update is recorded."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.app import App
from bot.context import Context
from bot.features import Feature
from storage.updates import ProcessedUpdate
from tests.adapters.telegram import fake_bot_api as tg
from tests.adapters.telegram.conftest import BOT_ID, StartBot, free_port


async def recorded(app: App) -> dict[str, Any]:
    """Rows by update key: ``handled_at`` and ``event`` of each."""
    table = ProcessedUpdate.__table__
    async with app.store.db.reading() as session:
        rows = (await session.execute(select(table))).all()
    return {row.update_key: row for row in rows}


def key(update_id: int) -> str:
    return f"{BOT_ID}:{update_id}"


class Held:
    """``/hold`` waits for ``gate``; ``reach(n)`` waits until n holds started."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.chats: list[int] = []
        self._changed = asyncio.Condition()
        self.feature = Feature("hold")

        @self.feature.command("hold")
        async def hold(ctx: Context) -> None:
            async with self._changed:
                self.chats.append(int(ctx.event.chat.id))
                self._changed.notify_all()
            await self.gate.wait()

    async def reach(self, count: int) -> None:
        async with asyncio.timeout(30), self._changed:
            await self._changed.wait_for(lambda: len(self.chats) >= count)


async def test_an_offset_passes_only_updates_already_recorded(
    start_bot: StartBot, fake: tg.FakeBotAPI
) -> None:
    app_of: list[App] = []
    delivered: list[int] = []
    offsets: list[int] = []
    unrecorded: list[int] = []
    serve = fake._get_updates

    async def checking(call: tg.Call) -> list[Any]:
        offset = call.get("offset")
        if isinstance(offset, int) and offset > 0 and app_of:
            rows = await recorded(app_of[0])
            offsets.append(offset)
            unrecorded.extend(u for u in delivered if u < offset and key(u) not in rows)
        result = await serve(call)
        delivered.extend(int(u["update_id"]) for u in result)
        return result

    fake._get_updates = checking  # type: ignore[method-assign]
    app, _fake = await start_bot()
    app_of.append(app)
    pushed = [
        fake.push_update(tg.text_message(-1001000000000 - n % 7, 1000 + n % 30, f"hello {n}"))
        for n in range(250)
    ]
    last = int(pushed[-1]["update_id"])
    async with asyncio.timeout(60):
        while not offsets or offsets[-1] <= last:
            await fake.wait_for("getUpdates", count=len(fake.calls_to("getUpdates")) + 1)
    assert len(delivered) >= 250 and len(set(offsets)) >= 3  # pages of at most 100
    assert unrecorded == []
    assert fake.pending_updates == []
    rows = await recorded(app)
    assert all(key(int(u["update_id"])) in rows for u in pushed)


async def test_no_more_than_max_pending_are_fetched_and_unhandled(start_bot: StartBot) -> None:
    held = Held()
    _app, fake = await start_bot(held.feature, max_pending=5)
    for n in range(20):
        fake.push_update(tg.text_message(-1002000000000 - n, 42, "/hold"))
    try:
        await held.reach(5)
        calls = len(fake.calls_to("getUpdates"))
        await asyncio.sleep(1.5)  # three poll timeouts: time enough to fetch more, if it would
        assert len(held.chats) == 5
        assert len(fake.calls_to("getUpdates")) == calls  # polling waits: no getUpdates at all
        assert sum(len(c.result or []) for c in fake.calls_to("getUpdates")) == 5
        # Not even the five are confirmed yet: the getUpdates that would confirm them waits.
        assert len(fake.pending_updates) == 20
    finally:
        held.gate.set()
    await held.reach(20)
    assert sorted(held.chats) == sorted(-1002000000000 - n for n in range(20))


async def test_a_webhook_post_is_answered_once_its_update_is_recorded(
    start_bot: StartBot,
) -> None:
    held = Held()
    port = free_port()
    app, _fake = await start_bot(
        held.feature,
        mode="webhook",
        listen="127.0.0.1",
        port=port,
        url_path="tg",
        webhook_url="https://bot.example.invalid/tg",
    )
    update = {"update_id": 501, **tg.text_message(-1003000000000, 42, "/hold")}
    async with httpx.AsyncClient(trust_env=False) as client:
        answer = await client.post(f"http://127.0.0.1:{port}/tg", json=update)
    assert answer.status_code == 200
    row = (await recorded(app))[key(501)]  # recorded when answered...
    assert row.handled_at is None and row.event is not None  # ...handled later, event kept
    await held.reach(1)
    held.gate.set()
    await app.dispatcher.drain()
    await app.dispatcher.flush()
    row = (await recorded(app))[key(501)]
    assert row.handled_at is not None and row.event is None


async def test_a_page_the_database_refused_is_not_confirmed_and_comes_again(
    start_bot: StartBot,
) -> None:
    app, fake = await start_bot()
    record = app.dispatcher._record
    refused: list[int] = []

    async def refusing(events: list[Any], *, keep: bool = True) -> list[Any]:
        if not refused:
            refused.append(len(events))
            raise ConnectionError("the database went away")
        return await record(events, keep=keep)

    app.dispatcher._record = refusing  # type: ignore[method-assign]
    first = fake.push_update(tg.text_message(-1004000000000, 42, "/start"))
    [reply] = await fake.wait_for("sendMessage", timeout=15)
    assert refused == [1] and "/help" in (reply.text or "")
    deliveries = [
        c
        for c in fake.calls_to("getUpdates")
        if any(u["update_id"] == first["update_id"] for u in c.result or [])
    ]
    assert len(deliveries) == 2  # not confirmed after the refusal: Telegram sent it again
    rows = await recorded(app)
    assert key(int(first["update_id"])) in rows


async def test_an_update_nobody_can_read_is_skipped_not_the_page(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    """python-telegram-bot's ``get_updates`` reads a page all or nothing: one update it could
    not read refused the whole page at every poll. Now that one is logged (without a trace:
    nothing a member can fix) and confirmed, and the rest of its page is handled."""
    app, fake = await start_bot()
    unreadable = fake.push_update({"chat_member": {"chat": "not a chat", "date": "soon"}})
    fake.push_update(tg.text_message(-1004000000001, 42, "/start"))
    [reply] = await fake.wait_for("sendMessage", timeout=15)
    assert "/help" in (reply.text or "")
    async with asyncio.timeout(15):
        while fake.pending_updates:  # the next getUpdates confirms the whole page
            await fake.wait_for("getUpdates", count=len(fake.calls_to("getUpdates")) + 1)
    rows = await recorded(app)
    assert key(int(unreadable["update_id"])) not in rows
    skipped = [r for r in caplog.records if "could not be read" in r.getMessage()]
    assert [r.exc_info for r in skipped] == [None]
    assert str(unreadable["update_id"]) in skipped[0].getMessage()
