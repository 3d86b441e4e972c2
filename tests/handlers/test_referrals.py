"""Referrals: ``/mylink`` made once and reused; joins credited exactly to the link they came
through; a referral counts after the settle time only when the newcomer stayed and did
something, is cancelled by a leave, never counts for a self-invite, a rejoin or a too-young
account; the reward is paid once however many ticks run at once. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from bot.actions import Action, CreateInvite, Notify, Reply
from bot.events import MemberJoined
from handlers.referrals import settle_referrals
from storage import Store
from storage.referrals import Referral, ReferralLink
from tests.support import FakeAdapter, Harness, make_settings


def english(base: Harness, adapter: FakeAdapter | None = None, **sections: dict) -> Harness:  # type: ignore[type-arg]
    return Harness(
        store=Store(base.store.db),
        settings=make_settings(persona={"locale": "en"}, **sections),
        clock=base.clock,
        adapter=adapter or FakeAdapter(),
    )


async def link_of(h: Harness, name: str) -> str:
    actions = await h.send(h.message("/mylink", user=name))
    [reply] = [a for a in actions if isinstance(a, Reply)]
    [url] = [w for w in reply.text.plain().replace("：", " ").split() if w.startswith("https://")]
    return url


async def join(h: Harness, name: str, link: str | None, **extra: object) -> list[Action]:
    user = h.user(name)
    event = MemberJoined(
        platform="fake",
        update_key=f"join-{name}-{h.clock.now().timestamp()}",
        chat=h.chat(),
        sender=user,
        at=h.clock.now(),
        member=user,
        invite_link=link,
        **extra,  # type: ignore[arg-type]
    )
    return await h.send(event)


async def statuses(h: Harness) -> dict[str, tuple[str, str | None]]:
    """Each newcomer's referral: (status, reason), by platform user id."""
    from storage.members import Member

    async with h.store.transaction() as session:
        rows = await session.execute(
            select(Member.platform_user_id, Referral.status, Referral.reason).join(
                Member, Member.id == Referral.newcomer_member_id
            )
        )
        return {u: (s, r) for u, s, r in rows.all()}


async def balance(h: Harness, name: str) -> int:
    async with h.store.transaction() as session:
        member = await h.store.members.find(session, 1, f"id-{name.casefold()}")
        assert member is not None
        return await h.store.points.balance(session, member.community_id, member.id)


async def tick(h: Harness) -> int:
    return await settle_referrals(h.dispatcher.tick_context())


async def test_mylink_is_made_once_and_reused(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.say("hello", user="Ann")
    actions = await h.send(h.message("/mylink", user="Ann"))
    [made] = [a for a in h.adapter.actions + actions if isinstance(a, CreateInvite)] or [
        a for a in actions if isinstance(a, CreateInvite)
    ]
    assert made.user_id == "id-ann" and made.name.startswith("Ann #") and not made.approval
    first = await link_of(h, "Ann")
    again = await h.send(h.message("邀请链接", user="Ann"))
    assert not [a for a in again if isinstance(a, CreateInvite)]
    assert first in again[-1].text.plain()  # type: ignore[union-attr]
    async with h.store.transaction() as session:
        assert (await session.execute(select(func.count()).select_from(ReferralLink))).scalar() == 1


async def test_an_approval_gate_makes_a_join_request_link(any_harness: Harness) -> None:
    h = english(any_harness, gates={"mode": "approval"})
    actions = await h.send(h.message("/mylink", user="Ann"))
    [made] = [a for a in actions if isinstance(a, CreateInvite)]
    assert made.approval


async def test_mylink_in_private_without_a_shared_group_says_where(any_harness: Harness) -> None:
    h = english(any_harness)
    [answer] = await h.send(h.message("/mylink", user="Zed", chat="p-zed", private=True))
    assert isinstance(answer, Reply) and "share no group" in answer.text.plain()
    async with h.store.transaction() as session:
        assert (await session.execute(select(func.count()).select_from(ReferralLink))).scalar() == 0
    # With exactly one shared group it works privately.
    await h.say("hi", user="Zed")
    actions = await h.send(h.message("/mylink", user="Zed", chat="p-zed", private=True))
    [made] = [a for a in actions if isinstance(a, CreateInvite)]
    assert made.chat_id == "g1"


async def test_a_platform_refusal_is_explained_and_nothing_is_kept(any_harness: Harness) -> None:
    from bot.actions import ActionResult, DeclineReason

    adapter = FakeAdapter()
    adapter.decline["create_invite"] = ActionResult.declined(
        DeclineReason.MISSING_RIGHT, "can_invite_users"
    )
    h = english(any_harness, adapter)
    texts = await h.say("/mylink", user="Ann")
    assert any("Invite users" in t for t in texts)
    async with h.store.transaction() as session:
        assert (await session.execute(select(func.count()).select_from(ReferralLink))).scalar() == 0


async def test_a_referral_settles_once_and_pays_the_inviter(any_harness: Harness) -> None:
    h = english(any_harness, referrals={"inviter_points": 20, "newcomer_points": 5})
    link = await link_of(h, "Ann")
    await join(h, "Bob", link)
    assert (await statuses(h))["id-bob"] == ("pending", None)
    await h.say("hi all", user="Bob")
    h.clock.advance(timedelta(hours=71, minutes=59))
    assert await tick(h) == 0
    h.clock.advance(timedelta(minutes=1))
    # Three ticks at once: one pays.
    assert sum(await asyncio.gather(tick(h), tick(h), tick(h))) == 1
    assert await tick(h) == 0
    assert (await statuses(h))["id-bob"] == ("counted", None)
    assert await balance(h, "Ann") == 20
    assert await balance(h, "Bob") == 5
    async with h.store.transaction() as session:
        assert await h.store.ledger.verify(session) == []
    # The leaderboard and the member's own list show it.
    top = await h.say("/top invites", user="Ann")
    assert "Ann: 1 newcomer who stayed" in top[0]
    mine = await h.send(h.message("/referrals", user="Ann"))
    [notice, told] = mine
    assert isinstance(notice, Notify) and notice.user_id == "id-ann"
    assert "1 counted" in notice.text.plain() and "Bob" in notice.text.plain()
    assert isinstance(told, Reply) and "privately" in told.text.plain()


def counted_notices(h: Harness) -> list[Notify]:
    return [
        a
        for a in h.adapter.actions
        if isinstance(a, Notify) and "count" in a.text.plain() and a.user_id is not None
    ]


async def test_the_inviter_is_told_privately_once_with_the_points(any_harness: Harness) -> None:
    h = english(any_harness, referrals={"inviter_points": 1})
    link = await link_of(h, "Ann")
    await join(h, "Bob <b>", link)
    await h.say("hi all", user="Bob <b>")
    h.adapter.actions.clear()
    h.clock.advance(timedelta(hours=72))
    assert sum(await asyncio.gather(tick(h), tick(h))) == 1
    assert await tick(h) == 0
    [notice] = counted_notices(h)
    assert notice.user_id == "id-ann" and notice.fallback == "mention"
    said = notice.text.plain()
    assert "Bob <b>" in said and "1 point" in said and "1 points" not in said
    # Nobody to tell: an inviter who left before it counted gets no notice, but the points.
    await join(h, "Cat", link)
    await h.say("hello", user="Cat")
    await h.send(h.leave("Ann"))
    h.adapter.actions.clear()
    h.clock.advance(timedelta(hours=72))
    assert await tick(h) == 1
    assert counted_notices(h) == []
    assert await balance(h, "Ann") == 2


async def test_the_notice_reads_naturally_in_chinese(any_harness: Harness) -> None:
    h = any_harness
    link = await link_of(h, "Ann")
    await join(h, "Bob", link)
    await h.say("大家好", user="Bob")
    h.adapter.actions.clear()
    h.clock.advance(timedelta(hours=72))
    assert await tick(h) == 1
    [notice] = [a for a in h.adapter.actions if isinstance(a, Notify)]
    assert notice.user_id == "id-ann"
    assert "Bob" in notice.text.plain() and "20 积分" in notice.text.plain()


async def test_a_newcomer_who_never_speaks_is_not_counted_yet(any_harness: Harness) -> None:
    h = english(any_harness)
    link = await link_of(h, "Ann")
    await join(h, "Bob", link)
    h.clock.advance(timedelta(hours=72))
    assert await tick(h) == 0
    assert (await statuses(h))["id-bob"] == ("pending", None)
    await h.say("finally", user="Bob")
    h.clock.advance(timedelta(hours=6))
    assert await tick(h) == 1
    # One who never takes part is cancelled after 30 days.
    await join(h, "Cat", link)
    h.clock.advance(timedelta(days=30))
    for _ in range(3):
        await tick(h)
    assert (await statuses(h))["id-cat"] == ("cancelled", "inactive")


async def test_leaving_before_settling_cancels(any_harness: Harness) -> None:
    h = english(any_harness)
    link = await link_of(h, "Ann")
    await join(h, "Bob", link)
    await h.say("hi", user="Bob")
    h.clock.advance(timedelta(hours=10))
    await h.send(h.leave("Bob"))
    assert (await statuses(h))["id-bob"] == ("cancelled", "left")
    h.clock.advance(timedelta(hours=70))
    assert await tick(h) == 0
    assert await balance(h, "Ann") == 0


async def test_self_invite_rejoin_and_young_accounts_never_count(any_harness: Harness) -> None:
    h = english(any_harness)
    link = await link_of(h, "Ann")
    # Ann leaves and comes back through her own link.
    await h.send(h.leave("Ann"))
    await join(h, "Ann", link)
    # Cy was here before (spoke), left, and comes back through Ann's link.
    await h.say("old timer", user="Cy")
    await h.send(h.leave("Cy"))
    h.clock.advance(timedelta(minutes=1))
    await join(h, "Cy", link)
    # Dee's account is two days old.
    await join(h, "Dee", link, account_created_at=h.clock.now() - timedelta(days=2))
    # Bob joins, leaves, and joins again: the second join changes nothing.
    await join(h, "Bob", link)
    await h.send(h.leave("Bob"))
    h.clock.advance(timedelta(minutes=1))
    await join(h, "Bob", link)
    found = await statuses(h)
    assert found["id-ann"] == ("void", "self")
    assert found["id-cy"] == ("void", "rejoin")
    assert found["id-dee"] == ("void", "young")
    assert found["id-bob"] == ("cancelled", "left")
    for name in ("Ann", "Cy", "Dee", "Bob"):
        await h.say("hello", user=name)
    h.clock.advance(timedelta(days=4))
    assert await tick(h) == 0
    assert await balance(h, "Ann") == 0


async def test_a_link_not_ours_credits_nobody_and_no_link_is_unknown(any_harness: Harness) -> None:
    h = english(any_harness)
    await link_of(h, "Ann")
    await join(h, "Bob", "Spring fair")
    await join(h, "Cat", None)
    found = await statuses(h)
    assert "id-bob" not in found
    assert found["id-cat"] == ("unknown", None)


async def test_operators_read_a_members_referrals_privately(any_harness: Harness) -> None:
    h = english(any_harness)
    link = await link_of(h, "Ann")
    await join(h, "Bob", link)
    refused = await h.say("/referrals @Ann", user="Eve")
    assert refused and "moderator" in refused[0].lower()
    h.adapter.admins.add(("g1", "id-mod"))
    actions = await h.send(h.message("/referrals @Ann", user="Mod"))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    assert notice.user_id == "id-mod" and "Ann's invites" in notice.text.plain()
    unknown = await h.say("/referrals @Nobody", user="Mod")
    assert unknown and "Nobody" in unknown[0]


async def test_a_farmed_link_is_reported_to_moderators_once_a_day(any_harness: Harness) -> None:
    h = english(any_harness)
    h.adapter.admins.add(("g1", "id-mod"))
    await h.say("here", user="Mod")
    link = await link_of(h, "Ann")
    for n in range(6):
        await join(h, f"Farm{n}", link)
        h.clock.advance(timedelta(minutes=5))
    notices: list[Notify] = []
    for n in range(6):
        notices += [a for a in await h.send(h.leave(f"Farm{n}")) if isinstance(a, Notify)]
    [notice] = notices
    assert notice.user_id == "id-mod" and notice.fallback == "record"
    assert "Ann" in notice.text.plain() and "joins within an hour" in notice.text.plain()
    # The same day: told once. A fresh burst the next day is told again.
    h.clock.advance(timedelta(days=1, minutes=1))
    for n in range(6, 12):
        await join(h, f"Farm{n}", link)
    again: list[Notify] = []
    for n in range(6, 12):
        again += [a for a in await h.send(h.leave(f"Farm{n}")) if isinstance(a, Notify)]
    assert len(again) == 1


async def digest_text(h: Harness) -> str:
    actions = await h.send(h.message("/digest now", user="Alice"))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    assert notice.user_id == "id-alice"
    return notice.text.plain()


async def test_the_weekly_digest_gains_one_referrals_block(any_harness: Harness) -> None:
    h = english(any_harness)
    h.adapter.admins.add(("g1", "id-alice"))
    await h.say("hello", user="Alice")
    assert "Referrals:" not in await digest_text(h)  # nobody invites: no block
    ann, dee = await link_of(h, "Ann"), await link_of(h, "Dee")
    await h.say("/stats optout", user="Dee")
    for name, link in (("Bob", ann), ("Cat", ann), ("Eve", dee)):
        await join(h, name, link)
        await h.say("hi", user=name)
    await join(h, "Zed", None)  # nobody credited for certain
    h.clock.advance(timedelta(days=2))
    await h.send(h.leave("Cat"))
    h.clock.advance(timedelta(days=29))
    await join(h, "Fay", ann)
    await join(h, "Gus", ann)
    text = await digest_text(h)
    [block] = [p for p in text.split("\n\n") if p.startswith("Referrals:")]
    assert block.startswith(
        "Referrals: 2 newcomers joined through members' links this week, and 0 joins could not"
    )
    assert "by inviter: Ann 1 of 2;" in block
    assert "by link: Ann #" in block and " 1 of 2." in block
    assert "Dee" not in block  # opted out: never named, still counted in the week's figures
    # This week's joins nobody can be credited with are counted, never guessed.
    await join(h, "Hal", None)
    [block] = [p for p in (await digest_text(h)).split("\n\n") if p.startswith("Referrals:")]
    assert "and 1 join could not be credited" in block


async def test_the_referrals_block_speaks_chinese(any_harness: Harness) -> None:
    h = any_harness
    h.adapter.admins.add(("g1", "id-alice"))
    link = await link_of(h, "Ann")
    await join(h, "Bob", link)
    h.clock.advance(timedelta(days=31))
    await h.send(h.leave("Bob"))
    actions = await h.send(h.message("/digest now", user="Alice"))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    [block] = [p for p in notice.text.plain().split("\n\n") if p.startswith("邀请：")]
    assert block.startswith("邀请：本周有 0 人通过成员的邀请链接入群，另有 0 人无法确定")
    assert "按邀请人：Ann 1 人中留下 0 人；按链接：Ann #" in block
