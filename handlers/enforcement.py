"""The rules gate: every group message is checked before any command or keyword runs.

Checks, cheapest first: invite links to other groups (广告), banned words and regular
expressions (config plus the community's own ``/filter`` list), links outside the allowlist,
locks on media and forwards, newcomers' links and media, flood. A violation deletes the
message and costs what the rule says (delete, warn, mute, kick, ban). Operators, moderators
and approved members are never filtered; stale events never reach the gate (the dispatcher
records them only).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.actions import Action, Delete
from bot.arguments import arg_refusal, parse_int
from bot.cache import BoundedCache, seconds_of
from bot.clock import parse_duration
from bot.context import Context
from bot.errors import ArgError
from bot.events import MessageEvent
from bot.features import Arg, Feature
from bot.permissions import Role
from bot.richtext import RichText
from handlers.filtering import (
    MAX_REGEX_LENGTH,
    MAX_WORD_LENGTH,
    Hit,
    Matcher,
    Rule,
    domain_of,
    is_allowed,
    is_invite_link,
    links_in,
    validate_regex,
    word_problem,
)
from handlers.sanctions import RulesSettings, act, duration_words, punish, to_log, warn
from handlers.shared import store_override
from storage.moderation import PATTERN_LEN

__all__ = ["feature"]

log = logging.getLogger(__name__)


#: Its state: compiled matchers and recent message times (``_State``), in memory only.
feature: Feature[_State] = Feature(
    "enforcement",
    group="moderation",
    order=40,
    state=lambda clock: _State(seconds_of(clock)),
)

LOCKS = ("links", "media", "forwards", "invites")
ACTIONS = ("delete", "warn", "mute", "kick", "ban")
MATCHER_TTL = 60.0
#: Seconds the last known filters stand in when they could not be read again, before the
#: next try (``_Matchers.own``).
RETRY_MATCHER_AFTER = 5.0
#: Communities whose own matcher is kept (least recently used go first; rebuilt on demand).
MATCHER_COMMUNITIES = 1_000
#: Members whose recent message times are kept for the flood check. Only members who wrote
#: within the flood window are kept at all; past this many the least recently active go
#: (a flooder is by definition among the most recent).
FLOOD_MEMBERS = 100_000
EXEMPT = {Role.OWNER, Role.ADMIN, Role.MODERATOR}


@dataclass(frozen=True)
class Violation:
    reason: str  # a persona key suffix: rules.reason.<reason>
    action: str
    evidence: str


class _Matchers:
    """The config's matcher, compiled once per running bot (1,000 words take a moment), and
    each community's own ``/filter`` list, rebuilt when it changes here (or after a minute,
    for changes made by another process)."""

    def __init__(self) -> None:
        self._config: Matcher | None = None
        self._own: BoundedCache[int, Matcher] = BoundedCache(MATCHER_COMMUNITIES, MATCHER_TTL)
        #: Each community's last matcher built, kept past its minute: when the database
        #: cannot give the list again (locked under overload, away for a moment), the gate
        #: goes on with the rules it had rather than letting every message through.
        self._last: BoundedCache[int, Matcher] = BoundedCache(MATCHER_COMMUNITIES)

    def forget(self, community_id: int) -> None:
        self._own.pop(community_id, None)

    def config(self, ctx: Context) -> Matcher:
        if self._config is None:
            settings = ctx.settings_of(RulesSettings)
            rules = [
                Rule(f"w:{w}", "word", w, settings.action) for w in settings.words if w.strip()
            ]
            rules += [
                Rule(f"r:{r}", "regex", r, settings.action) for r in settings.regexes if r.strip()
            ]
            self._config = Matcher(rules)  # a rule that cannot run is skipped and reported
        return self._config

    async def own(self, ctx: Context) -> Matcher:
        cached = self._own.get(ctx.community.id)
        if cached is not None:
            return cached
        community_id = ctx.community.id
        try:
            async with ctx.store.transaction() as session:
                own = await ctx.store.filters.list(session, community_id)
        except (SQLAlchemyError, OSError) as error:
            last = self._last.get(community_id)
            if last is None:
                raise  # nothing to go on with: the dispatcher logs it, the message passes
            log.warning(
                "rules: community %s's filters could not be read again (%s); the last ones "
                "known stay in force",
                community_id,
                type(error).__name__,
            )
            self._own.put(community_id, last, RETRY_MATCHER_AFTER)
            return last
        rules = [Rule(f"f:{f.id}", f.kind, f.pattern, f.action) for f in own]  # type: ignore[arg-type]
        matcher = Matcher(rules)
        self._own[community_id] = matcher
        self._last[community_id] = matcher
        return matcher

    async def first(self, ctx: Context, text: str) -> Hit | None:
        """A community's own filters first (their actions are the specific ones)."""
        own = self._own.get(ctx.community.id)
        if own is None:
            own = await self.own(ctx)
        return own.first(text) or self.config(ctx).first(text)

    def first_known(self, ctx: Context, text: str) -> Hit | bool | None:
        """``first`` without a coroutine when the community's own filters are known (every
        message but the first after a change or a minute); ``False`` when they are not."""
        own = self._own.get(ctx.community.id)
        if own is None:
            return False
        return own.first(text) or self.config(ctx).first(text)


class _State:
    """The feature's state, one per running bot: compiled matchers and recent message times."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.matchers = _Matchers()
        #: Recent message times per (community, member), for the flood check: at most the
        #: flood limit plus one, and gone when the member's last message leaves the window.
        self.recent: BoundedCache[tuple[int, int], list[float]] = BoundedCache(
            FLOOD_MEMBERS, clock=clock
        )


def state(ctx: Context) -> _State:
    """This bot's matchers and recent message times."""
    return ctx.state(feature)


def _locks(ctx: Context) -> set[str]:
    return set(ctx.settings_of(RulesSettings).locks)


def _flood(ctx: Context) -> tuple[int, int]:
    rules = ctx.settings_of(RulesSettings)
    return rules.flood_messages, rules.flood_seconds


async def find_violation(ctx: Context, event: MessageEvent) -> Violation | None:
    rules = ctx.settings_of(RulesSettings)  # this runs for every message: cached
    locks = rules.locks
    running = state(ctx)
    text = event.text
    links = links_in(text) if text else ()
    evidence = text[:300]
    ads = rules.ads if rules.ads != "allow" else ("delete" if "invites" in locks else "allow")
    if ads != "allow" and any(is_invite_link(link) for link in links):
        return Violation("ads", ads, evidence)
    if text:
        hit = running.matchers.first_known(ctx, text)  # no coroutine for every message
        if hit is False:
            hit = await running.matchers.first(ctx, text)
        if hit is not None:
            return Violation("word", hit.rule.action, hit.matched)
    links_action = (
        rules.links if rules.links != "allow" else ("delete" if "links" in locks else "allow")
    )
    if links_action != "allow" and any(
        not is_allowed(domain_of(link), rules.link_allowlist) for link in links
    ):
        return Violation("link", links_action, evidence)
    if event.has_media and (rules.lock_media or "media" in locks):
        return Violation("media", "delete", evidence)
    if event.is_forward and (rules.lock_forwards or "forwards" in locks):
        return Violation("forward", "delete", evidence)
    member = ctx.member
    if member is not None and rules.newcomer_hours and (links or event.has_media):
        # Only a join the bot saw makes a newcomer: members who were there before the bot
        # came are not treated as new.
        if member.joined_at is not None and ctx.now - member.joined_at < timedelta(
            hours=rules.newcomer_hours
        ):
            return Violation("newcomer", "delete", evidence)
    limit, seconds = rules.flood_messages, rules.flood_seconds
    if member is not None and limit:
        key = (ctx.community.id, member.id)
        if flooding(running.recent, key, ctx.now.timestamp(), limit, seconds):
            return Violation("flood", rules.flood_action, evidence)
    return None


def flooding(
    recent: BoundedCache[tuple[int, int], list[float]],
    key: tuple[int, int],
    now: float,
    limit: int,
    seconds: float,
) -> bool:
    """Count a message at ``now``: more than ``limit`` in ``seconds`` is flooding.

    Only what the window needs is kept: the times inside it, at most ``limit + 1`` of them,
    and the member is forgotten once the last message leaves the window.
    """
    stamps = recent.get(key)
    if stamps is None:
        stamps = []
    stamps.append(now)
    cutoff = now - seconds
    stale = 0
    while stale < len(stamps) and stamps[stale] <= cutoff:
        stale += 1
    stale = max(stale, len(stamps) - (limit + 1))
    if stale:
        del stamps[:stale]
    if len(stamps) > limit:
        recent.pop(key)  # one punishment per burst
        return True
    recent.put(key, stamps, ttl=seconds)
    return False


@feature.middleware(order=10)
async def gate(ctx: Context) -> bool:
    """Let the message through, or act on it and stop it (its command does not run)."""
    event = ctx.event
    if not isinstance(event, MessageEvent) or ctx.is_private or event.sender is None:
        return True
    if event.sender.is_bot or (ctx.member is not None and ctx.member.approved):
        return True
    violation = await find_violation(ctx, event)
    if violation is None:
        return True
    if EXEMPT & await ctx.roles():
        return True  # checked last: it may cost the platform a call
    for action in await _consequences(ctx, event, violation):
        # A middleware returns only whether the event goes on: its actions are performed here.
        await ctx.perform(action)
    return False


async def _consequences(ctx: Context, event: MessageEvent, violation: Violation) -> list[Action]:
    member = ctx.member
    assert member is not None
    reason = ctx.say(f"rules.reason.{violation.reason}").plain()
    here = {"platform": event.platform, "chat_id": event.chat.id, "channel_id": event.channel_id}
    # The message goes first, whatever follows; a refusal (no right to delete) is said.
    declined = await act(ctx, [Delete(**here, message_id=event.message_id)])
    actions: list[Action] = [declined] if declined else []
    if violation.action == "warn":
        return actions + await warn(ctx, member, reason, violation.evidence, None)
    async with ctx.store.transaction() as session:
        await ctx.audit(
            session,
            f"filter.{violation.action}",
            target=member,
            reason=violation.reason,
            evidence=violation.evidence,
        )
    if violation.action == "delete":
        actions.append(ctx.send("rules.removed", member=ctx.address(member), reason=reason))
        return actions + to_log(
            ctx, "log.filtered", member=member.display_name, reason=reason, text=violation.evidence
        )
    duration = (
        parse_duration(ctx.settings_of(RulesSettings).mute_duration)
        if violation.action == "mute"
        else None
    )
    if refused := await act(ctx, punish(ctx, member, violation.action, duration)):
        return [*actions, refused]
    actions.append(
        ctx.send(
            f"rules.punished_{violation.action}",
            member=ctx.address(member),
            reason=reason,
            duration=duration_words(ctx, duration),
        )
    )
    return actions + to_log(
        ctx, "log.filtered", member=member.display_name, reason=reason, text=violation.evidence
    )


# -- operators adjust the filters in chat ----------------------------------------------------


@feature.command(
    "filter",
    roles=[Role.MODERATOR],
    args=[
        Arg("op", "choice", choices=("add", "remove")),
        Arg("pattern", "word", max_length=PATTERN_LEN),
        Arg("action", "word", required=False),
    ],
)
async def filter_command(ctx: Context) -> Any:
    """``/filter add WORD [action]``, ``/filter add /regex/ [action]``, ``/filter remove ...``.

    A rule that could never run is refused here with what is expected instead: a word with
    nothing visible left after normalization, a regex the linear-time engine cannot run, an
    unknown action. (Rules stored before these checks are skipped by the matcher.)
    """
    raw = str(ctx.args["pattern"])
    kind, pattern = (
        ("regex", raw[1:-1])
        if len(raw) > 2 and raw.startswith("/") and raw.endswith("/")
        else ("word", raw)
    )
    adding = ctx.args["op"] == "add"
    if adding and kind == "regex" and (problem := validate_regex(pattern)):
        explained = ctx.say(
            f"rules.regex_problem.{problem.reason}", detail=problem.detail, limit=MAX_REGEX_LENGTH
        )
        return ctx.reply("rules.bad_regex", private=True, problem=explained.plain())
    if adding and kind == "word" and (word_issue := word_problem(pattern)):
        return ctx.reply(f"rules.filter_word_{word_issue}", private=True, limit=MAX_WORD_LENGTH)
    action = ctx.settings_of(RulesSettings).action
    if adding and ctx.args["action"] is not None:
        action = _action_named(ctx, str(ctx.args["action"]))
        if action is None:
            return ctx.reply(
                "rules.filter_bad_action",
                private=True,
                action=str(ctx.args["action"]),
                choices=_action_choices(ctx),
            )
    async with ctx.store.transaction() as session:
        if adding:
            await ctx.store.filters.add(session, ctx.community.id, kind, pattern, action, ctx.now)
            await ctx.audit(session, "filter.add", kind=kind, pattern=pattern, costs=action)
            intent, values = (
                "rules.filter_added",
                {"pattern": raw, "action": _action_label(ctx, action)},
            )
        else:
            removed = await ctx.store.filters.remove(session, ctx.community.id, pattern)
            if removed:
                await ctx.audit(session, "filter.remove", pattern=pattern)
            intent, values = (
                ("rules.filter_removed" if removed else "rules.filter_missing"),
                {"pattern": raw},
            )
    state(ctx).matchers.forget(ctx.community.id)
    return ctx.reply(intent, **values)


def _action_label(ctx: Context, action: str) -> str:
    """An action as the community's language names it ("删除并封禁" for ban)."""
    return ctx.say(f"rules.action.{action}").plain() if action in ACTIONS else action


def _action_named(ctx: Context, token: str) -> str | None:
    """The action a moderator typed: its English name or its name in the community's language."""
    folded = token.casefold()
    for action in ACTIONS:
        names = {action, ctx.say(f"rules.action_word.{action}").plain(), _action_label(ctx, action)}
        if folded in {name.casefold() for name in names}:
            return action
    return None


def _action_choices(ctx: Context) -> str:
    separator = ctx.say("roles.separator").plain()
    return separator.join(
        ctx.say("rules.action_choice", action=action, name=_action_label(ctx, action)).plain()
        for action in ACTIONS
    )


@feature.command("filters", roles=[Role.MODERATOR])
async def filters(ctx: Context) -> Any:
    async with ctx.store.transaction() as session:
        own = await ctx.store.filters.list(session, ctx.community.id)
    configured = len(ctx.settings_of(RulesSettings).words) + len(
        ctx.settings_of(RulesSettings).regexes
    )
    if not own:
        return ctx.reply("rules.filters_none", configured=configured)
    lines = [ctx.say("rules.filters_header", configured=configured)]
    lines += [
        ctx.say(
            "rules.filters_line",
            pattern=f"/{f.pattern}/" if f.kind == "regex" else f.pattern,
            action=_action_label(ctx, f.action),
        )
        for f in own
    ]
    return ctx.reply_text(RichText.join(lines))


async def _set_lock(ctx: Context, locked: bool) -> Any:
    what = str(ctx.args["what"])
    locks = _locks(ctx)
    locks = locks | {what} if locked else locks - {what}
    async with ctx.store.transaction() as session:
        await store_override(ctx, session, RulesSettings, "locks", sorted(locks))
        await ctx.audit(session, "lock" if locked else "unlock", what=what)
    label = ctx.say(f"rules.lock_name.{what}").plain()
    return ctx.reply("rules.locked" if locked else "rules.unlocked", what=label)


@feature.command("lock", roles=[Role.MODERATOR], args=[Arg("what", "choice", choices=LOCKS)])
async def lock(ctx: Context) -> Any:
    return await _set_lock(ctx, True)


@feature.command("unlock", roles=[Role.MODERATOR], args=[Arg("what", "choice", choices=LOCKS)])
async def unlock(ctx: Context) -> Any:
    return await _set_lock(ctx, False)


#: ``/flood off`` (and these) turns flood protection off, as ``/flood 0`` does.
FLOOD_OFF = frozenset({"off", "0", "关", "关闭", "关掉"})
#: The example offered for turning it back on when neither the community nor the config has
#: numbers of its own.
FLOOD_EXAMPLE = 5
#: The numbers ``/flood`` accepts (inclusive).
FLOOD_MESSAGES_RANGE = (1, 1000)
FLOOD_SECONDS_RANGE = (1, 3600)
#: A word meant as a number (ASCII or full-width digits, maybe signed), however large: it is
#: answered with the range, not with "not a number".
_NUMBER_LIKE = re.compile(r"[+\-＋－]?[0-9０-９]+")


@feature.command(
    "flood",
    roles=[Role.MODERATOR],
    # Both are read here, not by the argument layer: what may follow depends on the first
    # (``/flood off`` takes nothing after it, ``/flood 5 10`` a number of seconds).
    args=[Arg("messages", "word", required=False), Arg("seconds", "word", required=False)],
)
async def flood(ctx: Context) -> Any:
    """``/flood N SECONDS``: more than N messages in SECONDS is flooding; ``/flood off`` (or
    ``0``, ``关``) turns it off and says how to turn it on again; ``/flood`` shows it."""
    word = ctx.args["messages"]
    limit, window = _flood(ctx)
    if word is None:
        if not limit:
            return ctx.reply("rules.flood_is_off", **_flood_example(ctx, limit, window))
        return ctx.reply("rules.flood_set", messages=limit, seconds=window)
    extra = ctx.args["seconds"]
    try:
        if str(word).casefold() in FLOOD_OFF:
            if extra is not None:  # nothing follows "off": say so, not "a number of seconds"
                return ctx.reply("rules.flood_off_alone", private=True, word=word, value=extra)
            messages, seconds = 0, ctx.settings.section(RulesSettings).flood_seconds
        elif _NUMBER_LIKE.fullmatch(word):
            low, high = FLOOD_MESSAGES_RANGE
            messages = parse_int(word, minimum=low, maximum=high)
            low, high = FLOOD_SECONDS_RANGE
            seconds = (
                ctx.settings.section(RulesSettings).flood_seconds
                if extra is None
                else parse_int(extra, minimum=low, maximum=high)
            )
        else:
            return ctx.reply("rules.flood_bad", private=True, value=str(word))
    except ArgError as problem:  # a number out of range: the range it must be in
        return arg_refusal(ctx, problem)
    async with ctx.store.transaction() as session:
        await store_override(ctx, session, RulesSettings, "flood_messages", messages)
        await store_override(ctx, session, RulesSettings, "flood_seconds", seconds)
        await ctx.audit(session, "flood", messages=messages, seconds=seconds)
    if messages == 0:
        return ctx.reply("rules.flood_off", **_flood_example(ctx, limit, window))
    return ctx.reply("rules.flood_set", messages=messages, seconds=seconds)


def _flood_example(ctx: Context, limit: int, window: int) -> dict[str, int]:
    """The numbers to suggest for turning flood protection back on: the ones in force until
    now, else the configured ones, else a common choice."""
    if limit:
        return {"messages": limit, "seconds": window}
    rules = ctx.settings.section(RulesSettings)
    return {"messages": rules.flood_messages or FLOOD_EXAMPLE, "seconds": rules.flood_seconds}
