"""The fake Discord server, checked with the real discord.py client."""

from __future__ import annotations

import asyncio
import io
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
from discord import app_commands

from tests.adapters.discord.fake_discord import (
    SNOWFLAKE_START,
    FakeDiscord,
    snowflake_time,
)

TOKEN = "fake-bot-token"
BOT_ID = 900
APP_ID = 901
GUILD = 1_100_000_000_000_000_100
CHANNEL = 1_100_000_000_000_000_200
ALICE = 1_100_000_000_000_000_300
BOB = 1_100_000_000_000_000_400
MESSAGES = rf"/channels/{CHANNEL}/messages"

EVENTS = (
    "ready",
    "resumed",
    "message",
    "interaction",
    "member_join",
    "member_remove",
    "guild_join",
    "guild_remove",
)


class Events:
    """Queues of the client's events, by name (``message``, ``interaction``, ...)."""

    def __init__(self, client: discord.Client) -> None:
        self.queues: defaultdict[str, asyncio.Queue[tuple[Any, ...]]] = defaultdict(asyncio.Queue)
        for name in EVENTS:
            client.event(self._handler(name))

    def _handler(self, name: str) -> Callable[..., Awaitable[None]]:
        async def handler(*args: Any) -> None:
            await self.queues[name].put(args)

        handler.__name__ = f"on_{name}"
        return handler

    async def next(self, name: str, timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        """The next event's argument (a tuple when there are several)."""
        args = await asyncio.wait_for(self.queues[name].get(), timeout)
        return args[0] if len(args) == 1 else args


def make_intents(*, privileged: bool = True) -> discord.Intents:
    intents = discord.Intents.default()
    intents.members = privileged
    intents.message_content = privileged
    return intents


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(bot_id=BOT_ID, bot_name="qunbot", application_id=APP_ID) as server:
        server.add_guild(
            GUILD,
            "Test Guild",
            channels=[(CHANNEL, "general")],
            members=[(ALICE, "alice"), {"user_id": BOB, "name": "bob", "nick": "Bobby"}],
        )
        yield server
    # The clients were routed one by one: discord.py's own URLs never changed.
    assert discord.http.Route.BASE == "https://discord.com/api/v10"
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "wss://gateway.discord.gg/"


StartClient = Callable[..., Awaitable[tuple[discord.Client, Events]]]


@pytest.fixture
async def start_client(fake: FakeDiscord) -> AsyncIterator[StartClient]:
    """Start real clients against the fake and wait for on_ready; close them afterwards."""
    started: list[tuple[discord.Client, asyncio.Task[None]]] = []

    async def start(client: discord.Client | None = None) -> tuple[discord.Client, Events]:
        client = client or fake.route(
            discord.Client(intents=make_intents(), guild_ready_timeout=0.1)
        )
        events = Events(client)
        task = asyncio.create_task(client.start(TOKEN))
        started.append((client, task))
        ready = asyncio.create_task(events.next("ready"))
        done, _ = await asyncio.wait({task, ready}, timeout=10, return_when="FIRST_COMPLETED")
        if task in done:
            ready.cancel()
            task.result()  # raises the start error
        assert ready in done, "on_ready did not fire"
        return client, events

    yield start
    for client, task in started:
        await client.close()
        await asyncio.wait_for(task, 10)


async def test_ready_caches_guild_members_channels_and_permissions(
    fake: FakeDiscord, start_client: StartClient
) -> None:
    client, _ = await start_client()

    assert client.user is not None and client.user.id == BOT_ID
    assert client.application_id == APP_ID
    guild = client.get_guild(GUILD)
    assert guild is not None and guild.name == "Test Guild"
    assert {m.id for m in guild.members} == {BOT_ID, ALICE, BOB}
    assert guild.get_member(BOB).display_name == "Bobby"  # type: ignore[union-attr]
    assert guild.get_channel(CHANNEL).name == "general"  # type: ignore[union-attr]
    assert guild.system_channel is not None and guild.system_channel.id == CHANNEL
    assert guild.me.guild_permissions.administrator
    assert guild.chunked
    assert fake.identify is not None and fake.identify["intents"] == make_intents().value
    assert fake.identify["token"] == TOKEN
    assert fake.gateway_queries[0] == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    assert fake.requests_to("GET", r"/users/@me")
    assert fake.requests_to("GET", r"/oauth2/applications/@me")
    assert fake.unknown == []


async def test_bot_permissions_are_chosen_by_the_test(fake: FakeDiscord) -> None:
    fake.add_guild(2_000, "Small", channels=[(2_001, "chat")], bot_permissions=0)
    client = fake.route(discord.Client(intents=make_intents(), guild_ready_timeout=0.1))
    events = Events(client)
    task = asyncio.create_task(client.start(TOKEN))
    try:
        await events.next("ready")
        guild = client.get_guild(2_000)
        assert guild is not None
        permissions = guild.me.guild_permissions
        assert not permissions.administrator and not permissions.ban_members
        assert permissions.send_messages  # from @everyone
    finally:
        await client.close()
        await task


async def test_message_create_reaches_on_message_and_send_is_recorded(
    fake: FakeDiscord, start_client: StartClient
) -> None:
    client, events = await start_client()

    message_id = await fake.send_message_create(
        GUILD, CHANNEL, ALICE, "hello <@900>", mentions=[BOT_ID]
    )
    message: discord.Message = await events.next("message")

    assert message.id == message_id and message.id >= SNOWFLAKE_START
    assert message.content == "hello <@900>"
    assert isinstance(message.author, discord.Member) and message.author.id == ALICE
    assert message.guild is not None and message.guild.id == GUILD
    assert client.user in message.mentions
    assert abs(message.created_at - datetime.now(UTC)) < timedelta(seconds=5)

    sent = await message.channel.send("hi", allowed_mentions=discord.AllowedMentions.none())
    [request] = await fake.wait_for("POST", MESSAGES)
    assert request.json["content"] == "hi"
    assert request.json["allowed_mentions"] == {"parse": []}
    assert request.headers["Authorization"] == f"Bot {TOKEN}"
    assert sent.content == "hi" and sent.author.id == BOT_ID
    assert fake.bot_messages[-1]["id"] == str(sent.id)


async def test_reply_resolves_the_referenced_message(
    fake: FakeDiscord, start_client: StartClient
) -> None:
    client, events = await start_client()
    channel = client.get_channel(CHANNEL)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("question?")

    await fake.send_message_create(GUILD, CHANNEL, ALICE, "answer", referenced_message=sent.id)
    reply: discord.Message = await events.next("message")

    assert reply.type is discord.MessageType.reply
    assert reply.reference is not None and reply.reference.message_id == sent.id
    assert isinstance(reply.reference.resolved, discord.Message)
    assert reply.reference.resolved.author.id == BOT_ID


async def test_slash_interaction_and_ephemeral_reply(
    fake: FakeDiscord, start_client: StartClient
) -> None:
    _, events = await start_client()

    options = [{"name": "who", "type": 6, "value": BOB}]
    interaction_id = await fake.send_slash(GUILD, CHANNEL, ALICE, "whois", options)
    interaction: discord.Interaction = await events.next("interaction")

    assert interaction.id == interaction_id
    assert interaction.type is discord.InteractionType.application_command
    assert interaction.data is not None and interaction.data["name"] == "whois"
    assert interaction.user.id == ALICE and interaction.guild_id == GUILD
    assert interaction.channel is not None and interaction.channel.id == CHANNEL
    assert interaction.app_permissions.administrator
    resolved = interaction.data["resolved"]  # type: ignore[typeddict-item]
    assert resolved["members"][str(BOB)]["nick"] == "Bobby"

    await interaction.response.send_message("ok", ephemeral=True)
    [callback] = await fake.wait_for("POST", rf"/interactions/{interaction_id}/[^/]+/callback")
    assert callback.json["type"] == 4
    assert callback.json["data"]["content"] == "ok"
    assert callback.json["data"]["flags"] == 64

    await interaction.edit_original_response(content="edited")
    await fake.wait_for("PATCH", rf"/webhooks/{APP_ID}/[^/]+/messages/@original")
    followup = await interaction.followup.send("more", wait=True)
    assert followup.content == "more"
    assert fake.unknown == []


async def test_second_response_is_refused(fake: FakeDiscord, start_client: StartClient) -> None:
    _, events = await start_client()
    await fake.send_slash(GUILD, CHANNEL, ALICE, "ping")
    interaction: discord.Interaction = await events.next("interaction")
    await interaction.response.defer(thinking=True)

    url = f"{fake.api_base}/interactions/{interaction.id}/{interaction.token}/callback"
    async with aiohttp.ClientSession() as session:
        again = {"type": 4, "data": {"content": "again"}}
        async with session.post(url, json=again) as response:
            assert response.status == 400
            assert (await response.json())["code"] == 40060

    message = await interaction.edit_original_response(content="done")
    assert message.content == "done"


async def test_command_tree_sync_and_invocation(
    fake: FakeDiscord, start_client: StartClient
) -> None:
    client = fake.route(discord.Client(intents=make_intents(), guild_ready_timeout=0.1))
    tree = app_commands.CommandTree(client)
    seen: list[str] = []

    @tree.command(name="whois", description="Who is it")
    async def whois(interaction: discord.Interaction, who: discord.Member) -> None:
        seen.append(who.display_name)
        await interaction.response.send_message(f"that is {who.display_name}")

    await start_client(client)
    await tree.sync()
    assert [c["name"] for c in fake.commands] == ["whois"]
    await tree.sync(guild=discord.Object(GUILD))
    assert fake.guild_commands[GUILD] == []

    await fake.send_slash(
        GUILD, CHANNEL, ALICE, "whois", [{"name": "who", "type": 6, "value": BOB}]
    )
    [callback] = await fake.wait_for("POST", r"/interactions/\d+/[^/]+/callback")
    assert seen == ["Bobby"]
    assert callback.json["data"]["content"] == "that is Bobby"


async def test_button_interaction_carries_the_message(
    fake: FakeDiscord, start_client: StartClient
) -> None:
    client, events = await start_client()
    channel = client.get_channel(CHANNEL)
    assert isinstance(channel, discord.TextChannel)
    view = discord.ui.View()
    view.add_item(discord.ui.Button(label="Grab", custom_id="grab:1"))
    sent = await channel.send("packet", view=view)
    assert fake.messages[sent.id]["components"][0]["components"][0]["custom_id"] == "grab:1"

    await fake.send_button(GUILD, CHANNEL, ALICE, "grab:1", message_id=sent.id)
    interaction: discord.Interaction = await events.next("interaction")

    assert interaction.type is discord.InteractionType.component
    assert interaction.data is not None and interaction.data["custom_id"] == "grab:1"  # type: ignore[typeddict-item]
    assert interaction.message is not None and interaction.message.id == sent.id
    await interaction.response.edit_message(content="grabbed", view=None)
    [callback] = await fake.wait_for("POST", r"/interactions/\d+/[^/]+/callback")
    assert callback.json["type"] == 7
    assert fake.messages[sent.id]["content"] == "grabbed"


async def test_rate_limited_send_is_retried_and_delivered_once(
    fake: FakeDiscord, start_client: StartClient
) -> None:
    client, _ = await start_client()
    channel = client.get_channel(CHANNEL)
    assert isinstance(channel, discord.TextChannel)
    fake.fail_next("POST", MESSAGES, retry_after=0.2)

    sent = await channel.send("after the limit")

    posts = fake.requests_to("POST", MESSAGES)
    assert [r.status for r in posts] == [429, 200]
    assert posts[1].at - posts[0].at >= 0.2
    assert len(fake.requests_to("POST", MESSAGES, status=200)) == 1
    assert sent.content == "after the limit"
    assert [m["content"] for m in fake.bot_messages] == ["after the limit"]


async def test_injected_errors_raise_the_matching_exceptions(
    fake: FakeDiscord, start_client: StartClient
) -> None:
    client, _ = await start_client()
    channel = client.get_channel(CHANNEL)
    assert isinstance(channel, discord.TextChannel)

    fake.fail_next("POST", MESSAGES, status=403)
    with pytest.raises(discord.Forbidden) as forbidden:
        await channel.send("x")
    assert forbidden.value.code == 50013

    with pytest.raises(discord.NotFound) as missing:
        await channel.get_partial_message(123).delete()
    assert missing.value.code == 10008
    assert fake.bot_messages == []


async def test_refused_privileged_intents(fake: FakeDiscord, start_client: StartClient) -> None:
    fake.refuse_intents = True
    client = fake.route(discord.Client(intents=make_intents(), guild_ready_timeout=0.1))
    try:
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await asyncio.wait_for(client.start(TOKEN), 10)
    finally:
        await client.close()
    assert fake.identify is not None

    # Without privileged intents the same server accepts the bot.
    plain = fake.route(
        discord.Client(intents=make_intents(privileged=False), guild_ready_timeout=0.1)
    )
    client, _ = await start_client(plain)
    assert client.get_guild(GUILD) is not None


async def test_member_join_and_remove(fake: FakeDiscord, start_client: StartClient) -> None:
    client, events = await start_client()
    joined = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)

    await fake.member_join(GUILD, 1_100_000_000_000_000_500, "carol", joined_at=joined)
    member: discord.Member = await events.next("member_join")

    assert member.name == "carol" and member.joined_at == joined
    guild = client.get_guild(GUILD)
    assert guild is not None and guild.get_member(member.id) is not None

    await fake.member_remove(GUILD, member.id)
    removed: discord.Member = await events.next("member_remove")
    assert removed.id == member.id and guild.get_member(member.id) is None


async def test_guild_join_and_remove(fake: FakeDiscord, start_client: StartClient) -> None:
    client, events = await start_client()

    await fake.guild_join(
        3_000, "New Place", channels=[(3_001, "lobby")], members=[(ALICE, "alice")]
    )
    guild: discord.Guild = await events.next("guild_join")
    assert guild.id == 3_000 and guild.get_channel(3_001) is not None
    assert guild.get_member(ALICE) is not None

    await fake.guild_remove(3_000)
    removed: discord.Guild = await events.next("guild_remove")
    assert removed.id == 3_000 and client.get_guild(3_000) is None


async def test_moderation_routes(fake: FakeDiscord, start_client: StartClient) -> None:
    client, _ = await start_client()
    guild = client.get_guild(GUILD)
    assert guild is not None
    alice, bob = guild.get_member(ALICE), guild.get_member(BOB)
    assert alice is not None and bob is not None

    until = datetime.now(UTC) + timedelta(minutes=10)
    await alice.timeout(until, reason="spam")
    stored = fake.member(GUILD, ALICE).communication_disabled_until
    assert stored is not None and datetime.fromisoformat(stored) == until
    [patch] = fake.requests_to("PATCH", rf"/guilds/{GUILD}/members/{ALICE}")
    assert patch.headers["X-Audit-Log-Reason"] == "spam"

    await guild.me.edit(nick="Q")
    assert fake.member(GUILD, BOT_ID).nick == "Q"

    await bob.kick()
    assert BOB not in fake.guilds[GUILD].members
    await guild.ban(discord.Object(ALICE), delete_message_seconds=60)
    assert fake.bans[GUILD][ALICE] == {"delete_message_seconds": 60}
    await guild.unban(discord.Object(ALICE))
    assert ALICE not in fake.bans[GUILD]
    assert fake.unknown == []


async def test_direct_message(fake: FakeDiscord, start_client: StartClient) -> None:
    client, events = await start_client()
    user = client.get_user(ALICE)
    assert user is not None

    sent = await user.send("psst")

    [opened] = fake.requests_to("POST", r"/users/@me/channels")
    assert opened.json == {"recipient_id": ALICE}
    assert sent.channel.id == fake.dm_channels[ALICE].id
    await fake.send_message_create(None, fake.dm_channels[ALICE].id, ALICE, "hi back")
    message: discord.Message = await events.next("message")
    assert message.guild is None and message.content == "hi back"


async def test_closed_dms_refuse_with_50007_and_pictures_are_attachments(
    fake: FakeDiscord, start_client: StartClient
) -> None:
    client, _events = await start_client()
    user = client.get_user(ALICE)
    assert user is not None
    sent = await user.send("a picture", file=discord.File(io.BytesIO(b"\x89PNG..."), "a.png"))
    [attachment] = sent.attachments
    assert attachment.filename == "a.png"
    [post] = fake.requests_to("POST", rf"/channels/{fake.dm_channels[ALICE].id}/messages")
    assert [(f.filename, f.data) for f in post.files] == [("a.png", b"\x89PNG...")]
    fake.close_dms(ALICE)
    with pytest.raises(discord.Forbidden) as refused:
        await user.send("psst")
    assert refused.value.code == 50007
    fake.close_dms(ALICE, closed=False)
    assert (await user.send("psst")).content == "psst"


async def test_reconnect_resumes_the_session(fake: FakeDiscord, start_client: StartClient) -> None:
    _, events = await start_client()
    ready = next(data for event, data in fake.dispatched if event == "READY")

    await fake.request_reconnect()
    await events.next("resumed")

    resume = [p for p in fake.gateway_received if p["op"] == 6]
    assert resume and resume[0]["d"]["session_id"] == ready["session_id"]
    assert len(fake.identifies) == 1
    await fake.send_message_create(GUILD, CHANNEL, ALICE, "still here")
    assert (await events.next("message")).content == "still here"


async def test_zlib_stream_frames(fake: FakeDiscord, start_client: StartClient) -> None:
    fake.compress = True
    _, events = await start_client()
    assert fake.gateway_queries[-1]["compress"] == "zlib-stream"
    assert fake._sessions[0].compressor is not None
    await fake.send_message_create(GUILD, CHANNEL, ALICE, "compressed")
    assert (await events.next("message")).content == "compressed"


async def test_rest_answers_and_unknown_routes(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.api_base}/users/@me") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/json"
            assert (await response.json())["id"] == str(BOT_ID)
        async with session.get(f"{fake.api_base}/gateway/bot") as response:
            data = await response.json()
            assert data["url"].startswith("ws://127.0.0.1:")
            assert data["session_start_limit"]["remaining"] == 1000
        async with session.get(f"{fake.api_base}/no/such/route") as response:
            assert response.status == 404
            assert await response.json() == {"message": "404: Not Found", "code": 0}
    assert [r.path for r in fake.unknown] == ["/no/such/route"]


async def test_snowflakes_follow_the_clock() -> None:
    moment = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
    fake = FakeDiscord(clock=lambda: moment)
    first, second = fake.snowflake(), fake.snowflake()
    assert second > first >= SNOWFLAKE_START
    assert snowflake_time(first) == moment
    assert discord.utils.snowflake_time(first) == moment
