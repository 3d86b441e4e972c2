"""Referrals (裂变): ``/mylink`` (邀请链接) gives a member their own invite link, made once by
the platform and reused; joins through it are credited to them, and count once the newcomer
has stayed.

Attribution is the platform's: Telegram names the link a join came through (exact); the
Discord adapter names one only when exactly one tracked invite's uses moved by one, else the
join is kept as ``unknown``, never guessed. A referral counts when the newcomer got through
the entry gate, stayed ``settle_hours`` and did something (a message or a press); joining
through one's own link, coming back after leaving (anyone seen here before) and accounts
younger than ``min_account_age_days`` never count; leaving first cancels it. The settle tick
pays ``inviter_points`` (and ``newcomer_points``) once per referral through the points
service, in the transaction that marks it counted (``storage/referrals.py``), and then tells
the inviter privately.

Operators see one member's referrals with ``/referrals @member``, privately; a link with a
burst of joins that mostly left again is reported to the moderators, once a day at most.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from bot.actions import ActionResult, CreateInvite, DeclineReason, Notify, Reply
from bot.config import Section
from bot.context import Context, TickContext
from bot.events import MemberJoined, MemberLeft
from bot.features import Arg, Feature
from bot.permissions import Role
from bot.richtext import RichText
from handlers.gates import GateSettings
from handlers.shared import home_of, tell_privately, voice_for
from storage.communities import CommunityInfo
from storage.members import MemberInfo
from storage.points import PointsReason
from storage.referrals import (
    GATE,
    INACTIVE,
    LEFT,
    PENDING,
    REJOIN,
    SELF,
    UNKNOWN,
    VOID,
    YOUNG,
    LinkInfo,
    ReferralRepo,
)
from storage.text import clip

__all__ = ["ReferralsSettings", "feature", "link_name", "settle_referrals"]

log = logging.getLogger(__name__)


class ReferralsSettings(Section):
    """Members' own invite links (/mylink) and the rewards for newcomers who stay."""

    settle_hours: int = Field(72, ge=1, le=24 * 90)
    """Hours a newcomer must stay (and do something) before their join counts."""
    min_account_age_days: int = Field(7, ge=0, le=3650)
    """Accounts younger than this never count, where the platform tells the age (Discord)."""
    inviter_points: int = Field(20, ge=0, le=1_000_000)
    """Points to the inviter when a referral counts (0 = none)."""
    newcomer_points: int = Field(0, ge=0, le=1_000_000)
    """Points to the newcomer when their join counts (0 = none)."""
    suspicious_joins: int = Field(5, ge=0, le=10_000)
    """Moderators are told privately when at least this many join through one link within an
    hour and most of them are gone within a day (0 = never)."""


feature = Feature("referrals", group="points", order=85, settings=ReferralsSettings)

#: A newcomer who has not done anything yet is looked at again this much later...
RECHECK = timedelta(hours=6)
#: ...until this long after the join: then the referral is cancelled as inactive.
INACTIVE_AFTER = timedelta(days=30)
#: A newcomer still facing the gate is looked at again this much later.
GATE_RECHECK = timedelta(hours=1)
#: Telegram shows a link's name in 32 characters: the member's name and the link's key.
NAME_ROOM = 20
LISTED = 15


def _repo(ctx: TickContext) -> ReferralRepo:
    return ReferralRepo(ctx.store.db)


def link_name(member: MemberInfo) -> str:
    """The link's name: the member's (as the brief of the platform's list shows it) and their
    row id, so two members with one name never share a name Telegram reports joins by."""
    return f"{clip(member.display_name, NAME_ROOM) or member.platform_user_id} #{member.id}"


# -- where -------------------------------------------------------------------------------------


async def _home(ctx: Context) -> tuple[CommunityInfo, MemberInfo] | Reply:
    """This group, or, in private, the one group the member shares with the bot."""
    return await home_of(ctx, "referrals")


# -- /mylink -----------------------------------------------------------------------------------


@feature.command("mylink", keywords=["邀请链接", "我的邀请链接"], where="any")
async def mylink(ctx: Context) -> Reply:
    """The member's own invite link: made by the platform the first time, then reused."""
    home = await _home(ctx)
    if isinstance(home, Reply):
        return home
    community, member = home
    if member.is_bot:
        return ctx.reply("referrals.no_group", private=True)
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        link = await repo.link_of(session, member.id)
    if link is None:
        made = await ctx.perform(
            CreateInvite(
                platform=community.platform,
                chat_id=community.chat_id,
                user_id=member.platform_user_id,
                name=link_name(member),
                approval=ctx.settings_of(GateSettings, community).mode == "approval",
            )
        )
        if not made.ok or not made.link:
            return _declined(ctx, made)
        async with ctx.store.transaction() as session:
            link = await repo.keep_link(
                session,
                community_id=community.id,
                member_id=member.id,
                url=made.link,
                name=link_name(member),
                now=ctx.now,
            )
            await ctx.audit(session, "referrals.link", target=member)
    return _shown(ctx, community, link)


def _shown(ctx: Context, community: CommunityInfo, link: LinkInfo) -> Reply:
    rules = ctx.settings_of(ReferralsSettings, community)
    intent = "referrals.link" if rules.inviter_points else "referrals.link_no_points"
    return ctx.reply(
        intent,
        private=True,
        link=link.url,
        group=community.title or community.chat_id,
        hours=rules.settle_hours,
        points=rules.inviter_points,
    )


def _declined(ctx: Context, result: ActionResult) -> Reply:
    """The platform would not make a link: why, in the words used for every refusal."""
    reason = result.reason or DeclineReason.FAILED
    right = result.detail or "can_invite_users"
    if ctx.renderer.packs.has(named := f"declined.right.{right}"):
        right = ctx.say(named).plain()
    if reason is DeclineReason.UNSUPPORTED:
        return ctx.reply("referrals.unsupported", private=True)
    return ctx.reply(f"declined.{reason.value}", private=True, right=right)


# -- joins and leaves --------------------------------------------------------------------------


@feature.on("member_joined")
async def on_join(ctx: Context) -> None:
    """Credit a join to the link it came through (or keep it as unknown), once per newcomer."""
    event = ctx.event
    assert isinstance(event, MemberJoined)
    if ctx.is_private or event.member.is_bot:
        return
    rules = ctx.settings_of(ReferralsSettings)
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        newcomer = ctx.member
        if newcomer is None or newcomer.platform_user_id != event.member.id:
            newcomer = await ctx.store.members.find(session, ctx.community.id, event.member.id)
        if newcomer is None:
            return
        link = None
        if event.invite_link:
            link = await repo.find_link(session, ctx.community.id, event.invite_link)
            if link is None:
                return  # a link of the operators' own, or anyone else's: no referral
        elif not await repo.has_links(session, ctx.community.id):
            return  # nobody here has a link: nothing to be unsure about
        status, reason = PENDING, None
        if link is None:
            status = UNKNOWN
        elif link.member_id == newcomer.id:
            status, reason = VOID, SELF
        elif _seen_before(newcomer, event.at):
            status, reason = VOID, REJOIN
        elif _too_young(event, rules.min_account_age_days):
            status, reason = VOID, YOUNG
        kept = await repo.record_join(
            session,
            community_id=ctx.community.id,
            link=link,
            newcomer_member_id=newcomer.id,
            joined_at=event.at,
            due_at=event.at + timedelta(hours=rules.settle_hours),
            status=status,
            reason=reason,
        )
        if kept and link is not None:
            await ctx.audit(
                session, "referrals.join", target=newcomer, status=status, reason=reason or "-"
            )


def _seen_before(newcomer: MemberInfo, joined_at: datetime) -> bool:
    """Whether the newcomer was here before this join: an earlier join on record, or
    something they did before it (a join request alone is not being here)."""
    if newcomer.joined_at is not None and newcomer.joined_at < joined_at:
        return True
    return newcomer.last_active_at is not None and newcomer.last_active_at < joined_at


def _too_young(event: MemberJoined, days: int) -> bool:
    made = event.account_created_at
    return days > 0 and made is not None and event.at - made < timedelta(days=days)


@feature.on("member_left")
async def on_leave(ctx: Context) -> Notify | None:
    """A newcomer leaving before their referral settled cancels it; a link whose burst of
    newcomers mostly left again is reported to the moderators (once a day at most)."""
    event = ctx.event
    assert isinstance(event, MemberLeft)
    if ctx.is_private or event.member.is_bot:
        return None
    rules = ctx.settings_of(ReferralsSettings)
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        newcomer = await ctx.store.members.find(session, ctx.community.id, event.member.id)
        if newcomer is None:
            return None
        link_id = await repo.cancel_on_leave(session, ctx.community.id, newcomer.id, ctx.now)
        if link_id is None or not rules.suspicious_joins:
            return None
        burst = await repo.burst(session, link_id, ctx.now, joins=rules.suspicious_joins)
        if burst is None or not await repo.flag(session, link_id, ctx.now):
            return None
        link = await repo.link(session, link_id)
        inviter = await ctx.store.members.get(session, link.member_id) if link else None
    if inviter is None:
        return None
    return Notify(
        platform=ctx.event.platform,
        chat_id=ctx.event.chat.id,
        channel_id=ctx.event.channel_id,
        role="moderator",
        text=ctx.say(
            "referrals.suspicious",
            member=inviter.display_name,
            joins=burst.joins,
            gone=burst.gone,
            hours=rules.settle_hours,
        ),
        fallback="record",
    )


# -- settling ----------------------------------------------------------------------------------


@feature.tick("referrals", every=timedelta(minutes=5))
async def settle_referrals(ctx: TickContext) -> int:
    """Settle the referrals whose time came: counted and paid once, cancelled, or looked at
    again later. Returns how many were counted."""
    repo = _repo(ctx)
    async with ctx.store.transaction() as session:
        due = await repo.due(session, ctx.now)
    counted = 0
    for referral_id in due:
        # One transaction each: the mark and its points commit together, or neither does.
        async with ctx.store.transaction() as session:
            settled = await _settle_one(ctx, session, repo, referral_id)
        if settled is None:
            continue
        counted += 1
        # Told after the commit: a notice never announces points that were rolled back. A
        # stop between the two loses the notice (never doubles it); /referrals still shows it.
        if (notice := await _counted_notice(ctx, settled)) is not None:
            await ctx.perform(notice)
    return counted


@dataclass(frozen=True, slots=True)
class _Settled:
    """A referral that just counted: who to tell, about whom, and what it paid them."""

    community: CommunityInfo
    inviter_member_id: int | None
    newcomer_member_id: int
    points: int


async def _settle_one(
    ctx: TickContext, session: Any, repo: ReferralRepo, referral_id: int
) -> _Settled | None:
    found = await repo.look_at(session, referral_id)
    if found is None:
        return None  # another tick, or a leave, got there first
    now = ctx.now
    if found.newcomer_left:
        await repo.cancel(session, found.id, now, LEFT)
        return None
    if found.gate == "failed":
        await repo.cancel(session, found.id, now, GATE)
        return None
    if found.gate is not None:
        await repo.later(session, found.id, now + GATE_RECHECK)
        return None
    if not found.newcomer_active:
        if now - found.joined_at >= INACTIVE_AFTER:
            await repo.cancel(session, found.id, now, INACTIVE)
        else:
            await repo.later(session, found.id, now + RECHECK)
        return None
    community = await ctx.store.communities.get(session, found.community_id)
    if community is None:
        return None
    rules = ctx.settings_of(ReferralsSettings, community)
    inviter = rules.inviter_points if found.inviter_member_id is not None else 0
    if not await repo.settle(session, found.id, now, inviter, rules.newcomer_points):
        return None
    points = ctx.store.points
    if inviter and found.inviter_member_id is not None:
        await points.award(
            session,
            community_id=found.community_id,
            member_id=found.inviter_member_id,
            amount=inviter,
            why=PointsReason.referral(found.id, "inviter"),
            now=now,
        )
    if rules.newcomer_points:
        await points.award(
            session,
            community_id=found.community_id,
            member_id=found.newcomer_member_id,
            amount=rules.newcomer_points,
            why=PointsReason.referral(found.id, "newcomer"),
            now=now,
        )
    return _Settled(community, found.inviter_member_id, found.newcomer_member_id, inviter)


async def _counted_notice(ctx: TickContext, settled: _Settled) -> Notify | None:
    """The inviter's private notice that their friend's join counted, with the points; a
    refused private chat falls back to a mention asking them to open one (never the figure
    in the group). Nobody to tell: an unknown join, or an inviter who has left."""
    if settled.inviter_member_id is None:
        return None
    async with ctx.store.transaction() as session:
        inviter = await ctx.store.members.get(session, settled.inviter_member_id)
        newcomer = await ctx.store.members.get(session, settled.newcomer_member_id)
    if inviter is None or newcomer is None or inviter.left_at is not None:
        return None
    community = settled.community
    voice = voice_for(ctx, community, f"referral:{settled.newcomer_member_id}")
    intent = "referrals.counted" if settled.points else "referrals.counted_no_points"
    return Notify(
        platform=community.platform,
        chat_id=community.chat_id,
        user_id=inviter.platform_user_id,
        text=voice.say(
            intent,
            member=newcomer.display_name,
            points=settled.points,
            group=community.title or community.chat_id,
        ),
        fallback="mention",
    )


# -- /referrals --------------------------------------------------------------------------------


@feature.command(
    "referrals",
    keywords=["我的邀请"],
    where="any",
    args=[Arg("member", "member", required=False)],
)
async def referrals(ctx: Context) -> Reply | None:
    """Your own referrals (pending, counted, cancelled), privately; operators may name a
    member (``/referrals @member``), and read theirs privately too."""
    target: MemberInfo | None = ctx.args.get("member")
    if target is not None:
        refusal = await ctx.refusal([Role.MODERATOR])
        if refusal is not None:
            return refusal
        whose = ctx.say("referrals.whose_member", member=target.display_name)
        return await _listed(ctx, target, whose)
    home = await _home(ctx)
    if isinstance(home, Reply):
        return home
    _community, member = home
    return await _listed(ctx, member, ctx.say("referrals.whose_own"))


async def _listed(ctx: Context, member: MemberInfo, whose: RichText) -> Reply | None:
    async with ctx.store.transaction() as session:
        tally, rows = await _repo(ctx).of_inviter(session, member.id, LISTED)
    if not rows:
        return ctx.reply("referrals.none", private=True, whose=whose.plain(), usage="/mylink")
    lines = [
        ctx.say(
            "referrals.header",
            whose=whose.plain(),
            counted=tally.counted,
            pending=tally.pending,
            cancelled=tally.cancelled,
            void=tally.void,
        )
    ]
    for row in rows:
        status = ctx.say(f"referrals.status.{row.status}").plain()
        if row.reason:
            status += ctx.say(f"referrals.reason.{row.reason}").plain()
        lines.append(
            ctx.say(
                "referrals.line",
                when=row.joined_at.astimezone(ctx.zone).strftime("%Y-%m-%d"),
                member=row.newcomer_name,
                status=status,
            )
        )
    listed = RichText.join(lines)
    if ctx.is_private:
        return ctx.reply_text(listed, private=True)
    # Per-member figures: privately, never in the group.
    sent = await tell_privately(ctx, listed)
    if sent.detail == "mentioned":
        return None
    if not sent.ok:
        return ctx.reply("declined.failed", private=True)
    return ctx.reply("referrals.listed_privately", private=True)
