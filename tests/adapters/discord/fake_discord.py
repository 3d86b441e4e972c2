"""A fake Discord server (gateway websocket + REST v10) on loopback, for tests of the discord.py adapter.

Point a real ``discord.Client`` at it::

    async with FakeDiscord(bot_id=900, bot_name="qunbot", application_id=901) as fake:
        fake.add_guild(100, channels=[(200, "general")], members=[(300, "alice")])
        client = fake.route(discord.Client(intents=intents, guild_ready_timeout=0.1))
        ...  # client.start("token") in a task, wait for on_ready
        await fake.send_message_create(100, 200, 300, "hello")
        [sent] = await fake.wait_for("POST", r"/channels/200/messages")

``route`` points that one client at the fake (``adapters.discord.route_client``); discord.py's
globals stay as they are, so several fakes and clients can run in one process. The adapter
needs nothing more than its ``api_base``/``gateway_url`` settings set to the fake's.

The server is aiohttp in the current event loop on an ephemeral port of 127.0.0.1: the gateway
websocket is at ``/`` and REST at ``/api/v10/...``. Every REST call is recorded in
``fake.requests`` (paths relative to the API base, e.g. ``/channels/200/messages``); path patterns
given to ``requests_to``/``wait_for``/``fail_next`` are regular expressions that must match the
whole relative path. Unknown routes answer 404 and are also kept in ``fake.unknown``.

discord.py 2.7.1 quirks handled here:

- REST answers carry ``Content-Type: application/json`` exactly: with ``; charset=utf-8``
  discord.py reads the body as a string.
- A 429 needs a ``Via`` header and a JSON ``retry_after``, else discord.py takes it for a
  Cloudflare ban and raises. 5xx are retried by discord.py after 1 s, 3 s, ...
- The gateway URL is requested with ``?v=10&encoding=json&compress=zlib-stream`` (zstd-stream
  when ``zstandard`` is installed). discord.py decompresses binary frames only, so plain text
  frames work; ``FakeDiscord(compress=True)`` sends real zlib-stream frames instead.
- The interaction callback is posted with ``?with_response=1`` and discord.py parses the answer
  (``{"interaction": ..., "resource": ...}``); a bare 204 there makes ``send_message`` fail. The
  fake answers 200 with that body when asked and 204 otherwise.
- GUILD_CREATE sent after READY has ``unavailable: false`` (``on_guild_available``); a guild joined
  later (``guild_join``) has no ``unavailable`` key, which is what makes it ``on_guild_join``.
- ``member_count`` equals the number of members sent (bot included), so discord.py does not
  chunk; REQUEST_MEMBERS (op 8) is answered with one GUILD_MEMBERS_CHUNK anyway.
- Snowflakes encode the fake's clock (``clock=``), so ``Message.created_at`` is realistic; they
  are never below 1300000000000000000 and always increase.
- ``refuse_intents`` closes with 4014 only when IDENTIFY asks for a privileged intent, as
  Discord does; discord.py turns that into ``PrivilegedIntentsRequired``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

import discord
from aiohttp import web

from adapters.discord.routing import route_client

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeRole",
    "Request",
    "UploadedFile",
    "channel_payload",
    "iso",
    "member_payload",
    "message_payload",
    "role_payload",
    "snowflake_time",
    "user_payload",
]

JSONDict = dict[str, Any]
ClientT = TypeVar("ClientT", bound=discord.Client)

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000
SNOWFLAKE_START = 1_300_000_000_000_000_000
#: Owner of guilds added without ``owner_id``: a user who is not a member (owners get every right).
DEFAULT_OWNER_ID = 1_200_000_000_000_000_001

ADMINISTRATOR = discord.Permissions(administrator=True).value
ALL_PERMISSIONS = discord.Permissions.all().value
DEFAULT_EVERYONE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    add_reactions=True,
    embed_links=True,
    attach_files=True,
    use_external_emojis=True,
    change_nickname=True,
    use_application_commands=True,
).value
PRIVILEGED_INTENTS = discord.Intents(members=True, presences=True, message_content=True).value
#: GATEWAY_GUILD_MEMBERS_LIMITED | GATEWAY_MESSAGE_CONTENT_LIMITED: an unverified bot with both on.
APPLICATION_FLAGS = (1 << 15) | (1 << 19)

EPHEMERAL = 1 << 6
LOADING = 1 << 7
MESSAGE_DEFAULT = 0
MESSAGE_REPLY = 19
INTERACTION_COMMAND = 2
INTERACTION_COMPONENT = 3
_SNOWFLAKE_OPTION_TYPES = {6, 7, 8, 9, 11}

_ERRORS: dict[int, tuple[str, int]] = {
    400: ("Invalid Form Body", 50035),
    401: ("401: Unauthorized", 0),
    403: ("Missing Permissions", 50013),
    404: ("Unknown Message", 10008),
    500: ("500: Internal Server Error", 0),
    502: ("502: Bad Gateway", 0),
}


# --------------------------------------------------------------------------- time and ids


def iso(moment: datetime) -> str:
    """Discord's timestamp format (ISO 8601, UTC, microseconds); naive datetimes are UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def snowflake_time(snowflake: int) -> datetime:
    """The moment a snowflake encodes."""
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)


def _moment(value: datetime | str | None, default: datetime) -> datetime:
    if value is None:
        return default
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- records and state


@dataclass
class UploadedFile:
    """A file part of a multipart request."""

    field: str
    filename: str
    data: bytes
    content_type: str


@dataclass
class Request:
    """One REST call as received; ``path`` is relative to the API base (``/channels/1/messages``)."""

    method: str
    path: str
    json: Any
    headers: dict[str, str]
    at: float
    status: int = 0
    query: dict[str, str] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)
    #: The JSON the fake answered with (a created message's ``id``, an error's ``code``).
    response: Any = None


@dataclass
class FakeRole:
    """A guild role; ``bot_id`` marks the managed role of a bot."""

    id: int
    name: str
    permissions: int = 0
    position: int = 1
    managed: bool = False
    bot_id: int | None = None
    hoist: bool = False
    mentionable: bool = False
    color: int = 0


@dataclass
class FakeChannel:
    """A channel; ``guild_id`` is None for DM channels (type 1)."""

    id: int
    name: str
    guild_id: int | None
    type: int = 0
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    recipient_id: int | None = None
    #: Slow mode (seconds) and permission overwrites, as set through the REST API.
    rate_limit_per_user: int = 0
    overwrites: dict[int, JSONDict] = field(default_factory=dict)


@dataclass
class FakeMember:
    """A guild member with the user fields the fake needs."""

    user_id: int
    name: str
    roles: list[int]
    joined_at: datetime
    nick: str | None = None
    bot: bool = False
    global_name: str | None = None
    communication_disabled_until: str | None = None
    deaf: bool = False
    mute: bool = False


@dataclass
class FakeGuild:
    """A guild: roles (the @everyone role has the guild's id), channels and members by id."""

    id: int
    name: str
    owner_id: int
    joined_at: datetime
    bot_role_id: int
    system_channel_id: int | None = None
    locale: str = "en-US"
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)


@dataclass
class FakeInteraction:
    """An interaction the fake dispatched; ``original_message_id`` is set once answered."""

    id: int
    token: str
    type: int
    guild_id: int | None
    channel_id: int
    user_id: int
    message_id: int | None = None
    responded: bool = False
    response_type: int | None = None
    original_message_id: int | None = None


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    retry_after: float
    global_: bool
    body: JSONDict | None


@dataclass(eq=False)
class _Session:
    """One gateway websocket."""

    ws: web.WebSocketResponse
    query: dict[str, str]
    compressor: Any = None  # zlib compress object when sending zlib-stream frames
    session_id: str | None = None
    seq: int = 0
    ready: bool = False
    shard: tuple[int, int] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, payload: JSONDict) -> None:
        if self.ws.closed:
            return
        text = json.dumps(payload)
        if self.compressor is not None:
            data = self.compressor.compress(text.encode()) + self.compressor.flush(
                zlib.Z_SYNC_FLUSH
            )
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(text)

    async def dispatch(self, event: str, data: Any) -> None:
        async with self.lock:
            self.seq += 1
            await self.send({"op": 0, "t": event, "s": self.seq, "d": data})

    async def op(self, op: int, data: Any) -> None:
        async with self.lock:
            await self.send({"op": op, "t": None, "s": None, "d": data})

    def covers(self, guild_id: int | None) -> bool:
        if guild_id is None or self.shard is None:
            return True
        shard_id, count = self.shard
        return (guild_id >> 22) % count == shard_id


class _ApiError(Exception):
    def __init__(self, status: int, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


# --------------------------------------------------------------------------- payload builders


def user_payload(
    user_id: int, name: str, *, bot: bool = False, global_name: str | None = None
) -> JSONDict:
    """A user object (new-style username, discriminator "0")."""
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": global_name if global_name is not None else (None if bot else name),
        "avatar": None,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "primary_guild": None,
        "collectibles": None,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
    }


def role_payload(role: FakeRole) -> JSONDict:
    """A role object."""
    data: JSONDict = {
        "id": str(role.id),
        "name": role.name,
        "permissions": str(role.permissions),
        "position": role.position,
        "color": role.color,
        "colors": {"primary_color": role.color, "secondary_color": None, "tertiary_color": None},
        "hoist": role.hoist,
        "managed": role.managed,
        "mentionable": role.mentionable,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }
    if role.bot_id is not None:
        data["tags"] = {"bot_id": str(role.bot_id)}
    return data


def channel_payload(channel: FakeChannel, *, permissions: int | None = None) -> JSONDict:
    """A guild channel object (or a partial one with ``permissions``, as in interactions)."""
    data: JSONDict = {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "position": channel.position,
        "permission_overwrites": list(channel.overwrites.values()),
        "parent_id": None if channel.parent_id is None else str(channel.parent_id),
        "nsfw": False,
        "topic": channel.topic,
        "rate_limit_per_user": channel.rate_limit_per_user,
        "last_message_id": None,
        "flags": 0,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


#: The gateway intent reactions in servers need (not privileged).
GUILD_MESSAGE_REACTIONS = 1 << 10


def member_payload(
    member: FakeMember, *, with_user: bool = True, permissions: int | None = None
) -> JSONDict:
    """A guild member object; without ``user`` it is the partial member of messages."""
    data: JSONDict = {
        "roles": [str(role) for role in member.roles],
        "joined_at": iso(member.joined_at),
        "nick": member.nick,
        "avatar": None,
        "banner": None,
        "premium_since": None,
        "pending": False,
        "deaf": member.deaf,
        "mute": member.mute,
        "flags": 0,
        "communication_disabled_until": member.communication_disabled_until,
    }
    if with_user:
        data["user"] = user_payload(
            member.user_id, member.name, bot=member.bot, global_name=member.global_name
        )
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def message_payload(
    *,
    message_id: int,
    channel_id: int,
    author: JSONDict,
    content: str,
    timestamp: datetime,
    guild_id: int | None = None,
    member: JSONDict | None = None,
    mentions: Sequence[JSONDict] = (),
    mention_roles: Sequence[int] = (),
    mention_everyone: bool = False,
    embeds: Sequence[JSONDict] = (),
    components: Sequence[JSONDict] = (),
    attachments: Sequence[JSONDict] = (),
    referenced_message: JSONDict | None = None,
    flags: int = 0,
    tts: bool = False,
    pinned: bool = False,
    webhook_id: int | None = None,
    nonce: str | int | None = None,
) -> JSONDict:
    """A message object; ``guild_id``/``member`` are what MESSAGE_CREATE adds to the REST shape."""
    data: JSONDict = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": iso(timestamp),
        "edited_timestamp": None,
        "tts": tts,
        "mention_everyone": mention_everyone,
        "mentions": list(mentions),
        "mention_roles": [str(role) for role in mention_roles],
        "attachments": list(attachments),
        "embeds": list(embeds),
        "reactions": [],
        "pinned": pinned,
        "type": MESSAGE_REPLY if referenced_message is not None else MESSAGE_DEFAULT,
        "flags": flags,
        "components": list(components),
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if member is not None:
        data["member"] = member
    if nonce is not None:
        data["nonce"] = nonce
    if webhook_id is not None:
        data["webhook_id"] = str(webhook_id)
    if referenced_message is not None:
        data["message_reference"] = {
            "type": 0,
            "message_id": referenced_message["id"],
            "channel_id": referenced_message["channel_id"],
            **({"guild_id": str(guild_id)} if guild_id is not None else {}),
        }
        data["referenced_message"] = referenced_message
    return data


# --------------------------------------------------------------------------- the server

_Answer = tuple[int, Any]
_Handler = Callable[[Request, dict[str, str]], Awaitable[_Answer]]
ChannelSpec = tuple[int, str] | tuple[int, str, int] | FakeChannel
RoleSpec = tuple[int, str] | tuple[int, str, int] | FakeRole
MemberSpec = tuple[int, str] | Mapping[str, Any] | FakeMember
_MENTION = re.compile(r"<@!?(\d+)>")


class FakeDiscord:
    """Discord's gateway and REST API for one bot, with guild state, recording and failures.

    ``echo=True`` makes the fake send the gateway events Discord sends after the bot's own
    actions (MESSAGE_CREATE for its messages, GUILD_MEMBER_UPDATE/REMOVE, GUILD_BAN_ADD/REMOVE).
    """

    def __init__(
        self,
        bot_id: int = 900,
        bot_name: str = "qunbot",
        application_id: int = 901,
        *,
        token: str | None = None,
        clock: Callable[[], datetime] | None = None,
        compress: bool = False,
        echo: bool = False,
        heartbeat_interval: int = 41250,
    ) -> None:
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.application_id = application_id
        self.token = token
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.compress = compress
        self.echo = echo
        self.heartbeat_interval = heartbeat_interval
        self.refuse_intents = False

        self.guilds: dict[int, FakeGuild] = {}
        self.dm_channels: dict[int, FakeChannel] = {}  # by recipient user id
        #: Users whose DMs are closed to the bot: a message to their DM channel fails with
        #: 403 and code 50007, "Cannot send messages to this user" (see ``close_dms``).
        self.closed_dms: set[int] = set()
        self.messages: dict[int, JSONDict] = {}
        self.bot_messages: list[JSONDict] = []
        self.interactions: dict[int, FakeInteraction] = {}
        self.commands: list[JSONDict] = []
        self.guild_commands: dict[int, list[JSONDict]] = {}
        self.bans: dict[int, dict[int, JSONDict]] = {}
        #: Invites by code: ``{"code", "guild_id", "channel_id", "uses"}`` (``member_join``
        #: with ``invite=CODE`` uses one).
        self.invites: dict[str, JSONDict] = {}

        self.requests: list[Request] = []
        self.unknown: list[Request] = []
        self.identify: JSONDict | None = None
        self.identifies: list[JSONDict] = []
        self.gateway_queries: list[dict[str, str]] = []  # query string of each connection
        self.gateway_received: list[JSONDict] = []
        self.dispatched: list[tuple[str, Any]] = []

        self._users: dict[int, JSONDict] = {bot_id: user_payload(bot_id, bot_name, bot=True)}
        self._failures: list[_Failure] = []
        self._sessions: list[_Session] = []
        self._resumable: dict[str, int] = {}
        self._last_id = SNOWFLAKE_START - 1
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._routes = self._route_table()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on an ephemeral port of 127.0.0.1."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self._port = int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Close gateway sockets and stop the server."""
        for session in list(self._sessions):
            await session.ws.close(code=1001, message=b"server stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """The REST base (``[discord] api_base``)."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """The gateway websocket (``[discord] gateway_url``)."""
        return f"ws://127.0.0.1:{self.port}/"

    def route(self, client: ClientT) -> ClientT:
        """Point ``client`` (just made, not logged in) at this fake, and only that client."""
        route_client(client, self.api_base, self.gateway_url)
        return client

    # ------------------------------------------------------------------ ids, users, state

    def snowflake(self) -> int:
        """A new snowflake: the clock's moment, strictly increasing."""
        now_ms = int(self.clock().timestamp() * 1000)
        self._last_id = max(self._last_id + 1, (now_ms - DISCORD_EPOCH_MS) << 22)
        return self._last_id

    @property
    def bot_user(self) -> JSONDict:
        return self._users[self.bot_id]

    def user(self, user_id: int) -> JSONDict:
        """The user object of a known user (or a generic one)."""
        return dict(self._users.get(user_id) or user_payload(user_id, f"user{user_id}"))

    def mention(self, guild_id: int | None, user_id: int) -> JSONDict:
        """A user object with a ``member`` key, as in a message's ``mentions``."""
        data = self.user(user_id)
        member = self._member_or_none(guild_id, user_id)
        if member is not None:
            data["member"] = member_payload(member, with_user=False)
        return data

    def add_guild(
        self,
        guild_id: int,
        name: str = "Test Guild",
        *,
        channels: Iterable[ChannelSpec] | None = None,
        members: Iterable[MemberSpec] = (),
        roles: Iterable[RoleSpec] = (),
        owner_id: int | None = None,
        system_channel_id: int | None = None,
        bot_permissions: int = ADMINISTRATOR,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        joined_at: datetime | str | None = None,
        locale: str = "en-US",
    ) -> FakeGuild:
        """Add a guild with @everyone, a managed bot role, channels, roles and members (bot too)."""
        now = self.clock()
        guild = FakeGuild(
            id=guild_id,
            name=name,
            owner_id=owner_id if owner_id is not None else DEFAULT_OWNER_ID,
            joined_at=_moment(joined_at, now),
            bot_role_id=self.snowflake(),
            locale=locale,
        )
        self.guilds[guild_id] = guild
        guild.roles[guild_id] = FakeRole(guild_id, "@everyone", everyone_permissions, position=0)
        for spec in roles:
            role = spec if isinstance(spec, FakeRole) else FakeRole(*spec)
            guild.roles[role.id] = role
        top = max((role.position for role in guild.roles.values()), default=0) + 1
        guild.roles[guild.bot_role_id] = FakeRole(
            guild.bot_role_id, self.bot_name, bot_permissions, top, managed=True, bot_id=self.bot_id
        )
        specs = [(self.snowflake(), "general")] if channels is None else channels
        for position, channel_spec in enumerate(specs):
            if isinstance(channel_spec, FakeChannel):
                channel_spec.guild_id = guild_id
                guild.channels[channel_spec.id] = channel_spec
            else:
                self.add_channel(guild_id, *channel_spec, position=position)
        text = [c.id for c in guild.channels.values() if c.type == 0]
        guild.system_channel_id = system_channel_id or (text[0] if text else None)
        self.add_member(
            guild_id,
            self.bot_id,
            self.bot_name,
            roles=[guild.bot_role_id],
            bot=True,
            joined_at=guild.joined_at,
        )
        for member_spec in members:
            if isinstance(member_spec, FakeMember):
                guild.members[member_spec.user_id] = member_spec
                self._remember_user(member_spec)
            elif isinstance(member_spec, Mapping):
                self.add_member(guild_id, **member_spec)
            else:
                self.add_member(guild_id, *member_spec)
        return guild

    def add_channel(
        self,
        guild_id: int,
        channel_id: int,
        name: str,
        type: int = 0,
        *,
        position: int | None = None,
    ) -> FakeChannel:
        """Add a channel (0 text, 2 voice, 4 category, 5 news) to a guild's state."""
        guild = self._guild(guild_id)
        if position is None:
            position = len(guild.channels)
        channel = FakeChannel(channel_id, name, guild_id, type, position=position)
        guild.channels[channel_id] = channel
        return channel

    def add_role(
        self, guild_id: int, role_id: int, name: str, permissions: int = 0, *, position: int = 1
    ) -> FakeRole:
        """Add a role to a guild's state."""
        role = FakeRole(role_id, name, permissions, position)
        self._guild(guild_id).roles[role_id] = role
        return role

    async def set_role_permissions(self, guild_id: int, role_id: int, permissions: int) -> None:
        """Change a role's permissions (the bot's own: ``guild.bot_role_id``) and tell the
        clients (GUILD_ROLE_UPDATE), as Discord does when an admin edits the role."""
        role = self._guild(guild_id).roles[role_id]
        role.permissions = permissions
        await self.dispatch(
            "GUILD_ROLE_UPDATE",
            {"guild_id": str(guild_id), "role": role_payload(role)},
            guild_id=guild_id,
        )

    def add_member(
        self,
        guild_id: int,
        user_id: int,
        name: str,
        *,
        roles: Iterable[int] = (),
        joined_at: datetime | str | None = None,
        nick: str | None = None,
        bot: bool = False,
        permissions: int | None = None,
        global_name: str | None = None,
    ) -> FakeMember:
        """Add a member; ``permissions`` gives them a personal role with those permissions."""
        guild = self._guild(guild_id)
        role_ids = list(roles)
        if permissions is not None:
            role = self.add_role(guild_id, self.snowflake(), f"{name}'s role", permissions)
            role_ids.append(role.id)
        member = FakeMember(
            user_id=user_id,
            name=name,
            roles=role_ids,
            joined_at=_moment(joined_at, self.clock()),
            nick=nick,
            bot=bot,
            global_name=global_name,
        )
        guild.members[user_id] = member
        self._remember_user(member)
        return member

    def remove_member(self, guild_id: int, user_id: int) -> FakeMember | None:
        """Drop a member from the state (no event)."""
        return self._guild(guild_id).members.pop(user_id, None)

    def member(self, guild_id: int, user_id: int) -> FakeMember:
        """A member of a guild (KeyError if unknown)."""
        return self._guild(guild_id).members[user_id]

    def permissions(self, guild_id: int, user_id: int) -> int:
        """Guild-level permissions as Discord computes them (owner and administrator get all)."""
        guild = self._guild(guild_id)
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        value = guild.roles[guild_id].permissions
        member = guild.members.get(user_id)
        for role_id in member.roles if member else ():
            role = guild.roles.get(role_id)
            value |= role.permissions if role else 0
        return ALL_PERMISSIONS if value & ADMINISTRATOR else value

    def guild_payload(self, guild_id: int, *, unavailable: bool | None = False) -> JSONDict:
        """A full GUILD_CREATE payload; ``unavailable=None`` leaves the key out (a new join)."""
        guild = self._guild(guild_id)
        channels = [c for c in guild.channels.values() if c.guild_id is not None]
        data: JSONDict = {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "application_id": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": guild.locale,
            "system_channel_id": _str_or_none(guild.system_channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "features": list(guild.features),
            "roles": [role_payload(role) for role in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "joined_at": iso(guild.joined_at),
            "large": len(guild.members) >= 250,
            "member_count": len(guild.members),
            "members": [member_payload(m) for m in guild.members.values()],
            "channels": [_without_guild_id(channel_payload(c)) for c in channels],
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "lazy": True,
            "incidents_data": None,
        }
        if unavailable is not None:
            data["unavailable"] = unavailable
        return data

    # ------------------------------------------------------------------ waiting and recording

    def requests_to(self, method: str, path: str, *, status: int | None = None) -> list[Request]:
        """Recorded calls whose method and whole relative path match (optionally one status)."""
        pattern = re.compile(path)
        return [
            r
            for r in self.requests
            if r.method == method.upper()
            and _path_matches(pattern, r.path)
            and (status is None or r.status == status)
        ]

    async def wait_for(
        self,
        method: str,
        path: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        status: int | None = None,
    ) -> list[Request]:
        """Wait until ``count`` matching calls are recorded; return all matching calls."""

        def enough() -> bool:
            return len(self.requests_to(method, path, status=status)) >= count

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(enough)
        except TimeoutError:
            got = [f"{r.method} {r.path} -> {r.status}" for r in self.requests]
            raise TimeoutError(
                f"{count} x {method} {path} expected within {timeout}s; recorded: {got}"
            ) from None
        return self.requests_to(method, path, status=status)

    async def wait_connected(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until a client has identified and received READY and its guilds."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: any(s.ready for s in self._sessions))

    @property
    def connected(self) -> bool:
        return any(s.ready for s in self._sessions)

    def close_dms(self, user_id: int, closed: bool = True) -> None:
        """The user does not take DMs from the bot (``closed=False`` opens them again)."""
        if closed:
            self.closed_dms.add(user_id)
        else:
            self.closed_dms.discard(user_id)

    def fail_next(
        self,
        method: str,
        path: str,
        *,
        status: int = 429,
        retry_after: float = 0.5,
        times: int = 1,
        global_: bool = False,
        body: JSONDict | None = None,
    ) -> None:
        """Answer the next ``times`` matching calls with an error (429 by default)."""
        self._failures.append(
            _Failure(method.upper(), re.compile(path), status, times, retry_after, global_, body)
        )

    async def _record(self, request: Request) -> None:
        async with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        query = dict(request.query)
        self.gateway_queries.append(query)
        session = _Session(ws=ws, query=query)
        if self.compress and query.get("compress") == "zlib-stream":
            session.compressor = zlib.compressobj()
        self._sessions.append(session)
        try:
            await session.op(10, {"heartbeat_interval": self.heartbeat_interval, "_trace": []})
            async for message in ws:
                if message.type is not web.WSMsgType.TEXT:
                    continue
                payload = json.loads(message.data)
                self.gateway_received.append(payload)
                await self._on_gateway(session, payload)
        finally:
            self._sessions.remove(session)
            if session.session_id is not None:
                self._resumable[session.session_id] = session.seq
            await self._notify()
        return ws

    async def _on_gateway(self, session: _Session, payload: JSONDict) -> None:
        op, data = payload.get("op"), payload.get("d")
        if op == 1:
            await session.op(11, None)
        elif op == 2:
            await self._identify(session, data or {})
        elif op == 6:
            await self._resume(session, data or {})
        elif op == 8:
            await self._request_members(session, data or {})

    async def _identify(self, session: _Session, data: JSONDict) -> None:
        self.identify = data
        self.identifies.append(data)
        if session.session_id is not None:
            await session.ws.close(code=4005, message=b"Already authenticated.")
            return
        if self.refuse_intents and int(data.get("intents", 0)) & PRIVILEGED_INTENTS:
            await session.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = data.get("shard")
        session.shard = (int(shard[0]), int(shard[1])) if shard else None
        session.session_id = uuid.uuid4().hex
        guilds = [g for g in self.guilds if session.covers(g)]
        ready: JSONDict = {
            "v": 10,
            "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["hongkong", "singapore"],
            "user_settings": {},
            "_trace": ["fake-discord"],
        }
        if shard:
            ready["shard"] = [int(shard[0]), int(shard[1])]
        await self._send_event(session, "READY", ready)
        for guild_id in guilds:
            await self._send_event(session, "GUILD_CREATE", self.guild_payload(guild_id))
        session.ready = True
        await self._notify()

    async def _resume(self, session: _Session, data: JSONDict) -> None:
        session_id = data.get("session_id")
        live = [s for s in self._sessions if s is not session and s.session_id == session_id]
        if session_id not in self._resumable and not live:
            await session.op(9, False)  # INVALID_SESSION, not resumable
            return
        last = self._resumable.pop(session_id, 0) if session_id else 0
        for old in live:
            last = max(last, old.seq)
            old.session_id, old.ready = None, False
        session.session_id = session_id
        session.seq = max(last, int(data.get("seq") or 0))
        await self._send_event(session, "RESUMED", {"_trace": ["fake-discord"]})
        session.ready = True
        await self._notify()

    async def _request_members(self, session: _Session, data: JSONDict) -> None:
        guild_id = int(data["guild_id"])
        guild = self.guilds.get(guild_id)
        members = list(guild.members.values()) if guild else []
        wanted = {int(u) for u in data.get("user_ids") or []}
        if wanted:
            members = [m for m in members if m.user_id in wanted]
        query = data.get("query")
        if query:
            members = [m for m in members if m.name.lower().startswith(query.lower())]
        if data.get("limit"):
            members = members[: int(data["limit"])]
        chunk: JSONDict = {
            "guild_id": str(guild_id),
            "members": [member_payload(m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in wanted - {m.user_id for m in members}],
        }
        if "nonce" in data:
            chunk["nonce"] = data["nonce"]
        await self._send_event(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _send_event(self, session: _Session, event: str, data: Any) -> None:
        self.dispatched.append((event, data))
        await session.dispatch(event, data)

    def _application_flags(self) -> int:
        return 0 if self.refuse_intents else APPLICATION_FLAGS

    async def dispatch(self, event: str, data: Any, *, guild_id: int | None = None) -> None:
        """Send a dispatch (op 0) to every ready client (for ``guild_id``: its shard only)."""
        sessions = [s for s in self._sessions if s.ready and s.covers(guild_id)]
        if not sessions:
            raise RuntimeError(f"no client is connected to receive {event}")
        self.dispatched.append((event, data))
        for session in sessions:
            await session.dispatch(event, data)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT; discord.py reconnects and RESUMEs."""
        for session in list(self._sessions):
            await session.op(7, None)

    # ------------------------------------------------------------------ event helpers

    async def send_message_create(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        content: str,
        *,
        message_id: int | None = None,
        username: str | None = None,
        mentions: Sequence[int | JSONDict] = (),
        mention_roles: Sequence[int] = (),
        mention_everyone: bool = False,
        referenced_message: int | JSONDict | None = None,
        member: JSONDict | None = None,
        attachments: Sequence[JSONDict] = (),
        embeds: Sequence[JSONDict] = (),
        bot: bool | None = None,
    ) -> int:
        """Dispatch MESSAGE_CREATE from a user (``guild_id=None``: a DM); return its id."""
        message_id = message_id if message_id is not None else self.snowflake()
        author = self.user(user_id)
        if username is not None:
            author["username"] = username
        if bot is not None:
            author["bot"] = bot
        known = self._member_or_none(guild_id, user_id)
        if member is None and known is not None:
            member = member_payload(known, with_user=False)
        if member is None and guild_id is not None:
            stranger = FakeMember(user_id, author["username"], [], self.clock())
            member = member_payload(stranger, with_user=False)
        reference = (
            self._stored_message(referenced_message)
            if isinstance(referenced_message, int)
            else referenced_message
        )
        data = message_payload(
            message_id=message_id,
            channel_id=channel_id,
            author=author,
            content=content,
            timestamp=snowflake_time(message_id),
            guild_id=guild_id,
            member=member,
            mentions=[self.mention(guild_id, m) if isinstance(m, int) else m for m in mentions],
            mention_roles=mention_roles,
            mention_everyone=mention_everyone,
            referenced_message=reference,
            attachments=attachments,
            embeds=embeds,
        )
        self.messages[message_id] = data
        await self.dispatch("MESSAGE_CREATE", data, guild_id=guild_id)
        return message_id

    async def send_slash(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        name: str,
        options: Sequence[JSONDict] = (),
        *,
        resolved: JSONDict | None = None,
        command_guild_id: int | None = None,
        locale: str = "en-US",
    ) -> int:
        """Dispatch a slash command (INTERACTION_CREATE type 2); return the interaction id.

        ``resolved`` is built from USER/ROLE/CHANNEL/MENTIONABLE options when not given. The
        command id (and ``data.guild_id``) come from commands synced to the fake, if any.
        """
        options = [_normalise_option(o) for o in options]
        command_id, synced_guild = self._command_ref(name, guild_id)
        command: JSONDict = {
            "id": str(command_id),
            "name": name,
            "type": 1,
            "options": options,
            "resolved": resolved if resolved is not None else self._resolve(guild_id, options),
        }
        guild_ref = command_guild_id if command_guild_id is not None else synced_guild
        if guild_ref is not None:
            command["guild_id"] = str(guild_ref)
        return await self._interact(
            INTERACTION_COMMAND, guild_id, channel_id, user_id, command, locale=locale
        )

    async def send_button(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        custom_id: str,
        *,
        message_id: int,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        locale: str = "en-US",
    ) -> int:
        """Dispatch a component click (INTERACTION_CREATE type 3) on a bot message."""
        data: JSONDict = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        message = self.messages.get(message_id)
        if message is None:
            message = message_payload(
                message_id=message_id,
                channel_id=channel_id,
                author=self.bot_user,
                content="",
                timestamp=snowflake_time(message_id),
            )
            self.messages[message_id] = message
        return await self._interact(
            INTERACTION_COMPONENT,
            guild_id,
            channel_id,
            user_id,
            data,
            message=message,
            locale=locale,
        )

    async def reaction(
        self,
        guild_id: int,
        channel_id: int,
        message_id: int,
        user_id: int,
        emoji: str = "👍",
        *,
        added: bool = True,
        author_id: int | None = None,
    ) -> bool:
        """Dispatch MESSAGE_REACTION_ADD (with the reactor's member and the message's author)
        or MESSAGE_REACTION_REMOVE; ``emoji`` ``custom:<id>`` is a custom emoji. As Discord,
        only to a client that identified with GUILD_MESSAGE_REACTIONS: whether it went."""
        if not (self.identify or {}).get("intents", 0) & GUILD_MESSAGE_REACTIONS:
            return False
        if emoji.startswith("custom:"):
            emoji_data: JSONDict = {"id": emoji.removeprefix("custom:"), "name": "party"}
        else:
            emoji_data = {"id": None, "name": emoji}
        data: JSONDict = {
            "user_id": str(user_id),
            "channel_id": str(channel_id),
            "message_id": str(message_id),
            "guild_id": str(guild_id),
            "emoji": emoji_data,
            "burst": False,
            "type": 0,
        }
        if added:
            member = self._member_or_none(guild_id, user_id)
            if member is not None:
                data["member"] = member_payload(member)
            if author_id is not None:
                data["message_author_id"] = str(author_id)
        event = "MESSAGE_REACTION_ADD" if added else "MESSAGE_REACTION_REMOVE"
        await self.dispatch(event, data, guild_id=guild_id)
        return True

    async def member_join(
        self,
        guild_id: int,
        user_id: int,
        name: str,
        *,
        joined_at: datetime | str | None = None,
        roles: Iterable[int] = (),
        bot: bool = False,
        invite: str | None = None,
    ) -> FakeMember:
        """Add a member and dispatch GUILD_MEMBER_ADD (``invite``: the code they used, whose
        uses go up by one, as Discord counts them; the event itself never names it)."""
        if invite is not None:
            self.invites[invite]["uses"] += 1
        member = self.add_member(guild_id, user_id, name, roles=roles, joined_at=joined_at, bot=bot)
        data = {**member_payload(member), "guild_id": str(guild_id)}
        await self.dispatch("GUILD_MEMBER_ADD", data, guild_id=guild_id)
        return member

    async def member_remove(self, guild_id: int, user_id: int) -> None:
        """Remove a member and dispatch GUILD_MEMBER_REMOVE."""
        user = self.user(user_id)
        self.remove_member(guild_id, user_id)
        data = {"guild_id": str(guild_id), "user": user}
        await self.dispatch("GUILD_MEMBER_REMOVE", data, guild_id=guild_id)

    async def guild_join(self, guild_id: int, name: str = "Test Guild", **kwargs: Any) -> FakeGuild:
        """Add a guild (``add_guild`` arguments) and dispatch its GUILD_CREATE (on_guild_join)."""
        guild = self.add_guild(guild_id, name, **kwargs)
        await self.dispatch(
            "GUILD_CREATE", self.guild_payload(guild_id, unavailable=None), guild_id=guild_id
        )
        return guild

    async def guild_remove(self, guild_id: int, *, unavailable: bool = False) -> None:
        """Dispatch GUILD_DELETE: the bot was removed (or, with ``unavailable``, an outage)."""
        data: JSONDict = {"id": str(guild_id)}
        if unavailable:
            data["unavailable"] = True
        else:
            self.guilds.pop(guild_id, None)
        await self.dispatch("GUILD_DELETE", data, guild_id=guild_id)

    async def _interact(
        self,
        kind: int,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        data: JSONDict,
        *,
        message: JSONDict | None = None,
        locale: str,
    ) -> int:
        interaction = FakeInteraction(
            id=self.snowflake(),
            token=f"itoken-{uuid.uuid4().hex}",
            type=kind,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            message_id=int(message["id"]) if message else None,
        )
        self.interactions[interaction.id] = interaction
        payload: JSONDict = {
            "id": str(interaction.id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "token": interaction.token,
            "version": 1,
            "channel_id": str(channel_id),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if guild_id is not None:
            guild = self._guild(guild_id)
            member = self._member_or_none(guild_id, user_id) or FakeMember(
                user_id, f"user{user_id}", [], self.clock()
            )
            channel = guild.channels.get(channel_id) or FakeChannel(channel_id, "unknown", guild_id)
            user_permissions = self.permissions(guild_id, user_id)
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": guild.locale, "features": guild.features},
                guild_locale=guild.locale,
                channel=channel_payload(channel, permissions=user_permissions),
                member=member_payload(member, permissions=user_permissions),
                app_permissions=str(self.permissions(guild_id, self.bot_id)),
                authorizing_integration_owners={"0": str(guild_id)},
                context=0,
            )
        else:
            dm = self._dm_channel(user_id)
            payload.update(
                user=self.user(user_id),
                channel={"id": str(dm.id), "type": 1, "recipients": [self.user(user_id)]},
                channel_id=str(dm.id),
                app_permissions=str(ALL_PERMISSIONS),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
            interaction.channel_id = dm.id
        if message is not None:
            payload["message"] = message
        await self.dispatch("INTERACTION_CREATE", payload, guild_id=guild_id)
        return interaction.id

    def _command_ref(self, name: str, guild_id: int | None) -> tuple[int, int | None]:
        for command in self.guild_commands.get(guild_id or 0, []):
            if command["name"] == name and command.get("type", 1) == 1:
                return int(command["id"]), guild_id
        for command in self.commands:
            if command["name"] == name and command.get("type", 1) == 1:
                return int(command["id"]), None
        return self.snowflake(), None

    def _resolve(self, guild_id: int | None, options: Sequence[JSONDict]) -> JSONDict:
        resolved: dict[str, JSONDict] = {}
        guild = self.guilds.get(guild_id) if guild_id is not None else None
        for option in _flatten_options(options):
            kind, value = option.get("type"), option.get("value")
            if kind not in _SNOWFLAKE_OPTION_TYPES or value is None:
                continue
            target = int(value)
            if guild is not None and kind in (8, 9) and target in guild.roles:
                resolved.setdefault("roles", {})[str(target)] = role_payload(guild.roles[target])
            elif guild is not None and kind == 7 and target in guild.channels:
                perms = self.permissions(guild.id, self.bot_id)
                channel = channel_payload(guild.channels[target], permissions=perms)
                resolved.setdefault("channels", {})[str(target)] = channel
            elif kind in (6, 9):
                resolved.setdefault("users", {})[str(target)] = self.user(target)
                member = self._member_or_none(guild_id, target)
                if member is not None:
                    perms = self.permissions(guild_id, target)  # type: ignore[arg-type]
                    partial = member_payload(member, with_user=False, permissions=perms)
                    resolved.setdefault("members", {})[str(target)] = partial
        return resolved

    # ------------------------------------------------------------------ REST core

    def _route_table(self) -> list[tuple[str, re.Pattern[str], _Handler]]:
        channel = r"/channels/(?P<channel_id>\d+)"
        message = channel + r"/messages/(?P<message_id>\d+)"
        webhook = r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)"
        hook_message = webhook + r"/messages/(?P<message_id>@original|\d+)"
        guild = r"/guilds/(?P<guild_id>\d+)"
        callback = r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback"
        commands = r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands"
        table: list[tuple[str, str, _Handler]] = [
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/users/(?P<user_id>\d+)", self._get_user),
            ("POST", r"/users/@me/channels", self._open_dm),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/applications/@me", self._get_application),
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/gateway/bot", self._get_gateway),
            ("GET", channel, self._get_channel),
            ("PATCH", channel, self._edit_channel),
            ("PUT", channel + r"/permissions/(?P<target>\d+)", self._set_overwrite),
            ("POST", channel + r"/typing", self._no_content),
            ("POST", channel + r"/messages", self._create_message),
            ("GET", channel + r"/messages", self._history),
            ("POST", channel + r"/messages/bulk-delete", self._bulk_delete),
            ("GET", channel + r"/messages/pins", self._pins),
            ("GET", message, self._get_message),
            ("PATCH", message, self._edit_message),
            ("DELETE", message, self._delete_message),
            ("PUT", channel + r"/messages/pins/(?P<message_id>\d+)", self._pin),
            ("PUT", channel + r"/pins/(?P<message_id>\d+)", self._pin),
            ("DELETE", channel + r"/messages/pins/(?P<message_id>\d+)", self._unpin),
            ("DELETE", channel + r"/pins/(?P<message_id>\d+)", self._unpin),
            ("PUT", message + r"/reactions/(?P<emoji>[^/]+)/@me", self._react),
            ("DELETE", message + r"/reactions/(?P<emoji>[^/]+)/@me", self._react),
            ("POST", channel + r"/polls/(?P<message_id>\d+)/expire", self._expire_poll),
            ("POST", callback, self._callback),
            ("GET", hook_message, self._get_webhook_message),
            ("PATCH", hook_message, self._edit_webhook_message),
            ("DELETE", hook_message, self._delete_webhook_message),
            ("POST", webhook, self._followup),
            ("GET", guild, self._get_guild),
            ("GET", guild + r"/invites", self._guild_invites),
            ("POST", channel + r"/invites", self._create_invite),
            ("PATCH", guild + r"/members/@me", self._edit_me),
            ("GET", guild + r"/members/(?P<user_id>\d+)", self._get_member),
            ("PATCH", guild + r"/members/(?P<user_id>\d+)", self._edit_member),
            ("DELETE", guild + r"/members/(?P<user_id>\d+)", self._kick),
            ("PUT", guild + r"/members/(?P<user_id>\d+)/roles/(?P<role_id>\d+)", self._add_role),
            (
                "DELETE",
                guild + r"/members/(?P<user_id>\d+)/roles/(?P<role_id>\d+)",
                self._remove_role,
            ),
            ("PUT", guild + r"/bans/(?P<user_id>\d+)", self._ban),
            ("DELETE", guild + r"/bans/(?P<user_id>\d+)", self._unban),
            ("GET", commands, self._get_commands),
            ("PUT", commands, self._put_commands),
            ("POST", commands, self._post_command),
            ("DELETE", commands + r"/(?P<command_id>\d+)", self._delete_command),
        ]
        return [(method, re.compile(pattern), handler) for method, pattern, handler in table]

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith(API_PREFIX + "/"):
            path = request.path[len(API_PREFIX) :]
        else:
            path = request.path
        body, files = await _read_body(request)
        record = Request(
            method=request.method,
            path=path,
            json=body,
            headers=dict(request.headers),
            at=time.monotonic(),
            query=dict(request.query),
            files=files,
        )
        headers: dict[str, str] = {}
        try:
            failure = self._take_failure(record)
            if failure is not None:
                status, payload, headers = failure
            else:
                status, payload = await self._route(record, api=path != request.path)
        except _ApiError as error:
            status, payload = error.status, {"message": error.message, "code": error.code}
        record.status, record.response = status, payload
        await self._record(record)
        return _json_response(status, payload, headers)

    async def _route(self, record: Request, *, api: bool) -> _Answer:
        for method, pattern, handler in self._routes if api else []:
            match = pattern.fullmatch(record.path)
            if match and method == record.method:
                self._check_auth(record)
                return await handler(record, {k: v for k, v in match.groupdict().items() if v})
        self.unknown.append(record)
        raise _ApiError(404, "404: Not Found", 0)

    def _check_auth(self, record: Request) -> None:
        if self.token is None or record.path.startswith(("/interactions/", "/webhooks/")):
            return
        if record.headers.get("Authorization") != f"Bot {self.token}":
            raise _ApiError(401, "401: Unauthorized", 0)

    def _take_failure(self, record: Request) -> tuple[int, JSONDict, dict[str, str]] | None:
        for failure in self._failures:
            if failure.method == record.method and _path_matches(failure.pattern, record.path):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return _failure_answer(failure)
        return None

    # ------------------------------------------------------------------ REST: identity

    async def _get_me(self, record: Request, p: dict[str, str]) -> _Answer:
        return 200, {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None}

    async def _get_user(self, record: Request, p: dict[str, str]) -> _Answer:
        user_id = int(p["user_id"])
        if user_id not in self._users:
            raise _ApiError(404, "Unknown User", 10013)
        return 200, self.user(user_id)

    async def _get_application(self, record: Request, p: dict[str, str]) -> _Answer:
        return 200, {
            "id": str(self.application_id),
            "name": self.bot_name,
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": user_payload(DEFAULT_OWNER_ID, "owner"),
            "team": None,
            "verify_key": "0" * 64,
            "flags": self._application_flags(),
            "summary": "",
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "bot": self.bot_user,
        }

    async def _get_gateway(self, record: Request, p: dict[str, str]) -> _Answer:
        return 200, {
            "url": self.gateway_url.rstrip("/"),
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000,
                "reset_after": 0,
                "max_concurrency": 1,
            },
        }

    async def _no_content(self, record: Request, p: dict[str, str]) -> _Answer:
        return 204, None

    # ------------------------------------------------------------------ REST: channels, messages

    async def _open_dm(self, record: Request, p: dict[str, str]) -> _Answer:
        user_id = int((record.json or {})["recipient_id"])
        channel = self._dm_channel(user_id)
        return 200, {
            "id": str(channel.id),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [self.user(user_id)],
        }

    async def _get_channel(self, record: Request, p: dict[str, str]) -> _Answer:
        channel = self._channel(int(p["channel_id"]))
        if channel.guild_id is None:
            recipient = self.user(channel.recipient_id or 0)
            return 200, {"id": str(channel.id), "type": 1, "recipients": [recipient]}
        return 200, channel_payload(channel)

    async def _edit_channel(self, record: Request, p: dict[str, str]) -> _Answer:
        """Only slow mode is kept (``rate_limit_per_user``, 0 to 21600 seconds)."""
        channel = self._channel(int(p["channel_id"]))
        seconds = (record.json or {}).get("rate_limit_per_user", channel.rate_limit_per_user)
        if not isinstance(seconds, int) or not 0 <= seconds <= 21600:
            raise _ApiError(400, "Invalid Form Body", 50035)
        channel.rate_limit_per_user = seconds
        return 200, channel_payload(channel)

    async def _set_overwrite(self, record: Request, p: dict[str, str]) -> _Answer:
        channel = self._channel(int(p["channel_id"]))
        body = record.json or {}
        target = int(p["target"])
        channel.overwrites[target] = {
            "id": str(target),
            "type": int(body.get("type", 0)),
            "allow": str(body.get("allow", "0")),
            "deny": str(body.get("deny", "0")),
        }
        return 204, None

    async def _create_message(self, record: Request, p: dict[str, str]) -> _Answer:
        channel = self._channel(int(p["channel_id"]))
        if channel.guild_id is None and channel.recipient_id in self.closed_dms:
            raise _ApiError(403, "Cannot send messages to this user", 50007)
        message = self._bot_message(channel.id, record.json or {}, files=record.files)
        await self._echo_message(message)
        return 200, message

    async def _get_message(self, record: Request, p: dict[str, str]) -> _Answer:
        return 200, self._stored_message(int(p["message_id"]))

    async def _edit_message(self, record: Request, p: dict[str, str]) -> _Answer:
        message = self._stored_message(int(p["message_id"]))
        return 200, self._apply_edit(message, record.json or {})

    async def _delete_message(self, record: Request, p: dict[str, str]) -> _Answer:
        self._stored_message(int(p["message_id"]))
        del self.messages[int(p["message_id"])]
        return 204, None

    async def _history(self, record: Request, p: dict[str, str]) -> _Answer:
        """A channel's messages as Discord lists them: ``after`` gives the ``limit`` (1-100)
        messages right after that id, ``before`` those right before it; newest first."""
        channel_id = int(p["channel_id"])
        limit = int(record.query.get("limit", "50"))
        if not 1 <= limit <= 100:
            raise _ApiError(400, "Invalid Form Body", 50035)
        ids = sorted(i for i, m in self.messages.items() if int(m["channel_id"]) == channel_id)
        if "after" in record.query:
            after = int(record.query["after"])
            chosen = [i for i in ids if i > after][:limit]
        else:
            before = int(record.query.get("before", str(1 << 63)))
            chosen = [i for i in ids if i < before][-limit:]
        return 200, [self.messages[i] for i in reversed(chosen)]

    async def _bulk_delete(self, record: Request, p: dict[str, str]) -> _Answer:
        """Discord's bulk delete: 2 to 100 ids, none older than 14 days (else nothing goes)."""
        ids = [int(i) for i in (record.json or {}).get("messages", [])]
        if not 2 <= len(ids) <= 100:
            raise _ApiError(400, "Invalid Form Body", 50035)
        oldest = self.clock() - timedelta(days=14)
        if any(snowflake_time(i) < oldest for i in ids):
            raise _ApiError(
                400, "You can only bulk delete messages that are under 14 days old.", 50034
            )
        for message_id in ids:
            self.messages.pop(message_id, None)
        return 204, None

    async def _pins(self, record: Request, p: dict[str, str]) -> _Answer:
        channel_id = int(p["channel_id"])
        pinned = sorted(
            (
                m
                for m in self.messages.values()
                if int(m["channel_id"]) == channel_id and m.get("pinned")
            ),
            key=lambda m: int(m["id"]),
            reverse=True,
        )
        items = [{"pinned_at": iso(self.clock()), "message": m} for m in pinned]
        return 200, {"items": items, "has_more": False}

    async def _pin(self, record: Request, p: dict[str, str]) -> _Answer:
        self._stored_message(int(p["message_id"]))["pinned"] = True
        return 204, None

    async def _unpin(self, record: Request, p: dict[str, str]) -> _Answer:
        self._stored_message(int(p["message_id"]))["pinned"] = False
        return 204, None

    async def _react(self, record: Request, p: dict[str, str]) -> _Answer:
        self._stored_message(int(p["message_id"]))
        return 204, None

    async def _expire_poll(self, record: Request, p: dict[str, str]) -> _Answer:
        message = self._stored_message(int(p["message_id"]))
        if not message.get("poll"):
            raise _ApiError(400, "Cannot expire a non-poll message", 520001)
        message["poll"]["results"]["is_finalized"] = True
        message["poll"]["expiry"] = iso(self.clock())
        return 200, message

    # ------------------------------------------------------------------ REST: interactions

    async def _callback(self, record: Request, p: dict[str, str]) -> _Answer:
        interaction = self.interactions.get(int(p["interaction_id"]))
        if interaction is None or interaction.token != p["token"]:
            raise _ApiError(404, "Unknown interaction", 10062)
        if interaction.responded:
            raise _ApiError(400, "Interaction has already been acknowledged.", 40060)
        body = record.json or {}
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        interaction.responded = True
        interaction.response_type = kind
        message: JSONDict | None = None
        if kind == 4:
            message = self._interaction_message(interaction, data, files=record.files)
            interaction.original_message_id = int(message["id"])
        elif kind == 5:
            flags = int(data.get("flags", 0)) | LOADING
            message = self._interaction_message(interaction, {"content": "", "flags": flags})
            interaction.original_message_id = int(message["id"])
        elif kind == 7 and interaction.message_id is not None:
            message = self._apply_edit(self._stored_message(interaction.message_id), data)
        if record.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        flags = int((message or {}).get("flags", 0))
        answer: JSONDict = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(flags & EPHEMERAL),
            }
        }
        if message is not None:
            answer["interaction"]["response_message_id"] = message["id"]
        if kind != 1:
            answer["resource"] = {"type": kind}
            if message is not None and kind in (4, 5, 7):
                answer["resource"]["message"] = message
        return 200, answer

    async def _get_webhook_message(self, record: Request, p: dict[str, str]) -> _Answer:
        return 200, self._stored_message(self._webhook_message_id(p))

    async def _edit_webhook_message(self, record: Request, p: dict[str, str]) -> _Answer:
        message = self._stored_message(self._webhook_message_id(p))
        body = dict(record.json or {})
        if int(message.get("flags", 0)) & LOADING:
            body["flags"] = (int(message["flags"]) & ~LOADING) | int(body.get("flags", 0))
        return 200, self._apply_edit(message, body)

    async def _delete_webhook_message(self, record: Request, p: dict[str, str]) -> _Answer:
        message_id = self._webhook_message_id(p)
        self._stored_message(message_id)
        del self.messages[message_id]
        return 204, None

    async def _followup(self, record: Request, p: dict[str, str]) -> _Answer:
        interaction = self._webhook_interaction(p)
        message = self._interaction_message(interaction, record.json or {}, files=record.files)
        if record.query.get("wait") in ("1", "true", "True"):
            return 200, message
        return 204, None

    def _webhook_interaction(self, p: dict[str, str]) -> FakeInteraction:
        for interaction in self.interactions.values():
            if interaction.token == p["token"] and int(p["app_id"]) == self.application_id:
                return interaction
        raise _ApiError(404, "Unknown Webhook", 10015)

    def _webhook_message_id(self, p: dict[str, str]) -> int:
        interaction = self._webhook_interaction(p)
        if p["message_id"] != "@original":
            return int(p["message_id"])
        if interaction.original_message_id is None:
            raise _ApiError(404, "Unknown Message", 10008)
        return interaction.original_message_id

    # ------------------------------------------------------------------ REST: guilds, members

    async def _get_guild(self, record: Request, p: dict[str, str]) -> _Answer:
        data = self.guild_payload(self._guild_or_404(p).id, unavailable=None)
        for key in ("members", "channels", "threads", "voice_states", "presences", "joined_at"):
            data.pop(key, None)
        return 200, data

    def _invite_payload(self, invite: JSONDict) -> JSONDict:
        return {
            "type": 0,
            "code": invite["code"],
            "guild": {"id": str(invite["guild_id"]), "name": "Test Guild", "features": []},
            "channel": {"id": str(invite["channel_id"]), "name": "general", "type": 0},
            "inviter": self._users[self.bot_id],
            "uses": invite["uses"],
            "max_uses": 0,
            "max_age": 0,
            "temporary": False,
            "created_at": iso(self.clock()),
        }

    async def _guild_invites(self, record: Request, p: dict[str, str]) -> _Answer:
        guild = self._guild_or_404(p)
        listed = [i for i in self.invites.values() if i["guild_id"] == guild.id]
        return 200, [self._invite_payload(i) for i in listed]

    async def _create_invite(self, record: Request, p: dict[str, str]) -> _Answer:
        channel_id = int(p["channel_id"])
        guild_id = self._channel_guild(channel_id)
        code = f"fake{len(self.invites) + 1:04d}"
        self.invites[code] = {
            "code": code,
            "guild_id": guild_id,
            "channel_id": channel_id,
            "uses": 0,
        }
        return 200, self._invite_payload(self.invites[code])

    async def _edit_me(self, record: Request, p: dict[str, str]) -> _Answer:
        guild = self._guild_or_404(p)
        member = guild.members[self.bot_id]
        if "nick" in (record.json or {}):
            member.nick = record.json["nick"]
        await self._echo_member_update(guild.id, member)
        return 200, member_payload(member)

    async def _get_member(self, record: Request, p: dict[str, str]) -> _Answer:
        return 200, member_payload(self._member_or_404(p))

    async def _edit_member(self, record: Request, p: dict[str, str]) -> _Answer:
        member = self._member_or_404(p)
        body = record.json or {}
        if "nick" in body:
            member.nick = body["nick"]
        if "roles" in body:
            member.roles = [int(role) for role in body["roles"]]
        if "communication_disabled_until" in body:
            member.communication_disabled_until = body["communication_disabled_until"]
        if "mute" in body:
            member.mute = bool(body["mute"])
        if "deaf" in body:
            member.deaf = bool(body["deaf"])
        await self._echo_member_update(int(p["guild_id"]), member)
        return 200, member_payload(member)

    async def _kick(self, record: Request, p: dict[str, str]) -> _Answer:
        member = self._member_or_404(p)
        self.remove_member(int(p["guild_id"]), member.user_id)
        await self._echo("GUILD_MEMBER_REMOVE", int(p["guild_id"]), user=self.user(member.user_id))
        return 204, None

    async def _add_role(self, record: Request, p: dict[str, str]) -> _Answer:
        member = self._member_or_404(p)
        role_id = int(p["role_id"])
        if role_id not in self._guild_or_404(p).roles:
            raise _ApiError(404, "Unknown Role", 10011)
        if role_id not in member.roles:
            member.roles.append(role_id)
        await self._echo_member_update(int(p["guild_id"]), member)
        return 204, None

    async def _remove_role(self, record: Request, p: dict[str, str]) -> _Answer:
        member = self._member_or_404(p)
        if int(p["role_id"]) in member.roles:
            member.roles.remove(int(p["role_id"]))
        await self._echo_member_update(int(p["guild_id"]), member)
        return 204, None

    async def _ban(self, record: Request, p: dict[str, str]) -> _Answer:
        guild = self._guild_or_404(p)
        user_id = int(p["user_id"])
        ban = dict(record.json or {})  # discord.py sends delete_message_seconds as a query
        if "delete_message_seconds" in record.query:
            ban["delete_message_seconds"] = int(record.query["delete_message_seconds"])
        self.bans.setdefault(guild.id, {})[user_id] = ban
        user = self.user(user_id)
        if self.remove_member(guild.id, user_id) is not None:
            await self._echo("GUILD_MEMBER_REMOVE", guild.id, user=user)
        await self._echo("GUILD_BAN_ADD", guild.id, user=user)
        return 204, None

    async def _unban(self, record: Request, p: dict[str, str]) -> _Answer:
        guild = self._guild_or_404(p)
        if self.bans.get(guild.id, {}).pop(int(p["user_id"]), None) is None:
            raise _ApiError(404, "Unknown Ban", 10026)
        await self._echo("GUILD_BAN_REMOVE", guild.id, user=self.user(int(p["user_id"])))
        return 204, None

    # ------------------------------------------------------------------ REST: app commands

    def _command_list(self, p: dict[str, str]) -> list[JSONDict]:
        if int(p["app_id"]) != self.application_id:
            raise _ApiError(404, "Unknown Application", 10002)
        if "guild_id" in p:
            return self.guild_commands.setdefault(int(p["guild_id"]), [])
        return self.commands

    def _stored_command(self, body: JSONDict, p: dict[str, str], old: list[JSONDict]) -> JSONDict:
        kind = int(body.get("type", 1))
        same = [c for c in old if c["name"] == body.get("name") and c["type"] == kind]
        command: JSONDict = {
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "dm_permission": True,
            "nsfw": False,
            "contexts": None,
            "integration_types": [0],
            **body,
            "id": same[0]["id"] if same else str(self.snowflake()),
            "application_id": str(self.application_id),
            "type": kind,
            "version": str(self.snowflake()),
        }
        if "guild_id" in p:
            command["guild_id"] = p["guild_id"]
        return command

    async def _get_commands(self, record: Request, p: dict[str, str]) -> _Answer:
        return 200, self._command_list(p)

    async def _put_commands(self, record: Request, p: dict[str, str]) -> _Answer:
        old = list(self._command_list(p))
        new = [self._stored_command(body, p, old) for body in record.json or []]
        if "guild_id" in p:
            self.guild_commands[int(p["guild_id"])] = new
        else:
            self.commands = new
        return 200, new

    async def _post_command(self, record: Request, p: dict[str, str]) -> _Answer:
        commands = self._command_list(p)
        command = self._stored_command(record.json or {}, p, commands)
        existing = [i for i, c in enumerate(commands) if c["id"] == command["id"]]
        if existing:
            commands[existing[0]] = command
            return 200, command
        commands.append(command)
        return 201, command

    async def _delete_command(self, record: Request, p: dict[str, str]) -> _Answer:
        commands = self._command_list(p)
        kept = [c for c in commands if c["id"] != p["command_id"]]
        if len(kept) == len(commands):
            raise _ApiError(404, "Unknown application command", 10063)
        commands[:] = kept
        return 204, None

    # ------------------------------------------------------------------ internals

    def _guild(self, guild_id: int) -> FakeGuild:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise KeyError(f"unknown guild {guild_id}; add_guild() it first") from None

    def _guild_or_404(self, p: dict[str, str]) -> FakeGuild:
        guild = self.guilds.get(int(p["guild_id"]))
        if guild is None:
            raise _ApiError(404, "Unknown Guild", 10004)
        return guild

    def _member_or_404(self, p: dict[str, str]) -> FakeMember:
        member = self._guild_or_404(p).members.get(int(p["user_id"]))
        if member is None:
            raise _ApiError(404, "Unknown Member", 10007)
        return member

    def _member_or_none(self, guild_id: int | None, user_id: int) -> FakeMember | None:
        guild = self.guilds.get(guild_id) if guild_id is not None else None
        return guild.members.get(user_id) if guild else None

    def _remember_user(self, member: FakeMember) -> None:
        self._users[member.user_id] = user_payload(
            member.user_id, member.name, bot=member.bot, global_name=member.global_name
        )

    def _channel(self, channel_id: int) -> FakeChannel:
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.channels[channel_id]
        for channel in self.dm_channels.values():
            if channel.id == channel_id:
                return channel
        raise _ApiError(404, "Unknown Channel", 10003)

    def _dm_channel(self, user_id: int) -> FakeChannel:
        if user_id not in self.dm_channels:
            self.dm_channels[user_id] = FakeChannel(
                self.snowflake(), "", None, type=1, recipient_id=user_id
            )
        return self.dm_channels[user_id]

    def _stored_message(self, message_id: int) -> JSONDict:
        try:
            return self.messages[message_id]
        except KeyError:
            raise _ApiError(404, "Unknown Message", 10008) from None

    def _bot_message(
        self,
        channel_id: int,
        body: JSONDict,
        *,
        files: Sequence[UploadedFile] = (),
        webhook_id: int | None = None,
    ) -> JSONDict:
        """Store and return a message the bot creates from a REST body."""
        message_id = self.snowflake()
        content = body.get("content") or ""
        reference = body.get("message_reference") or {}
        referenced = self.messages.get(int(reference["message_id"])) if reference else None
        guild_id = self._channel_guild(channel_id)
        message = message_payload(
            message_id=message_id,
            channel_id=channel_id,
            author=self.bot_user,
            content=content,
            timestamp=snowflake_time(message_id),
            mentions=[self.mention(guild_id, int(uid)) for uid in _MENTION.findall(content)],
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            attachments=[
                self._attachment(channel_id, upload) for upload in files if upload.filename
            ],
            referenced_message=referenced,
            flags=int(body.get("flags") or 0),
            tts=bool(body.get("tts")),
            webhook_id=webhook_id,
            nonce=body.get("nonce"),
        )
        if referenced is None and reference:
            message["message_reference"] = reference
        if body.get("poll"):
            message["poll"] = self._poll(body["poll"])
        self.messages[message_id] = message
        self.bot_messages.append(message)
        return message

    def _interaction_message(
        self, interaction: FakeInteraction, body: JSONDict, *, files: Sequence[UploadedFile] = ()
    ) -> JSONDict:
        message = self._bot_message(
            interaction.channel_id, body, files=files, webhook_id=self.application_id
        )
        message["application_id"] = str(self.application_id)
        message["interaction_metadata"] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": self.user(interaction.user_id),
            "authorizing_integration_owners": {"0": str(interaction.guild_id or 0)},
        }
        return message

    def _apply_edit(self, message: JSONDict, body: JSONDict) -> JSONDict:
        for key in ("content", "embeds", "components", "flags", "attachments"):
            if key in body and body[key] is not None:
                message[key] = body[key]
        message["edited_timestamp"] = iso(self.clock())
        return message

    def _attachment(self, channel_id: int, upload: UploadedFile) -> JSONDict:
        attachment_id = self.snowflake()
        url = f"{self.base_url}/attachments/{channel_id}/{attachment_id}/{upload.filename}"
        return {
            "id": str(attachment_id),
            "filename": upload.filename,
            "size": len(upload.data),
            "url": url,
            "proxy_url": url,
            "content_type": upload.content_type,
        }

    def _poll(self, body: JSONDict) -> JSONDict:
        answers = [
            {"answer_id": index, "poll_media": answer.get("poll_media", {})}
            for index, answer in enumerate(body.get("answers", []), start=1)
        ]
        expiry = self.clock() + timedelta(hours=int(body.get("duration", 24)))
        return {
            "question": body.get("question", {"text": ""}),
            "answers": answers,
            "expiry": iso(expiry),
            "allow_multiselect": bool(body.get("allow_multiselect", False)),
            "layout_type": int(body.get("layout_type", 1)),
            "results": {"is_finalized": False, "answer_counts": []},
        }

    def _channel_guild(self, channel_id: int) -> int | None:
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.id
        return None

    async def _echo_message(self, message: JSONDict) -> None:
        if not self.echo or not self.connected:
            return
        guild_id = self._channel_guild(int(message["channel_id"]))
        data = dict(message)
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            data["member"] = member_payload(self.member(guild_id, self.bot_id), with_user=False)
        await self.dispatch("MESSAGE_CREATE", data, guild_id=guild_id)

    async def _echo_member_update(self, guild_id: int, member: FakeMember) -> None:
        data = member_payload(member)
        await self._echo("GUILD_MEMBER_UPDATE", guild_id, **data)

    async def _echo(self, event: str, guild_id: int, **data: Any) -> None:
        if self.echo and self.connected:
            await self.dispatch(event, {"guild_id": str(guild_id), **data}, guild_id=guild_id)


# --------------------------------------------------------------------------- module helpers


def _str_or_none(value: int | None) -> str | None:
    return None if value is None else str(value)


def _without_guild_id(channel: JSONDict) -> JSONDict:
    channel.pop("guild_id", None)
    return channel


def _path_matches(pattern: re.Pattern[str], path: str) -> bool:
    return bool(pattern.fullmatch(path) or pattern.fullmatch(API_PREFIX + path))


def _normalise_option(option: JSONDict) -> JSONDict:
    """Snowflake option values travel as strings; nested options are normalised too."""
    option = dict(option)
    if option.get("type") in _SNOWFLAKE_OPTION_TYPES and option.get("value") is not None:
        option["value"] = str(option["value"])
    if "options" in option:
        option["options"] = [_normalise_option(o) for o in option["options"]]
    return option


def _flatten_options(options: Sequence[JSONDict]) -> list[JSONDict]:
    flat: list[JSONDict] = []
    for option in options:
        flat.append(option)
        flat.extend(_flatten_options(option.get("options", [])))
    return flat


async def _read_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    """JSON body, or ``payload_json`` plus file parts of a multipart body."""
    if request.content_type == "multipart/form-data":
        form = await request.post()
        payload: Any = None
        files: list[UploadedFile] = []
        for name, value in form.items():
            if isinstance(value, web.FileField):
                data = value.file.read()
                files.append(UploadedFile(name, value.filename, data, value.content_type))
            elif name == "payload_json":
                payload = json.loads(str(value))
        return payload, files
    raw = await request.read()
    if not raw:
        return None, []
    try:
        return json.loads(raw), []
    except ValueError:
        return raw.decode("utf-8", "replace"), []


def _json_response(status: int, payload: Any, headers: Mapping[str, str]) -> web.Response:
    """A response whose Content-Type is exactly ``application/json`` (no charset)."""
    if status == 204 or payload is None:
        return web.Response(status=204 if status < 300 else status, headers=dict(headers))
    body = json.dumps(payload).encode()
    return web.Response(
        status=status, body=body, headers={**headers, "Content-Type": "application/json"}
    )


def _failure_answer(failure: _Failure) -> tuple[int, JSONDict, dict[str, str]]:
    if failure.status != 429:
        message, code = _ERRORS.get(failure.status, (f"{failure.status}: Error", 0))
        return failure.status, failure.body or {"message": message, "code": code}, {}
    body = failure.body or {
        "message": "You are being rate limited.",
        "retry_after": failure.retry_after,
        "global": failure.global_,
    }
    headers = {
        "Via": "1.1 google",
        "Retry-After": str(max(1, round(failure.retry_after))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
        "X-RateLimit-Bucket": "fakebucket" + failure.pattern.pattern.encode().hex()[:16],
        "X-RateLimit-Scope": "global" if failure.global_ else "user",
    }
    if failure.global_:
        headers["X-RateLimit-Global"] = "true"
    return 429, body, headers
