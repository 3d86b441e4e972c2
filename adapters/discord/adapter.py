"""The Discord adapter's lifecycle: a real ``discord.Client`` (or ``AutoShardedClient``),
events to the dispatcher, slash commands synced from the feature registry."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import discord
import yarl

from adapters.discord import translate
from adapters.discord.perform import DiscordPerformer
from bot.actions import Action, ActionResult, Reply, Send
from bot.config import ConfigError, DiscordSettings
from bot.dispatch import Dispatcher
from bot.events import EventBase

__all__ = ["INTENTS_HELP", "DiscordAdapter"]

log = logging.getLogger(__name__)

INTENTS_HELP = (
    "Discord refused the privileged intents qunbot needs. In the developer portal "
    "(https://discord.com/developers/applications) open your application -> Bot -> "
    "Privileged Gateway Intents and turn on SERVER MEMBERS INTENT and MESSAGE CONTENT INTENT, "
    "then start qunbot again."
)
NICKNAME_TTL = 60.0
#: An interaction still unanswered after this many seconds is acknowledged (Discord: 3 s).
ACKNOWLEDGE_AFTER = 1.5

# qunbot never joins voice: do not warn that voice libraries are missing.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


def intents() -> discord.Intents:
    """Members (joins, join dates) and message content (prefix commands, keywords, rules)."""
    wanted = discord.Intents.default()
    wanted.members = True
    wanted.message_content = True
    return wanted


class DiscordAdapter:
    platform = "discord"

    def __init__(self, settings: DiscordSettings) -> None:
        if settings.token is None:
            raise ValueError("the Discord adapter needs a token")
        self.settings = settings
        self.stale_after: timedelta | None = timedelta(seconds=settings.stale_after)
        self.bot_username: str | None = None
        self.dispatcher: Dispatcher | None = None
        options = {"intents": intents(), "guild_ready_timeout": settings.guild_ready_timeout}
        if settings.shards == "off":
            self.client: discord.Client = discord.Client(**options)
        elif settings.shards == "auto":
            self.client = discord.AutoShardedClient(**options)
        else:
            self.client = discord.AutoShardedClient(shard_count=int(settings.shards), **options)
        self.performer = DiscordPerformer(self.client)
        self._ready = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._nicknames: dict[int, tuple[float, str]] = {}
        self._accepting = True
        #: Called if the gateway connection ends for good after start (the app stops).
        self.on_fatal: Callable[[], None] | None = None
        self._register_events()

    # -- lifecycle ------------------------------------------------------------------------
    def _point_at_servers(self) -> None:
        """REST base and gateway URL from the config (a rate-limit proxy, a test server)."""
        discord.http.Route.BASE = self.settings.api_base.rstrip("/")
        if self.settings.gateway_url:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.settings.gateway_url)

    async def start(self, dispatcher: Dispatcher) -> None:
        """Log in, connect to the gateway, wait until the guilds are in, sync slash commands."""
        self.dispatcher = dispatcher
        self._point_at_servers()
        assert self.settings.token is not None
        try:
            await self.client.login(self.settings.token.get_secret_value())
        except discord.LoginFailure as error:
            await self.client.close()
            raise ConfigError(
                "discord", [f"discord.token: Discord refused the token ({error})"]
            ) from None
        self._runner = asyncio.create_task(self._connect(), name="discord gateway")
        ready = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait(
            {self._runner, ready},
            timeout=self.settings.connect_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self._runner in done:
            ready.cancel()
            self._runner.result()  # raises the reason the connection ended
            raise ConfigError("discord", ["the gateway connection ended before the bot was ready"])
        if ready not in done:
            ready.cancel()
            raise ConfigError(
                "discord",
                [f"no READY from the gateway within {self.settings.connect_timeout:.0f} s"],
            )
        self.bot_username = self.client.user.name if self.client.user else None
        self._runner.add_done_callback(self._connection_ended)
        await self.sync_commands()

    def _connection_ended(self, runner: asyncio.Task[None]) -> None:
        if not self._accepting or runner.cancelled():
            return
        error = runner.exception()
        log.error("discord: the gateway connection ended for good: %r", error)
        if self.on_fatal is not None:
            self.on_fatal()

    async def _connect(self) -> None:
        try:
            await self.client.connect(reconnect=True)
        except discord.PrivilegedIntentsRequired:
            raise ConfigError("discord", [INTENTS_HELP]) from None

    async def stop(self) -> None:
        self._accepting = False
        await self.client.close()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)

    # -- slash commands -------------------------------------------------------------------
    def command_payloads(self) -> list[dict[str, object]]:
        assert self.dispatcher is not None
        dispatcher = self.dispatcher
        return translate.command_payloads(
            dispatcher.registry.commands.values(), dispatcher.command_summary
        )

    async def sync_commands(self) -> None:
        """Upload the slash commands where they differ from what Discord has (only then)."""
        application_id = self.client.application_id
        if application_id is None:
            return
        wanted = self.command_payloads()
        http = self.client.http
        targets = self.settings.guild_ids or [None]
        for guild_id in targets:
            if guild_id is None:
                current = await http.get_global_commands(application_id)
            else:
                current = await http.get_guild_commands(application_id, int(guild_id))
            if translate.same_commands(current, wanted):
                continue
            if guild_id is None:
                await http.bulk_upsert_global_commands(application_id, wanted)
            else:
                await http.bulk_upsert_guild_commands(application_id, int(guild_id), wanted)
            log.info("discord: %d slash commands synced (%s)", len(wanted), guild_id or "global")

    # -- inbound --------------------------------------------------------------------------
    def _submit(self, event: EventBase | None) -> None:
        if event is not None and self.dispatcher is not None and self._accepting:
            self.dispatcher.submit(event)

    async def stop_intake(self) -> None:
        """Stop handing events to the dispatcher (shutdown drains, then calls ``stop``)."""
        self._accepting = False

    def _register_events(self) -> None:
        client = self.client

        @client.event
        async def on_ready() -> None:
            self._ready.set()
            for guild in client.guilds:
                await self._follow_persona_name(guild)

        @client.event
        async def on_message(message: discord.Message) -> None:
            bot_id = client.user.id if client.user else None
            self._submit(translate.message_event(message, self.settings.command_prefix, bot_id))

        @client.event
        async def on_interaction(interaction: discord.Interaction) -> None:
            await self._on_interaction(interaction)

        @client.event
        async def on_member_join(member: discord.Member) -> None:
            self._submit(translate.member_joined(member))

        @client.event
        async def on_member_remove(member: discord.Member) -> None:
            self._submit(translate.member_left(member, datetime.now(UTC)))

        @client.event
        async def on_guild_join(guild: discord.Guild) -> None:
            self._submit(translate.bot_membership(guild, True, datetime.now(UTC)))
            await self._follow_persona_name(guild)

        @client.event
        async def on_guild_remove(guild: discord.Guild) -> None:
            self._submit(translate.bot_membership(guild, False, datetime.now(UTC)))

    async def _on_interaction(self, interaction: discord.Interaction) -> None:
        assert self.dispatcher is not None
        self.performer.remember(interaction)
        event: EventBase | None = None
        if interaction.type is discord.InteractionType.application_command:
            name = str((interaction.data or {}).get("name", ""))
            event = translate.slash_event(interaction, self.dispatcher.registry.commands.get(name))
        elif interaction.type is discord.InteractionType.component:
            event = translate.button_event(interaction)
        if event is None:
            return
        done = self.dispatcher.submit(event)
        try:
            await asyncio.wait_for(asyncio.shield(done), ACKNOWLEDGE_AFTER)
        except TimeoutError:
            await self.performer.defer(str(interaction.id))  # within Discord's 3 seconds
            await asyncio.gather(done, return_exceptions=True)
        finally:
            # Handled but nothing answered it (a silent command, a button without a note).
            await self.performer.settle(str(interaction.id))

    # -- outbound -------------------------------------------------------------------------
    async def perform(self, action: Action) -> ActionResult:
        if isinstance(action, Reply | Send) and action.chat_id.isdigit():
            guild = self.client.get_guild(int(action.chat_id))
            if guild is not None:
                await self._follow_persona_name(guild)
        return await self.performer.perform(action)

    async def _follow_persona_name(self, guild: discord.Guild) -> None:
        """The bot's server nickname follows the persona's name, where it may change it."""
        if self.dispatcher is None:
            return
        now = time.monotonic()
        cached = self._nicknames.get(guild.id)
        if cached and cached[0] > now:
            return
        name = await self.dispatcher.persona_name(self.platform, str(guild.id))
        self._nicknames[guild.id] = (now + NICKNAME_TTL, name)
        me = guild.me
        if me is None or me.display_name == name or not me.guild_permissions.change_nickname:
            return
        try:
            await me.edit(nick=name[:32])
        except discord.HTTPException as error:
            log.info("discord: could not set the nickname in %s: %s", guild.id, error)

    def forget_nickname(self, guild_id: int) -> None:
        self._nicknames.pop(guild_id, None)

    def counts(self, action: Action) -> bool:
        """Interaction responses are not channel messages: no channel send limit applies."""
        return not self.performer.answers_interaction(action)

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        return self.performer.is_admin(chat_id, user_id)
