"""Referrals (裂变), the same on Telegram and Discord: a member asks for their link, a friend
joins through it (Telegram names the link in ``chat_member``; Discord moves the invite's uses
by one), speaks, and once the fake clock is past ``settle_hours`` the tick pays the inviter
once and tells them privately; joining through one's own link and coming back after leaving
never count. On Discord two joins at once cannot be told apart: kept as unknown, never guessed.

The bot runs on a ``FakeClock`` the scenario moves; ticks run by hand (``platform.scheduled``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.app import App
from bot.clock import FakeClock
from handlers.referrals import settle_referrals
from storage.members import Member
from storage.referrals import Referral
from tests.contract.drivers import DiscordDriver, Person
from tests.contract.drivers import Driver as Platform

ANN = Person(1, "Ann", "ann")  # a group admin, who invites
BOB = Person(2, "Bob <b>&", "bob")  # her friend, new here
CAT = Person(3, "Cat", "cat")  # was here before
DAN = Person(4, "Dan", "dan")  # invites himself
EVE = Person(5, "Eve", "eve")
FAY = Person(6, "Fay", "fay")


async def started(platform: Platform) -> tuple[App, FakeClock]:
    # A minute behind the platforms' (real) time: what members do before a join is recorded
    # at the bot's clock, clearly before the join the platform stamps (a join and a word in
    # the same second cannot be ordered).
    clock = FakeClock(datetime.now(UTC) - timedelta(minutes=1))
    platform.clock = clock  # type: ignore[attr-defined]
    app = await platform.start(members=(ANN, CAT, DAN), admins=(ANN,))
    return app, clock


def catch_up(clock: FakeClock) -> None:
    """The platforms stamp a join with their own (real) time: the bot's clock is moved past
    it, as time goes on between a join and the newcomer's first words."""
    clock.set(max(clock.now(), datetime.now(UTC)) + timedelta(seconds=1))


def now(clock: FakeClock) -> None:
    """Back to the real time after the ticks: the fake servers stamp what members say with
    it, and words days older than the bot's clock would be dropped as stale."""
    clock.set(datetime.now(UTC))


async def link_of(platform: Platform, who: Person) -> str:
    """``who`` asks for their link (by keyword, as members do); the link they were shown."""
    seen = await platform.say(who, "邀请链接")
    [link] = {u for t in seen.texts for u in re.findall(r"https://\S+", t)}
    return link.rstrip("）)")


async def statuses(app: App) -> dict[str, tuple[str, str | None]]:
    async with app.store.transaction() as session:
        rows = await session.execute(
            select(Member.platform_user_id, Referral.status, Referral.reason).join(
                Member, Member.id == Referral.newcomer_member_id
            )
        )
        return {u: (s, r) for u, s, r in rows.all()}


async def test_a_friend_who_stays_pays_the_inviter_once(platform: Platform) -> None:
    app, clock = await started(platform)
    await platform.say(CAT, "我来过")
    await platform.say(DAN, "我也在")
    ann = await link_of(platform, ANN)
    assert await link_of(platform, ANN) == ann  # made once, reused
    dan = await link_of(platform, DAN)
    await platform.join(BOB, via=ann)
    catch_up(clock)
    await platform.say(BOB, "大家好")
    # Cat was here before: leaving and coming back through Ann's link never counts.
    await platform.leave(CAT)
    await platform.join(CAT, via=ann)
    await platform.say(CAT, "我回来了")
    # Dan leaves and comes back through his own link: never counts either.
    await platform.leave(DAN)
    await platform.join(DAN, via=dan)
    await platform.say(DAN, "又见面了")
    found = await statuses(app)
    assert found[platform.user_id(BOB)] == ("pending", None)
    assert found[platform.user_id(CAT)] == ("void", "rejoin")
    assert found[platform.user_id(DAN)] == ("void", "self")
    tick = app.dispatcher.tick_context()
    clock.advance(timedelta(hours=71))
    assert not (await platform.scheduled(lambda: settle_referrals(tick))).texts  # not yet
    clock.advance(timedelta(hours=1, minutes=5))
    paid = await platform.scheduled(lambda: settle_referrals(tick))
    [told] = paid.texts
    assert paid.to == [platform.user_id(ANN)]  # privately, to the inviter alone
    assert "Bob <b>&" in told and "20 积分" in told
    again = await platform.scheduled(lambda: settle_referrals(tick))
    assert not again.texts  # once
    now(clock)
    [points] = (await platform.say(ANN, "积分")).texts
    assert "20" in points
    [dans] = (await platform.say(DAN, "积分")).texts
    assert "20" not in dans
    listed = await platform.say(ANN, "/referrals")
    mine = [t for t, to in zip(listed.texts, listed.to, strict=True) if to is not None]
    assert any("已计入 1" in t and "不计入 1" in t and "以前来过" in t for t in mine)


async def test_two_joins_at_once_on_discord_are_unknown(platform: Platform) -> None:
    app, clock = await started(platform)
    await platform.say(DAN, "我在")
    ann, dan = await link_of(platform, ANN), await link_of(platform, DAN)
    if not isinstance(platform, DiscordDriver):
        # Telegram names the link of every join: two at once are each credited exactly.
        await platform.join(EVE, via=ann)
        await platform.join(FAY, via=dan)
        found = await statuses(app)
        assert found[platform.user_id(EVE)][0] == found[platform.user_id(FAY)][0] == "pending"
        return
    await platform.join_together((EVE, ann), (FAY, dan))
    found = await statuses(app)
    assert found[platform.user_id(EVE)] == ("unknown", None)
    assert found[platform.user_id(FAY)] == ("unknown", None)
    catch_up(clock)
    for who in (EVE, FAY):
        await platform.say(who, "你好")
    clock.advance(timedelta(hours=73))
    tick = app.dispatcher.tick_context()
    assert not (await platform.scheduled(lambda: settle_referrals(tick))).texts  # nobody paid
    now(clock)
    [points] = (await platform.say(ANN, "积分")).texts
    assert "20" not in points
    # One join afterwards is credited again: the uses moved by exactly one.
    await platform.join(BOB, via=ann)
    assert (await statuses(app))[platform.user_id(BOB)] == ("pending", None)
