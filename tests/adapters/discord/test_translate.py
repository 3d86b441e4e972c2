"""Discord reactions -> ``Reacted`` events through the real discord.py client and the fake
gateway: the client asks for GUILD_MESSAGE_REACTIONS, an add names the reactor and the
message's author, a remove counts for nothing, a gateway replay of an add counts once, the
bot's own reactions are not members'."""

from __future__ import annotations

from sqlalchemy import select

from adapters.discord.adapter import intents
from handlers.insights import flush
from storage.insights import InsightMemberDay
from storage.members import Member
from tests.adapters.discord.conftest import CHANNEL, GUILD, StartBot
from tests.adapters.discord.fake_discord import GUILD_MESSAGE_REACTIONS


def test_the_client_asks_for_server_reactions() -> None:
    assert intents().value & GUILD_MESSAGE_REACTIONS


async def test_reactions_given_and_received_are_counted(start_bot: StartBot) -> None:
    app, fake = await start_bot()
    fake.add_member(GUILD, 41, "ann")
    fake.add_member(GUILD, 42, "bob")
    said = await fake.send_message_create(GUILD, CHANNEL, 41, "hello all")
    bot_id = app.dispatcher.outbound["discord"].client.user.id  # type: ignore[attr-defined]
    sent = [
        await fake.reaction(GUILD, CHANNEL, said, 42, "👍", author_id=41),
        await fake.reaction(GUILD, CHANNEL, said, 42, "👍", author_id=41),  # a replay: once
        await fake.reaction(GUILD, CHANNEL, said, 42, "custom:77", author_id=41),
        await fake.reaction(GUILD, CHANNEL, said, 42, "👍", added=False),  # taken back
        await fake.reaction(GUILD, CHANNEL, said, 41, "🎉", author_id=41),  # her own
        await fake.reaction(GUILD, CHANNEL, said, bot_id, "✅", author_id=41),  # the bot's
    ]
    assert all(sent)
    await fake.send_message_create(GUILD, CHANNEL, 41, "!start")  # a marker behind them
    await fake.wait_for("POST", r"/channels/\d+/messages", count=1, timeout=10, status=200)
    await app.dispatcher.drain()
    await flush(app.dispatcher.tick_context())
    async with app.store.transaction() as s:
        rows = await s.execute(
            select(
                Member.platform_user_id,
                InsightMemberDay.messages,
                InsightMemberDay.reactions,
                InsightMemberDay.reactions_received,
            )
            .join(Member, Member.id == InsightMemberDay.member_id)
            .order_by(Member.platform_user_id)
        )
        assert [tuple(r) for r in rows.all()] == [("41", 1, 1, 2), ("42", 0, 2, 0)]
