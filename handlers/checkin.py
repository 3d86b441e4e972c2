"""Daily check-in (签到打卡): once per local day, a streak to protect, points and badges.

The check-in row, its points (a ledger entry keyed by member and day) and its badges are
written in one transaction, so a check-in pays exactly once however often it is sent.
"""

from __future__ import annotations

from typing import Any

from bot.context import Context
from bot.features import Feature
from bot.richtext import RichText
from storage.ledger import ISSUE, Movement, member_owner

__all__ = ["feature"]

feature = Feature("checkin")

FIRST_TODAY = "first-today"


@feature.command("checkin", keywords=["签到", "打卡"])
async def checkin(ctx: Context) -> Any:
    assert ctx.member is not None and ctx.sender is not None
    member, day, rules = ctx.member, ctx.today(), ctx.settings.checkin
    new_badges: list[str] = []
    async with ctx.store.transaction() as session:
        streak = await ctx.store.checkins.streak_before(session, member.id, day) + 1
        points = rules.base + sum(bonus.points for bonus in rules.bonus if bonus.day == streak)
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
                await ctx.store.ledger.post(
                    session,
                    community_id=ctx.community.id,
                    key=f"checkin:{member.id}:{day.isoformat()}",
                    movements=[Movement(member_owner(member.id), points)],
                    reason=ISSUE,
                    reference="checkin",
                    now=ctx.now,
                )
            earned = [f"streak-{n}" for n in rules.badges if n == streak]
            if claimed.rank == 1:
                earned.append(FIRST_TODAY)
            for badge in earned:
                if await ctx.store.checkins.award(session, member.id, badge, ctx.now):
                    new_badges.append(badge)
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
    lines += [ctx.say("checkin.badge", badge=badge_name(ctx, badge)) for badge in new_badges]
    return ctx.reply_text(RichText.join(lines))


def badge_name(ctx: Context, badge: str) -> str:
    if badge == FIRST_TODAY:
        return ctx.say("badges.first").plain()
    return ctx.say("badges.streak", days=badge.removeprefix("streak-")).plain()
