"""Moderation commands for operators and moderators (the warn ladder, punishments and the
log chat they share with enforcement and gates live in ``handlers.sanctions``).

Every action, by hand or automatic, is audited in the same transaction as the change and
mirrored (escaped, like everything) to the community's log chat when it has one.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions import (
    Action,
    Delete,
    Kick,
    Reply,
    Unban,
    Unrestrict,
)
from bot.config import CommunitySettings
from bot.context import Context, TickContext
from bot.events import MessageEvent
from bot.features import Arg, Feature
from bot.permissions import Role
from bot.richtext import RichText
from handlers.sanctions import (
    EVIDENCE,
    RulesSettings,
    act,
    act_once,
    duration_words,
    here,
    log_chat,
    punish,
    text_variant,
    to_log,
    warn,
)
from handlers.shared import store_override
from storage.base import REASON_LEN
from storage.members import MemberInfo
from storage.sanctions import LiftRepo

__all__ = ["CHAT_ID", "feature", "mute", "warn_command"]


feature = Feature("moderation", group="moderation", order=30, settings={"rules": RulesSettings})

MOD = [Role.MODERATOR]
#: The lift a timed ban schedules (``storage.sanctions``).
UNBAN = "unban"
APPEAL_COOLDOWN = timedelta(hours=1)
#: A chat id as platforms write it (Telegram groups are negative; Discord ids are long).
CHAT_ID = re.compile(r"-?[0-9]{1,20}")


def _lifts(ctx: TickContext) -> LiftRepo:
    """The timed bans' lifts (``storage/sanctions.py``), over this bot's database."""
    return LiftRepo(ctx.store.db)


async def _refuse_operator(ctx: Context, target: MemberInfo) -> Reply | None:
    """Operators are not punished by the bot (the platform would refuse anyway)."""
    from bot.events import User

    roles = await ctx.roles_of(User(id=target.platform_user_id, name=target.display_name), target)
    if Role.ADMIN in roles or Role.OWNER in roles:
        return ctx.reply("moderation.target_is_operator", private=True, member=target.display_name)
    return None


def _reason(ctx: Context) -> str:
    """The reason the moderator typed, without trailing punctuation (the text adds its own);
    empty when none was given (the reply then has no "reason" part at all)."""
    return str(ctx.args.get("reason") or "").strip().rstrip("。.！!；;，, ")


#: Why, as the moderator may add it after whom (and for how long).
REASON_ARG = Arg("reason", "text", required=False, max_length=REASON_LEN)
#: ``/kick`` and ``/warn``: whom, why.
TARGET_ARGS = [Arg("member", "member"), REASON_ARG]
#: ``/mute`` and ``/ban``: whom, for how long (none: until lifted), why.
PUNISH_ARGS = [Arg("member", "member"), Arg("duration", "duration", required=False), REASON_ARG]

#: What else a punishment stores in its audit transaction (session, target, duration).
Also = Callable[[AsyncSession, MemberInfo, timedelta | None], Awaitable[None]]


async def _punish_by_hand(
    ctx: Context, verb: str, done: str, *, mention: bool, also: Also | None = None
) -> list[Action] | Reply:
    """``/mute`` and ``/ban`` alike: refuse operators, act on the platform, audit (with
    ``also`` in the same transaction), then say it (``moderation.<done>``) and log it
    (``log.<done>``). ``mention``: address the member (a banned one is only named)."""
    target: MemberInfo = ctx.args["member"]
    if refusal := await _refuse_operator(ctx, target):
        return refusal
    duration: timedelta | None = ctx.args["duration"]
    reason, shown = _reason(ctx), duration_words(ctx, duration)
    if declined := await act(ctx, punish(ctx, target, verb, duration)):
        return declined
    async with ctx.store.transaction() as session:
        seconds = duration and duration.total_seconds()
        await ctx.audit(session, verb, target=target, reason=reason, seconds=seconds)
        if also is not None:
            await also(session, target, duration)
    said = ctx.reply(
        text_variant(f"moderation.{done}", reason, permanent=duration is None),
        member=ctx.address(target) if mention else target.display_name,
        duration=shown,
        reason=reason,
    )
    logged = text_variant(f"log.{done}", reason)
    return [
        said,
        *to_log(ctx, logged, member=target.display_name, reason=reason, duration=shown),
    ]


@feature.command("mute", roles=MOD, args=PUNISH_ARGS)
async def mute(ctx: Context) -> list[Action] | Reply:
    return await _punish_by_hand(ctx, "mute", "muted", mention=True)


@feature.command("unmute", roles=MOD, args=[Arg("member", "member")])
async def unmute(ctx: Context) -> list[Action] | Reply:
    target: MemberInfo = ctx.args["member"]
    if declined := await act(ctx, [Unrestrict(**here(ctx), user_id=target.platform_user_id)]):
        return declined
    async with ctx.store.transaction() as session:
        await ctx.audit(session, "unmute", target=target)
    said = ctx.reply("moderation.unmuted", member=ctx.address(target))
    return [said, *to_log(ctx, "log.unmuted", member=target.display_name)]


@feature.command("ban", roles=MOD, args=PUNISH_ARGS)
async def ban(ctx: Context) -> list[Action] | Reply:
    async def keep_lift(
        session: AsyncSession, target: MemberInfo, duration: timedelta | None
    ) -> None:
        """A timed ban's lift, kept in the ban's audit transaction."""
        if duration is not None:
            # Durable: the unban happens after a restart too, on every platform (Discord
            # bans have no end of their own); an earlier timed ban's lift moves to this end.
            await _lifts(ctx).schedule(
                session, ctx.community.id, target.id, UNBAN, ctx.now, ctx.now + duration
            )
        else:
            # A ban for good replaces a timed one: its lift must not let the member back.
            await _lifts(ctx).cancel(session, ctx.community.id, target.id, UNBAN)

    return await _punish_by_hand(ctx, "ban", "banned", mention=False, also=keep_lift)


@feature.tick("scheduled-unbans", every=timedelta(minutes=1))
async def lift_expired_bans(ctx: TickContext) -> int:
    """Bans with a duration end here, exactly once; a refused unban is tried again later."""
    lifts = _lifts(ctx)
    async with ctx.store.transaction() as session:
        due = await lifts.due(session, UNBAN, ctx.now)
    lifted = await act_once(
        ctx,
        due,
        lambda row: Unban(platform=row.platform, chat_id=row.chat_id, user_id=row.platform_user_id),
        claim=lambda session, row: lifts.claim(session, row.id, ctx.now),
        settle=lambda session, row, done: lifts.settle(session, row.id, done=done),
        audit_action="unban.scheduled",
    )
    return len(lifted)


@feature.command("unban", roles=MOD, args=[Arg("member", "member", include_left=True)])
async def unban(ctx: Context) -> list[Action] | Reply:
    target: MemberInfo = ctx.args["member"]
    if declined := await act(ctx, [Unban(**here(ctx), user_id=target.platform_user_id)]):
        return declined
    async with ctx.store.transaction() as session:
        await _lifts(ctx).cancel(session, ctx.community.id, target.id, UNBAN)
        await ctx.audit(session, "unban", target=target)
    said = ctx.reply("moderation.unbanned", member=target.display_name)
    return [said, *to_log(ctx, "log.unbanned", member=target.display_name)]


@feature.command("kick", roles=MOD, args=TARGET_ARGS)
async def kick(ctx: Context) -> list[Action] | Reply:
    target: MemberInfo = ctx.args["member"]
    if refusal := await _refuse_operator(ctx, target):
        return refusal
    reason = _reason(ctx)
    if declined := await act(ctx, [Kick(**here(ctx), user_id=target.platform_user_id)]):
        return declined
    async with ctx.store.transaction() as session:
        await ctx.audit(session, "kick", target=target, reason=reason)
    said = ctx.reply(
        text_variant("moderation.kicked", reason),
        member=target.display_name,
        reason=reason,
    )
    logged = text_variant("log.kicked", reason)
    return [said, *to_log(ctx, logged, member=target.display_name, reason=reason)]


@feature.command("del", roles=MOD)
async def delete(ctx: Context) -> list[Action] | Reply:
    """Delete the message replied to (and the command itself, to keep the chat clean)."""
    event = ctx.event
    if not isinstance(event, MessageEvent) or event.reply_to is None:
        return ctx.reply("error.usage", private=True, usage=ctx.usage())
    async with ctx.store.transaction() as session:
        await ctx.audit(
            session,
            "delete",
            message=event.reply_to.message_id,
            text=event.reply_to.text[:EVIDENCE],
        )
    return [
        Delete(**here(ctx), message_id=event.reply_to.message_id),
        Delete(**here(ctx), message_id=event.message_id),
        *to_log(ctx, "log.deleted", text=event.reply_to.text[:EVIDENCE]),
    ]


@feature.command("approve", roles=MOD, args=[Arg("member", "member")])
async def approve(ctx: Context) -> Reply:
    target: MemberInfo = ctx.args["member"]
    async with ctx.store.transaction() as session:
        await ctx.store.members.set_approved(session, target.id, True)
        await ctx.audit(session, "approve", target=target)
    said = ctx.reply("moderation.approved", member=ctx.address(target))
    return [said, *to_log(ctx, "log.approved", member=target.display_name)]


@feature.command("unapprove", roles=MOD, args=[Arg("member", "member")])
async def unapprove(ctx: Context) -> Reply:
    target: MemberInfo = ctx.args["member"]
    async with ctx.store.transaction() as session:
        await ctx.store.members.set_approved(session, target.id, False)
        await ctx.audit(session, "unapprove", target=target)
    said = ctx.reply("moderation.unapproved", member=ctx.address(target))
    return [said, *to_log(ctx, "log.unapproved", member=target.display_name)]


@feature.command("warn", roles=MOD, args=TARGET_ARGS)
async def warn_command(ctx: Context) -> list[Action] | Reply:
    target: MemberInfo = ctx.args["member"]
    if refusal := await _refuse_operator(ctx, target):
        return refusal
    event = ctx.event
    evidence = event.reply_to.text if isinstance(event, MessageEvent) and event.reply_to else None
    return await warn(ctx, target, _reason(ctx), evidence, ctx.member)


@feature.command("unwarn", roles=MOD, args=[Arg("member", "member", include_left=True)])
async def unwarn(ctx: Context) -> Reply:
    target: MemberInfo = ctx.args["member"]
    async with ctx.store.transaction() as session:
        taken = await ctx.store.warns.revoke_last(session, target.id, ctx.now)
        left = await ctx.store.warns.count(session, target.id, ctx.now)
        if taken is not None:
            await ctx.audit(session, "unwarn", target=target, reason=taken.reason)
    if taken is None:
        return ctx.reply("moderation.no_warns", member=target.display_name)
    said = ctx.reply("moderation.unwarned", member=target.display_name, count=left)
    return [said, *to_log(ctx, "log.unwarned", member=target.display_name, count=left)]


@feature.command(
    "warns", group="members", args=[Arg("member", "member", required=False, include_left=True)]
)
async def warns(ctx: Context) -> Reply:
    """Your own warns, or (moderators) someone else's."""
    target: MemberInfo | None = ctx.args["member"]
    if target is not None and (ctx.member is None or target.id != ctx.member.id):
        if refusal := await ctx.refusal(MOD):
            return refusal
    target = target or ctx.member
    assert target is not None
    async with ctx.store.transaction() as session:
        active = await ctx.store.warns.active(session, target.id, ctx.now)
    if not active:
        return ctx.reply("moderation.no_warns", member=target.display_name)
    lines = [ctx.say("moderation.warns_header", member=target.display_name, count=len(active))]
    lines += [
        ctx.say(
            "moderation.warns_line" if w.reason else "moderation.warns_line_no_reason",
            number=n,
            reason=w.reason,
            date=w.created_at.astimezone(ctx.zone).date().isoformat(),
        )
        for n, w in enumerate(active, 1)
    ]
    return ctx.reply_text(RichText.join(lines))


@feature.command("resetwarns", roles=MOD, args=[Arg("member", "member", include_left=True)])
async def resetwarns(ctx: Context) -> Reply:
    target: MemberInfo = ctx.args["member"]
    async with ctx.store.transaction() as session:
        cleared = await ctx.store.warns.revoke_all(session, target.id, ctx.now)
        await ctx.audit(session, "resetwarns", target=target, cleared=cleared)
    said = ctx.reply("moderation.warns_reset", member=target.display_name, count=cleared)
    return [said, *to_log(ctx, "log.warns_reset", member=target.display_name, count=cleared)]


@feature.command("appeal", group="members", args=[Arg("text", "text", max_length=EVIDENCE)])
async def appeal(ctx: Context) -> list[Action] | Reply:
    """A member asks the operators to reconsider; it goes to the log chat. Only from the
    group (a stranger in a private chat cannot reach the operators' chat), once an hour,
    cut short."""
    if ctx.is_private:
        return ctx.reply("moderation.appeal_in_group", private=True)
    if log_chat(ctx) is None:
        return ctx.reply("moderation.no_log_chat", private=True)
    assert ctx.member is not None
    text = str(ctx.args["text"])[:EVIDENCE]
    async with ctx.store.transaction() as session:
        recent = await ctx.store.audit.count_since(
            session, ctx.community.id, ctx.member.id, "appeal", ctx.now - APPEAL_COOLDOWN
        )
        if recent:
            return ctx.reply("moderation.appeal_wait", private=True)
        await ctx.audit(session, "appeal", target=ctx.member, text=text)
    return [
        *to_log(ctx, "log.appeal", member=ctx.member.display_name, text=text),
        ctx.reply("moderation.appeal_sent", private=True),
    ]


@feature.command("pardon", roles=MOD, args=[Arg("member", "member", include_left=True)])
async def pardon(ctx: Context) -> list[Action] | Reply:
    target: MemberInfo = ctx.args["member"]
    async with ctx.store.transaction() as session:
        taken = await ctx.store.warns.revoke_last(session, target.id, ctx.now)
        if taken is not None:
            await ctx.audit(session, "pardon", target=target, reason=taken.reason)
    if taken is None:
        return ctx.reply("moderation.no_warns", member=target.display_name)
    return [
        ctx.send("moderation.pardoned", member=ctx.address(target)),
        *to_log(ctx, "log.pardoned", member=target.display_name),
    ]


@feature.command("setlog", roles=[Role.ADMIN], args=[Arg("chat", "word")])
async def setlog(ctx: Context) -> Reply:
    """``/setlog CHAT_ID`` mirrors moderation to that chat; ``/setlog off`` stops it."""
    chat = str(ctx.args["chat"])
    value = None if chat.lower() == "off" else chat
    if value is not None and not CHAT_ID.fullmatch(value):
        return ctx.reply("error.usage", private=True, usage=ctx.usage())
    if value is not None and ctx.sender is not None:
        # Proof of control: only an admin of the log chat may send this group's logs there.
        owner = Role.OWNER in await ctx.roles()
        if not owner and not await ctx.is_admin(ctx.event.platform, value, ctx.sender.id):
            return ctx.reply("moderation.log_not_admin", private=True, chat=value)
    async with ctx.store.transaction() as session:
        await store_override(ctx, session, CommunitySettings, "log_chat", value)
        await ctx.audit(session, "setlog", chat=value)
    return ctx.reply("moderation.log_set" if value else "moderation.log_off", chat=value or "")
