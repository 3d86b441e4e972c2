"""The Discord adapter's lifecycle: a real ``discord.Client`` (or ``AutoShardedClient``),
events to the dispatcher, slash commands synced from the feature registry."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import discord
import yarl

from adapters.base import Adapter, Host
from adapters.discord import translate
from adapters.discord.invites import InviteUses
from adapters.discord.perform import DiscordPerformer
from adapters.discord.routing import route_client
from bot.actions import Action, ActionResult, Reply, Send
from bot.cache import BoundedCache
from bot.config import DiscordSettings, StartupError, mask_secret
from bot.events import EventBase

__all__ = ["INTENTS_FIX", "INTENTS_HELP", "INTENTS_REFUSED", "DiscordAdapter"]

log = logging.getLogger(__name__)

INTENTS_REFUSED = "Discord refused the privileged intents qunbot needs."
INTENTS_FIX = (
    "In the developer portal (https://discord.com/developers/applications) open your "
    "application -> Bot -> Privileged Gateway Intents and turn on SERVER MEMBERS INTENT and "
    "MESSAGE CONTENT INTENT, then start qunbot again."
)
INTENTS_HELP = f"{INTENTS_REFUSED} {INTENTS_FIX}"
#: What a server that cannot be reached raises (aiohttp's connection errors are OSErrors).
_NETWORK_ERRORS = (aiohttp.ClientError, OSError, TimeoutError)
#: The persona name the bot's nickname follows is looked up again after this many seconds.
NICKNAME_TTL = 60.0
#: Servers whose looked-up name is kept at once (past it the least recently used go first and
#: are simply looked up again on their next reply).
NICKNAME_GUILDS = 10_000
#: An interaction still unanswered after this many seconds is acknowledged (Discord: 3 s).
ACKNOWLEDGE_AFTER = 1.5
#: How long closing the gateway and the HTTP session may take at shutdown.
STOP_TIMEOUT = 15.0

# qunbot never joins voice: do not warn that voice libraries are missing.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


def _server(url: str) -> str:
    """Scheme, host and port of ``url``: enough to tell which server, nothing more."""
    parsed = yarl.URL(url)
    return f"{parsed.scheme}://{parsed.authority}" if parsed.host else url


def _network_cause(error: BaseException | None) -> BaseException | None:
    """The network failure behind ``error`` (discord.py's first connection attempt can end in
    an unrelated error raised while it handles the real one)."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, (*_NETWORK_ERRORS, discord.GatewayNotFound)):
            return error
        error = error.__cause__ or error.__context__
        seen += 1
    return None


class _WhileStarting(logging.Filter):
    """Drops discord.py's "Attempting a reconnect" tracebacks until the first READY: before
    it the start-up reports the failure in one line, after it they are real news."""

    def __init__(self, ready: asyncio.Event) -> None:
        super().__init__()
        self.ready = ready

    def filter(self, record: logging.LogRecord) -> bool:
        return self.ready.is_set() or not str(record.msg).startswith("Attempting a reconnect")


def intents() -> discord.Intents:
    """Members (joins, join dates), message content (prefix commands, keywords, rules) and
    server reactions (insights; not privileged, on by default, asked for by name here)."""
    wanted = discord.Intents.default()
    wanted.members = True
    wanted.message_content = True
    wanted.guild_reactions = True
    return wanted


class DiscordAdapter(Adapter):
    platform = "discord"

    def __init__(
        self, settings: DiscordSettings, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if settings.token is None:
            raise ValueError("the Discord adapter needs a token")
        self.settings = settings
        self.stale_after: timedelta | None = timedelta(seconds=settings.stale_after)
        #: Events in memory waiting to be handled, and waiting to be recorded, at most (read
        #: by the dispatcher on attach; see ``Dispatcher.submit``).
        self.max_pending = settings.max_pending
        self.max_unrecorded = settings.max_unrecorded
        self.bot_username: str | None = None
        self.dispatcher: Host | None = None
        options = {"intents": intents(), "guild_ready_timeout": settings.guild_ready_timeout}
        if settings.shards == "off":
            self.client: discord.Client = discord.Client(**options)
        elif settings.shards == "auto":
            self.client = discord.AutoShardedClient(**options)
        else:
            self.client = discord.AutoShardedClient(shard_count=int(settings.shards), **options)
        # REST base and gateway from the config (a rate-limit proxy, a test server), for this
        # client only: another adapter in the process keeps its own.
        route_client(self.client, settings.api_base, settings.gateway_url or None)
        self.performer = DiscordPerformer(self.client, monotonic=monotonic)
        self.invites = InviteUses()
        self._ready = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        #: The persona name last set as each server's nickname, looked up again when it expires.
        self._nicknames: BoundedCache[int, str] = BoundedCache(
            NICKNAME_GUILDS, NICKNAME_TTL, clock=monotonic
        )
        self._accepting = True
        #: Called if the gateway connection ends for good after start (the app stops).
        self.on_fatal: Callable[[], None] | None = None
        self._register_events()

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self, dispatcher: Host) -> None:
        """Log in, connect to the gateway, wait until the guilds are in, sync slash commands.

        Any failure is a ``StartupError`` naming the cause and the fix (never the token), with
        the client closed behind it.
        """
        self.dispatcher = dispatcher
        reconnect_noise = _WhileStarting(self._ready)
        logging.getLogger("discord.client").addFilter(reconnect_noise)
        try:
            await self._log_in()
            await self._until_ready()
            # Events an earlier run recorded and did not handle: handled before later ones.
            dispatcher.replay(self.platform)
            self.bot_username = self.client.user.name if self.client.user else None
            await self.sync_commands()
        except BaseException as error:
            await self.stop()
            if isinstance(error, StartupError | asyncio.CancelledError):
                raise
            if isinstance(error, discord.HTTPException):
                raise StartupError(
                    f"Discord refused a start-up request: {self._masked(error)}",
                    "Check the bot's application in the developer portal and [discord] api_base.",
                ) from None
            if isinstance(error, _NETWORK_ERRORS):
                raise self._unreachable("API", self.settings.api_base, error) from None
            raise
        finally:
            logging.getLogger("discord.client").removeFilter(reconnect_noise)
        assert self._runner is not None
        self._runner.add_done_callback(self._connection_ended)
        log.info("discord: %s connected", self.bot_username)

    async def _log_in(self) -> None:
        assert self.settings.token is not None
        try:
            await self.client.login(self.settings.token.get_secret_value())
        except discord.LoginFailure:
            raise StartupError(
                "Discord refused the bot token (discord.token).",
                "Copy the token again from the developer portal"
                " (https://discord.com/developers/applications -> Bot -> Reset Token) into"
                " [discord] token (or QUNBOT_DISCORD__TOKEN) and start again.",
            ) from None
        except _NETWORK_ERRORS as error:
            raise self._unreachable("API", self.settings.api_base, error) from None

    async def _until_ready(self) -> None:
        """Connect to the gateway and wait for READY (at most ``connect_timeout`` seconds)."""
        self._runner = asyncio.create_task(self._connect(), name="discord gateway")
        ready = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait(
            {self._runner, ready},
            timeout=self.settings.connect_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        gateway = self.settings.gateway_url or "wss://gateway.discord.gg"
        if self._runner in done:
            ready.cancel()
            error = self._runner.exception()
            if isinstance(error, StartupError):
                raise error
            cause = _network_cause(error)
            if cause is not None:
                raise self._unreachable("gateway", gateway, cause)
            raise StartupError(
                "The Discord gateway connection ended before the bot was ready"
                + (f": {self._masked(error)}" if error else "."),
                "Check the network connection (and [discord] gateway_url), then start again.",
            )
        if ready not in done:
            ready.cancel()
            raise StartupError(
                f"No answer from the Discord gateway at {_server(gateway)} within"
                f" {self.settings.connect_timeout:.0f} s.",
                "Check the network connection (and [discord] gateway_url and connect_timeout),"
                " then start again.",
            )

    def _masked(self, error: BaseException) -> str:
        token = self.settings.token.get_secret_value() if self.settings.token else None
        return mask_secret(str(error) or type(error).__name__, token)

    def _unreachable(self, what: str, url: str, error: BaseException) -> StartupError:
        setting = "api_base" if what == "API" else "gateway_url"
        return StartupError(
            f"Cannot reach the Discord {what} at {_server(url)}: {self._masked(error)}",
            f"Check the network connection (and [discord] {setting}), then start again.",
        )

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
            raise StartupError(INTENTS_REFUSED, INTENTS_FIX) from None

    async def stop(self) -> None:
        """Close the gateway and the HTTP session, bounded: a server that never answers the
        close handshake must not hold the whole shutdown (the database closes after this)."""
        self._accepting = False
        try:
            await asyncio.wait_for(self.client.close(), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("Discord did not close within %s s; stopping anyway", STOP_TIMEOUT)
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)

    # -- slash commands -------------------------------------------------------------------
    def command_payloads(self) -> list[dict[str, object]]:
        assert self.dispatcher is not None
        dispatcher = self.dispatcher
        return translate.command_payloads(
            dispatcher.commands.commands.values(), dispatcher.command_summary
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
        """Record (batched with others) and handle; Discord cannot be paused, so the
        dispatcher bounds what waits in memory and keeps the rest in the database."""
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
            for guild in client.guilds:
                await self.invites.baseline(guild)

        @client.event
        async def on_message(message: discord.Message) -> None:
            bot_id = client.user.id if client.user else None
            self._submit(translate.message_event(message, self.settings.command_prefix, bot_id))

        @client.event
        async def on_interaction(interaction: discord.Interaction) -> None:
            await self._on_interaction(interaction)

        @client.event
        async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
            self._on_reaction(payload)

        @client.event
        async def on_raw_reaction_remove(payload: discord.RawReactionActionEvent) -> None:
            self._on_reaction(payload)

        @client.event
        async def on_member_join(member: discord.Member) -> None:
            link = None if member.bot else await self.invites.attribute(member.guild)
            self._submit(translate.member_joined(member, link))

        @client.event
        async def on_member_remove(member: discord.Member) -> None:
            self._submit(translate.member_left(member, datetime.now(UTC)))

        @client.event
        async def on_guild_join(guild: discord.Guild) -> None:
            self._submit(translate.bot_membership(guild, True, datetime.now(UTC)))
            await self._follow_persona_name(guild)
            await self.invites.baseline(guild)

        @client.event
        async def on_guild_remove(guild: discord.Guild) -> None:
            self._submit(translate.bot_membership(guild, False, datetime.now(UTC)))

    def _on_reaction(self, payload: discord.RawReactionActionEvent) -> None:
        client = self.client
        guild = client.get_guild(payload.guild_id) if payload.guild_id is not None else None
        bot_id = client.user.id if client.user else None
        self._submit(translate.reaction_event(payload, guild, bot_id))

    async def _on_interaction(self, interaction: discord.Interaction) -> None:
        assert self.dispatcher is not None
        self.performer.remember(interaction)
        event: EventBase | None = None
        if interaction.type is discord.InteractionType.application_command:
            name = str((interaction.data or {}).get("name", ""))
            event = translate.slash_event(interaction, self.dispatcher.commands.commands.get(name))
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
        if self._nicknames.get(guild.id) is not None:  # (a read keeps it recently used)
            return
        name = await self.dispatcher.persona_name(self.platform, str(guild.id))
        self._nicknames[guild.id] = name
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

    async def chat_admins(self, chat_id: str) -> dict[str, str]:
        return self.performer.chat_admins(chat_id)
