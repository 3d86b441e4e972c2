"""What the real python-telegram-bot application keeps per member and per chat: nothing once
the updates are handled (PTB's ``user_data`` / ``chat_data`` are only filled when read, and
qunbot never reads them), so members and chats passing through do not grow the process."""

from __future__ import annotations

import asyncio

from tests.adapters.telegram import fake_bot_api as tg
from tests.adapters.telegram.conftest import StartBot


async def test_members_and_chats_passing_through_leave_nothing_behind(start_bot: StartBot) -> None:
    app, fake = await start_bot()
    handled = 0
    everything = asyncio.Event()

    def count(_event: object, _results: object) -> None:
        nonlocal handled
        handled += 1
        if handled == 300:
            everything.set()

    app.dispatcher.observers.append(count)
    for n in range(300):  # 300 distinct members in 60 chats, plain messages
        fake.push_update(tg.text_message(-1005000000000 - n % 60, 7_000 + n, f"hello {n}"))
    await asyncio.wait_for(everything.wait(), timeout=60)
    await app.dispatcher.drain()
    application = app.telegram.application  # type: ignore[union-attr]
    assert application.update_queue.qsize() == 0
    assert len(application.user_data) == 0 and len(application.chat_data) == 0
    assert app.dispatcher._workers == {} and app.dispatcher._queues == {}
