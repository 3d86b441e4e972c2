"""Daily check-in (签到打卡): once per local day, a streak to protect, points and badges; and
the make-up check-in (补签) that spends points to fill yesterday.

The check-in row, its points (a ledger entry keyed by member and day) and its badges are
written in one transaction, so a check-in pays exactly once however often it is sent. A
make-up's row, its debit and the streak it reconnects share one transaction too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions import Merge, Reply
from bot.config import Section
from bot.context import Context
from bot.features import Feature
from bot.richtext import RichText
from bot.signals import Interacted, Interaction
from handlers.moments import checkin_lines
from storage.checkins import Claimed
from storage.points import Grant, InsufficientPoints, PointsReason

__all__ = ["CheckInSettings", "StreakBonus", "badge_name", "feature"]


class StreakBonus(Section):
    """Extra points on a given streak day: ``{ day = 7, points = 20 }``."""

    day: int = Field(ge=1, le=3650)
    points: int = Field(ge=0, le=1_000_000)


class CheckInSettings(Section):
    """Daily check-in (/checkin, keywords 签到 and 打卡; change them under [keywords]).
    "Today" is the community's day: [community] timezone and day_reset_hour.
    """

    base: int = Field(10, ge=0, le=1_000_000)
    """Points for every check-in."""
    bonus: list[StreakBonus] = Field(
        default_factory=lambda: [StreakBonus(day=7, points=20), StreakBonus(day=30, points=100)]
    )
    """Extra points on streak days."""
    badges: list[int] = Field(default_factory=lambda: [7, 30, 100, 365])
    """Streak lengths that earn a badge (each once); the first to check in each day gets one too."""
    makeup_cost: int = Field(50, ge=0, le=1_000_000)
    """Make-up check-in (/makeup, keyword 补签): spend points to fill yesterday when the member
    checked in the day before, so the streak goes on. The filled day earns no points.
    """
    makeup_per_month: int = Field(2, ge=0, le=31)
    """Make-ups per member per calendar month (counted by the filled day's month); 0 = off."""


feature = Feature("checkin", group="points", order=70, settings=CheckInSettings)

FIRST_TODAY = "first-today"


def _points_for(rules: CheckInSettings, streak: int) -> int:
    """What a real check-in on streak day ``streak`` pays: the base plus that day's bonuses."""
    return rules.base + sum(bonus.points for bonus in rules.bonus if bonus.day == streak)


def _streak_badges(rules: CheckInSettings, streak: int) -> list[str]:
    return [f"streak-{n}" for n in rules.badges if n == streak]


@feature.command("checkin", keywords=["签到", "打卡"])
async def checkin(ctx: Context) -> Any:
    assert ctx.member is not None and ctx.sender is not None
    member, day, rules = ctx.member, ctx.today(), ctx.settings_of(CheckInSettings)
    new_badges: list[str] = []
    moment: RichText | None = None
    async with ctx.store.transaction() as session:
        await ctx.store.checkins.lock_member(session, member.id)
        streak = await ctx.store.checkins.streak_before(session, member.id, day) + 1
        points = _points_for(rules, streak)
        claimed = await ctx.store.checkins.claim(
            session,
            community_id=ctx.community.id,
            member_id=member.id,
            day=day,
            streak=streak,
            points=points,
            now=ctx.now,
        )
        if claimed.new:
            if points:
                await ctx.store.points.award(
                    session,
                    community_id=ctx.community.id,
                    member_id=member.id,
                    amount=points,
                    why=PointsReason.checkin(member.id, day),
                    now=ctx.now,
                )
            earned = _streak_badges(rules, streak)
            if claimed.rank == 1:
                earned.append(FIRST_TODAY)
            new_badges = await _award(ctx, session, earned)
            moments = await checkin_lines(ctx, session, [(member, claimed.streak)], day)
            moment = moments.get(member.id)
    if claimed.new:  # committed, and new: a replay finds it done and emits nothing
        ctx.emit(Interacted(Interaction.CHECKIN))
    return _answer(ctx, claimed, new_badges, moment)


def _answer(
    ctx: Context, claimed: Claimed, new_badges: list[str], moment: RichText | None = None
) -> Reply:
    """The check-in's answer: the check-in, its new badges, and at most one moment line
    (``handlers.moments``: a milestone, a birthday, a holiday..., said once)."""
    assert ctx.sender is not None
    if not claimed.new:
        return ctx.reply("checkin.already", member=ctx.address(ctx.sender), streak=claimed.streak)
    lines = [
        ctx.say(
            "checkin.done",
            member=ctx.address(ctx.sender),
            streak=claimed.streak,
            points=claimed.points,
            rank=claimed.rank,
        )
    ]
    badges = [ctx.say("checkin.badge", badge=badge_name(ctx, badge)) for badge in new_badges]
    if moment is not None:
        badges.append(moment)
    # When the chat's send limit is reached, waiting check-in answers become one message:
    # a header and one line per member (with streak and points) instead of one a minute.
    line = ctx.say(
        "checkin.merged_line",
        member=ctx.address(ctx.sender),
        streak=claimed.streak,
        points=claimed.points,
    )
    merge = Merge(
        key="checkin.done",
        header=ctx.say("checkin.merged_header"),
        line=RichText.join([line, *badges]),
    )
    return ctx.reply_text(RichText.join(lines + badges)).model_copy(update={"merge": merge})


@feature.batch("checkin")
async def checkin_many(ctxs: list[Context]) -> list[Any]:
    """``checkin`` for a run of check-ins in one chat: one transaction and a few multi-row
    statements for all of them, with the same rows, ledger keys, badges and replies as one
    by one (a member twice in the run is "already done" the second time)."""
    first = ctxs[0]
    day, rules, community_id, now = (
        first.today(),
        first.settings_of(CheckInSettings),
        first.community.id,
        first.now,
    )
    if any(c.member is None or c.community.id != community_id or c.today() != day for c in ctxs):
        raise ValueError("a check-in batch must be one community and one day")
    members = list(dict.fromkeys(c.member.id for c in ctxs if c.member is not None))
    checkins = first.store.checkins
    async with first.store.transaction() as session:
        await checkins.lock_members(session, members)
        before = await checkins.streaks_before(session, members, day)
        wanted = {}
        for member_id in members:
            streak = before.get(member_id, 0) + 1
            wanted[member_id] = (streak, _points_for(rules, streak))
        claimed = await checkins.claim_many(
            session, community_id=community_id, day=day, wanted=wanted, now=now
        )
        await first.store.points.award_many(
            session,
            community_id=community_id,
            grants=[
                Grant(member_id, c.points, PointsReason.checkin(member_id, day))
                for member_id, c in claimed.items()
                if c.new and c.points
            ],
            now=now,
        )
        earned: dict[int, list[str]] = {}
        for member_id, c in claimed.items():
            if c.new:
                earned[member_id] = _streak_badges(rules, c.streak)
                if c.rank == 1:
                    earned[member_id].append(FIRST_TODAY)
        fresh = await checkins.award_many(
            session, [(m, badge) for m, badges in earned.items() for badge in badges], now
        )
        infos = {c.member.id: c.member for c in ctxs if c.member is not None}
        moments = await checkin_lines(
            first,
            session,
            [(infos[m], c.streak) for m, c in claimed.items() if c.new],
            day,
        )
    outcomes: list[Any] = []
    answered: set[int] = set()
    for ctx in ctxs:
        assert ctx.member is not None
        member_id = ctx.member.id
        c = claimed[member_id]
        if member_id in answered:
            c = Claimed(False, c.streak, c.points, c.rank)
        elif c.new:
            ctx.emit(Interacted(Interaction.CHECKIN))
        answered.add(member_id)
        badges = [b for b in earned.get(member_id, []) if (member_id, b) in fresh]
        moment = moments.get(member_id) if c.new else None
        outcomes.append(_answer(ctx, c, badges if c.new else [], moment))
    return outcomes


@feature.command("makeup", keywords=["补签"])
async def makeup(ctx: Context) -> Any:
    """Fill yesterday for ``makeup_cost`` points when it is the one day that broke a streak
    (the member checked in the day before); at most ``makeup_per_month`` per month."""
    assert ctx.member is not None and ctx.sender is not None
    member, rules, who = ctx.member, ctx.settings_of(CheckInSettings), ctx.address(ctx.sender)
    if rules.makeup_per_month == 0:
        return ctx.reply("checkin.makeup_off")
    day = ctx.today() - timedelta(days=1)
    checkins = ctx.store.checkins
    try:
        async with ctx.store.transaction() as session:
            await checkins.lock_member(session, member.id)
            done = await checkins.on(session, member.id, day)
            if done is not None:
                return ctx.reply("checkin.makeup_not_missing", member=who, streak=done.streak)
            before = await checkins.on(session, member.id, day - timedelta(days=1))
            if before is None:
                return ctx.reply("checkin.makeup_nothing", member=who)
            # The month's quota is read from the ledger: one make-up debit per filled day.
            used = await ctx.store.points.makeups_in_month(
                session, ctx.community.id, member.id, day
            )
            if used >= rules.makeup_per_month:
                return ctx.reply("checkin.makeup_quota", member=who, limit=rules.makeup_per_month)
            filled = await _fill(ctx, session, before.streak + 1)
            if filled is None:  # cannot happen under the member lock; stay safe anyway
                return ctx.reply("checkin.makeup_not_missing", member=who, streak=before.streak + 1)
    except InsufficientPoints:  # the transaction rolled back: no row, no debit
        async with ctx.store.transaction() as session:
            balance = await ctx.store.points.balance(session, ctx.community.id, member.id)
        return ctx.reply(
            "checkin.makeup_not_enough", member=who, cost=rules.makeup_cost, balance=balance
        )
    # Committed, and new (a replay finds yesterday filled and emits nothing): the make-up is
    # yesterday's check-in, counted on the day it fills.
    ctx.emit(Interacted(Interaction.CHECKIN, day=day))
    lines = [
        ctx.say("checkin.makeup_done", member=who, streak=filled.streak, cost=rules.makeup_cost)
    ]
    if filled.bonus:
        lines.append(ctx.say("checkin.makeup_bonus", streak=filled.streak, points=filled.bonus))
    lines += [ctx.say("checkin.badge", badge=badge_name(ctx, badge)) for badge in filled.badges]
    return ctx.reply_text(RichText.join(lines))


@dataclass(frozen=True, slots=True)
class _Filled:
    """A make-up's outcome: the member's streak now, today's bonus top-up, new badges."""

    streak: int
    bonus: int
    badges: list[str]


async def _fill(ctx: Context, session: AsyncSession, streak: int) -> _Filled | None:
    """Write yesterday's row with ``streak`` and debit the cost; ``None`` if the row exists.

    Policy: the filled day pays no points and is nobody's first of the day, but its streak
    counts (streak badges included). If today is checked in already, today's row takes the
    reconnected streak and gets what it would have got had the make-up come first (the
    streak bonus it missed, streak badges), so the order of 补签 and 签到 does not matter.
    Raises ``InsufficientPoints`` (the caller's transaction rolls back) when the member
    cannot pay.
    """
    assert ctx.member is not None
    member, rules, today = ctx.member, ctx.settings_of(CheckInSettings), ctx.today()
    day, checkins = today - timedelta(days=1), ctx.store.checkins
    claimed = await checkins.claim(
        session,
        community_id=ctx.community.id,
        member_id=member.id,
        day=day,
        streak=streak,
        points=0,
        now=ctx.now,
    )
    if not claimed.new:
        return None
    # Posted even when the cost is 0: the entry is what the monthly quota counts.
    await ctx.store.points.charge(
        session,
        community_id=ctx.community.id,
        member_id=member.id,
        amount=rules.makeup_cost,
        why=PointsReason.makeup(member.id, day),
        now=ctx.now,
    )
    earned, bonus = _streak_badges(rules, streak), 0
    latest = await checkins.on(session, member.id, today)
    if latest is not None:
        streak += 1
        bonus = max(_points_for(rules, streak) - latest.points, 0)
        await checkins.restreak(
            session, member.id, today, streak=streak, points=latest.points + bonus
        )
        if bonus:
            await ctx.store.points.award(
                session,
                community_id=ctx.community.id,
                member_id=member.id,
                amount=bonus,
                why=PointsReason.checkin_top_up(member.id, today),
                now=ctx.now,
            )
        earned += _streak_badges(rules, streak)
    return _Filled(streak, bonus, await _award(ctx, session, earned))


async def _award(ctx: Context, session: AsyncSession, badges: list[str]) -> list[str]:
    """Award each badge once; the ones that are new."""
    assert ctx.member is not None
    return [b for b in badges if await ctx.store.checkins.award(session, ctx.member.id, b, ctx.now)]


def badge_name(ctx: Context, badge: str) -> str:
    """A badge's name in the community's language (badges are stored as stable keys)."""
    if badge == FIRST_TODAY:
        return ctx.say("badges.first").plain()
    if not badge.startswith("streak-"):
        key = f"badges.{badge}"  # another feature's badge (``intro``), named in its pack
        return ctx.say(key).plain() if ctx.renderer.packs.has(key) else badge
    return ctx.say("badges.streak", days=badge.removeprefix("streak-")).plain()
