"""The feature registry: a feature declares commands, keyword triggers, button callbacks,
event listeners, middleware and scheduled ticks on one ``Feature`` object.

A command is declared once, with typed arguments, so every surface (Telegram ``/cmd``,
Discord prefix and slash commands, keywords such as ``签到``) is derived from one definition.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from bot.cache import BoundedCache
from bot.clock import Clock
from bot.permissions import Role

__all__ = [
    "INT_LIMIT",
    "TEXT_LENGTH",
    "WORD_LENGTH",
    "Arg",
    "ButtonSpec",
    "CommandSpec",
    "Feature",
    "ListenerSpec",
    "MiddlewareSpec",
    "ObserverSpec",
    "ReceiverSpec",
    "Registry",
    "RegistryError",
    "StopSpec",
    "TickSpec",
]

# Handlers take a ``bot.context.Context`` (ticks a ``TickContext``). The context sits above
# this module (it reads the specs declared here), so the parameter is not named by type: the
# registry only stores and routes handlers, it never calls into a context itself.
Handler = Callable[[Any], Awaitable[Any]]
Middleware = Callable[[Any], Awaitable[bool]]
TickHandler = Callable[[Any], Awaitable[Any]]
BatchHandler = Callable[[list[Any]], Awaitable[list[Any]]]
#: Watches an event (its context) or receives a signal (context, signal): synchronous, in
#: memory only (see ``Feature.observe`` and ``Feature.receive``).
Observer = Callable[[Any], None]
Receiver = Callable[[Any, Any], None]
#: Whether a middleware or observer has anything to do in a community, read from that
#: community's settings alone (``ctx.settings_of``), never from the event: asked once per
#: community (again when its settings change), so a feature switched off there (care off,
#: slow mode at 0) costs its events nothing.
Switch = Callable[[Any], bool]
#: Communities whose switched-on middlewares and observers are remembered at once.
SWITCHED_COMMUNITIES = 10_000
F = TypeVar("F", bound=Callable[..., Any])
#: A feature's in-memory state (see ``Feature.state``).
S = TypeVar("S")
B = TypeVar("B", bound=BatchHandler)

ArgKind = Literal["word", "text", "int", "member", "choice", "duration"]
#: Where a command works: in a community (``group``), only in a private chat with the bot
#: (``private``), or in both (``any``). The dispatcher refuses the rest with where to use it.
Where = Literal["group", "private", "any"]
#: The sections of ``/help``, in the order shown.
HELP_GROUPS = ("members", "points", "activities", "care", "moderation", "settings")
HelpGroup = Literal["members", "points", "activities", "care", "moderation", "settings"]


#: Every ``int`` argument is bounded: without a declared maximum it still fits a 64-bit column
#: (``/event cancel 99999999999999999999`` is refused, not sent to the database).
INT_LIMIT = 10**12
#: Longest ``word`` and ``text`` arguments unless declared (reasons, names, short texts).
WORD_LENGTH = 200
TEXT_LENGTH = 500


@dataclass(frozen=True)
class Arg:
    """One declared argument. ``text`` takes the rest of the line and must come last;
    ``member`` accepts ``@name``, a mention, a numeric id, or a reply to the member's message;
    ``duration`` (``30m``, ``2h``, ``2 hours``, ``2小时``, ``1d12h``) is taken when the word
    looks like one (and refused when such a word cannot be read)."""

    name: str
    kind: ArgKind = "word"
    required: bool = True
    choices: tuple[str, ...] = ()
    #: Bounds for ``int`` arguments (inclusive); unset, ``0`` and ``INT_LIMIT``.
    minimum: int | None = None
    maximum: int | None = None
    #: For ``member``: also find members who left (``/unban``, ``/pardon``).
    include_left: bool = False
    #: Longest ``word``/``text`` accepted (characters); unset, ``WORD_LENGTH``/``TEXT_LENGTH``.
    max_length: int | None = None
    #: For ``choice``: a persona key prefix naming each choice (``roles`` -> ``roles.moderator``
    #: = 版主): those names are accepted too, in any locale, and shown in refusals.
    labels: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"argument {self.name!r}: a choice needs choices")

    @property
    def bounds(self) -> tuple[int, int]:
        """The inclusive range of an ``int`` argument, always finite."""
        low = 0 if self.minimum is None else self.minimum
        high = INT_LIMIT if self.maximum is None else self.maximum
        return low, high

    @property
    def length_limit(self) -> int:
        if self.max_length is not None:
            return self.max_length
        return TEXT_LENGTH if self.kind == "text" else WORD_LENGTH


@dataclass(frozen=True)
class CommandSpec:
    name: str
    feature: str
    handler: Handler
    roles: frozenset[Role] = frozenset()
    args: tuple[Arg, ...] = ()
    keywords: tuple[str, ...] = ()
    hidden: bool = False
    where: Where = "group"
    #: Its section of ``/help``.
    group: HelpGroup = "members"

    def works_in(self, private: bool) -> bool:
        """Whether the command may run in a private chat (``private``) or in a group."""
        return self.where == "any" or self.where == ("private" if private else "group")

    def syntax(self) -> str:
        """Usage generated from the declaration, e.g. ``/give <member> <amount> [reason]``."""
        parts = [f"/{self.name}"]
        for arg in self.args:
            label = "|".join(arg.choices) if arg.kind == "choice" else arg.name
            parts.append(f"<{label}>" if arg.required else f"[{label}]")
        return " ".join(parts)

    @property
    def help_key(self) -> str:
        """Persona keys ``commands.<name>.summary``, ``.usage`` and ``.example``."""
        return f"commands.{self.name}"


@dataclass(frozen=True)
class ButtonSpec:
    """A button family: data ``prefix:field:field``. A press is client input (forgeable), so
    the dispatcher parses the declared ``fields`` (``int``, ``word`` or ``choice`` ``Arg``s,
    bounded) into ``ctx.args`` before the handler runs; data that does not fit gets the
    "expired" answer and never reaches the handler."""

    prefix: str
    feature: str
    handler: Handler
    fields: tuple[Arg, ...] = ()


@dataclass(frozen=True)
class ListenerSpec:
    kinds: frozenset[str]
    feature: str
    handler: Handler


@dataclass(frozen=True)
class MiddlewareSpec:
    order: int
    feature: str
    handler: Middleware
    when: Switch | None = None


@dataclass(frozen=True, slots=True)
class Switched:
    """What runs in one community (``Registry.switched_on``): its middlewares in order, and
    the observers switched off there (by ``id`` of their spec)."""

    community: Any
    middlewares: tuple[MiddlewareSpec, ...]
    observers_off: frozenset[int]


@dataclass(frozen=True)
class ObserverSpec:
    kinds: frozenset[str]
    feature: str
    handler: Observer
    when: Switch | None = None


@dataclass(frozen=True)
class ReceiverSpec:
    signal: type
    feature: str
    handler: Receiver


@dataclass(frozen=True)
class StopSpec:
    """Work a feature must finish when the bot stops (write what it holds in memory)."""

    name: str
    feature: str
    handler: TickHandler


@dataclass(frozen=True)
class TickSpec:
    name: str
    feature: str
    every: timedelta
    handler: TickHandler


@dataclass
class Feature(Generic[S]):
    """A self-contained feature module's registrations."""

    name: str
    commands: list[CommandSpec] = field(default_factory=list)
    buttons: list[ButtonSpec] = field(default_factory=list)
    listeners: list[ListenerSpec] = field(default_factory=list)
    middlewares: list[MiddlewareSpec] = field(default_factory=list)
    ticks: list[TickSpec] = field(default_factory=list)
    observers: list[ObserverSpec] = field(default_factory=list)
    receivers: list[ReceiverSpec] = field(default_factory=list)
    stops: list[StopSpec] = field(default_factory=list)
    #: Batch handlers by command name (see ``batch``).
    batches: dict[str, BatchHandler] = field(default_factory=dict)
    #: Batch handlers by button prefix (see ``button_batch``).
    button_batches: dict[str, BatchHandler] = field(default_factory=dict)
    #: The ``/help`` section of its commands, unless a command names its own.
    group: HelpGroup = "members"
    #: Makes the feature's in-memory state (caches, recent joins, edits held back) once per
    #: running bot, from its clock; handlers and ticks reach it as ``ctx.state(feature)``.
    state: Callable[[Clock], S] | None = None
    #: Its config section: a pydantic model (the section is named after the feature), or
    #: ``{section: model}`` for a feature with several or a differently named one. Read it
    #: with ``ctx.settings_of(Model)``: the community's overrides applied.
    settings: type[BaseModel] | Mapping[str, type[BaseModel]] | None = None
    #: Where discovery places it (``/help``, listeners): lower first, ties by name.
    order: int = 1000
    #: In a group's ``/help``, one line for the feature: its first command with its summary,
    #: then its other commands by name (``/help NAME`` explains each), so the list grows by
    #: features, not commands; ``False`` lists every command on a line of its own (the basics).
    help_one_line: bool = True

    @property
    def sections(self) -> dict[str, type[BaseModel]]:
        """Its config sections by name."""
        if self.settings is None:
            return {}
        if isinstance(self.settings, Mapping):
            return dict(self.settings)
        return {self.name: self.settings}

    def command(
        self,
        name: str,
        *,
        roles: Iterable[Role] = (),
        args: Iterable[Arg] = (),
        keywords: Iterable[str] = (),
        hidden: bool = False,
        where: Where = "group",
        group: HelpGroup | None = None,
    ) -> Callable[[F], F]:
        """Declare a command. ``where``: in a community (the default), in a private chat with
        the bot, or both; ``group``: its ``/help`` section (default: the feature's)."""
        arguments = tuple(args)
        for position, arg in enumerate(arguments):
            if arg.kind == "text" and position != len(arguments) - 1:
                raise ValueError(f"/{name}: a text argument must come last")

        def register(handler: F) -> F:
            self.commands.append(
                CommandSpec(
                    name=name.lower(),
                    feature=self.name,
                    handler=handler,
                    roles=frozenset(roles),
                    args=arguments,
                    keywords=tuple(keywords),
                    hidden=hidden,
                    where=where,
                    group=group or self.group,
                )
            )
            return handler

        return register

    def button(self, prefix: str, fields: Iterable[Arg] = ()) -> Callable[[F], F]:
        """Handle presses whose data is ``prefix`` or starts with ``prefix:``, followed by one
        ``:``-separated value per declared field (parsed into ``ctx.args``)."""
        declared = tuple(fields)
        for arg in declared:
            if arg.kind not in ("int", "word", "choice"):
                raise ValueError(f"button {prefix}: field {arg.name!r} must be int, word or choice")

        def register(handler: F) -> F:
            self.buttons.append(
                ButtonSpec(prefix=prefix, feature=self.name, handler=handler, fields=declared)
            )
            return handler

        return register

    def on(self, *kinds: str) -> Callable[[F], F]:
        """Listen to events by kind: ``member_joined``, ``member_left``, ``message``, ..."""

        def register(handler: F) -> F:
            self.listeners.append(
                ListenerSpec(kinds=frozenset(kinds), feature=self.name, handler=handler)
            )
            return handler

        return register

    def middleware(self, order: int = 100, *, when: Switch | None = None) -> Callable[[F], F]:
        """Run before routing; return ``False`` to stop the event (the rules gate does).
        ``when(ctx)``: whether it runs at all in the event's community (see ``Switch``)."""

        def register(handler: F) -> F:
            self.middlewares.append(
                MiddlewareSpec(order=order, feature=self.name, handler=handler, when=when)
            )
            return handler

        return register

    def batch(self, command: str) -> Callable[[B], B]:
        """Also handle a run of consecutive uses of ``command`` (one chat, no arguments) in
        one call: the handler takes their contexts and returns one outcome each, in order.
        A burst (``签到`` from hundreds of members) then costs a few statements per batch
        instead of per member. The plain handler stays the reference: if the batch handler
        fails, each event is handled alone, so it must agree with the plain handler."""

        def register(handler: B) -> B:
            self.batches[command] = handler
            return handler

        return register

    def button_batch(self, prefix: str) -> Callable[[B], B]:
        """Like ``batch``, for a run of consecutive presses of buttons with ``prefix`` in one
        chat (their fields parsed into each ``ctx.args``): a rush on one red packet costs one
        transaction, and the presses that come too late are answered without waiting for
        one each."""

        def register(handler: B) -> B:
            self.button_batches[prefix] = handler
            return handler

        return register

    def tick(self, name: str, *, every: timedelta) -> Callable[[F], F]:
        def register(handler: F) -> F:
            self.ticks.append(TickSpec(name=name, feature=self.name, every=every, handler=handler))
            return handler

        return register

    def observe(self, *kinds: str, when: Switch | None = None) -> Callable[[F], F]:
        """Watch events by kind without handling them: ``handler(ctx)`` runs once per update,
        when the dispatcher records it for the first time (never for a duplicate delivery,
        never again when a restart replays it), stale events included. It is synchronous: it
        cannot open a transaction or send, only note in memory (the feature's state); an
        event only watched stays *quiet* (no write of its own, see ``Dispatcher._handle``),
        so watching every message costs microseconds. It must not raise (it is logged).
        ``when(ctx)``: whether it watches at all in the event's community (see ``Switch``)."""

        def register(handler: F) -> F:
            self.observers.append(
                ObserverSpec(kinds=frozenset(kinds), feature=self.name, handler=handler, when=when)
            )
            return handler

        return register

    def receive(self, signal: type) -> Callable[[F], F]:
        """Receive a signal other features emit (``ctx.emit``, ``bot.signals``):
        ``handler(ctx, signal)``, synchronous and in memory, like ``observe``."""

        def register(handler: F) -> F:
            self.receivers.append(ReceiverSpec(signal=signal, feature=self.name, handler=handler))
            return handler

        return register

    def at_stop(self, name: str) -> Callable[[F], F]:
        """Run ``handler(tick_context)`` on the bot's stop path, once every event is handled
        and before the database closes (write what the feature holds in memory)."""

        def register(handler: F) -> F:
            self.stops.append(StopSpec(name=name, feature=self.name, handler=handler))
            return handler

        return register


class RegistryError(Exception):
    """Two features claim the same command, keyword or button prefix."""


#: Texts whose keyword answer is remembered (see ``Registry.keyword``): a few pages of
#: updates between their recording and their handling; the memo holds at most that many
#: message texts (Telegram's are at most 4,096 characters).
KEYWORD_MEMO = 512


def _normal_keyword(text: str) -> str:
    """The exact form: Unicode-compatible (NFKC), case-folded, inner spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


#: Traditional characters of the keywords we ship, to their simplified form (both ways:
#: keywords and messages are compared in simplified form, so an operator's ``簽到`` also
#: answers ``签到``). A small explicit table: a full converter is not needed for a dozen words.
TRADITIONAL = str.maketrans(
    {
        "簽": "签",
        "籤": "签",
        "補": "补",
        "積": "积",
        "發": "发",
        "紅": "红",
        "搶": "抢",
        "龍": "龙",
        "結": "结",
        "議": "议",
        "規": "规",
        "徵": "征",
        "時": "时",
        "區": "区",
        "動": "动",
        "場": "场",
    }
)
#: Longer messages are not compared loosely (a keyword with its decoration is short).
LOOSE_LONGEST = 64
#: Words people add after a keyword without changing it: ``签到了``, ``打卡啦``, ``签到一下``.
PARTICLES = ("一下", "了", "啦")
#: A question is not a command: ``签到？`` keeps its question mark and matches nothing.
_QUESTION = frozenset("?？¿")


def _trailing_noise(char: str) -> bool:
    """Punctuation, symbols (emoji), spaces, marks and format characters, but no question mark."""
    return char not in _QUESTION and unicodedata.category(char)[0] in "PSZCM"


def loose_keyword(text: str) -> str:
    """The loose form a keyword message is matched in (see ``Registry.keyword``): the exact
    form, in simplified characters, without trailing punctuation, emoji and spaces, and
    without one trailing particle (了, 啦, 一下). Linear in the text's length."""
    value = _normal_keyword(text).translate(TRADITIONAL)
    end = len(value)
    for _round in range(2):  # 签到了！ -> 签到了 -> 签到; 签到一下～ -> 签到一下 -> 签到
        while end and _trailing_noise(value[end - 1]):
            end -= 1
        for particle in PARTICLES:
            if end > len(particle) and value.endswith(particle, 0, end):
                end -= len(particle)
                break
        else:
            break
    while end and _trailing_noise(value[end - 1]):
        end -= 1
    return value[:end]


class Registry:
    """Every feature's registrations, indexed for the dispatcher."""

    def __init__(
        self, features: Iterable[Feature], keyword_overrides: Mapping[str, Iterable[str]] = {}
    ) -> None:
        self.features = list(features)
        self.commands: dict[str, CommandSpec] = {}
        self.keywords: dict[str, CommandSpec] = {}
        #: The last text ``keyword`` was asked about, and its answer.
        #: Answers of ``keyword`` for the latest texts asked (at most ``KEYWORD_MEMO``).
        self._keyword_memo: dict[str, tuple[CommandSpec, str] | None] = {}
        self.buttons: list[ButtonSpec] = []
        self.listeners: list[ListenerSpec] = []
        self._listening: dict[str, tuple[int, list[ListenerSpec]]] = {}
        self.middlewares: list[MiddlewareSpec] = []
        self.ticks: list[TickSpec] = []
        self.observers: list[ObserverSpec] = []
        self._watching: dict[str, tuple[ObserverSpec, ...]] = {}
        self._switched: BoundedCache[int, Switched] = BoundedCache(SWITCHED_COMMUNITIES)
        self.receivers: dict[type, list[ReceiverSpec]] = {}
        self.stops: list[StopSpec] = []
        #: Every feature's config sections by name (see ``Settings.with_sections``).
        self.sections: dict[str, type[BaseModel]] = {}
        for feature in self.features:
            for section, model in feature.sections.items():
                if section in self.sections:
                    raise RegistryError(f"config section [{section}] is declared twice")
                self.sections[section] = model
            for spec in feature.commands:
                if spec.name in self.commands:
                    raise RegistryError(f"/{spec.name} is registered twice")
                self.commands[spec.name] = spec
            self.buttons.extend(feature.buttons)
            self.listeners.extend(feature.listeners)
            self.middlewares.extend(feature.middlewares)
            self.ticks.extend(feature.ticks)
            self.observers.extend(feature.observers)
            for receiver in feature.receivers:
                self.receivers.setdefault(receiver.signal, []).append(receiver)
            self.stops.extend(feature.stops)
        self.batches: dict[str, BatchHandler] = {}
        for feature in self.features:
            for name, handler in feature.batches.items():
                spec = self.commands.get(name)
                if spec is None or spec.args or spec.roles:
                    raise RegistryError(
                        f"/{name}: a batch needs a command without arguments or roles"
                    )
                self.batches[name] = handler
        self.button_batches: dict[str, BatchHandler] = {}
        for feature in self.features:
            for prefix, handler in feature.button_batches.items():
                if not any(spec.prefix == prefix for spec in feature.buttons):
                    raise RegistryError(f"button {prefix}: a batch needs the feature's button")
                self.button_batches[prefix] = handler
        unknown = set(keyword_overrides) - set(self.commands)
        if unknown:
            raise RegistryError(f"keywords for unknown commands: {', '.join(sorted(unknown))}")
        #: Keywords in their loose form (``loose_keyword``), for messages that match no
        #: keyword exactly.
        self.loose_keywords: dict[str, CommandSpec] = {}
        loose_origin: dict[str, str] = {}
        #: Each command's keywords as configured (``[keywords]`` overrides the declared ones).
        self.keywords_of: dict[str, tuple[str, ...]] = {}
        for spec in self.commands.values():
            words = tuple(keyword_overrides.get(spec.name, spec.keywords))
            self.keywords_of[spec.name] = words
            for word in words:
                key = _normal_keyword(word)
                if not key:
                    raise RegistryError(f"/{spec.name} has a blank keyword")
                if key in self.keywords:
                    raise RegistryError(f"keyword {word!r} is registered twice")
                self.keywords[key] = spec
                loose = loose_keyword(word)
                if not loose:
                    continue
                other = self.loose_keywords.get(loose)
                if other is not None and other is not spec:
                    raise RegistryError(
                        f"keywords {loose_origin[loose]!r} and {word!r} read the same when "
                        "matched loosely (trailing punctuation, 了/啦/一下, traditional characters)"
                    )
                self.loose_keywords[loose] = spec
                loose_origin.setdefault(loose, word)
        #: The first characters of every keyword, exact or loose: an ASCII message starting
        #: with none of them matches nothing (see ``_keyword``).
        self._keyword_starts = frozenset(k[0] for k in [*self.keywords, *self.loose_keywords])
        self.middlewares.sort(key=lambda spec: spec.order)
        prefixes = [spec.prefix for spec in self.buttons]
        if len(prefixes) != len(set(prefixes)):
            raise RegistryError("a button prefix is registered twice")

    def keyword(self, text: str) -> tuple[CommandSpec, str] | None:
        """The command a keyword message triggers, with its argument text.

        How loose: the keyword must be the whole message, compared after NFKC and case
        folding, in simplified characters (``簽到`` is ``签到``), ignoring trailing
        punctuation, emoji and spaces and one trailing 了, 啦 or 一下 (``签到！``, ``打卡了``,
        ``签到一下～``). A question (``签到？``) and anything else around the keyword match
        nothing. A command that takes arguments also answers its keyword, in the same loose
        form, followed by a space and them (``发红包 100 10``). Every check is one pass over
        the text and one dictionary lookup, and registration refuses two keywords with the
        same loose form, so a message never matches two commands.
        """
        # Each message is asked about three times: by the insights capture as a page is
        # recorded, then by the dispatcher as it is handled (is it a batchable keyword, then
        # which command). The page's texts are remembered in between: a text's hash is cached
        # in the string, so a later answer is one dictionary look-up. Keywords never change
        # once registered, so a remembered answer stays right.
        memo = self._keyword_memo
        try:
            return memo[text]
        except KeyError:
            pass
        found = self._keyword(text)
        if len(memo) >= KEYWORD_MEMO:
            del memo[next(iter(memo))]  # the oldest first
        memo[text] = found
        return found

    def _keyword(self, text: str) -> tuple[CommandSpec, str] | None:
        normal = _normal_keyword(text)
        if normal.isascii() and normal[:1] not in self._keyword_starts:
            # Plain chatter, at no cost: on ASCII, normalizing and simplified characters
            # change nothing but case and spaces, so every form looked up below (the whole
            # message, loosely, its first word) starts with this character.
            return None
        spec = self.keywords.get(normal)
        if spec is not None:
            return spec, ""
        if len(normal) <= LOOSE_LONGEST:
            spec = self.loose_keywords.get(loose_keyword(normal))
            if spec is not None:
                return spec, ""
        # Any white space separates the keyword from its arguments: the ideographic space of
        # Chinese input methods too (``发红包　１００　５``).
        parts = text.split(maxsplit=1)
        if len(parts) < 2:
            return None
        first, rest = parts
        spec = self.keywords.get(_normal_keyword(first))
        if spec is None and len(first) <= LOOSE_LONGEST:
            spec = self.loose_keywords.get(loose_keyword(first))
        if spec is None or not spec.args:
            return None
        return spec, rest.strip()

    def button(self, data: str) -> ButtonSpec | None:
        for spec in self.buttons:
            if data == spec.prefix or data.startswith(spec.prefix + ":"):
                return spec
        return None

    def listening(self, kind: str) -> list[ListenerSpec]:
        # Asked for every event: remembered per kind, and anew if a listener was added since.
        known = self._listening.get(kind)
        if known is None or known[0] != len(self.listeners):
            known = (len(self.listeners), [s for s in self.listeners if kind in s.kinds])
            self._listening[kind] = known
        return known[1]

    def watching(self, kind: str) -> tuple[ObserverSpec, ...]:
        """The observers of events of ``kind`` (asked for every recorded event: remembered)."""
        known = self._watching.get(kind)
        if known is None:
            known = tuple(spec for spec in self.observers if kind in spec.kinds)
            self._watching[kind] = known
        return known

    def switched_on(self, ctx: Any) -> Switched:
        """The middlewares and observers that run in ``ctx``'s community: the unswitched ones
        and those whose ``when`` says so there. Remembered per community while its
        ``CommunityInfo`` is the same object (a change of its settings arrives as a new one);
        every event asks, so a repeat costs one look-up."""
        community = ctx.community
        known = self._switched.get(community.id)
        if known is not None and known.community is community:
            return known
        on = {
            id(spec)
            for spec in [*self.middlewares, *self.observers]
            if spec.when is not None and spec.when(ctx)
        }
        found = Switched(
            community,
            tuple(s for s in self.middlewares if s.when is None or id(s) in on),
            frozenset(id(s) for s in self.observers if s.when is not None and id(s) not in on),
        )
        self._switched.put(community.id, found)
        return found

    def visible_commands(self) -> list[CommandSpec]:
        return [spec for spec in self.commands.values() if not spec.hidden]
