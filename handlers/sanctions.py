"""Acting on members, shared by the features that moderate (moderation, enforcement, gates):
platform punishments, a warn and the ladder step it reaches, the operators' log chat, and
acting on due rows exactly once (timed unbans, entry-gate timeouts).

Every action is audited in the same transaction as the change and mirrored (escaped, like
everything) to the community's log chat when it has one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, Literal, Protocol, TypeVar

from pydantic import Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions import Action, Ban, DeclineReason, Kick, Reply, Restrict, Send
from bot.clock import parse_duration
from bot.config import CommunitySettings, Section
from bot.context import Context, TickContext
from persona import format_duration
from storage.members import MemberInfo

__all__ = [
    "EVIDENCE",
    "Due",
    "LadderStep",
    "Punishment",
    "RulesSettings",
    "act",
    "act_once",
    "duration_words",
    "here",
    "log_chat",
    "punish",
    "right_name",
    "text_variant",
    "to_log",
    "warn",
]

#: The longest evidence kept with a warn (the message quoted).
EVIDENCE = 300


class Due(Protocol):
    """A row due for an action on a member (a lift, a gate timeout), as ``act_once`` audits it."""

    @property
    def community_id(self) -> int: ...

    @property
    def member_id(self) -> int: ...


D = TypeVar("D", bound=Due)

Punishment = Literal["delete", "warn", "mute", "kick", "ban"]
#: Platforms treat restrictions shorter than 30 s or longer than 366 days as "forever".
SHORTEST_PUNISHMENT = 30
LONGEST_PUNISHMENT_DAYS = 366


def _check_duration(value: str) -> str:
    if not value:
        return value
    parsed = parse_duration(value)
    if parsed is None:
        raise ValueError("expected a duration such as '30m', '2h', '1d' or '1w'")
    if parsed.total_seconds() < SHORTEST_PUNISHMENT or parsed.days > LONGEST_PUNISHMENT_DAYS:
        raise ValueError("must be between 30 seconds and 366 days")
    return value


class LadderStep(Section):
    """What the n-th active warn costs: ``{ warns = 3, action = "mute", duration = "1h" }``."""

    warns: int = Field(ge=1, le=100)
    action: Literal["mute", "kick", "ban"]
    #: Empty: until lifted (mute) or forever (ban).
    duration: str = ""

    _duration = field_validator("duration")(classmethod(lambda cls, v: _check_duration(v)))


class RulesSettings(Section):
    """Rules the bot enforces in every community. Actions: "delete" (the message), "warn"
    (delete and add a warn), "mute", "kick", "ban".
    """

    words: list[str] = Field(default_factory=list)
    """Banned words: matched through inserted spaces or punctuation, full-width letters and
    Latin/Cyrillic look-alikes; Latin words only as whole words ("ass" does not hit "class").
    """
    regexes: list[str] = Field(default_factory=list)
    """Banned regular expressions, matched against the normalized (lower-case) message."""
    action: Punishment = "warn"
    """What a banned word or regular expression costs."""
    links: Literal["allow", "delete", "warn"] = "allow"
    """Links to domains outside link_allowlist: "allow", "delete" or "warn"."""
    link_allowlist: list[str] = Field(default_factory=list)
    ads: Literal["allow", "delete", "warn", "mute", "kick", "ban"] = "warn"
    """Invite links to other groups (广告): "allow", "delete", "warn", "mute", "kick" or "ban"
    ("ban" deletes the message and removes the sender at once).
    """
    flood_messages: int = Field(0, ge=0, le=1000)
    """Anti-flood: more than flood_messages messages in flood_seconds seconds (0 = off)."""
    flood_seconds: int = Field(10, ge=1, le=3600)
    flood_action: Punishment = "mute"
    lock_media: bool = False
    """Locks: delete media / forwarded messages."""
    lock_forwards: bool = False
    locks: list[Literal["links", "media", "forwards", "invites"]] = Field(default_factory=list)
    """Locked in every community: messages with links, media, forwards or invites are deleted.
    Moderators change a community's locks with /lock and /unlock."""
    newcomer_hours: int = Field(0, ge=0, le=24 * 30)
    """Newcomers may not post links or media for their first hours (0 = off)."""
    warn_expiry_days: int = Field(30, ge=1, le=3650)
    """Warns stop counting after this many days."""
    mute_duration: str = "1h"
    """How long an automatic mute lasts when the ladder does not say."""
    ladder: list[LadderStep] = Field(
        default_factory=lambda: [
            LadderStep(warns=3, action="mute", duration="1h"),
            LadderStep(warns=5, action="ban"),
        ]
    )
    """The warn ladder: what the n-th active warn costs. Durations: 30m, 2h, 1d, 1w; empty =
    until lifted (mute) or forever (ban). Anything under 30 s or over 366 days is refused.
    """

    _mute = field_validator("mute_duration")(classmethod(lambda cls, v: _check_duration(v)))


def duration_words(ctx: Context, duration: timedelta | None) -> str:
    """A punishment's length as members read it ("2 小时", "2 hours"); without a duration it
    lasts until a moderator lifts it, and says so."""
    if duration is None:
        return ctx.say("moderation.indefinitely").plain()
    return format_duration(duration, ctx.persona.locale, ctx.renderer.packs)


def text_variant(intent: str, reason: str, *, permanent: bool = False) -> str:
    """The key of a punishment text: ``moderation.muted`` with a reason and a duration, else
    the ``_permanent`` (no duration: until a moderator lifts it) and ``_no_reason`` variants,
    so an absent reason or duration is never shown as a placeholder."""
    return f"{intent}{'_permanent' if permanent else ''}{'' if reason else '_no_reason'}"


def log_chat(ctx: Context) -> str | None:
    """The operators' log chat: set in chat with /setlog, else from the config."""
    chosen = ctx.settings_of(CommunitySettings).log_chat
    return chosen or None


def to_log(ctx: Context, intent: str, **values: Any) -> list[Send]:
    chat = log_chat(ctx)
    if chat is None:
        return []
    text = ctx.say(intent, group=ctx.community.title or ctx.community.chat_id, **values)
    return [Send(platform=ctx.event.platform, chat_id=chat, text=text, silent=True)]


def here(ctx: Context) -> dict[str, Any]:
    return {
        "platform": ctx.event.platform,
        "chat_id": ctx.event.chat.id,
        "channel_id": ctx.event.channel_id,
    }


def punish(
    ctx: Context, target: MemberInfo, action: str, duration: timedelta | None
) -> list[Action]:
    """The platform actions for a punishment (``mute``, ``kick``, ``ban``)."""
    until = ctx.now + duration if duration else None
    user = target.platform_user_id
    if action == "mute":
        return [Restrict(**here(ctx), user_id=user, until=until)]
    if action == "kick":
        return [Kick(**here(ctx), user_id=user)]
    if action == "ban":
        return [Ban(**here(ctx), user_id=user, until=until)]
    return []


async def warn(
    ctx: Context, target: MemberInfo, reason: str, evidence: str | None, given_by: MemberInfo | None
) -> list[Action]:
    """Add a warn and apply the ladder step it reaches; returns what to say and do."""
    expiry = timedelta(days=ctx.settings_of(RulesSettings).warn_expiry_days)
    async with ctx.store.transaction() as session:
        count = await ctx.store.warns.add(
            session,
            community_id=ctx.community.id,
            member_id=target.id,
            given_by=given_by.id if given_by else None,
            reason=reason,
            evidence=(evidence or "")[:EVIDENCE] or None,
            now=ctx.now,
            expires_at=ctx.now + expiry,
        )
        await ctx.audit(session, "warn", target=target, reason=reason, count=count)
    actions: list[Action] = [
        ctx.send(
            text_variant("moderation.warned", reason),
            member=ctx.address(target),
            reason=reason,
            count=count,
        )
    ]
    actions += to_log(
        ctx,
        text_variant("log.warned", reason),
        member=target.display_name,
        reason=reason,
        count=count,
    )
    step = _ladder_step(ctx, count)
    if step is not None:
        duration = parse_duration(step.duration) if step.duration else None
        declined = await act(ctx, punish(ctx, target, step.action, duration))
        if declined is not None:
            actions.append(declined)
        else:
            # A kick has no length; a mute or ban without one lasts until a moderator lifts it.
            lasting = duration is not None or step.action == "kick"
            said = f"moderation.ladder_{step.action}{'' if lasting else '_permanent'}"
            shown = duration_words(ctx, duration)
            actions.append(ctx.send(said, member=ctx.address(target), count=count, duration=shown))
            actions += to_log(
                ctx,
                f"log.ladder_{step.action}",
                member=target.display_name,
                count=count,
                duration=shown,
            )
    return actions


async def act(ctx: Context, actions: list[Action]) -> Reply | None:
    """Perform platform actions now, in order; a refusal becomes the persona's explanation
    and nothing is announced, logged or audited as done."""
    for action in actions:
        result = await ctx.perform(action)
        if not result.ok:
            reason = (result.reason or DeclineReason.FAILED).value
            right = right_name(ctx, result.detail or action.kind)
            return ctx.reply(f"declined.{reason}", private=True, right=right)
    return None


def right_name(ctx: Context, right: str) -> str:
    """A platform right as the operator finds it in the platform's settings, with its
    technical name ("封禁和限制成员（can_restrict_members）")."""
    key = f"declined.right.{right}"
    return ctx.say(key).plain() if ctx.renderer.packs.has(key) else right


def _ladder_step(ctx: Context, count: int) -> Any:
    ladder = sorted(ctx.settings_of(RulesSettings).ladder, key=lambda step: step.warns)
    exact = [step for step in ladder if step.warns == count]
    if exact:
        return exact[-1]
    if ladder and count > ladder[-1].warns:
        return ladder[-1]  # beyond the top: the top step again
    return None


async def act_once(
    ctx: TickContext,
    due: Sequence[D],
    make_action: Callable[[D], Action],
    *,
    claim: Callable[[AsyncSession, D], Awaitable[bool]],
    settle: Callable[[AsyncSession, D, bool], Awaitable[object]],
    audit_action: str,
) -> list[D]:
    """Act on each due row exactly once: ``claim`` it (one conditional update, so a press, a
    second tick or a second process cannot act on it meanwhile), perform its action, then
    ``settle`` it by the platform's answer (``True``: done, audited; ``False``: put back for a
    later tick). Returns the rows the platform acted on."""
    settled = []
    for row in due:
        async with ctx.store.transaction() as session:
            if not await claim(session, row):
                continue
        # Waited for: the claimed row is settled by the platform's answer (else tried again).
        result = await ctx.perform(make_action(row))
        async with ctx.store.transaction() as session:
            await settle(session, row, result.ok)
            if result.ok:
                await ctx.store.audit.add(
                    session,
                    community_id=row.community_id,
                    actor_member_id=None,
                    target_member_id=row.member_id,
                    action=audit_action,
                    now=ctx.now,
                )
        if result.ok:
            settled.append(row)
    return settled
