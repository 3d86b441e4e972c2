"""What a handler sees: the event, the community and member, storage, time and the persona.

Handlers build actions through the context (``ctx.reply("intent", ...)``) so every sentence
comes from the persona pack and is addressed to the right chat.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions import Action, ActionResult, Button, Reply, Send
from bot.clock import Clock
from bot.config import Settings
from bot.events import ChatType, EventBase, MessageEvent, User
from bot.features import CommandSpec, Feature
from bot.permissions import Role, allowed, owner_keys
from bot.richtext import Code, RichText
from bot.runtime import Commands, Runtime
from bot.signals import Signal
from persona import Persona
from persona.render import Occasion
from storage.communities import CommunityInfo
from storage.members import MemberInfo

__all__ = [
    "PERSONA_CHOICES",
    "Context",
    "TickContext",
    "addressee",
    "as_actions",
    "local_date",
    "resolve_persona",
]

#: The namespace of a community's settings holding its persona preset and emoji habit
#: (``{"preset": "sister", "emoji": 1}``, written by ``/persona preset``).
PERSONA_CHOICES = "_persona"

Buttons = Sequence[Sequence[Button]]
S = TypeVar("S")
M = TypeVar("M", bound=BaseModel)


def local_date(moment: datetime, zone: ZoneInfo, reset_hour: int = 0) -> date:
    """The community's "today" at ``moment``: local time, with days starting at ``reset_hour``."""
    return (moment.astimezone(zone) - timedelta(hours=reset_hour)).date()


def addressee(platform: str, chat_id: str, user_id: str) -> str:
    """Who an ``Occasion`` names: a member in one chat (a private chat is another place)."""
    return f"{platform}:{chat_id}|{user_id}"


def resolve_persona(
    settings: Settings,
    community: CommunityInfo | None,
    texts: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None,
) -> Persona:
    """Config persona with the community's overrides applied (the persona columns, its preset
    and emoji in ``PERSONA_CHOICES``); ``texts``: the community's own texts by language
    (``store.persona_texts.of``)."""
    base = settings.persona
    locale = (community and community.persona_locale) or base.locale
    chosen = community.settings.get(PERSONA_CHOICES) if community else None
    chosen = chosen if isinstance(chosen, dict) else {}
    preset = chosen.get("preset") if isinstance(chosen.get("preset"), str) else ""
    emoji = chosen.get("emoji") if chosen.get("emoji") in (0, 1, 2) else None
    return Persona(
        name=(community and community.persona_name) or base.name,
        tone=(community and community.persona_tone) or base.tone,  # type: ignore[arg-type]
        locale=locale,  # type: ignore[arg-type]
        # The configured honorific is written in the configured language; in another
        # language the pack's own form reads right ("Dear Bob", not "亲爱的Bob"). A preset
        # brings its own (from the pack, in the persona's language).
        honorific=base.honorific if locale == base.locale and not preset else "",
        emoji=base.emoji if emoji is None else emoji,
        preset=preset,
        texts=(texts or {}).get(locale, {}),
    )


class TickContext:
    """What a scheduled tick sees: no event, but storage, time, the persona and a way to act."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.clock: Clock = runtime.clock
        self.renderer = runtime.renderer
        self.settings: Settings = runtime.settings

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def persona_for(self, community: CommunityInfo) -> Persona:
        return resolve_persona(self.settings, community, self.store.persona_texts.of(community.id))

    def settings_of(self, model: type[M], community: CommunityInfo | None = None) -> M:
        """A config section, typed (``ctx.settings_of(PollSettings)``), with ``community``'s
        overrides applied (its namespace in the community's settings); without a community,
        as configured."""
        if community is None:
            return self.settings.section(model)
        return self.settings.section_for(model, community.settings, community.id)

    def zone_for(self, community: CommunityInfo) -> ZoneInfo:
        return ZoneInfo(community.timezone or self.settings.community.timezone)

    def occasion_for(
        self, community: CommunityInfo, who: str, zone: ZoneInfo | None = None
    ) -> Occasion:
        """Saying something to ``who`` now: the community's day (its zone and reset hour)
        turns the wording, the hour in ``zone`` (the addressee's; else the community's)
        picks the part of the day."""
        reset = community.day_reset_hour
        reset = self.settings.community.day_reset_hour if reset is None else reset
        home = self.zone_for(community)
        day = local_date(self.now, home, reset).toordinal()
        return Occasion(who=who, day=day, hour=self.now.astimezone(zone or home).hour)

    @property
    def commands(self) -> Commands:
        """The command catalogue (``/help`` reads it)."""
        return self.runtime.commands

    def state(self, feature: Feature[S]) -> S:
        """The feature's in-memory state in this running bot (made by ``feature.state``)."""
        return self.runtime.state(feature)

    async def perform(self, action: Action) -> ActionResult:
        """Perform one action and wait for its result: for ticks (they return no outcome) and
        for a handler that needs the result before it goes on (a pin names the posted
        message's id; a mute lands before the question; a refusal changes what is said). A
        message that stands for a row is returned anchored instead (``storage.posts``)."""
        return await self.runtime.perform(action)

    async def is_admin(self, platform: str, chat_id: str, user_id: str) -> bool:
        """Whether the platform says the user administers that chat (cached briefly)."""
        return await self.runtime.is_admin(platform, chat_id, user_id)

    async def holders(self, platform: str, chat_id: str, role: Role) -> list[str]:
        """Who a ``Notify`` to ``role`` in that community would reach (owners, the platform's
        admins, members granted it): a tick asks before it writes something costly for them."""
        return await self.runtime.holders(platform, chat_id, role)

    def token_hex(self, nbytes: int) -> str:
        """A random token (a red packet's seed); repeatable in console demos."""
        return self.runtime.entropy(nbytes)


class Context(TickContext):
    """One event being handled."""

    def __init__(
        self,
        runtime: Runtime,
        event: EventBase,
        community: CommunityInfo,
        member: MemberInfo | None,
    ) -> None:
        super().__init__(runtime)
        self.event = event
        self.community = community
        self.member = member
        self.command: CommandSpec | None = None
        #: Parsed arguments of the command, by declared name.
        self.args: dict[str, Any] = {}
        self._roles: frozenset[Role] | None = None

    def settings_of(self, model: type[M], community: CommunityInfo | None = None) -> M:
        """A config section, typed, with this community's overrides applied (see
        ``TickContext.settings_of``); cached per community, so it is cheap per message (and
        asked several times per message: no ``super()`` call on the way)."""
        where = community or self.community
        return self.settings.section_for(model, where.settings, where.id)

    @cached_property
    def persona(self) -> Persona:
        """The persona speaking here: resolved when first needed (most chatter needs none);
        a handler that changes the community's persona sets it anew."""
        return self.persona_for(self.community)

    # -- time -----------------------------------------------------------------------------
    @property
    def zone(self) -> ZoneInfo:
        return self.zone_for(self.community)

    @property
    def day_reset_hour(self) -> int:
        reset = self.community.day_reset_hour
        return self.settings.community.day_reset_hour if reset is None else reset

    def today(self) -> date:
        return local_date(self.now, self.zone, self.day_reset_hour)

    # -- who ------------------------------------------------------------------------------
    @property
    def sender(self) -> User | None:
        return self.event.sender

    @property
    def is_private(self) -> bool:
        return self.event.chat.type is ChatType.PRIVATE

    async def roles(self) -> frozenset[Role]:
        """The sender's roles here: owner (config), admin (platform, this chat only), granted."""
        if self._roles is None:
            self._roles = await self.roles_of(self.event.sender, self.member)
        return self._roles

    async def roles_of(self, user: User | None, member: MemberInfo | None) -> frozenset[Role]:
        if user is None:
            return frozenset()
        held: set[Role] = set()
        if (self.event.platform, user.id) in owner_keys(self.settings.owners.ids):
            held.add(Role.OWNER)
        is_sender = self.event.sender is not None and user.id == self.event.sender.id
        if is_sender and self.event.sender_is_admin is not None:
            admin = self.event.sender_is_admin
        else:
            admin = await self.is_admin(self.event.platform, self.event.chat.id, user.id)
        if admin and not self.is_private:
            held.add(Role.ADMIN)
        if member is not None:
            async with self.store.transaction() as session:
                held |= {Role(r) for r in await self.store.roles.of_member(session, member.id)}
        return frozenset(held)

    async def refusal(self, required: Iterable[Role]) -> Reply | None:
        """A polite refusal when the sender lacks every role in ``required``; ``None`` if allowed."""
        needed = sorted(set(required))
        if not needed or allowed(await self.roles(), needed):
            return None
        separator = self.say("roles.separator").plain()
        names = separator.join(self.say(f"roles.{role.value}").plain() for role in needed)
        return self.reply("error.not_allowed", private=True, roles=names)

    def emit(self, signal: Signal) -> None:
        """Tell watching features (insights) what the sender just did: call it after the
        change is committed, and only when it happened now (a new check-in, not one already
        done), so a redelivered or replayed update never emits twice. In memory; no I/O."""
        self.runtime.emit(self, signal)

    # -- words ----------------------------------------------------------------------------
    @property
    def member_zone(self) -> ZoneInfo:
        """The sender's own zone (``/timezone``), else the community's."""
        own = self.member.timezone if self.member is not None else None
        if own:
            try:
                return ZoneInfo(own)
            except (ZoneInfoNotFoundError, ValueError, OSError):  # a zone this system lacks
                pass
        return self.zone

    def occasion(self) -> Occasion:
        """The sender in this chat, today, at their local hour: what turns the wording."""
        who = self.event.sender.id if self.event.sender else "-"
        place = addressee(self.event.platform, self.event.chat.id, who)
        return self.occasion_for(self.community, place, self.member_zone)

    def say(self, intent: str, **values: Any) -> RichText:
        """Render an intent in this community's persona, worded for the sender today."""
        return self.renderer.render(self.persona, intent, occasion=self.occasion(), **values)

    def usage(self, spec: CommandSpec | None = None) -> Code:
        """How to use a command: the pack's localized usage, else the generated syntax."""
        spec = spec or self.command
        assert spec is not None
        key = f"{spec.help_key}.usage"
        text = self.say(key).plain() if self.renderer.packs.has(key) else spec.syntax()
        return Code(text=text)

    def address(self, user: User | MemberInfo) -> RichText:
        """A member as the persona addresses them (honorific + mention), by the name they
        asked to be called here (``/callme``) when they did."""
        if isinstance(user, MemberInfo):
            user_id, name = user.platform_user_id, user.display_name
        else:
            user_id, name = user.id, user.name
        called = self.store.moments.names_of(self.community.id)
        if called:
            name = called.get(user_id, name)
        return self.renderer.address(self.persona, user_id, name)

    def reply(
        self, intent: str, *, private: bool = False, buttons: Buttons = (), **values: Any
    ) -> Reply:
        """Answer the event's message (or post in its chat when there is no message)."""
        return self.reply_text(self.say(intent, **values), private=private, buttons=buttons)

    def reply_text(self, text: RichText, *, private: bool = False, buttons: Buttons = ()) -> Reply:
        message_id = self.event.message_id if isinstance(self.event, MessageEvent) else None
        return Reply(
            platform=self.event.platform,
            chat_id=self.event.chat.id,
            channel_id=self.event.channel_id,
            to_message_id=message_id,
            text=text,
            buttons=tuple(tuple(row) for row in buttons),
            private=private,
        )

    def send(self, intent: str, *, buttons: Buttons = (), **values: Any) -> Send:
        return Send(
            platform=self.event.platform,
            chat_id=self.event.chat.id,
            channel_id=self.event.channel_id,
            text=self.say(intent, **values),
            buttons=tuple(tuple(row) for row in buttons),
        )

    async def audit(
        self,
        session: AsyncSession,
        action: str,
        *,
        target: MemberInfo | None = None,
        **detail: Any,
    ) -> None:
        """Write an audit entry for a change made by the sender, in the change's own transaction."""
        await self.store.audit.add(
            session,
            community_id=self.community.id,
            actor_member_id=self.member.id if self.member else None,
            target_member_id=target.id if target else None,
            action=action,
            detail=detail,
            now=self.now,
        )


def as_actions(result: Action | Iterable[Action] | None) -> list[Action]:
    """Handlers may return one action, several, or none."""
    if result is None:
        return []
    if isinstance(result, BaseModel):  # a model is iterable (its fields): test it first
        return [result]  # type: ignore[list-item]
    return list(result)
