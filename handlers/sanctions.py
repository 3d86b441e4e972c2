"""Acting on members, shared by the features that moderate (moderation, enforcement, gates):
platform punishments, a warn and the ladder step it reaches, the operators' log chat, and
settling due challenges exactly once (timed unbans, entry-gate timeouts).

Every action is audited in the same transaction as the change and mirrored (escaped, like
everything) to the community's log chat when it has one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.actions import Action, Ban, DeclineReason, Kick, Reply, Restrict, Send
from bot.clock import parse_duration
from bot.context import Context, TickContext
from persona import format_duration
from storage.gates import DueChallenge
from storage.members import MemberInfo

__all__ = [
    "EVIDENCE",
    "act",
    "duration_words",
    "here",
    "log_chat",
    "punish",
    "right_name",
    "settle_due",
    "settle_due_rows",
    "text_variant",
    "to_log",
    "warn",
]

#: The longest evidence kept with a warn (the message quoted).
EVIDENCE = 300


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
    chosen = ctx.community.settings.get("log_chat", ctx.settings.community.log_chat)
    return str(chosen) if chosen else None


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
    expiry = timedelta(days=ctx.settings.rules.warn_expiry_days)
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
    ladder = sorted(ctx.settings.rules.ladder, key=lambda step: step.warns)
    exact = [step for step in ladder if step.warns == count]
    if exact:
        return exact[-1]
    if ladder and count > ladder[-1].warns:
        return ladder[-1]  # beyond the top: the top step again
    return None


async def settle_due(
    ctx: TickContext,
    kind: str,
    make_action: Callable[[DueChallenge], Action],
    *,
    outcome: str,
    audit_action: str,
) -> int:
    """Act on every due challenge of ``kind`` exactly once: claim it, act, and settle it as
    ``outcome`` if the platform did it, or put it back for the next tick if it refused.
    Returns how many were settled."""
    return len(
        await settle_due_rows(ctx, kind, make_action, outcome=outcome, audit_action=audit_action)
    )


async def settle_due_rows(
    ctx: TickContext,
    kind: str,
    make_action: Callable[[DueChallenge], Action],
    *,
    outcome: str,
    audit_action: str,
) -> list[DueChallenge]:
    """As ``settle_due``, returning the settled rows (for follow-ups such as clean-ups)."""
    async with ctx.store.transaction() as session:
        due = await ctx.store.gates.due(session, kind, ctx.now)
    settled = []
    for row in due:
        async with ctx.store.transaction() as session:
            # Claimed first, so a press or a second process cannot act on it meanwhile.
            if not await ctx.store.gates.transition(session, row.id, "pending", "acting"):
                continue
        # Waited for: the claimed row is settled by the platform's answer (else tried again).
        result = await ctx.perform(make_action(row))
        async with ctx.store.transaction() as session:
            await ctx.store.gates.transition(
                session, row.id, "acting", outcome if result.ok else "pending"
            )
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
