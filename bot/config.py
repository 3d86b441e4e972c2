"""Configuration: TOML file plus ``QUNBOT_`` environment overrides, validated by pydantic-settings.

Every model forbids unknown keys, so a typo is reported with its key path instead of being
ignored. ``load_config`` raises ``ConfigError`` with one readable line per problem.
"""

from __future__ import annotations

import os
import re
import tomllib
import warnings
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot.zones import parse_zone
from persona import Locale, Tone

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "ZONE_EXAMPLES",
    "ConfigError",
    "Settings",
    "StartupError",
    "load_config",
    "mask_secret",
    "zone_or_none",
]

DEFAULT_CONFIG_PATH = Path("config.toml")
CONFIG_ENV = "QUNBOT_CONFIG"

KNOWN_DRIVERS = (
    "sqlite",
    "sqlite+aiosqlite",
    "sqlite+pysqlite",
    "postgresql",
    "postgres",
    "postgresql+asyncpg",
    "postgresql+psycopg2",
)
#: ``QUNBOT_`` variables that are not settings.
_NOT_SETTINGS = ("QUNBOT_CONFIG", "QUNBOT_TEST_", "QUNBOT_CI_")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


with warnings.catch_warnings():
    # ``schema`` is the word PostgreSQL operators know; it shadows only pydantic's deprecated
    # ``BaseModel.schema()``, which nothing here calls.
    warnings.filterwarnings("ignore", 'Field name "schema"', UserWarning)

    class StorageSettings(_Section):
        url: str = Field(
            "sqlite+aiosqlite:///qunbot.db",
            description="SQLAlchemy URL: sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB",
        )

        @field_validator("url")
        @classmethod
        def _known_database(cls, value: str) -> str:
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            expected = "expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
            try:
                driver = make_url(value).drivername
            except ArgumentError:
                raise ValueError(expected) from None
            if driver not in KNOWN_DRIVERS:
                raise ValueError(expected)
            return value

        schema: str = Field(
            "",
            description="PostgreSQL schema holding the bot's tables; empty: the server's default",
        )

        @field_validator("schema")
        @classmethod
        def _plain_schema(cls, value: str) -> str:
            from storage.db import check_schema

            return check_schema(value) if value else value

        @model_validator(mode="after")
        def _schema_needs_postgres(self) -> StorageSettings:
            from sqlalchemy.engine import make_url

            if self.schema and not make_url(self.url).drivername.startswith("postgres"):
                raise ValueError(
                    "schema applies to PostgreSQL only: remove it, or set url to a PostgreSQL database"
                )
            return self


class PersonaSettings(_Section):
    name: str = Field("小群", min_length=1, max_length=64)
    tone: Tone = "warm"
    locale: Locale = "zh-CN"
    #: How members are addressed; ``{name}`` is the member. Empty: the pack's default for the tone.
    honorific: str = Field("", max_length=64)
    #: 0 = no emoji, 1 = as the pack writes them, 2 = an extra flourish.
    emoji: int = Field(1, ge=0, le=2)

    @field_validator("honorific")
    @classmethod
    def _has_name(cls, value: str) -> str:
        if value and "{name}" not in value:
            raise ValueError("must contain {name}, e.g. '亲爱的{name}' or 'Dear {name}'")
        return value


#: What every zone-valued setting accepts, shown when one is refused.
ZONE_EXAMPLES = (
    "expected an IANA time zone such as 'Asia/Shanghai', 'Europe/Berlin' or 'UTC'"
    " (an offset such as 'UTC+8' or a city such as '北京' works too)"
)


def zone_or_none(name: str) -> ZoneInfo | None:
    """The zone ``name`` names (an IANA key in any case, a city alias such as 北京, or an
    offset such as ``UTC+8``; see :func:`bot.zones.parse_zone`), or ``None`` for anything
    that names no zone. Never raises, whatever the text (a region such as ``Asia``, a
    255-byte name, a path, a NUL)."""
    key = parse_zone(name) if isinstance(name, str) else None
    if key is None:
        return None
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _check_timezone(value: str) -> str:
    """The canonical IANA key, so ``asia/shanghai`` or ``北京`` in the file mean Asia/Shanghai."""
    key = parse_zone(value) if isinstance(value, str) else None
    if key is None or zone_or_none(key) is None:
        raise ValueError(ZONE_EXAMPLES)
    return key


class CommunitySettings(_Section):
    timezone: str = "Asia/Shanghai"
    day_reset_hour: int = Field(0, ge=0, le=23)
    #: Rules shown by /rules and in the welcome until operators write their own.
    rules: list[str] = Field(default_factory=list)
    #: Greet members who join.
    welcome: bool = True
    #: Operators' log chat on the same platform (a chat id); moderation is mirrored there.
    log_chat: str = ""

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_timezone(value)


Action = Literal["delete", "warn", "mute", "kick", "ban"]
#: Platforms treat restrictions shorter than 30 s or longer than 366 days as "forever".
SHORTEST_PUNISHMENT = 30
LONGEST_PUNISHMENT_DAYS = 366


def _check_duration(value: str) -> str:
    from bot.clock import parse_duration

    if not value:
        return value
    parsed = parse_duration(value)
    if parsed is None:
        raise ValueError("expected a duration such as '30m', '2h', '1d' or '1w'")
    if parsed.total_seconds() < SHORTEST_PUNISHMENT or parsed.days > LONGEST_PUNISHMENT_DAYS:
        raise ValueError("must be between 30 seconds and 366 days")
    return value


class LadderStep(_Section):
    """What the n-th active warn costs: ``{ warns = 3, action = "mute", duration = "1h" }``."""

    warns: int = Field(ge=1, le=100)
    action: Literal["mute", "kick", "ban"]
    #: Empty: until lifted (mute) or forever (ban).
    duration: str = ""

    _duration = field_validator("duration")(classmethod(lambda cls, v: _check_duration(v)))


class RulesSettings(_Section):
    """Rules the bot enforces in every community (each community may adjust them in chat)."""

    #: Banned words (matched through spacing, punctuation, full-width and look-alike letters).
    words: list[str] = Field(default_factory=list)
    #: Banned regular expressions, matched against the normalized (lower-case) text.
    regexes: list[str] = Field(default_factory=list)
    #: What a banned word or regex costs.
    action: Action = "warn"
    #: Links to domains outside ``link_allowlist``: allow, delete or warn.
    links: Literal["allow", "delete", "warn"] = "allow"
    link_allowlist: list[str] = Field(default_factory=list)
    #: Invite links to other groups (广告): allow or an action; "ban" removes advertisers at once.
    ads: Literal["allow", "delete", "warn", "mute", "kick", "ban"] = "warn"
    #: Anti-flood: more than ``flood_messages`` in ``flood_seconds`` (0 = off).
    flood_messages: int = Field(0, ge=0, le=1000)
    flood_seconds: int = Field(10, ge=1, le=3600)
    flood_action: Action = "mute"
    lock_media: bool = False
    lock_forwards: bool = False
    #: Newcomers may not post links or media for their first hours (0 = off).
    newcomer_hours: int = Field(0, ge=0, le=24 * 30)
    #: Warns stop counting after this many days.
    warn_expiry_days: int = Field(30, ge=1, le=3650)
    #: How long an automatic mute lasts when no ladder step says otherwise.
    mute_duration: str = "1h"
    ladder: list[LadderStep] = Field(
        default_factory=lambda: [
            LadderStep(warns=3, action="mute", duration="1h"),
            LadderStep(warns=5, action="ban"),
        ]
    )

    _mute = field_validator("mute_duration")(classmethod(lambda cls, v: _check_duration(v)))


class GateSettings(_Section):
    """Entry gates (入群门槛): who gets in, and how."""

    #: open | captcha (press "I have read the rules" in time) | approval (operators decide
    #: join requests with buttons in the log chat) | invite_code (a code from /invite).
    mode: Literal["open", "captcha", "approval", "invite_code"] = "open"
    #: Minutes a Telegram join request waits for its invite code (the private chat lasts 5).
    code_minutes: int = Field(5, ge=1, le=60)
    #: Discord: the role a valid invite code (``/code CODE``) grants. Empty: none.
    member_role: str = ""
    #: Minutes a newcomer has to pass the captcha before being removed.
    captcha_minutes: int = Field(5, ge=1, le=1440)
    #: Raid guard: more than ``raid_joins`` joins in ``raid_seconds`` switch the gate to
    #: captcha and tell the operators (0 = off).
    raid_joins: int = Field(0, ge=0, le=10000)
    raid_seconds: int = Field(60, ge=1, le=3600)


class StreakBonus(_Section):
    """Extra points on a given streak day: ``{ day = 7, points = 20 }``."""

    day: int = Field(ge=1, le=3650)
    points: int = Field(ge=0, le=1_000_000)


class CheckInSettings(_Section):
    """Daily check-in (签到打卡)."""

    #: Points for every check-in.
    base: int = Field(10, ge=0, le=1_000_000)
    #: Extra points on streak days.
    bonus: list[StreakBonus] = Field(
        default_factory=lambda: [StreakBonus(day=7, points=20), StreakBonus(day=30, points=100)]
    )
    #: Streak lengths that earn a badge, once each.
    badges: list[int] = Field(default_factory=lambda: [7, 30, 100, 365])
    #: Points a make-up check-in (补签, ``/makeup``) costs; it fills yesterday's gap.
    makeup_cost: int = Field(50, ge=0, le=1_000_000)
    #: Make-ups allowed per member per calendar month of the filled day (0 = off).
    makeup_per_month: int = Field(2, ge=0, le=31)


class RedPacketSettings(_Section):
    """Red packets (红包) and the chain (红包接龙). Operators override any of these per
    community with ``/redpacketset``."""

    #: Smallest and largest packet, in points.
    min_total: int = Field(10, ge=1, le=1_000_000_000)
    max_total: int = Field(100_000, ge=1, le=1_000_000_000)
    #: Most shares one packet may have.
    max_shares: int = Field(100, ge=1, le=1000)
    #: Whether the sender may grab a share of their own packet.
    sender_may_grab: bool = False
    #: Hours until an unfinished packet expires and the rest returns to the sender.
    expire_hours: int = Field(24, ge=1, le=24 * 30)
    #: Who must send the next packet when one completes: the luckiest grabber (手气最佳),
    #: the unluckiest, or nobody (``off``: no chain).
    chain: Literal["luckiest", "unluckiest", "off"] = "luckiest"
    #: Minutes the named member has to send the next packet.
    chain_minutes: int = Field(10, ge=1, le=24 * 60)
    #: Points taken from a member who breaks the chain (at most what they have; 0 = none).
    chain_penalty: int = Field(0, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _range(self) -> RedPacketSettings:
        if self.min_total > self.max_total:
            raise ValueError("min_total must not exceed max_total")
        return self


class PollSettings(_Section):
    """Polls (投票). Operators override any of these per community with ``/pollset``."""

    #: Who may start a poll: every member, or planners and above (moderators, admins).
    who_may_start: Literal["everyone", "planners"] = "everyone"
    #: How long a poll stays open when neither ``--for`` nor ``--until`` is given.
    default_hours: int = Field(24, ge=1, le=24 * 90)
    #: The longest a poll may stay open, in days.
    max_days: int = Field(30, ge=1, le=366)
    #: Most options one poll may have (each is a button; Discord allows 25 per message).
    max_options: int = Field(10, ge=2, le=20)


class RuleVoteSettings(_Section):
    """Rules adopted by vote (``/proposerule``, 群策群力 rather than 一言堂)."""

    #: Who may propose a rule: every member, or planners and above.
    who_may_propose: Literal["everyone", "planners"] = "everyone"
    #: Fewest voters for a decision; below it the proposal is rejected for lack of quorum.
    quorum: int = Field(10, ge=1, le=100_000)
    #: Share of voters in favour needed to adopt, in percent (67 = two thirds).
    threshold_percent: int = Field(67, ge=1, le=100)
    #: How long the vote runs, in hours.
    hours: int = Field(24, ge=1, le=24 * 30)


class CollectSettings(_Section):
    """Calls for submissions (征集, ``/collect``)."""

    #: How long the vote on the submissions runs once the call closes, in hours.
    vote_hours: int = Field(24, ge=1, le=24 * 30)
    #: The longest a call may take submissions, in days.
    max_days: int = Field(30, ge=1, le=366)
    #: The largest reward a call may offer, in points (the organiser pays it).
    max_reward: int = Field(100_000, ge=0, le=1_000_000_000)


class AnnouncementSettings(_Section):
    """Announcements (/announce, /schedule); quiet hours and the hourly cap are in [schedule]."""

    #: Most running schedules per community (a schedule is removed with /unschedule).
    max_active: int = Field(20, ge=1, le=1000)


class ScheduleSettings(_Section):
    """Scheduled messages (birthdays, anniversaries, announcements): when they may go out."""

    #: Quiet hours in community time ("HH:MM"): scheduled posts and greetings due inside
    #: them wait until they end. Equal start and end: no quiet hours.
    quiet_start: str = "23:00"
    quiet_end: str = "08:00"
    #: At most this many scheduled posts per chat per hour (the rest wait).
    max_per_hour: int = Field(3, ge=1, le=100)
    #: A message more than this many hours late (the bot was down) is skipped and logged.
    late_limit_hours: int = Field(12, ge=1, le=24 * 7)

    @field_validator("quiet_start", "quiet_end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("write a time as HH:MM, e.g. 23:00")
        return value


class BirthdaySettings(_Section):
    """Birthday greetings (/birthday)."""

    #: The hour of the greeting, in each member's own zone (else the community's).
    greeting_hour: int = Field(9, ge=0, le=23)
    #: Where 29 February birthdays are greeted in common years: "feb28" or "mar1".
    feb29: Literal["feb28", "mar1"] = "feb28"
    #: Points given on a birthday through the ledger (0 = none).
    gift_points: int = Field(0, ge=0, le=1_000_000)


class AnniversarySettings(_Section):
    """Join anniversaries, counted from the join date the bot recorded."""

    #: Milestones in days after joining (besides the yearly ones).
    days: list[int] = Field(default_factory=lambda: [100], max_length=10)
    #: Greet every full year in the group.
    yearly: bool = True


class EventSettings(_Section):
    """Events with RSVP (社群活动)."""

    #: Reminders to those going, in minutes before the start (default: a day and an hour).
    reminders: list[int] = Field(default_factory=lambda: [24 * 60, 60], max_length=5)
    #: How long an event lasts when ``--for`` is not given, in minutes.
    default_minutes: int = Field(120, ge=5, le=7 * 24 * 60)
    #: ``/here`` works from this many minutes before the start until the end.
    here_early_minutes: int = Field(30, ge=0, le=24 * 60)
    #: Points for checking in at the event with ``/here`` (0 = none).
    here_points: int = Field(20, ge=0, le=1_000_000)

    @field_validator("reminders")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(not 1 <= minutes <= 30 * 24 * 60 for minutes in value):
            raise ValueError("reminders are minutes before the start, 1 to 43200")
        return sorted(set(value), reverse=True)


class ConsoleSettings(_Section):
    #: ``auto``: on when no platform has a token.
    enabled: bool | Literal["auto"] = "auto"
    #: Who you are when the console starts.
    user: str = Field("Alice", min_length=1, max_length=64)
    #: The console group's title.
    chat_title: str = Field("qunbot console", min_length=1, max_length=128)
    #: Fix the console clock (ISO 8601 with offset) for reproducible demos; empty = real time.
    start_time: str = ""
    #: Where pictures the bot sends are saved (the console prints their path).
    image_dir: str = Field("console-images", min_length=1, max_length=1024)

    @field_validator("start_time")
    @classmethod
    def _iso(cls, value: str) -> str:
        if value:
            from datetime import datetime

            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("expected ISO 8601 such as '2026-11-21T09:00:00+08:00'") from None
            if parsed.tzinfo is None:
                raise ValueError("needs a UTC offset, e.g. '2026-11-21T09:00:00+08:00'")
        return value


def _blank_is_unset(value: object) -> object:
    """An empty token (``QUNBOT_TELEGRAM__TOKEN=``) means "not set", everywhere."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


class TelegramSettings(_Section):
    """Telegram through python-telegram-bot. Off until a token is set."""

    token: SecretStr | None = None
    #: The Bot API server; name a self-hosted one (or a test server) here.
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    #: Long-polling timeout in seconds (getUpdates waits this long for news).
    poll_timeout: float = Field(10.0, ge=0, le=50)
    #: Webhook mode: where the bot's own HTTP server listens ...
    listen: str = "0.0.0.0"
    port: int = Field(8443, ge=1, le=65535)
    url_path: str = "telegram"
    #: ... and the public HTTPS URL Telegram posts to (empty: webhook mode refuses to start).
    webhook_url: str = ""
    #: Telegram sends it in X-Telegram-Bot-Api-Secret-Token; requests without it get 403.
    secret_token: SecretStr | None = None
    #: Events older than this (seconds) are recorded but trigger no reply and no punishment.
    stale_after: int = Field(300, ge=0)
    #: Updates fetched (recorded) and not yet handled, at most: polling waits while that
    #: many are pending; a webhook post waits for room.
    max_pending: int = Field(1000, ge=1)
    #: How long (seconds) admin lists and the bot's own rights are cached per chat.
    admin_cache_seconds: int = Field(60, ge=0)
    #: Seconds to wait for a Bot API answer; a send that times out is not retried.
    request_timeout: float = Field(10.0, gt=0)
    #: python-telegram-bot's HTTP transport. aiohttp costs far less CPU per call than httpx
    #: (httpcore's pool), which is what lets 1,000 button answers go out within a second.
    http_client: Literal["aiohttp", "httpx"] = "aiohttp"

    _blank_secret = field_validator("secret_token", mode="before")(
        classmethod(lambda cls, v: _blank_is_unset(v))
    )

    @field_validator("secret_token")
    @classmethod
    def _secret_form(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    _blank = field_validator("token", mode="before")(classmethod(lambda cls, v: _blank_is_unset(v)))


class DiscordSettings(_Section):
    """Discord through discord.py. Off until a token is set."""

    token: SecretStr | None = None
    #: REST base URL; bots at scale point it at a shared rate-limit proxy.
    api_base: str = "https://discord.com/api/v10"
    #: Gateway websocket URL override (empty: the one Discord names).
    gateway_url: str = ""
    #: Prefix for text commands (``!checkin``); slash commands work as well.
    command_prefix: str = Field("!", min_length=1, max_length=5)
    #: Guilds to sync slash commands to at once (development); empty: global sync.
    guild_ids: list[str] = Field(default_factory=list)
    #: ``off`` (one connection), ``auto`` (discord.py picks the shard count) or a number.
    shards: Literal["off", "auto"] | int = "off"
    #: Events older than this (seconds) are recorded but trigger no reply and no punishment.
    stale_after: int = Field(300, ge=0)
    #: Events kept in memory waiting to be handled, at most; beyond, events are recorded only
    #: and handled from the database as room opens (Discord cannot be paused).
    max_pending: int = Field(1000, ge=1)
    #: Events waiting to be recorded, at most; beyond, events are dropped (ERROR logged with
    #: their count): only when the database is down or cannot keep up at all.
    max_unrecorded: int = Field(10000, ge=1)
    #: Seconds to wait for the guilds to arrive after connecting.
    guild_ready_timeout: float = Field(2.0, gt=0)
    #: Seconds to wait for the first connection (login, gateway, READY).
    connect_timeout: float = Field(60.0, gt=0)

    @field_validator("guild_ids")
    @classmethod
    def _snowflakes(cls, values: list[str]) -> list[str]:
        for value in values:
            if not str(value).isdigit():
                raise ValueError(f"{value!r}: expected a guild id (digits)")
        return [str(value) for value in values]

    @field_validator("shards")
    @classmethod
    def _shard_count(cls, value: str | int) -> str | int:
        if isinstance(value, int) and value < 1:
            raise ValueError("a shard count is at least 1")
        return value

    _blank = field_validator("token", mode="before")(classmethod(lambda cls, v: _blank_is_unset(v)))


class OutboundSettings(_Section):
    #: Seconds a failed send (5xx, refused connection, 429) is retried before it is given up.
    retry_for: float = Field(default=600.0, gt=0)
    #: Seconds a stop (SIGTERM, Ctrl-C) may take in all: handle what was taken, send what
    #: waits, store the rest for after the restart, close. Bounded so a supervisor
    #: (systemd's TimeoutStopSec, Docker's 10 s) never has to kill the bot mid-write.
    shutdown_timeout: float = Field(default=15.0, ge=1.0, le=600.0)


class OwnersSettings(_Section):
    #: Bot owners as ``platform:user_id`` (``telegram:12345``, ``discord:8123...``, ``console:alice``).
    ids: list[str] = Field(default_factory=list)

    @field_validator("ids")
    @classmethod
    def _platform_ids(cls, values: list[str]) -> list[str]:
        for value in values:
            platform, _, user_id = value.partition(":")
            if not platform or not user_id:
                raise ValueError(f"{value!r}: expected 'platform:user_id', e.g. 'telegram:12345'")
        return values


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(BaseSettings):
    """The whole configuration. Environment: ``QUNBOT_SECTION__KEY`` overrides ``[section] key``."""

    model_config = SettingsConfigDict(
        env_prefix="QUNBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    storage: StorageSettings = Field(default_factory=StorageSettings)
    persona: PersonaSettings = Field(default_factory=PersonaSettings)
    community: CommunitySettings = Field(default_factory=CommunitySettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    gates: GateSettings = Field(default_factory=GateSettings)
    checkin: CheckInSettings = Field(default_factory=CheckInSettings)
    redpacket: RedPacketSettings = Field(default_factory=RedPacketSettings)
    polls: PollSettings = Field(default_factory=PollSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    rule_votes: RuleVoteSettings = Field(default_factory=RuleVoteSettings)
    collect: CollectSettings = Field(default_factory=CollectSettings)
    announcements: AnnouncementSettings = Field(default_factory=AnnouncementSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    birthdays: BirthdaySettings = Field(default_factory=BirthdaySettings)
    anniversaries: AnniversarySettings = Field(default_factory=AnniversarySettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    outbound: OutboundSettings = Field(default_factory=OutboundSettings)
    owners: OwnersSettings = Field(default_factory=OwnersSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    #: Extra keyword triggers per command, e.g. ``checkin = ["签到", "打卡"]``; replaces the defaults.
    keywords: dict[str, list[str]] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init arguments; the environment wins over it.
        return (env_settings, init_settings)

    @property
    def console_enabled(self) -> bool:
        if self.console.enabled == "auto":
            return not (self.telegram.token or self.discord.token)
        return bool(self.console.enabled)


class ConfigError(Exception):
    """A configuration that must not start the bot; ``problems`` are ``key.path: message`` lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class StartupError(Exception):
    """The bot cannot start for a reason outside the config file's syntax: a platform that
    cannot be reached, a token it refuses. ``cause`` and ``fix`` are one line each and hold
    no secret; the command line prints both and exits 1."""

    def __init__(self, cause: str, fix: str) -> None:
        self.cause = cause
        self.fix = fix
        super().__init__(f"{cause} {fix}")


def mask_secret(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` hidden. A Telegram token keeps its public bot id
    (``123456:***``) so the operator can still tell which bot it was."""
    if not secret:
        return text
    bot_id, colon, _rest = secret.partition(":")
    shown = f"{bot_id}:***" if colon and bot_id.isdigit() else "***"
    return text.replace(secret, shown)


#: Settings whose values are never echoed back, not even in an error about them.
_SECRET_KEYS = {"token", "secret_token"}


def _environment_name(loc: tuple[Any, ...]) -> str | None:
    """The ``QUNBOT_`` variable that set the value at ``loc``, if one did.

    ``("community", "day_reset_hour")`` comes from ``QUNBOT_COMMUNITY__DAY_RESET_HOUR`` or
    from a whole section in ``QUNBOT_COMMUNITY`` (JSON); list indices belong to their list.
    """
    present = {name.upper(): name for name in os.environ}
    keys = [str(part) for part in loc if not isinstance(part, int)]
    for length in range(len(keys), 0, -1):
        name = "QUNBOT_" + "__".join(keys[:length]).upper()
        if name in present:
            return present[name]
    return None


def _describe(error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    path = ".".join(str(part) for part in loc) or "(top level)"
    kind = error["type"]
    variable = _environment_name(loc)
    if variable is not None:
        path = f"{variable} ({path})"
    if kind == "extra_forbidden":
        return f"{path}: unknown key (check the spelling against config.example.toml)"
    message = error["msg"].removeprefix("Value error, ")
    given = error.get("input")
    secret = bool(loc) and str(loc[-1]) in _SECRET_KEYS
    if kind != "missing" and not isinstance(given, dict | list) and given is not None:
        if secret:
            return f"{path}: {message} (the value is not shown: it is a secret)"
        if loc[:2] == ("storage", "url"):
            return f"{path}: {message}"  # it may carry a password
        return f"{path}: {message} (got {given!r})"
    return f"{path}: {message}"


def _blame(problems: list[str], errors: list[dict[str, Any]], used: Path | None) -> str:
    """Where the bad values came from: the file, the environment, or both."""
    from_environment = [_environment_name(tuple(e["loc"])) is not None for e in errors]
    if all(from_environment) or used is None:
        return "environment"
    if any(from_environment):
        return f"{used} and the environment"
    return str(used)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), [f"not valid TOML: {error}"]) from None
    except OSError as error:
        raise ConfigError(str(path), [f"cannot read: {error.strerror}"]) from None


def load_config(path: Path | str | None = None) -> tuple[Settings, Path | None]:
    """Load ``path`` (or ``$QUNBOT_CONFIG``, or ``./config.toml`` if present) plus the environment.

    Returns the settings and the file actually read (``None``: defaults and environment only).
    """
    unknown = _unknown_environment()
    if unknown:
        raise ConfigError("environment", unknown)
    explicit = path is not None or CONFIG_ENV in os.environ
    chosen = (
        Path(path) if path is not None else Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_PATH))
    )
    data: dict[str, Any] = {}
    used: Path | None = None
    if chosen.exists():
        data = _read_toml(chosen)
        used = chosen
    elif explicit:
        raise ConfigError(str(chosen), ["file not found (run `qunbot init` to write one)"])
    try:
        return Settings(**data), used
    except ValidationError as error:
        errors = error.errors()
        problems = [_describe(e) for e in errors]
        raise ConfigError(_blame(problems, errors, used), problems) from None
    except SettingsError as error:
        hint = "lists and tables are JSON, e.g. QUNBOT_OWNERS__IDS='[\"telegram:12345\"]'"
        cause = f": {error.__cause__}" if error.__cause__ else ""
        raise ConfigError("environment", [f"{error}{cause} ({hint})"]) from None


def _unknown_environment() -> list[str]:
    """``QUNBOT_`` variables that name no setting (``QUNBOT_STORAGE_URL`` with one underscore)."""
    problems = []
    for name in os.environ:
        upper = name.upper()
        if not upper.startswith("QUNBOT_") or upper.startswith(_NOT_SETTINGS):
            continue
        parts = upper.removeprefix("QUNBOT_").lower().split("__")
        section = Settings.model_fields.get(parts[0])
        model = section.annotation if section else None
        if section is None:
            known = False
        elif isinstance(model, type) and issubclass(model, BaseModel):
            known = len(parts) == 2 and parts[1] in model.model_fields
        else:  # a table of free keys such as [keywords]
            known = len(parts) <= 2
        if not known:
            problems.append(
                f"{name}: names no setting; use QUNBOT_<SECTION>__<KEY>, e.g. QUNBOT_STORAGE__URL"
            )
    return problems
