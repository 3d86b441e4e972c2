"""``/persona``: show the community's persona; operators rename it or change tone and language,
pick a ready-made character (``preset``), replace what it says (``say``) and hear it
(``preview``). Also measures whether the persona works: replies to its welcomes and reminders
and how soon welcomed members first speak, per preset (``/stats persona``, the weekly digest).

Presets: a ready-made character sets name, tone, honorific and emoji (never the language).
Their names, one-line descriptions and honorifics are in the packs
(``persona.preset.<id>.*``), so each language has its own.

Replacements: ``persona.voice`` states which keys and which texts; they are stored per
language (``storage.persona_voice``) and held in memory for the renderer.

Measuring stays off the chatter path: a welcome is recorded when it is sent (a posted object,
so its message id is bound by the dispatcher); a message is looked up only when it replies to
the bot (one guarded ``UPDATE``), and a welcomed member's first message is recognised in
memory (``Watch``), written once.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.actions import ActionResult, Anchor, Reply, Send
from bot.clock import Clock
from bot.context import PERSONA_CHOICES, Context, TickContext
from bot.events import MessageEvent, Reacted, User
from bot.features import Arg, Feature
from bot.permissions import Role
from bot.richtext import RichText
from persona import LOCALES, TONES, format_duration, locale_named
from persona.voice import (
    check_variants,
    close_keys,
    is_overridable,
    overridable_keys,
    split_variants,
)
from storage.communities import CommunityInfo
from storage.persona_voice import KEY_LEN, MAX_KEYS, REFRESH, PersonaSendRepo, PresetEffect

__all__ = [
    "FIELDS",
    "NAME_MAX",
    "NAME_RULE",
    "PRESETS",
    "Hooks",
    "MilestoneEffect",
    "PersonaEffect",
    "Preset",
    "effect_lines",
    "feature",
    "hooks",
    "normalized",
    "persona_effect",
    "preset_named",
    "tracked_reminder",
    "tracked_welcome",
    "value_problem",
]


class Watch:
    """Welcomed members who have not spoken yet, by ``(community id, member id)`` -> the
    welcome's row; read from the database every ``REFRESH`` (a restart loses nothing)."""

    LIMIT = 100_000

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.waiting: dict[tuple[int, int], int] = {}
        self.loaded_at: datetime | None = None
        #: One reading at a time: many events arriving when it is stale read once.
        self.reading = asyncio.Lock()

    def stale(self, now: datetime) -> bool:
        """Asked for every event: two comparisons, nothing built."""
        loaded = self.loaded_at
        return loaded is None or not loaded <= now < loaded + REFRESH

    def add(self, community_id: int, member_id: int, row_id: int) -> None:
        if len(self.waiting) >= self.LIMIT:
            self.waiting.pop(next(iter(self.waiting)))  # the oldest goes first
        self.waiting[(community_id, member_id)] = row_id


feature: Feature[Watch] = Feature("persona", group="settings", order=170, state=Watch)

FIELDS = ("name", "tone", "locale")
#: Everything ``/persona reset`` puts back to the configured persona.
ALL_FIELDS = (*FIELDS, "preset", "emoji")
NAME_MAX = 32
NAME_RULE = "name-rule"  # marker: the persona explains the rule for names
ACTIONS = ("set", "reset", "preset", "say", "preview")
#: ``/persona say KEY set ...``: ten variants of 500 characters and their separators.
SAY_MAX = 6000
#: ``/stats persona`` covers this many days; so does the digest's block (its week).
EFFECT_DAYS = 30


@dataclass(frozen=True)
class Preset:
    """A ready-made character: its id (what operators type), tone and emoji habit; its name,
    description and honorific are in the packs (``persona.preset.<id>.*``)."""

    id: str
    tone: str
    emoji: int


PRESETS: tuple[Preset, ...] = (
    Preset("sister", "warm", 1),
    Preset("monitor", "lively", 1),
    Preset("assistant", "professional", 0),
    Preset("mascot", "lively", 2),
)


@feature.command(
    "persona",
    args=[
        Arg("action", "choice", required=False, choices=ACTIONS),
        Arg("rest", "text", required=False, max_length=SAY_MAX),
    ],
)
async def persona(ctx: Context) -> Reply:
    action, rest = ctx.args["action"], (ctx.args["rest"] or "").strip()
    if action is None:
        current = ctx.persona
        return ctx.reply(
            "persona.show",
            name=current.name,
            tone=_shown(ctx, "tone", current.tone),
            locale=_shown(ctx, "locale", current.locale),
        )
    if action == "preview":
        return _preview(ctx) if not rest else ctx.reply("error.usage", usage=ctx.usage())
    if action == "preset" and not rest:
        return _presets(ctx)
    if action == "say" and len(rest.split()) == 1:
        return _say_shown(ctx, rest)
    refusal = await ctx.refusal([Role.ADMIN])
    if refusal is not None:
        return refusal
    if action == "preset":
        return await _preset(ctx, rest)
    if action == "say":
        return await _say(ctx, rest)
    return await _set_or_reset(ctx, action, rest)


async def _set_or_reset(ctx: Context, action: str, rest: str) -> Reply:
    field, _, value = rest.partition(" ")
    field, value = field.strip(), value.strip()
    if field and field.casefold() not in FIELDS:
        choices = " / ".join(FIELDS)
        return ctx.reply("error.bad_choice", value=field, choices=choices, usage=ctx.usage())
    field = field.casefold()
    if action == "reset":
        if value:
            return ctx.reply("error.usage", usage=ctx.usage())
        changes: dict[str, Any] = dict.fromkeys([field] if field else ALL_FIELDS)
    else:
        if not field or not value:
            return ctx.reply("error.usage", usage=ctx.usage())
        problem = value_problem(field, value)
        if problem == NAME_RULE:
            problem = ctx.say("persona.name_rule", max=NAME_MAX).plain()
        if problem is not None:
            label = ctx.say(f"persona.field.{field}").plain()
            return ctx.reply("persona.bad_value", field=label, choices=problem)
        changes = {field: normalized(field, value)}
    await _change(ctx, f"persona.{action}", changes)
    if action == "reset":
        return ctx.reply("persona.reset", name=ctx.persona.name)
    label = ctx.say(f"persona.field.{field}").plain()
    return ctx.reply("persona.changed", field=label, value=_shown(ctx, field, changes[field]))


async def _change(ctx: Context, action: str, changes: dict[str, Any], **detail: Any) -> None:
    """Write persona fields and their audit entry in one transaction; answer in the new voice
    afterwards (the change is the proof)."""
    communities, cid = ctx.store.communities, ctx.community.id
    chosen = dict(ctx.community.settings.get(PERSONA_CHOICES) or {})
    async with ctx.store.transaction() as session:
        for name, new in changes.items():
            if name in FIELDS:
                await communities.set_persona(session, cid, name, new, ctx.now)
            elif new is None:
                chosen.pop(name, None)
            else:
                chosen[name] = new
        if chosen != (ctx.community.settings.get(PERSONA_CHOICES) or {}):
            await communities.replace_overrides(
                session, cid, [PERSONA_CHOICES], {PERSONA_CHOICES: chosen}, ctx.now
            )
        community = await communities.get(session, cid)
        await ctx.audit(session, action, changes=changes, **detail)
    assert community is not None
    ctx.community = community
    ctx.persona = ctx.persona_for(community)


def _shown(ctx: Context, field: str, value: str | None) -> str:
    """A tone or language by its name in the persona's language ("温柔（warm）"); a name as is."""
    key = f"persona.{field}_{value}"
    if field in ("tone", "locale") and ctx.renderer.packs.has(key):
        return ctx.say(key).plain()
    return str(value)


def normalized(field: str, value: str) -> str:
    value = value.strip()
    if field == "tone":
        return value.lower()
    if field == "locale":
        return locale_named(value) or value
    return value


def value_problem(field: str, value: str) -> str | None:
    """``None`` when valid, else the accepted values to show."""
    value = value.strip()
    if field == "tone":
        return None if value.lower() in TONES else " / ".join(TONES)  # the values to type
    if field == "locale":
        return None if locale_named(value) else " / ".join(LOCALES)
    visible = [ch for ch in value if not unicodedata.category(ch).startswith(("C", "Z"))]
    hidden = any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value)
    if not visible or hidden or len(value) > NAME_MAX:
        return NAME_RULE
    return None


# -- presets ------------------------------------------------------------------------------------


def preset_named(ctx: Context | TickContext, typed: str) -> Preset | None:
    """The preset an operator means: its id (``sister``) or its name in any language (知心姐姐,
    Big Sis), case and width ignored."""
    wanted = " ".join(unicodedata.normalize("NFKC", typed).split()).casefold()
    packs = ctx.renderer.packs
    for preset in PRESETS:
        names = {preset.id}
        for locale in packs.by_locale:
            intents = packs.by_locale[locale].intents
            for variants in intents.get(f"persona.preset.{preset.id}.name", {}).values():
                names.update(variants)
        if wanted in {" ".join(name.split()).casefold() for name in names}:
            return preset
    return None


def _preset_text(ctx: Context, preset: Preset, part: str) -> str:
    return ctx.say(f"persona.preset.{preset.id}.{part}").plain()


def _presets(ctx: Context) -> Reply:
    current = ctx.persona.preset
    lines = [ctx.say("persona.presets")]
    for preset in PRESETS:
        line = ctx.say(
            "persona.preset_line",
            preset=preset.id,
            name=_preset_text(ctx, preset, "name"),
            about=_preset_text(ctx, preset, "about"),
        )
        if preset.id == current:
            line = RichText.join([line, ctx.say("persona.preset_current")], " ")
        lines.append(line)
    return ctx.reply_text(RichText.join(lines, "\n"))


async def _preset(ctx: Context, typed: str) -> Reply:
    preset = preset_named(ctx, typed)
    if preset is None:
        choices = " / ".join(preset.id for preset in PRESETS)
        return ctx.reply("persona.bad_preset", value=typed, choices=choices)
    changes = {
        "name": _preset_text(ctx, preset, "name"),
        "tone": preset.tone,
        "preset": preset.id,
        "emoji": preset.emoji,
    }
    await _change(ctx, "persona.preset", changes)
    return ctx.reply("persona.preset_set", name=ctx.persona.name)


# -- the operators' own texts -------------------------------------------------------------------


def _key_refusal(ctx: Context, key: str) -> Reply | None:
    """``None`` when ``key`` may be replaced here; else why not, with close keys."""
    locale, packs = ctx.persona.locale, ctx.renderer.packs
    if is_overridable(packs, locale, key):
        return None
    rule = ctx.say("persona.say_rule").plain()
    if len(key) <= KEY_LEN and packs.has(key):
        return ctx.reply("persona.bad_key_locked", key=key, rule=rule)
    close = close_keys(packs, locale, key)
    shown = key if len(key) <= KEY_LEN else key[:KEY_LEN] + "…"  # never echo a wall of text
    if close:
        return ctx.reply("persona.bad_key", key=shown, choices=" / ".join(close))
    examples = [k for k in ("welcome.join", "intro.thanks", "reminders.due") if packs.has(k)]
    examples = examples or overridable_keys(packs, locale)[:3]
    return ctx.reply("persona.bad_key_none", key=shown, rule=rule, choices=" / ".join(examples))


def _say_shown(ctx: Context, key: str) -> Reply:
    refusal = _key_refusal(ctx, key)
    if refusal is not None:
        return refusal
    persona = ctx.persona
    own = persona.texts.get(key)
    variants = own or ctx.renderer.packs.variants(persona.locale, key, persona.tone)
    lines = RichText.join(
        [ctx.say("persona.say_line", index=n, text=text) for n, text in enumerate(variants, 1)],
        "\n",
    )
    source = ctx.say("persona.source_own" if own else "persona.source_pack").plain()
    return ctx.reply(
        "persona.say_shown", key=key, source=source, count=len(variants), variants=lines
    )


async def _say(ctx: Context, rest: str) -> Reply:
    key, _, tail = rest.partition(" ")
    verb, _, text = tail.strip().partition(" ")
    verb = verb.casefold()
    if verb not in ("set", "reset") or (verb == "set") != bool(text.strip()):
        return ctx.reply("error.usage", usage=ctx.usage())
    refusal = _key_refusal(ctx, key)
    if refusal is not None:
        return refusal
    locale, repo, cid = ctx.persona.locale, ctx.store.persona_texts, ctx.community.id
    if verb == "reset":
        async with ctx.store.transaction() as session:
            removed = await repo.remove(session, cid, locale, key)
            if removed:
                await ctx.audit(session, "persona.say.reset", key=key, locale=locale)
        await _reloaded(ctx)
        return ctx.reply("persona.say_reset" if removed else "persona.say_reset_none", key=key)
    variants = split_variants(text)
    problem = check_variants(ctx.renderer.packs, locale, key, variants)
    if problem is not None:
        return ctx.reply(problem.reason, key=key, **problem.detail)
    async with ctx.store.transaction() as session:
        if key not in ctx.persona.texts and await repo.count(session, cid, locale) >= MAX_KEYS:
            return ctx.reply("persona.bad_keys_full", max=MAX_KEYS)
        await repo.put(session, cid, locale, key, variants, ctx.now)
        await ctx.audit(session, "persona.say.set", key=key, locale=locale, variants=variants)
    await _reloaded(ctx)
    return ctx.reply("persona.say_saved", key=key, count=len(variants))


async def _reloaded(ctx: Context) -> None:
    await ctx.store.persona_texts.reload(ctx.community.id)
    ctx.persona = ctx.persona_for(ctx.community)


# -- /persona preview ---------------------------------------------------------------------------


def _preview(ctx: Context) -> Reply:
    assert ctx.sender is not None
    member = ctx.address(ctx.sender)
    sample = ctx.say("persona.preview_reminder_text").plain()
    lines = [ctx.say("persona.preview", name=ctx.persona.name)]
    for label, key, values in (
        ("persona.preview_greet", "welcome.join", {"member": member}),
        ("persona.preview_thanks", "intro.thanks", {"member": member}),
        ("persona.preview_remind", "reminders.due", {"member": member, "text": sample}),
    ):
        if ctx.renderer.packs.has(key):
            lines.append(ctx.say(label, text=ctx.say(key, **values)))
    return ctx.reply_text(RichText.join(lines, "\n"))


# -- measured effect ----------------------------------------------------------------------------


async def tracked_welcome(ctx: Context, send: Send, member: User) -> Send:
    """Record the persona's welcome to ``member`` (to measure replies and how soon they speak)
    and anchor the send to its row, so the dispatcher binds the message id."""
    async with ctx.store.transaction() as session:
        found = await ctx.store.members.find(session, ctx.community.id, member.id)
        row_id = await PersonaSendRepo().record(
            session,
            ctx.community.id,
            "welcome",
            ctx.persona.preset,
            ctx.now,
            member_id=found.id if found is not None else None,
        )
    if found is not None:
        ctx.state(feature).add(ctx.community.id, found.id, row_id)
    return send.model_copy(update={"anchor": Anchor(kind="persona_send", id=row_id)})


async def tracked_reminder(
    ctx: TickContext, community: CommunityInfo, user_id: str, result: ActionResult
) -> None:
    """Record a reminder the persona of ``community`` just sent to ``user_id`` (privately, or
    as a mention in the group when the platform refused): a reply to it counts as answered."""
    if not result.ok or not result.message_id:
        return
    async with ctx.store.transaction() as session:
        await PersonaSendRepo().record(
            session,
            community.id,
            "reminder",
            ctx.persona_for(community).preset,
            ctx.now,
            message_id=result.message_id,
            recipient=user_id,
        )


async def _refresh(ctx: TickContext) -> None:
    """The replacements and the welcomed members waiting to speak, read again when stale."""
    await ctx.store.persona_texts.refresh(ctx.now)
    watch = ctx.state(feature)
    async with watch.reading:
        if not watch.stale(ctx.now):
            return  # another event read it meanwhile
        async with ctx.store.transaction() as session:
            rows = await PersonaSendRepo().waiting(session, ctx.now)
        newest = max((row_id for row_id, _c, _m in rows), default=0)
        # Welcomes recorded while reading are kept; the rest is what the database says.
        recent = {key: row for key, row in watch.waiting.items() if row > newest}
        watch.waiting = {}
        for row_id, community_id, member_id in rows:
            watch.add(community_id, member_id, row_id)
        watch.waiting.update(recent)
        watch.loaded_at = ctx.now


@feature.middleware(order=5)
async def persona_texts_loaded(ctx: Context) -> bool:
    """Before any feature speaks: the community's own texts are in memory (a time comparison
    per event; a read only every ``REFRESH``)."""
    now = ctx.now
    if ctx.store.persona_texts.stale(now) or ctx.state(feature).stale(now):
        await _refresh(ctx)
    return True


@feature.middleware(order=905)
async def answered(ctx: Context) -> bool:
    """A reply or a reaction to one of the bot's greetings, and a welcomed member's first
    message. Plain chatter costs a dict lookup; only a reply to the bot is looked up."""
    event = ctx.event
    if event.sender is None or event.sender.is_bot:
        return True
    if ctx.is_private:
        return await _answered_privately(ctx)
    if isinstance(event, MessageEvent):
        watch = ctx.state(feature)
        if ctx.member is not None:
            row_id = watch.waiting.pop((ctx.community.id, ctx.member.id), None)
            if row_id is not None:
                async with ctx.store.transaction() as session:
                    await PersonaSendRepo().spoke(session, row_id, event.at)
        reply = event.reply_to
        if reply is not None and reply.sender is not None and reply.sender.is_bot:
            async with ctx.store.transaction() as session:
                await PersonaSendRepo().answered(
                    session, ctx.community.id, reply.message_id, event.at
                )
    elif isinstance(event, Reacted) and event.added:
        async with ctx.store.transaction() as session:
            await PersonaSendRepo().answered(session, ctx.community.id, event.message_id, event.at)
    return True


async def _answered_privately(ctx: Context) -> bool:
    """A reply (or reaction) in a private chat to a reminder the bot sent there."""
    event, sender = ctx.event, ctx.event.sender
    assert sender is not None
    target = None
    if isinstance(event, MessageEvent):
        reply = event.reply_to
        if reply is not None and reply.sender is not None and reply.sender.is_bot:
            target = reply.message_id
    elif isinstance(event, Reacted) and event.added:
        target = event.message_id
    if target is not None:
        async with ctx.store.transaction() as session:
            await PersonaSendRepo().answered_privately(session, sender.id, target, event.at)
    return True


#: How often the upkeep tick looks (it reads only when ``REFRESH`` has passed): soon after a
#: start, before other ticks speak, the community's own texts are in memory.
UPKEEP_EVERY = timedelta(seconds=15)


@feature.tick("persona", every=UPKEEP_EVERY)
async def persona_upkeep(ctx: TickContext) -> int:
    """Read replacements made by other processes; forget greetings older than ``KEEP``. Both
    only when ``REFRESH`` has passed (no statement otherwise); returns the rows deleted."""
    if not ctx.store.persona_texts.stale(ctx.now) and not ctx.state(feature).stale(ctx.now):
        return 0
    await _refresh(ctx)
    async with ctx.store.transaction() as session:
        return await PersonaSendRepo().prune(session, ctx.now)


@dataclass(frozen=True)
class MilestoneEffect:
    """Check-in return after a milestone message, against members who got none (the shape
    ``milestone_effect`` answers; any object with these four counts will do)."""

    returned_with: int
    got_milestone: int
    returned_without: int
    got_none: int


MilestoneSource = Callable[[TickContext, int, datetime, datetime], Awaitable[Any]]


async def moments_effect(
    ctx: TickContext, community_id: int, since: datetime, until: datetime
) -> MilestoneEffect | None:
    """The check-in return after milestone lines, as the moments feature keeps them
    (``MomentRepo.milestone_effect``, by UTC day: a 30-day window, give or take a day);
    ``None`` when no check-in of the period can be compared yet."""
    async with ctx.store.transaction() as session:
        found = await ctx.store.moments.milestone_effect(
            session, community_id, since.date(), until.date()
        )
    if not found.with_moment.total and not found.without.total:
        return None
    return MilestoneEffect(
        returned_with=found.with_moment.returned,
        got_milestone=found.with_moment.total,
        returned_without=found.without.returned,
        got_none=found.without.total,
    )


@dataclass
class Hooks:
    """Where this feature reads what another one keeps (a test may lend its own)."""

    #: ``(ctx, community id, since, until) -> MilestoneEffect | None``: by default the moments
    #: feature's figures (``moments_effect``); ``None``: the milestone line is left out.
    milestone_effect: MilestoneSource | None = moments_effect


#: ``hooks.milestone_effect``: where the check-in return after milestone lines comes from.
hooks = Hooks()


class Speaker(Protocol):
    def say(self, intent: str, **values: Any) -> RichText: ...


def _rate(speaker: Speaker, part: int, whole: int) -> str:
    if not whole:
        return speaker.say("persona.effect_no_figure").plain()
    return f"{part / whole:.0%}"


def _median(speaker: Speaker, wait: timedelta | None, locale: str) -> str:
    if wait is None:
        return speaker.say("persona.effect_no_figure").plain()
    if wait >= timedelta(minutes=1):  # minutes are precise enough for a first message
        wait = timedelta(minutes=round(wait.total_seconds() / 60))
    return format_duration(wait, locale)


@dataclass(frozen=True)
class PersonaEffect:
    days: int
    presets: list[PresetEffect] = field(default_factory=list)
    milestone: Any = None


async def persona_effect(
    ctx: TickContext, community: CommunityInfo, days: int = EFFECT_DAYS
) -> PersonaEffect:
    """The figures of the last ``days`` days in ``community``."""
    since = ctx.now - timedelta(days=days)
    async with ctx.store.transaction() as session:
        presets = await PersonaSendRepo().effect(session, community.id, since, ctx.now)
    source = hooks.milestone_effect
    milestone = await source(ctx, community.id, since, ctx.now) if source is not None else None
    return PersonaEffect(days, presets, milestone)


def effect_lines(speaker: Speaker, effect: PersonaEffect, locale: str) -> list[RichText]:
    """``/stats persona`` and the digest's persona block: one line per preset."""
    lines = [speaker.say("persona.effect_header", days=effect.days)]
    if not effect.presets:
        lines.append(speaker.say("persona.effect_none", days=effect.days))
    for found in effect.presets:
        name = (
            speaker.say(f"persona.preset.{found.preset}.name").plain()
            if found.preset in {preset.id for preset in PRESETS}
            else speaker.say("persona.effect_no_preset").plain()
        )
        lines.append(
            speaker.say(
                "persona.effect_line",
                preset=name,
                welcomes=found.welcomes,
                welcome_rate=_rate(speaker, found.welcomes_answered, found.welcomes),
                reminders=found.reminders,
                reminder_rate=_rate(speaker, found.reminders_answered, found.reminders),
                median=_median(speaker, found.median_first_message, locale),
                spoke=found.spoke,
            )
        )
    milestone = effect.milestone
    if milestone is not None:
        lines.append(
            speaker.say(
                "persona.effect_milestone",
                with_rate=_rate(speaker, milestone.returned_with, milestone.got_milestone),
                with_n=milestone.got_milestone,
                without_rate=_rate(speaker, milestone.returned_without, milestone.got_none),
                without_n=milestone.got_none,
            )
        )
    return lines
