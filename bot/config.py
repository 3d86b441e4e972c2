"""Configuration: TOML file plus ``QUNBOT_`` environment overrides, validated by pydantic-settings.

Every model forbids unknown keys, so a typo is reported with its key path instead of being
ignored. ``load_config`` raises ``ConfigError`` with one readable line per problem.
"""

from __future__ import annotations

import copy
import functools
import inspect
import os
import re
import tomllib
import warnings
from collections.abc import Hashable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot.cache import BoundedCache
from bot.zones import parse_zone
from persona import Locale, Tone

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "ZONE_EXAMPLES",
    "CommunitySettings",
    "ConfigError",
    "FeatureSections",
    "ScheduleSettings",
    "Section",
    "Settings",
    "StartupError",
    "example_toml",
    "load_config",
    "mask_secret",
    "settings_class",
    "toml_key",
    "toml_value",
    "zone_or_none",
]

DEFAULT_CONFIG_PATH = Path("config.toml")
S = TypeVar("S", bound=BaseModel)
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


class Section(BaseModel):
    """A config section: unknown keys are errors, and each field's docstring is its comment
    in ``config.example.toml`` (see ``example_toml``)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, use_attribute_docstrings=True)


with warnings.catch_warnings():
    # ``schema`` is the word PostgreSQL operators know; it shadows only pydantic's deprecated
    # ``BaseModel.schema()``, which nothing here calls.
    warnings.filterwarnings("ignore", 'Field name "schema"', UserWarning)

    class StorageSettings(Section):
        url: str = "sqlite+aiosqlite:///qunbot.db"
        """SQLAlchemy URL. SQLite (embedded, the default) or PostgreSQL for scale:
          url = "postgresql+asyncpg://USER:PASSWORD@HOST:5432/DATABASE"
        The schema is upgraded automatically by `qunbot run` (or by hand: `qunbot db upgrade`).
        """

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

        schema: str = ""
        """PostgreSQL only: the schema that holds the bot's tables (its Alembic version table too),
        so several bots can share one database, e.g. schema = "bot_one". It is created on the
        first upgrade when missing. Letters, digits and underscores, at most 63. Empty: the
        server's default search_path (usually "public").
        """

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


class PersonaSettings(Section):
    """The character the bot speaks as. Operators can override name, tone and locale per
    community in chat with `/persona set name|tone|locale VALUE`.
    """

    name: str = Field("小群", min_length=1, max_length=64)
    tone: Tone = "warm"
    """warm | lively | professional"""
    locale: Locale = "zh-CN"
    """zh-CN | en"""
    honorific: str = Field("", max_length=64)
    """How members are addressed; {name} is the member, e.g. "亲爱的{name}", "{name}同学",
    "Dear {name}". Empty: the persona pack's form for the tone.
    """
    emoji: int = Field(1, ge=0, le=2)
    """0 = no emoji, 1 = as the persona pack writes them, 2 = with an extra flourish."""

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


class CommunitySettings(Section):
    """Defaults for every community (a community may change its own later)."""

    timezone: str = "Asia/Shanghai"
    """IANA time zone: "today" for check-ins and greeting hours are computed here."""
    day_reset_hour: int = Field(0, ge=0, le=23)
    """The hour (0-23, local time) at which a new day starts for check-ins."""
    rules: list[str] = Field(default_factory=list)
    """Rules shown by /rules and in the welcome message, until operators write their own."""
    welcome: bool = True
    """Welcome members who join (mentions them, invites a self-introduction, points to /rules)."""
    log_chat: str = ""
    """Operators' log chat on the same platform (a chat id, e.g. "-1001234567890" on Telegram);
    every moderation action is mirrored there. Empty = no log chat. Also settable in chat
    with /setlog CHAT_ID.
    """

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_timezone(value)


class ScheduleSettings(Section):
    """Scheduled messages (birthdays, anniversaries, announcements)."""

    quiet_start: str = "23:00"
    """Quiet hours in community time: what is due inside them waits until they end (equal = none)."""
    quiet_end: str = "08:00"
    max_per_hour: int = Field(3, ge=1, le=100)
    """At most this many scheduled posts per chat per hour; the rest wait for the next free slot."""
    late_limit_hours: int = Field(12, ge=1, le=24 * 7)
    """After downtime, a message more than this many hours late is skipped and logged, not sent."""

    @field_validator("quiet_start", "quiet_end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("write a time as HH:MM, e.g. 23:00")
        return value


class ConsoleSettings(Section):
    """The console adapter: a local group chat in your terminal."""

    enabled: bool | Literal["auto"] = "auto"
    """"auto" = on when no platform token is set; true / false to force it."""
    user: str = Field("Alice", min_length=1, max_length=64)
    """Who you are when the console starts (switch with /as NAME)."""
    chat_title: str = Field("qunbot console", min_length=1, max_length=128)
    """The title of the console's group chat."""
    start_time: str = ""
    """Fix the console clock for reproducible demos (ISO 8601 with a UTC offset, e.g.
    "2026-11-21T09:00:00+08:00"). Empty = the real time. `/clock +1d` moves it either way.
    A fixed start time also makes random choices (red-packet seeds) repeat run after run.
    """
    image_dir: str = Field("console-images", min_length=1, max_length=1024)
    """Pictures the bot sends (SendImage), and the pictures and files a private notice
    carries (a CSV export), are saved in this folder (made when first needed, relative to
    where the bot runs); the console prints each one's path.
    """

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


class TelegramSettings(Section):
    """Telegram through python-telegram-bot. Off until a token is set."""

    token: SecretStr | None = Field(None, examples=["123456:ABC-DEF..."])
    """Bot token from @BotFather. Not set = Telegram is off. With a token, the console is off
    unless [console] enabled = true.
    """
    base_url: str = "https://api.telegram.org/bot"
    """The Bot API server. Name a self-hosted telegram-bot-api server (or a test server) here."""
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    """"polling" (no public address needed) or "webhook" (Telegram posts updates to you)."""
    poll_timeout: float = Field(10.0, ge=0, le=50)
    """Polling: how long (seconds) each getUpdates waits for news."""
    listen: str = "0.0.0.0"
    """Webhook: the bot's own HTTP server listens on listen:port/url_path (put HTTPS in front)..."""
    port: int = Field(8443, ge=1, le=65535)
    url_path: str = "telegram"
    webhook_url: str = ""
    """...and Telegram posts to this public HTTPS URL (required in webhook mode), e.g.
    "https://bot.example.org/telegram".
    """
    secret_token: SecretStr | None = Field(None, examples=["a-long-random-string"])
    """Sent by Telegram in X-Telegram-Bot-Api-Secret-Token; requests without it get 403.
    1-256 characters of A-Z a-z 0-9 _ -. Not set = no check (not recommended for webhooks).
    """
    stale_after: int = Field(300, ge=0)
    """Events older than this many seconds (after downtime) are recorded, but trigger no reply
    and no punishment.
    """
    max_pending: int = Field(1000, ge=1)
    """Updates fetched from Telegram and not yet handled, at most. Each is recorded in the
    database before Telegram is told it arrived; polling waits while this many are pending.
    """
    admin_cache_seconds: int = Field(60, ge=0)
    """Seconds that admin lists and the bot's own rights are cached per chat."""
    request_timeout: float = Field(10.0, gt=0)
    """Seconds to wait for a Bot API answer. A message whose send times out is not retried
    (it may have arrived; a duplicate is worse than a gap).
    """
    http_client: Literal["aiohttp", "httpx"] = "aiohttp"
    """HTTP library for Bot API calls (and getUpdates): "aiohttp" or "httpx" (python-telegram-bot's
    own). aiohttp uses about a tenth of the CPU per call, so a burst of 1,000 button answers
    goes out within a second. Both honour HTTP_PROXY / HTTPS_PROXY / NO_PROXY.
    """

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


class DiscordSettings(Section):
    """Discord through discord.py. Off until a token is set."""

    token: SecretStr | None = Field(None, examples=["..."])
    """Bot token from the Discord developer portal (Applications -> your app -> Bot -> Reset Token).
    Not set = Discord is off. Turn on SERVER MEMBERS INTENT and MESSAGE CONTENT INTENT there too.
    """
    api_base: str = "https://discord.com/api/v10"
    """REST base URL. Bots at scale point this at a shared rate-limit proxy."""
    gateway_url: str = ""
    """Gateway websocket URL override; empty = the one Discord names."""
    command_prefix: str = Field("!", min_length=1, max_length=5)
    """Prefix for text commands (!checkin). Slash commands (/checkin) work as well."""
    guild_ids: list[str] = Field(default_factory=list)
    """Guild ids to sync slash commands to at once (development). Empty = global sync, done
    only when the commands changed.
    """
    shards: Literal["off", "auto"] | int = "off"
    """"off" (one gateway connection), "auto" (discord.py picks the shard count; required from
    2,500 guilds) or a number of shards.
    """
    stale_after: int = Field(300, ge=0)
    """Events older than this many seconds are recorded, but trigger no reply and no punishment."""
    max_pending: int = Field(1000, ge=1)
    """Events waiting in memory to be handled, at most. Discord cannot be paused: beyond this,
    events are recorded in the database only and handled from there as room opens.
    """
    max_unrecorded: int = Field(10000, ge=1)
    """Events waiting to be recorded, at most: beyond this (the database is down or far too
    slow) further events are dropped, and an ERROR line counts them.
    """
    guild_ready_timeout: float = Field(2.0, gt=0)
    """Seconds to wait for the servers (guilds) to arrive after connecting."""
    connect_timeout: float = Field(60.0, gt=0)
    """Seconds to wait for the first connection (login, gateway, ready) before giving up."""

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


class OutboundSettings(Section):
    retry_for: float = Field(default=600.0, gt=0)
    """How long a message (or a ban, a deletion...) is retried, in seconds, when the platform answers
    5xx, refuses the connection or says "too many requests"; then it is logged with its chat and
    kind as not delivered. A send that timed out is never repeated (it may have arrived).
    """
    shutdown_timeout: float = Field(default=15.0, ge=1.0, le=600.0)
    """How long stopping (SIGTERM, Ctrl-C) may take in all, in seconds: intake stops, updates already
    taken are handled, waiting messages get the rest of the time to go out, and whatever still waits
    is stored in the database and sent after the restart. Keep it below your supervisor's stop
    timeout (systemd waits 90 s; Docker 10 s unless stop_grace_period or `docker stop -t` says more).
    """


class OwnersSettings(Section):
    ids: list[str] = Field(default_factory=list)
    """Bot owners, as "platform:user_id" (e.g. "telegram:12345", "discord:81234567890",
    "console:alice"). Owners may do everything in every community.
    """

    @field_validator("ids")
    @classmethod
    def _platform_ids(cls, values: list[str]) -> list[str]:
        for value in values:
            platform, _, user_id = value.partition(":")
            if not platform or not user_id:
                raise ValueError(f"{value!r}: expected 'platform:user_id', e.g. 'telegram:12345'")
        return values


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """DEBUG | INFO | WARNING | ERROR (logs go to standard error)"""


class Settings(BaseSettings):
    """The whole configuration. Environment: ``QUNBOT_SECTION__KEY`` overrides ``[section] key``.

    The core sections are declared here; a feature declares its own section (``Feature(...,
    settings=Model)``) and ``with_sections`` validates it, so ``bot`` never imports a
    feature. Until then a feature's section is kept as written (``model_extra``)."""

    model_config = SettingsConfigDict(
        env_prefix="QUNBOT_",
        env_nested_delimiter="__",
        extra="allow",
        validate_default=True,
    )

    storage: StorageSettings = Field(default_factory=StorageSettings)
    persona: PersonaSettings = Field(default_factory=PersonaSettings)
    community: CommunitySettings = Field(default_factory=CommunitySettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    outbound: OutboundSettings = Field(default_factory=OutboundSettings)
    owners: OwnersSettings = Field(default_factory=OwnersSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    keywords: dict[str, list[str]] = Field(default_factory=dict)
    """Exact-text triggers per command, replacing the command's defaults, e.g.
      checkin = ["签到", "打卡"]
    """

    #: Section name of every model this class validates (core and features').
    _section_names: ClassVar[dict[type[BaseModel], str]] = {}
    #: The file the values came from (``None``: defaults and environment), for error messages.
    _source: Path | None = PrivateAttr(default=None)
    #: Per community and section: the overrides last applied and their result.
    _overridden: BoundedCache[tuple[Hashable, str], tuple[Any, Any, BaseModel]] = PrivateAttr(
        default_factory=lambda: BoundedCache(OVERRIDDEN_KEPT)
    )

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

    def with_sections(self, sections: FeatureSections) -> Settings:
        """These settings with the features' sections validated (``self`` if they already
        are). Raises ``ConfigError`` naming the key of a bad or unknown value, as
        ``load_config`` does, wherever the settings came from."""
        bound = settings_class(sections)
        if type(self) is bound:
            return self
        unknown = _unknown_environment(bound)
        if unknown:
            raise ConfigError("environment", unknown)
        core = type(self).model_fields
        data = self.model_dump(include=set(core))
        data.update(self.model_extra or {})
        validated = _validated(bound, data, self._source)
        # The core sections stay the very objects given (validated from them, so equal): a
        # change made to them later (an embedding program, a test) is seen by both.
        for name in core:
            validated.__dict__[name] = getattr(self, name)
        return validated

    @classmethod
    def section_name(cls, model: type[BaseModel]) -> str:
        """The name of ``model``'s section (``[polls]``: ``polls``), also its namespace in a
        community's settings."""
        name = cls._section_names.get(model)
        if name is None:
            raise KeyError(
                f"{model.__name__} is no config section here: declare it on its Feature "
                "(settings=...) and bind the settings with with_sections"
            )
        return name

    def section(self, model: type[S]) -> S:
        """The section ``model`` validates (a core one or a feature's) as configured."""
        value = getattr(self, self.section_name(model))
        assert isinstance(value, model)
        return value

    def section_for(
        self, model: type[S], overrides: Mapping[str, Any] | None, owner: Hashable
    ) -> S:
        """The section ``model`` with one community's overrides applied: ``overrides`` is
        the community's settings (one namespace per section, ``{"polls": {"max_days": 7}}``)
        and ``owner`` names the community for the cache.

        Cheap on the hot path: without overrides it is the configured section itself; with
        them the result is remembered per community and used again only while the stored
        overrides are equal to those it was built from (a change, which arrives as a new
        community row, builds it anew). An override the config no longer allows is ignored
        rather than crashing."""
        name = type(self)._section_names.get(model) or self.section_name(model)
        base: S = getattr(self, name)
        own = overrides.get(name) if overrides else None
        if not own:
            return base
        # Read past pydantic's attribute hook: this runs for every message of a community
        # with overrides.
        remembered = self.__pydantic_private__["_overridden"]  # type: ignore[index]
        key = (owner, name)
        cached = remembered.get(key)
        # The same namespace object (the community row is cached) or an equal one.
        if cached is not None and (cached[0] is own or cached[1] == own):
            return cached[2]  # type: ignore[no-any-return]
        try:
            value = model.model_validate({**base.model_dump(), **own})
        except (ValidationError, TypeError):
            value = base
        remembered.put(key, (own, copy.deepcopy(own), value))
        return value


#: Communities whose overridden sections are remembered (least recently used go first).
OVERRIDDEN_KEPT = 10_000
#: No feature sections (an immutable default).
_NONE: Mapping[str, type[BaseModel]] = MappingProxyType({})
#: Features' sections: ``{section name: model}``.
FeatureSections = Mapping[str, type[BaseModel]]
#: After this core section the features' sections follow in ``config.example.toml``.
_FEATURES_AFTER = "schedule"


def settings_class(sections: FeatureSections = _NONE) -> type[Settings]:
    """The settings class with the features' sections declared: unknown sections are errors
    there, and the environment overrides features' keys as it does core ones."""
    return _settings_class(tuple(sections.items()))


@functools.cache
def _settings_class(sections: tuple[tuple[str, type[BaseModel]], ...]) -> type[Settings]:
    clash = [name for name, _model in sections if name in Settings.model_fields]
    if clash:
        raise ValueError(f"feature sections named like core ones: {', '.join(clash)}")
    fields: dict[str, Any] = {
        name: (model, Field(default_factory=model)) for name, model in sections
    }
    bound = create_model(  # type: ignore[call-overload]
        "Settings", __base__=_Bound, __module__=__name__, **fields
    )
    bound._section_names = {
        field.annotation: name
        for name, field in bound.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }
    return bound  # type: ignore[no-any-return]


class _Bound(Settings):
    """Settings whose every section is declared: an unknown one is an error."""

    model_config = SettingsConfigDict(extra="forbid")


Settings._section_names = {
    field.annotation: name
    for name, field in Settings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
}


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


def load_config(
    path: Path | str | None = None, sections: FeatureSections | None = None
) -> tuple[Settings, Path | None]:
    """Load ``path`` (or ``$QUNBOT_CONFIG``, or ``./config.toml`` if present) plus the environment.

    With ``sections`` (the features'), their sections are validated too and any other section
    is an error; without, they are kept for ``Settings.with_sections``. Returns the settings
    and the file actually read (``None``: defaults and environment only).
    """
    chosen_class = Settings if sections is None else settings_class(sections)
    unknown = _unknown_environment(chosen_class)
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
    return _validated(chosen_class, data, used), used


def _validated(model: type[Settings], data: dict[str, Any], used: Path | None) -> Settings:
    """``model`` built from ``data`` and the environment, or a ``ConfigError`` naming each
    bad key and where it came from."""
    try:
        settings = model(**data)
    except ValidationError as error:
        errors = error.errors()
        problems = [_describe(e) for e in errors]
        raise ConfigError(_blame(problems, errors, used), problems) from None
    except SettingsError as error:
        hint = "lists and tables are JSON, e.g. QUNBOT_OWNERS__IDS='[\"telegram:12345\"]'"
        cause = f": {error.__cause__}" if error.__cause__ else ""
        raise ConfigError("environment", [f"{error}{cause} ({hint})"]) from None
    settings._source = used
    return settings


def _unknown_environment(model: type[Settings] = Settings) -> list[str]:
    """``QUNBOT_`` variables that name no setting (``QUNBOT_STORAGE_URL`` with one underscore).

    ``model`` without the features' sections (plain ``Settings``) leaves variables of
    sections it does not know to ``Settings.with_sections``."""
    problems = []
    for name in os.environ:
        upper = name.upper()
        if not upper.startswith("QUNBOT_") or upper.startswith(_NOT_SETTINGS):
            continue
        parts = upper.removeprefix("QUNBOT_").lower().split("__")
        section = model.model_fields.get(parts[0])
        if section is None and model.model_config.get("extra") == "allow":
            continue
        annotation = section.annotation if section else None
        if section is None:
            known = False
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            known = len(parts) == 2 and parts[1] in annotation.model_fields
        else:  # a table of free keys such as [keywords]
            known = len(parts) <= 2
        if not known:
            problems.append(
                f"{name}: names no setting; use QUNBOT_<SECTION>__<KEY>, e.g. QUNBOT_STORAGE__URL"
            )
    return problems


# -- config.example.toml, written from the models --------------------------------------------

EXAMPLE_HEADER = """\
# qunbot configuration. Every option is shown with its default.
# Environment variables override this file: QUNBOT_<SECTION>__<KEY>, e.g.
#   QUNBOT_STORAGE__URL=postgresql+asyncpg://postgres@127.0.0.1/qunbot
#   QUNBOT_PERSONA__NAME=小美
# Unknown keys are errors (a typo never goes unnoticed): check with `qunbot config check`.
# This file is written from the settings models (`qunbot config example`): edit their
# docstrings, not this file.
"""

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def toml_key(key: str) -> str:
    """A key as TOML: bare when it may be, else quoted."""
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def toml_value(value: Any) -> str:
    """One value as TOML; tables (a ladder step) inline, secrets masked."""
    if isinstance(value, SecretStr):
        return _toml_string("********")
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    return _toml_string(str(value))


def _comment(text: str | None) -> list[str]:
    """Documentation as TOML comment lines."""
    if not text:
        return []
    return [f"# {line}".rstrip() for line in inspect.cleandoc(text).splitlines()]


def _example_value(value: Any) -> str:
    """A default as the example writes it: a list of tables one table a line."""
    if isinstance(value, list) and value and isinstance(value[0], BaseModel | dict):
        return "[\n" + "".join(f"    {toml_value(item)},\n" for item in value) + "]"
    return toml_value(value)


def _example_section(name: str, annotation: Any) -> list[str]:
    lines = [f"[{name}]"]
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return lines  # a table of free keys: its field's docstring says what goes there
    lines += _comment(annotation.__dict__.get("__doc__"))
    defaults = annotation()
    for key, field in annotation.model_fields.items():
        lines += _comment(field.description)
        value = getattr(defaults, key)
        if value is None:
            shown = toml_value(field.examples[0]) if field.examples else '"..."'
            lines.append(f"# {toml_key(key)} = {shown}")
        else:
            lines.append(f"{toml_key(key)} = {_example_value(value)}")
    return lines


def example_toml(sections: FeatureSections = _NONE) -> str:
    """``config.example.toml``: every section (the core ones and the features'), each key
    with its default, documented by the models' docstrings."""
    model = settings_class(sections)
    core = [name for name in Settings.model_fields]
    at = core.index(_FEATURES_AFTER) + 1
    order = [*core[:at], *sections, *core[at:]]
    blocks = []
    for name in order:
        field = model.model_fields[name]
        lines = _example_section(name, field.annotation)
        if not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            lines += _comment(field.description)
        blocks.append("\n".join(lines))
    return EXAMPLE_HEADER + "\n" + "\n\n".join(blocks) + "\n"
