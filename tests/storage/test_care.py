"""Care's storage on SQLite and PostgreSQL: one alert per member and cooldown under 20
concurrent claims (a graver one still goes through, the clock frees it), an alert settled
once under concurrent presses, counts added up by batched upserts (concurrent flushes too),
the low-mood comparison against a member's own baseline, opt-out deleting counts, retention,
and a cut-off alert's sending taken over by one claim once its lease ran out."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from sqlalchemy import update

from bot.clock import FakeClock
from storage import Store
from storage.care import FALSE_ALARM, REACHED_OUT, CareAlert, CareRepo, DayCount, MemberCount
from tests.support import a_member

TASKS = 20
DAY = date(2026, 11, 21)
LEASE = timedelta(minutes=15)


async def _raise(
    store: Store, repo: CareRepo, community: int, member: int, now: datetime, level: int = 2
) -> int | None:
    async with store.transaction() as session:
        return await repo.raise_alert(
            session,
            community_id=community,
            member_id=member,
            level=level,
            score=0.75,
            channel_id=None,
            message_id="m1",
            now=now,
            until=now + timedelta(hours=24),
            sending_until=now + LEASE,
        )


async def test_one_alert_per_cooldown_under_twenty_concurrent_claims(
    store: Store, clock: FakeClock
) -> None:
    community, member = await a_member(store, clock.now(), "1")
    repo = CareRepo(store.db)
    now = clock.now()
    raised = await asyncio.gather(
        *(_raise(store, repo, community, member, now) for _ in range(TASKS))
    )
    assert len([r for r in raised if r is not None]) == 1
    graver = await asyncio.gather(
        *(_raise(store, repo, community, member, now, level=3) for _ in range(TASKS))
    )
    assert len([r for r in graver if r is not None]) == 1  # a crisis after distress, once
    later = now + timedelta(hours=23, minutes=59)
    assert await _raise(store, repo, community, member, later) is None
    assert await _raise(store, repo, community, member, now + timedelta(hours=24)) is not None
    async with store.transaction() as session:
        assert len(await repo.open_alerts(session, community)) == 3


async def test_an_alert_is_settled_once_under_concurrent_presses(
    store: Store, clock: FakeClock
) -> None:
    community, member = await a_member(store, clock.now(), "1")
    _, carer = await a_member(store, clock.now(), "2")
    repo = CareRepo(store.db)
    alert = await _raise(store, repo, community, member, clock.now())
    assert alert is not None

    async def press(status: str) -> bool:
        async with store.transaction() as session:
            return await repo.settle(session, alert, status, carer, clock.now())

    won = await asyncio.gather(
        *(press(REACHED_OUT if n % 2 else FALSE_ALARM) for n in range(TASKS))
    )
    assert won.count(True) == 1
    async with store.transaction() as session:
        found = await repo.get(session, alert)
        assert found is not None and found.status in (REACHED_OUT, FALSE_ALARM)
        assert await repo.open_alerts(session, community) == []
        assert await repo.false_alarms(session, community) == int(found.status == FALSE_ALARM)


async def test_a_cut_off_alert_is_taken_over_once_after_its_lease(
    store: Store, clock: FakeClock
) -> None:
    """Nothing recorded as sent: listed and claimable only once the lease ran out, and then
    by one of twenty concurrent claims; delivered or settled, never again; a row from before
    the lease (``NULL``) is never listed."""
    community, member = await a_member(store, clock.now(), "1")
    repo = CareRepo(store.db)
    raised = clock.now()
    cut = await _raise(store, repo, community, member, raised)
    settled = await _raise(store, repo, community, member, raised + timedelta(days=1))
    legacy = await _raise(store, repo, community, member, raised + timedelta(days=2))
    assert cut is not None and settled is not None and legacy is not None
    async with store.transaction() as session:
        await repo.settle(session, settled, REACHED_OUT, None, raised)
        await session.execute(
            update(CareAlert).where(CareAlert.id == legacy).values(sending_until=None)
        )
    early = raised + LEASE - timedelta(seconds=1)
    async with store.transaction() as session:
        assert await repo.cut_off(session, early, 10) == []
        assert not await repo.claim_sending(session, cut, early, early + LEASE)
    due = raised + timedelta(days=3)
    async with store.transaction() as session:
        assert await repo.cut_off(session, due, 10) == [cut]

    async def claim() -> bool:
        async with store.transaction() as session:
            return await repo.claim_sending(session, cut, due, due + LEASE)

    won = await asyncio.gather(*(claim() for _ in range(TASKS)))
    assert won.count(True) == 1
    async with store.transaction() as session:
        assert await repo.cut_off(session, due, 10) == []  # leased again
        later = due + LEASE
        assert await repo.cut_off(session, later, 10) == [cut]  # that sender stopped too
        await repo.delivered(session, cut, 1, False)
        assert await repo.cut_off(session, later, 10) == []
        assert not await repo.claim_sending(session, cut, later, later + LEASE)
        found = await repo.get(session, cut)
        assert found is not None and found.delivered == 1


async def test_concurrent_flushes_add_up(store: Store, clock: FakeClock) -> None:
    community, member = await a_member(store, clock.now(), "1")
    repo = CareRepo(store.db)

    async def add(negative: int) -> None:
        async with store.transaction() as session:
            await repo.add(
                session,
                [DayCount(community, DAY, 2, negative), DayCount(community, DAY, 1, 0)],
                [MemberCount(community, member, DAY, 3, negative)],
            )

    await asyncio.gather(*(add(n % 2) for n in range(TASKS)))
    async with store.transaction() as session:
        assert await repo.mood(session, community, DAY, DAY) == {DAY: (3 * TASKS, TASKS // 2)}
        assert await repo.member_days(session, member) == 1


async def test_low_mood_is_measured_against_the_members_own_baseline(
    store: Store, clock: FakeClock
) -> None:
    community, steady = await a_member(store, clock.now(), "1")
    _, lower = await a_member(store, clock.now(), "2")
    _, few = await a_member(store, clock.now(), "3")
    _, new = await a_member(store, clock.now(), "4")
    repo = CareRepo(store.db)
    rows = []
    for back in range(7, 35):  # the baseline weeks
        day = DAY - timedelta(days=back)
        rows += [MemberCount(community, m, day, 10, 2) for m in (steady, lower, few)]
        rows.append(MemberCount(community, steady, day, 0, 0))
    for back in range(7):  # the last 7 days, today included
        day = DAY - timedelta(days=back)
        rows.append(MemberCount(community, steady, day, 10, 3))  # 30% vs 20%: not 2x
        rows.append(MemberCount(community, lower, day, 10, 4))  # 40% vs 20%: 2x
        rows.append(MemberCount(community, new, day, 2, 1))  # no baseline, 7 negative
    rows.append(MemberCount(community, few, DAY, 2, 2))  # 100%, but only 2 negative
    rows.append(MemberCount(community, steady, DAY - timedelta(days=40), 10, 0))  # too old

    async with store.transaction() as session:
        await repo.add(session, [], rows)
        found = await repo.low_moods(
            session, community, DAY, recent_days=7, base_days=28, ratio=2.0, min_negative=5
        )
    assert sorted(m.member_id for m in found) == sorted([lower, new])
    by_id = {m.member_id: m for m in found}
    assert (by_id[lower].recent_scored, by_id[lower].recent_negative) == (70, 28)
    assert (by_id[lower].base_scored, by_id[lower].base_negative) == (280, 56)
    async with store.transaction() as session:
        assert await repo.opt_out(session, lower, clock.now())
        assert not await repo.opt_out(session, lower, clock.now())
        assert await repo.member_days(session, lower) == 0
        found = await repo.low_moods(
            session, community, DAY, recent_days=7, base_days=28, ratio=2.0, min_negative=5
        )
        assert [m.member_id for m in found] == [new]
        assert await repo.opted_out(session, community) == {lower}
        assert await repo.opt_in(session, lower)
        assert not await repo.opt_in(session, lower)
        # Older than 7 days back: 27 baseline days of two members (the third opted out), and
        # the one 40 days back.
        assert await repo.prune(session, DAY - timedelta(days=7)) == 27 * 2 + 1
