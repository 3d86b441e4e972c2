"""Each Discord client talks to its own servers (issue 14): two adapters run in one process on
two fakes, and discord.py's process-wide URLs are never touched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
import yarl
from aiohttp import web

from adapters.discord import DiscordAdapter, route_client
from adapters.discord.routing import RoutedSession
from bot.app import App
from tests.adapters.discord.conftest import Started, launch, stop_all
from tests.adapters.discord.fake_discord import FakeDiscord, JSONDict

#: discord.py 2.7's own REST base and gateway, which must stay as they are.
DISCORD_DEFAULTS = ("https://discord.com/api/v10", "wss://gateway.discord.gg/")
CALLBACK = r"/interactions/\d+/[^/]+/callback"
ANN = 42


def discord_urls() -> tuple[str, str]:
    """discord.py's process-wide REST base and gateway, as they are now."""
    return discord.http.Route.BASE, str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)


class WatchedFake(FakeDiscord):
    """A fake that notes discord.py's process-wide URLs whenever a request or a gateway message
    reaches it: what they were all through the run, not only at its end."""

    def __init__(self, name: str, number: int, **options: Any) -> None:
        super().__init__(
            bot_id=1300000000000000900 + number,
            bot_name=name,
            application_id=1300000000000000950 + number,
            **options,
        )
        self.guild_id = 1300000000000000010 + number
        self.channel_id = 1300000000000000020 + number
        self.token = f"token-{name}"
        self.urls_seen: set[tuple[str, str]] = set()
        self.add_guild(self.guild_id, f"Guild {name}", channels=[(self.channel_id, "general")])
        self.add_member(self.guild_id, ANN, "Ann")

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        self.urls_seen.add(discord_urls())
        return await super()._rest(request)

    async def _on_gateway(self, session: Any, payload: JSONDict) -> None:
        self.urls_seen.add(discord_urls())
        await super()._on_gateway(session, payload)

    def channel_messages(self) -> str:
        return rf"/channels/{self.channel_id}/messages"

    def command_sync(self) -> str:
        return rf"/applications/{self.application_id}/commands"


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[WatchedFake, WatchedFake]]:
    async with WatchedFake("a", 1) as one, WatchedFake("b", 2) as two:
        assert one.port != two.port
        yield one, two


async def resumed(app: App, fake: WatchedFake) -> None:
    """Ask ``fake`` to make its client reconnect; return once the session is RESUMEd."""
    client = cast(DiscordAdapter, app.discord).client
    waiting = asyncio.create_task(client.wait_for("resumed", timeout=10))
    await asyncio.sleep(0)  # the listener is in before the request goes out
    await fake.request_reconnect()
    await waiting


async def test_two_adapters_each_reach_only_their_own_servers(
    fakes: tuple[WatchedFake, WatchedFake], tmp_path: Path, sqlite_template: Path
) -> None:
    assert discord_urls() == DISCORD_DEFAULTS
    started: Started = []
    try:
        one, two = fakes
        apps = [
            await launch(started, one, tmp_path / "a.db", sqlite_template, token=one.token),
            # B is sharded: its shards connect to the gateway discord.py picks, rerouted.
            await launch(
                started, two, tmp_path / "b.db", sqlite_template, token=two.token, shards=2
            ),
        ]
        assert discord_urls() == DISCORD_DEFAULTS
        for fake in fakes:  # slash commands synced at start, each to its own application
            assert len(fake.requests_to("PUT", fake.command_sync(), status=200)) == 1
            await fake.send_message_create(fake.guild_id, fake.channel_id, ANN, "!start")
            await fake.send_slash(fake.guild_id, fake.channel_id, ANN, "help")
        for fake in fakes:
            [reply] = await fake.wait_for("POST", fake.channel_messages(), timeout=10, status=200)
            assert "/help" in reply.json["content"]
            [answer] = await fake.wait_for("POST", CALLBACK, timeout=10, status=200)
            assert answer.json["type"] == 4 and answer.json["data"]["content"]
        for app, fake in zip(apps, fakes, strict=True):
            ready = next(data for event, data in fake.dispatched if event == "READY")
            await resumed(app, fake)
            resumes = [p["d"] for p in fake.gateway_received if p["op"] == 6]
            assert resumes and resumes[0]["session_id"] == ready["session_id"]
            await fake.send_message_create(fake.guild_id, fake.channel_id, ANN, "!start")
            await fake.wait_for("POST", fake.channel_messages(), count=2, timeout=10, status=200)
        assert discord_urls() == DISCORD_DEFAULTS
    finally:
        await stop_all(started)
    assert discord_urls() == DISCORD_DEFAULTS
    for fake in fakes:
        assert fake.urls_seen == {DISCORD_DEFAULTS}
        assert fake.unknown == []
        assert {identify["token"] for identify in fake.identifies} == {fake.token}
        # Every REST call carries this fake's bot token, but interaction callbacks (they carry
        # none) - and those answered interactions this fake made.
        for request in fake.requests:
            if request.headers.get("Authorization") is None:
                assert request.status == 200 and "/callback" in request.path
            else:
                assert request.headers["Authorization"] == f"Bot {fake.token}"


async def test_a_bare_client_is_routed_and_the_globals_stay(
    fakes: tuple[WatchedFake, WatchedFake],
) -> None:
    one, two = fakes
    client = one.route(discord.Client(intents=discord.Intents.none()))
    try:
        await client.login(one.token)
        assert client.user is not None and client.user.id == one.bot_id
    finally:
        await client.close()
    assert one.requests_to("GET", r"/users/@me") and not two.requests
    assert discord_urls() == DISCORD_DEFAULTS


async def test_route_client_refuses_a_logged_in_client(
    fakes: tuple[WatchedFake, WatchedFake],
) -> None:
    client = fakes[0].route(discord.Client(intents=discord.Intents.none()))
    try:
        await client.login(fakes[0].token)
        with pytest.raises(RuntimeError, match="before the client logs in"):
            route_client(client, fakes[1].api_base)
    finally:
        await client.close()


async def test_only_discord_pys_own_urls_are_rerouted() -> None:
    async with aiohttp.ClientSession() as session:
        routed = RoutedSession(session, "http://proxy:8080/api/v10/", yarl.URL("ws://proxy:9/"))
        assert routed.rest_url("https://discord.com/api/v10/channels/1/messages?x=1") == (
            "http://proxy:8080/api/v10/channels/1/messages?x=1"
        )
        attachment = "https://cdn.discordapp.com/attachments/1/2/a.png"
        assert routed.rest_url(attachment) == attachment
        lookalike = "https://discord.com/api/v100/users/@me"
        assert routed.rest_url(lookalike) == lookalike
        default = "wss://gateway.discord.gg/?v=10&encoding=json&compress=zlib-stream"
        assert routed.websocket_url(default) == (
            "ws://proxy:9/?v=10&encoding=json&compress=zlib-stream"
        )
        resume = "wss://gateway-us-east1-b.discord.gg/?v=10&encoding=json"
        assert routed.websocket_url(resume) == resume  # Discord's READY named it
        unrouted = RoutedSession(session, "https://discord.com/api/v10", None)
        assert unrouted.websocket_url(default) == default
        assert routed.closed is False  # everything else is the session's
