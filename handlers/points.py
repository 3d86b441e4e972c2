"""Points: ``/points`` (积分: balance, rank, streak, badges), ``/top`` (排行榜: points,
streaks, answers to members' questions, or newcomers invited who stayed), and operators' ``/give`` and ``/take``.

Every change goes through the points service (``storage/points.py``) with a reason made from
the platform update, so a redelivered command changes nothing the second time.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from bot.context import Context
from bot.features import Arg, Feature
from bot.permissions import Role
from bot.richtext import RichText
from handlers.checkin import badge_name
from handlers.shop import titled, titles
from storage.members import MemberInfo
from storage.points import InsufficientPoints, PointsReason
from storage.questions import QuestionRepo
from storage.referrals import ReferralRepo

__all__ = ["feature"]

feature = Feature("points", group="points", order=80)

MAX_GRANT = 1_000_000


@feature.command("points", keywords=["积分"])
async def points(ctx: Context) -> Any:
    """Balance, rank, the live streak and the badges: everything a member has earned."""
    assert ctx.member is not None and ctx.sender is not None
    async with ctx.store.transaction() as session:
        balance = await ctx.store.points.balance(session, ctx.community.id, ctx.member.id)
        rank = await ctx.store.points.rank(session, ctx.community.id, ctx.member.id)
        streak = await ctx.store.checkins.current_streak(session, ctx.member.id, ctx.today())
        badges = await ctx.store.checkins.badges(session, ctx.member.id)
        title = (await titles(ctx, session, [ctx.member.id])).get(ctx.member.id)
    lines = [
        ctx.say(
            "points.show",
            member=ctx.address(ctx.sender),
            balance=balance,
            rank=rank,
            streak=streak,
        )
    ]
    if badges:
        separator = ctx.say("points.badge_separator").plain()
        names = separator.join(badge_name(ctx, badge) for badge in badges)
        lines.append(ctx.say("points.badges", badges=names))
    if title:
        lines.append(ctx.say("shop.title_line", title=title))
    return ctx.reply_text(RichText.join(lines))


#: What ``/top`` understands, in any order: ``/top week``, ``/top streak``, ``排行榜 本周``.
TOP_WORDS = {
    "points": ("what", "points"),
    "积分": ("what", "points"),
    "streak": ("what", "streak"),
    "streaks": ("what", "streak"),
    "连签": ("what", "streak"),
    "连续签到": ("what", "streak"),
    "answers": ("what", "answers"),
    "回答": ("what", "answers"),
    "答题": ("what", "answers"),
    "invites": ("what", "invites"),
    "invite": ("what", "invites"),
    "邀请": ("what", "invites"),
    "邀请榜": ("what", "invites"),
    "week": ("period", "week"),
    "本周": ("period", "week"),
    "周榜": ("period", "week"),
    "all": ("period", "all"),
    "总榜": ("period", "all"),
    "全部": ("period", "all"),
}


def week_start(ctx: Context) -> datetime:
    """This calendar week's start in the community: Monday of its "today", at its day
    reset hour, in its zone (not the last 7 days)."""
    today = ctx.today()
    monday = today - timedelta(days=today.weekday())
    return datetime.combine(monday, time(ctx.day_reset_hour), tzinfo=ctx.zone).astimezone(UTC)


@feature.command("top", keywords=["排行榜"], args=[Arg("options", "text", required=False)])
async def top(ctx: Context) -> Any:
    """Points this week or of all time, or current streaks; the words in any order."""
    chosen = {"what": "points", "period": "all"}
    for word in str(ctx.args["options"] or "").split():
        meaning = TOP_WORDS.get(word.casefold())
        if meaning is None:
            return ctx.reply("points.top_bad", private=True, value=word[:32], usage=ctx.usage())
        chosen[meaning[0]] = meaning[1]
    if chosen["what"] == "streak":
        return await _top_streaks(ctx)
    period = chosen["period"]
    since = week_start(ctx)
    if chosen["what"] == "answers":
        return await _top_answers(ctx, period, since)
    if chosen["what"] == "invites":
        return await _top_invites(ctx, period, since)
    async with ctx.store.transaction() as session:
        if period == "week":
            rows = await ctx.store.points.top_since(session, ctx.community.id, since)
        else:
            rows = await ctx.store.points.top(session, ctx.community.id)
        names = {}
        for member_id, _points in rows:
            member = await ctx.store.members.get(session, member_id)
            # A member row gone missing shows as its account did before (``m:ID``).
            names[member_id] = member.display_name if member else f"m:{member_id}"
        held = await titles(ctx, session, list(names))
    if not rows:
        return ctx.reply("points.top_empty")
    label = ctx.say(f"points.period.{period}", since=f"{since.astimezone(ctx.zone):%m-%d}")
    lines = [ctx.say("points.top_header", period=label.plain())]
    lines += [
        ctx.say(
            "points.top_line",
            number=n,
            member=titled(ctx, names[member_id], held.get(member_id)),
            points=total,
        )
        for n, (member_id, total) in enumerate(rows, 1)
    ]
    return ctx.reply_text(RichText.join(lines))


async def _top_answers(ctx: Context, period: str, since: datetime) -> Any:
    """Members by answers given to others' questions (``/ask``), this week or of all time."""
    async with ctx.store.transaction() as session:
        rows = await QuestionRepo(ctx.store.db).top_answerers(
            session, ctx.community.id, since if period == "week" else None
        )
        names = {}
        for member_id, _answers in rows:
            member = await ctx.store.members.get(session, member_id)
            names[member_id] = member.display_name if member else f"m:{member_id}"
    if not rows:
        return ctx.reply("points.answers_empty")
    label = ctx.say(f"points.period.{period}", since=f"{since.astimezone(ctx.zone):%m-%d}")
    lines = [ctx.say("points.answers_header", period=label.plain())]
    lines += [
        ctx.say("points.answers_line", number=n, member=names[member_id], answers=answers)
        for n, (member_id, answers) in enumerate(rows, 1)
    ]
    return ctx.reply_text(RichText.join(lines))


async def _top_invites(ctx: Context, period: str, since: datetime) -> Any:
    """Members by referrals that counted (``/mylink``), this week or of all time; members
    who left are not shown."""
    async with ctx.store.transaction() as session:
        rows = await ReferralRepo(ctx.store.db).top(
            session, ctx.community.id, since if period == "week" else None
        )
    if not rows:
        return ctx.reply("points.invites_empty")
    label = ctx.say(f"points.period.{period}", since=f"{since.astimezone(ctx.zone):%m-%d}")
    lines = [ctx.say("points.invites_header", period=label.plain())]
    lines += [
        ctx.say("points.invites_line", number=n, member=member.display_name, invites=invites)
        for n, (member, invites) in enumerate(rows, 1)
    ]
    return ctx.reply_text(RichText.join(lines))


async def _top_streaks(ctx: Context) -> Any:
    """Members by current streak (last check-in today or yesterday); a streak has no
    period, so ``week``/``all`` change nothing here."""
    async with ctx.store.transaction() as session:
        rows = await ctx.store.checkins.top_streaks(session, ctx.community.id, ctx.today())
        names = {}
        for member_id, _streak in rows:
            member = await ctx.store.members.get(session, member_id)
            names[member_id] = member.display_name if member else str(member_id)
    if not rows:
        return ctx.reply("points.streak_empty")
    lines = [ctx.say("points.streak_header")]
    lines += [
        ctx.say("points.streak_line", number=n, member=names[member_id], streak=streak)
        for n, (member_id, streak) in enumerate(rows, 1)
    ]
    return ctx.reply_text(RichText.join(lines))


#: The ledger keeps a grant's reason as the entry's reference (``String(128)``).
REFERENCE_LEN = 128

GRANT_ARGS = [
    Arg("member", "member"),
    Arg("amount", "int", minimum=1, maximum=MAX_GRANT),
    Arg("reason", "text", required=False, max_length=REFERENCE_LEN),
]


async def _grant(ctx: Context, verb: str, target: MemberInfo, amount: int, reason: str) -> None:
    """An operator's ``/give`` or ``/take`` (``verb``): once per platform update, however often
    it is delivered, audited in the same transaction. ``/take`` raises ``InsufficientPoints``
    when the member has too few (nothing changes)."""
    points = ctx.store.points
    move, why = (
        (points.award, PointsReason.given)
        if verb == "give"
        else (points.charge, PointsReason.taken)
    )
    async with ctx.store.transaction() as session:
        posted = await move(
            session,
            community_id=ctx.community.id,
            member_id=target.id,
            amount=amount,
            why=why(ctx.event.platform, ctx.event.chat.id, ctx.event.update_key, note=reason),
            now=ctx.now,
        )
        if posted:
            await ctx.audit(session, f"points.{verb}", target=target, amount=amount, reason=reason)


@feature.command("give", roles=[Role.ADMIN], args=GRANT_ARGS)
async def give(ctx: Context) -> Any:
    target: MemberInfo = ctx.args["member"]
    amount, reason = int(ctx.args["amount"]), str(ctx.args["reason"] or "")
    await _grant(ctx, "give", target, amount, reason)
    return ctx.reply(
        "points.given", member=ctx.address(target), amount=amount, reason=reason or "-"
    )


@feature.command("take", roles=[Role.ADMIN], args=GRANT_ARGS)
async def take(ctx: Context) -> Any:
    target: MemberInfo = ctx.args["member"]
    amount, reason = int(ctx.args["amount"]), str(ctx.args["reason"] or "")
    try:
        await _grant(ctx, "take", target, amount, reason)
    except InsufficientPoints:
        async with ctx.store.transaction() as session:
            balance = await ctx.store.points.balance(session, ctx.community.id, target.id)
        return ctx.reply(
            "points.not_enough", private=True, member=target.display_name, balance=balance
        )
    return ctx.reply(
        "points.taken", member=target.display_name, amount=amount, reason=reason or "-"
    )
