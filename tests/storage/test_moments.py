"""The moments repository on SQLite and PostgreSQL: one claim per key among many at once, and
the measured effect of milestone lines on check-in returns."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from bot.clock import FakeClock
from storage import Store
from storage.moments import Holiday, MilestoneEffect, Rate
from tests.support import a_member

DAY = date(2026, 11, 1)


async def test_twenty_claims_of_one_moment_at_once_make_one(store: Store, clock: FakeClock) -> None:
    community, member = await a_member(store, clock.now())

    async def claim() -> bool:
        async with store.transaction() as s:
            return await store.moments.claim(
                s,
                community_id=community,
                member_id=member,
                kind="streak",
                occasion="30:2026-10-03",
                day=DAY,
                now=clock.now(),
            )

    won = await asyncio.gather(*(claim() for _ in range(20)))
    assert won.count(True) == 1
    assert await claim() is False  # and again later (a restart): still taken
    async with store.transaction() as s:
        assert await store.moments.said(s, community) == [(member, "streak", "30:2026-10-03")]


async def test_milestone_effect_compares_returns_with_comparable_streaks(
    store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    community, ann = await a_member(store, now, "ann")  # milestone at 30, back 3 days later
    _, bob = await a_member(store, now, "bob")  # milestone at 7, never back
    _, cat = await a_member(store, now, "cat")  # no line at 29, back the next day
    _, dan = await a_member(store, now, "dan")  # no line at 8, never back
    _, eve = await a_member(store, now, "eve")  # no line at 100: not comparable
    _, fay = await a_member(store, now, "fay")  # a line on day 10: its week is not over
    for member, days in (
        (ann, {0: 30, 3: 1}),
        (bob, {0: 7}),
        (cat, {0: 29, 1: 30}),
        (dan, {0: 8}),
        (eve, {0: 100, 1: 101}),
        (fay, {10: 7}),
    ):
        async with store.transaction() as s:
            for offset, streak in days.items():
                await store.checkins.claim(
                    s,
                    community_id=community,
                    member_id=member,
                    day=DAY + timedelta(days=offset),
                    streak=streak,
                    points=10,
                    now=now,
                )
    async with store.transaction() as s:
        for member, kind, offset in ((ann, "streak", 0), (bob, "streak", 0), (fay, "streak", 10)):
            assert await store.moments.claim(
                s,
                community_id=community,
                member_id=member,
                kind=kind,
                occasion=f"{offset}",
                day=DAY + timedelta(days=offset),
                now=now,
            )
        # A holiday line is not a milestone: it does not put Dan in the "with" group.
        await store.moments.claim(
            s,
            community_id=community,
            member_id=dan,
            kind="holiday",
            occasion="x",
            day=DAY,
            now=now,
        )
        effect = await store.moments.milestone_effect(s, community, DAY, DAY + timedelta(days=14))
        empty = await store.moments.milestone_effect(s, community, DAY, DAY + timedelta(days=3))
    # With: Ann (back) and Bob (not). Without, comparable: Cat at 29 (back; her day-1
    # check-in at 30 has no later return) and Dan at 8 (not); Eve at 100/101 is not comparable.
    assert effect == MilestoneEffect(with_moment=Rate(1, 2), without=Rate(1, 3))
    assert effect.with_moment.share == 0.5
    assert empty == MilestoneEffect(Rate(0, 0), Rate(0, 0))  # no week over yet
    assert empty.with_moment.share is None


async def test_own_holidays_and_call_names(store: Store, clock: FakeClock) -> None:
    community, member = await a_member(store, clock.now())
    async with store.transaction() as s:
        await store.moments.add_holiday(s, community, Holiday(6, 18, "周年"), clock.now())
        await store.moments.add_holiday(s, community, Holiday(6, 18, "建群日"), clock.now())
        await store.moments.add_holiday(s, community, Holiday(2, 29, "闰日"), clock.now())
    async with store.transaction() as s:
        assert await store.moments.holidays(s, community) == [
            Holiday(2, 29, "闰日"),
            Holiday(6, 18, "建群日"),
        ]
        assert await store.moments.remove_holiday(s, community, 6, 18)
        assert not await store.moments.remove_holiday(s, community, 6, 18)
        assert await store.moments.load_names(s, community) == {}
        await store.moments.call(
            s, community_id=community, member_id=member, platform_user_id="1", name="Cap",
            now=clock.now(),
        )  # fmt: skip
    assert store.moments.names_of(community) == {"1": "Cap"}  # known here at once
    fresh = Store(store.db)
    async with fresh.transaction() as s:
        assert await fresh.moments.load_names(s, community) == {"1": "Cap"}
        await fresh.moments.call(
            s, community_id=community, member_id=member, platform_user_id="1", name=None,
            now=clock.now(),
        )  # fmt: skip
        assert await fresh.moments.load_names(s, community) == {}
