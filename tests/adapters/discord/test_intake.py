"""Discord cannot be paused: its events are recorded as they arrive and at most
``max_pending`` wait in memory; the rest are handled from the database, in order."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.app import App
from bot.context import Context
from bot.features import Feature
from storage.updates import ProcessedUpdate
from tests.adapters.discord.conftest import CHANNEL, GUILD, StartBot


async def rows(app: App) -> tuple[int, int]:
    """Recorded events, and those not yet marked handled."""
    table = ProcessedUpdate.__table__
    async with app.store.db.reading() as session:
        recorded = (await session.execute(select(func.count()).select_from(table))).scalar_one()
        waiting = select(func.count()).where(table.c.handled_at.is_(None)).select_from(table)
        return int(recorded), int((await session.execute(waiting)).scalar_one())


async def test_a_burst_beyond_max_pending_waits_in_the_database_and_keeps_its_order(
    start_bot: StartBot,
) -> None:
    gate = asyncio.Event()
    seen: list[str] = []
    feature = Feature("hold")

    @feature.command("hold")
    async def hold(ctx: Context) -> None:
        seen.append(ctx.event.message_id)  # type: ignore[attr-defined]
        await gate.wait()

    app, fake = await start_bot(feature, max_pending=5)
    fake.add_member(GUILD, 42, "Ann")
    sent: list[str] = []
    try:
        for _ in range(20):
            sent.append(str(await fake.send_message_create(GUILD, CHANNEL, 42, "!hold")))
        for _ in range(300):  # until the gateway delivered all and they are recorded
            if (await rows(app))[0] >= 20:
                break
            await asyncio.sleep(0.05)
        assert await rows(app) == (20, 20)  # every one recorded, none handled yet
        assert app.dispatcher.pending("discord") == 5  # five in memory, the rest in the db
        for _ in range(300):
            if seen:
                break
            await asyncio.sleep(0.05)
        assert seen == sent[:1]  # one channel: in order, one at a time
    finally:
        gate.set()
    for _ in range(300):
        if len(seen) == 20:
            break
        await asyncio.sleep(0.05)
    assert seen == sent  # from memory, then the database, in order
    await app.dispatcher.drain()
    await app.dispatcher.flush()
    assert await rows(app) == (20, 0)
