"""Helpers several features share: the persona's voice outside an event, message edits
coalesced under the platforms' limits, and local times typed by members."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions import ActionResult, AnswerButton, Notify, Reply
from bot.cache import BoundedCache, seconds_of
from bot.clock import Clock
from bot.context import Context, TickContext
from bot.events import ButtonPressed
from bot.features import Arg, Feature
from bot.permissions import Role
from bot.richtext import Mention, RichText
from persona import Persona
from persona.render import Occasion
from storage.communities import CommunityInfo
from storage.members import MemberInfo

__all__ = [
    "CoalescedEdits",
    "Voice",
    "answer_press",
    "home_of",
    "mentions",
    "parse_local_time",
    "set_override",
    "settings_command",
    "snippet",
    "store_override",
    "tell_privately",
    "visible_length",
    "voice_for",
]


@dataclass(frozen=True, slots=True)
class Voice:
    """The persona's words for a community, usable from a tick (no event) as from a handler."""

    ctx: TickContext
    persona: Persona
    seed: str
    #: Who is addressed, when: the wording then rotates per day and follows the hour
    #: (greetings); without it, it is chosen from ``seed`` (an object's messages).
    occasion: Occasion | None = field(default=None, kw_only=True)
    #: The names members asked to be called there (``/callme``), by platform user id, as
    #: this process knows them (``MomentRepo.names_of``).
    called: Mapping[str, str] = field(default_factory=dict, kw_only=True)

    def say(self, intent: str, **values: Any) -> RichText:
        return self.ctx.renderer.render(
            self.persona, intent, seed=self.seed, occasion=self.occasion, **values
        )

    def address(self, user_id: str, name: str) -> RichText:
        return self.ctx.renderer.address(self.persona, user_id, self.called.get(user_id, name))


def voice_for(
    ctx: TickContext, community: CommunityInfo, seed: str, occasion: Occasion | None = None
) -> Voice:
    called = ctx.store.moments.names_of(community.id) or {}
    return Voice(ctx, ctx.persona_for(community), seed, occasion=occasion, called=called)


#: Live messages whose last edit is remembered at once (least recently edited go first: at
#: worst one is edited a little early).
EDITS_KEPT = 10_000


class CoalescedEdits:
    """When to edit a live message (counts, sign-ups). Platforms count an edit as a message
    (Telegram: about 20 a minute in a group), so a busy message is edited at most every
    ``every``: the first change edits at once, later ones mark it stale for a tick to catch
    up, and a final change always edits. One per running bot, in memory (a feature's state,
    ``ctx.state(feature)``): after a restart the next change edits. An
    edit is remembered only for ``every`` (then it no longer holds the next one back), and at
    most ``EDITS_KEPT`` at once."""

    def __init__(self, every: timedelta, clock: Clock) -> None:
        self.every = every
        self._edited: BoundedCache[Hashable, datetime] = BoundedCache(
            EDITS_KEPT, every.total_seconds(), clock=seconds_of(clock)
        )
        #: Bounded without a cache: the feature's tick takes (and empties) it every few
        #: seconds, so it holds only the messages changed since the last tick.
        self._stale: set[Hashable] = set()

    def now_or_later(self, ctx: TickContext, key: Hashable, *, final: bool = False) -> bool:
        """``True``: edit now (and it counts as done); ``False``: it was marked stale."""
        edited, stale = self._edited, self._stale
        last = edited.get(key)
        if final or last is None:
            stale.discard(key)
            if final:
                edited.pop(key, None)
            else:
                edited[key] = ctx.now
            return True
        stale.add(key)
        return False

    def take_stale(self, ctx: TickContext) -> list[Hashable]:
        """The stale keys, now counted as edited (the caller edits them)."""
        taken = sorted(self._stale, key=repr)
        self._stale.clear()
        for key in taken:
            self._edited[key] = ctx.now
        return taken


_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_TIME = re.compile(r"(\d{1,2})[:：](\d{2})")


def parse_local_time(day: str, clock: str, zone: ZoneInfo) -> datetime | None:
    """``2026-12-01`` and ``20:00`` read in the community's zone, as an aware datetime (a
    time that falls in a daylight-saving gap is read as the zone reads it); ``None`` when
    either part is not a real date or time."""
    day_match, time_match = _DATE.fullmatch(day), _TIME.fullmatch(clock)
    if day_match is None or time_match is None:
        return None
    try:
        when = date(int(day_match[1]), int(day_match[2]), int(day_match[3]))
        at = time(int(time_match[1]), int(time_match[2]))
    except ValueError:
        return None
    return datetime.combine(when, at, tzinfo=zone)


async def store_override(
    ctx: Context, session: AsyncSession, model: type[BaseModel], key: str, value: Any
) -> None:
    """Store this community's override of one key of ``model``'s section (``None``: the
    configured value applies again); ``ctx.settings_of(model)`` reads it back."""
    section = ctx.settings.section_name(model)
    await ctx.store.communities.set_override(
        session, ctx.community.id, section, key, value, ctx.now
    )


def _setting_label(ctx: Context, intents: str, name: str) -> RichText:
    """A setting as operators read it: its localized name with the key they type."""
    key = f"{intents}.setting.{name}"
    shown = ctx.say(key).plain() if ctx.renderer.packs.has(key) else name
    return ctx.say(f"{intents}.setting_label", name=shown, key=name)


def _setting_value(ctx: Context, intents: str, value: object) -> str:
    """A setting's value in the community's language (``true`` reads 能/yes, a choice its
    name), numbers as they are."""
    word = str(value).lower() if isinstance(value, bool) else str(value)
    key = f"{intents}.setting_value.{word}"
    return ctx.say(key).plain() if ctx.renderer.packs.has(key) else word


async def set_override(ctx: Context, model: type[BaseModel], intents: str) -> Reply:
    """An admin's ``/<feature>set [KEY VALUE]``: without arguments show the settings in
    force (localized names and values, with the keys to type), else validate and store one
    override (audited). Replies use the intents ``<intents>.settings``, ``.setting_line``,
    ``.bad_setting`` and ``.setting_saved``; names and values come from
    ``<intents>.setting.<key>`` and ``<intents>.setting_value.<value>``."""
    current = ctx.settings_of(model)
    name, value = ctx.args["key"], ctx.args["value"]
    if name is None or value is None:
        lines = [
            ctx.say(
                f"{intents}.setting_line",
                label=_setting_label(ctx, intents, field),
                value=_setting_value(ctx, intents, getattr(current, field)),
            )
            for field in model.model_fields
        ]
        return ctx.reply(f"{intents}.settings", settings=RichText.join(lines))
    section = ctx.settings.section_name(model)
    overrides = dict(ctx.community.settings.get(section) or {})
    overrides[name] = value
    try:
        changed = model.model_validate({**current.model_dump(), **overrides})
    except ValidationError:
        return ctx.reply(f"{intents}.bad_setting", private=True, key=name, value=value)
    async with ctx.store.transaction() as session:
        await store_override(ctx, session, model, name, value)
        await ctx.audit(session, f"{intents}.settings", key=name, value=value)
    return ctx.reply(
        f"{intents}.setting_saved",
        key=_setting_label(ctx, intents, name),
        value=_setting_value(ctx, intents, getattr(changed, name)),
    )


def settings_command(feature: Feature, name: str, model: type[BaseModel], intents: str) -> None:
    """Declare ``feature``'s admin command ``/<name> [KEY VALUE]`` over ``model`` (its keys are
    the choices): it shows or changes one setting as ``set_override`` does, with the replies
    of ``intents``. One declaration, so every feature's settings command reads the same."""

    async def set_settings(ctx: Context) -> Reply:
        return await set_override(ctx, model, intents)

    feature.command(
        name,
        roles=[Role.ADMIN],
        group="settings",
        args=[
            Arg("key", "choice", required=False, choices=tuple(model.model_fields)),
            Arg("value", "word", required=False),
        ],
    )(set_settings)


def answer_press(ctx: Context, note: RichText | str) -> AnswerButton:
    """The private ``note`` to whoever pressed ``ctx``'s button (every press is answered: the
    platform shows it to the presser alone and stops its spinner)."""
    event = ctx.event
    assert isinstance(event, ButtonPressed)
    return AnswerButton(
        platform=event.platform,
        chat_id=event.chat.id,
        channel_id=event.channel_id,
        press_id=event.press_id,
        text=note if isinstance(note, str) else note.plain(),
    )


async def tell_privately(ctx: Context, text: RichText) -> ActionResult:
    """Tell the sender ``text`` privately and wait: a group message has no caller-only
    answer, so what is theirs alone goes by ``Notify`` (a mention in the chat asking them to
    open a private chat when the platform refuses: ``detail`` ``"mentioned"``)."""
    assert ctx.sender is not None
    return await ctx.perform(
        Notify(
            platform=ctx.event.platform,
            chat_id=ctx.event.chat.id,
            channel_id=ctx.event.channel_id,
            user_id=ctx.sender.id,
            text=text,
            fallback="mention",
        )
    )


class _Person(Protocol):
    @property
    def display_name(self) -> str: ...

    @property
    def platform_user_id(self) -> str: ...


def mentions(people: Iterable[_Person], separator: str) -> RichText:
    """``people`` mentioned one after another (each a real mention, so they are notified),
    ``separator`` between them."""
    parts: list[Any] = []
    for n, person in enumerate(people):
        if n:
            parts.append(separator)
        parts.append(Mention(text=person.display_name, user_id=person.platform_user_id))
    return RichText.of(*parts)


def visible_length(text: str) -> int:
    """How many characters of member text show: zero-width spaces, joiners and bidi marks
    (categories C and Z) do not, so they can neither fill a length minimum nor make an
    empty-looking question, reminder or entry."""
    return sum(not unicodedata.category(char).startswith(("C", "Z")) for char in text)


def snippet(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis (lists, notices)."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


async def home_of(ctx: Context, pack: str) -> tuple[CommunityInfo, MemberInfo] | Reply:
    """The community and membership something a member says belongs to: this group, or, said
    in private, the one group they share with the bot; otherwise a private answer from
    ``pack`` (``PACK.no_group``, ``PACK.several_groups`` naming them with ``PACK.separator``)."""
    assert ctx.sender is not None
    if not ctx.is_private:
        assert ctx.member is not None
        return ctx.community, ctx.member
    async with ctx.store.transaction() as session:
        homes = await ctx.store.communities.homes(session, ctx.event.platform, ctx.sender.id)
    if not homes:
        return ctx.reply(f"{pack}.no_group", private=True)
    if len(homes) > 1:
        separator = ctx.say(f"{pack}.separator").plain()
        names = separator.join(c.title or c.chat_id for c, _ in homes)
        return ctx.reply(f"{pack}.several_groups", private=True, groups=names)
    return homes[0]
