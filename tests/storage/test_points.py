"""The points service on SQLite and PostgreSQL: each verb posts once per reason, never
overdraws, keeps escrow and the books balanced, also with many tasks at once; and the key
formats of stored entries are pinned (a changed format would let an old redelivery pay twice)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from storage import Store
from storage.ledger import ISSUE, REMOVE, TRANSFER, LedgerEntry
from storage.points import Escrow, Grant, InsufficientPoints, PointsReason, Verb
from tests.storage.test_ledger import community

TASKS = 40
DAY = date(2026, 3, 7)
NOW = datetime(2026, 3, 7, 12, tzinfo=UTC)


async def award(store: Store, cid: int, member: int, points: int, why: PointsReason) -> bool:
    async with store.transaction() as s:
        return await store.points.award(
            s, community_id=cid, member_id=member, amount=points, why=why, now=NOW
        )


async def entries(store: Store, cid: int) -> list[tuple[str, int, str, str | None]]:
    """Every entry as (key, delta, ledger reason, reference), in posting order."""
    async with store.transaction() as s:
        rows = await s.execute(
            select(
                LedgerEntry.idempotency_key,
                LedgerEntry.delta,
                LedgerEntry.reason,
                LedgerEntry.reference,
            )
            .where(LedgerEntry.community_id == cid)
            .order_by(LedgerEntry.id)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def books_balance(store: Store, cid: int) -> None:
    async with store.transaction() as s:
        assert await store.ledger.verify(s, cid) == []


def test_reasons_spell_the_keys_stored_data_already_has() -> None:
    """Byte for byte the keys (and references) handlers built before the service owned them."""
    reasons = {
        PointsReason.checkin(5, DAY): ("checkin:5:2026-03-07", "checkin"),
        PointsReason.checkin_top_up(5, DAY): ("checkin:5:2026-03-07:makeup", "checkin"),
        PointsReason.makeup(5, DAY): ("makeup:5:2026-03-07", "makeup"),
        PointsReason.given("telegram", "-100", "u9", "thanks"): ("give:telegram:-100:u9", "thanks"),
        PointsReason.taken("discord", "7", "m1", ""): ("take:discord:7:m1", None),
        PointsReason.birthday(5, DAY): ("birthday:5:2026-03-07", "birthday"),
        PointsReason.event_here(3, 5): ("event-here:3:5", "event:3"),
        PointsReason.red_packet(8): ("redpacket:8:escrow", "redpacket:8"),
        PointsReason.red_packet_grab(8, 2): ("redpacket:8:2", "redpacket:8"),
        PointsReason.red_packet_refund(8): ("redpacket:8:refund", "redpacket:8"),
        PointsReason.chain_break(4, 8, 5): ("chainbreak:4:8:5", "redpacket-chain"),
        PointsReason.chain_break(4, None, 5): ("chainbreak:4:None:5", "redpacket-chain"),
        PointsReason.collect_reward(6): ("collect:6:reward", "collect:6"),
        PointsReason.collect_payout(6): ("collect:6:payout", "collect:6"),
    }
    for why, (key, reference) in reasons.items():
        assert (why.key, why.reference) == (key, reference)
    assert PointsReason.red_packet(1).escrow == Escrow.RED_PACKETS == "escrow"
    assert PointsReason.collect_payout(1).escrow == Escrow.COLLECT_POOL == "pool"


async def test_award_and_charge_post_once_per_reason(store: Store, clock: FakeClock) -> None:
    cid = await community(store, clock)
    assert await award(store, cid, 1, 30, PointsReason.checkin(1, DAY))
    assert not await award(store, cid, 1, 30, PointsReason.checkin(1, DAY))  # redelivered
    async with store.transaction() as s:
        charge = store.points.charge
        why = PointsReason.makeup(1, DAY)
        assert await charge(s, community_id=cid, member_id=1, amount=10, why=why, now=clock.now())
        assert not await charge(
            s, community_id=cid, member_id=1, amount=10, why=why, now=clock.now()
        )
        # A free make-up is still recorded: the quota counts it.
        free = PointsReason.makeup(1, date(2026, 3, 20))
        assert await charge(s, community_id=cid, member_id=1, amount=0, why=free, now=clock.now())
        assert await store.points.makeups_in_month(s, cid, 1, DAY) == 2
        assert await store.points.makeups_in_month(s, cid, 1, date(2026, 4, 1)) == 0
        assert await store.points.balance(s, cid, 1) == 20
    assert await entries(store, cid) == [
        ("checkin:1:2026-03-07#0", 30, ISSUE, "checkin"),
        ("makeup:1:2026-03-07#0", -10, REMOVE, "makeup"),
        ("makeup:1:2026-03-20#0", 0, REMOVE, "makeup"),
    ]
    await books_balance(store, cid)


async def test_an_overdraft_posts_nothing_and_the_reason_stays_free(
    store: Store, clock: FakeClock
) -> None:
    cid = await community(store, clock)
    await award(store, cid, 1, 5, PointsReason.checkin(1, DAY))
    why = PointsReason.taken("fake", "g", "u1", None)
    with pytest.raises(InsufficientPoints):
        async with store.transaction() as s:
            await store.points.charge(
                s, community_id=cid, member_id=1, amount=6, why=why, now=clock.now()
            )
    async with store.transaction() as s:
        assert await store.points.balance(s, cid, 1) == 5
        assert await store.points.charge(
            s, community_id=cid, member_id=1, amount=5, why=why, now=clock.now()
        )
        # A penalty takes what there is, never more, and once.
        penalty = PointsReason.chain_break(1, None, 1)
        await store.points.award(
            s,
            community_id=cid,
            member_id=1,
            amount=3,
            why=PointsReason.birthday(1, DAY),
            now=clock.now(),
        )
        assert (
            await store.points.charge_up_to(
                s, community_id=cid, member_id=1, amount=10, why=penalty, now=clock.now()
            )
            == 3
        )
        assert (
            await store.points.charge_up_to(
                s, community_id=cid, member_id=1, amount=10, why=penalty, now=clock.now()
            )
            == 0
        )
        assert await store.points.balance(s, cid, 1) == 0
    await books_balance(store, cid)


async def test_hold_and_release_balance_escrow_back(store: Store, clock: FakeClock) -> None:
    cid = await community(store, clock)
    await award(store, cid, 1, 100, PointsReason.given("fake", "g", "u1", None))
    async with store.transaction() as s:
        points, now = store.points, clock.now()
        assert await points.hold(
            s, community_id=cid, member_id=1, amount=60, why=PointsReason.red_packet(9), now=now
        )
        assert not await points.hold(
            s, community_id=cid, member_id=1, amount=60, why=PointsReason.red_packet(9), now=now
        )
        grab = PointsReason.red_packet_grab(9, 1)
        assert await points.release(s, community_id=cid, to={2: 25}, why=grab, now=now)
        assert not await points.release(s, community_id=cid, to={2: 25}, why=grab, now=now)
        assert await points.held(s, cid, Escrow.RED_PACKETS) == 35
        refund = PointsReason.red_packet_refund(9)
        assert await points.release(s, community_id=cid, to={1: 35}, why=refund, now=now)
        assert await points.held(s, cid, Escrow.RED_PACKETS) == 0
        # A pool paid out to several winners at once (one with nothing: no entry for them).
        reward, payout = PointsReason.collect_reward(4), PointsReason.collect_payout(4)
        assert await points.hold(s, community_id=cid, member_id=1, amount=7, why=reward, now=now)
        assert await points.release(s, community_id=cid, to={2: 4, 3: 0, 4: 3}, why=payout, now=now)
        assert [await points.balance(s, cid, m) for m in (1, 2, 3, 4)] == [68, 29, 0, 3]
        assert await points.held(s, cid, Escrow.COLLECT_POOL) == 0
    assert await entries(store, cid) == [
        ("give:fake:g:u1#0", 100, ISSUE, None),
        ("redpacket:9:escrow#0", -60, TRANSFER, "redpacket:9"),
        ("redpacket:9:escrow#1", 60, TRANSFER, "redpacket:9"),
        ("redpacket:9:1#0", -25, TRANSFER, "redpacket:9"),
        ("redpacket:9:1#1", 25, TRANSFER, "redpacket:9"),
        ("redpacket:9:refund#0", -35, TRANSFER, "redpacket:9"),
        ("redpacket:9:refund#1", 35, TRANSFER, "redpacket:9"),
        ("collect:4:reward#0", -7, TRANSFER, "collect:4"),
        ("collect:4:reward#1", 7, TRANSFER, "collect:4"),
        ("collect:4:payout#0", -7, TRANSFER, "collect:4"),
        ("collect:4:payout#1", 4, TRANSFER, "collect:4"),
        ("collect:4:payout#2", 3, TRANSFER, "collect:4"),
    ]
    with pytest.raises(InsufficientPoints):  # escrow is empty: nothing to release
        async with store.transaction() as s:
            await store.points.release(
                s,
                community_id=cid,
                to={2: 1},
                why=PointsReason.red_packet_grab(9, 2),
                now=clock.now(),
            )
    await books_balance(store, cid)


async def test_transfer_moves_between_members(store: Store, clock: FakeClock) -> None:
    cid = await community(store, clock)
    await award(store, cid, 1, 10, PointsReason.given("fake", "g", "u1", None))
    # No feature transfers between members yet: reasons made here stand for a future one.
    why = PointsReason(Verb.AWARD, "gift:1", None)
    with pytest.raises(ValueError, match="cannot be used to transfer"):
        async with store.transaction() as s:
            await store.points.transfer(
                s, community_id=cid, payer_id=1, payee_id=2, amount=4, why=why, now=clock.now()
            )
    tip = PointsReason(Verb.TRANSFER, "tip:1", "tip")
    async with store.transaction() as s:
        assert await store.points.transfer(
            s, community_id=cid, payer_id=1, payee_id=2, amount=4, why=tip, now=clock.now()
        )
        assert [await store.points.balance(s, cid, m) for m in (1, 2)] == [6, 4]
    await books_balance(store, cid)


async def test_a_reason_is_refused_by_the_wrong_verb_and_amounts_must_be_positive(
    store: Store, clock: FakeClock
) -> None:
    cid = await community(store, clock)
    async with store.transaction() as s:
        points, now = store.points, clock.now()
        with pytest.raises(ValueError, match="cannot be used to charge"):
            await points.charge(
                s,
                community_id=cid,
                member_id=1,
                amount=1,
                why=PointsReason.checkin(1, DAY),
                now=now,
            )
        with pytest.raises(ValueError, match="cannot be used to release"):
            await points.release(
                s, community_id=cid, to={1: 1}, why=PointsReason.red_packet(1), now=now
            )
        with pytest.raises(ValueError, match="positive"):
            await points.award(
                s,
                community_id=cid,
                member_id=1,
                amount=-3,
                why=PointsReason.checkin(1, DAY),
                now=now,
            )
        with pytest.raises(ValueError, match="positive"):
            await points.award_many(
                s, community_id=cid, grants=[Grant(1, 0, PointsReason.checkin(1, DAY))], now=now
            )
        with pytest.raises(ValueError, match="zero or more"):
            await points.release(
                s,
                community_id=cid,
                to={1: 5, 2: -1},
                why=PointsReason.red_packet_refund(1),
                now=now,
            )
    assert await entries(store, cid) == []


async def test_batches_post_the_same_entries_as_one_by_one(store: Store, clock: FakeClock) -> None:
    """A run of check-ins and a run of grabs: the entries one by one would write, deduplicated
    against the single verbs in both directions."""
    cid = await community(store, clock)
    assert await award(store, cid, 2, 10, PointsReason.checkin(2, DAY))  # paid one by one
    async with store.transaction() as s:
        points, now = store.points, clock.now()
        posted = await points.award_many(
            s,
            community_id=cid,
            grants=[Grant(m, 10, PointsReason.checkin(m, DAY)) for m in (1, 2, 3)],
            now=now,
        )
        assert posted == {PointsReason.checkin(1, DAY), PointsReason.checkin(3, DAY)}
        await points.hold(
            s, community_id=cid, member_id=1, amount=10, why=PointsReason.red_packet(5), now=now
        )
        await points.release(
            s, community_id=cid, to={2: 3}, why=PointsReason.red_packet_grab(5, 1), now=now
        )
        grabs = [Grant(m, m, PointsReason.red_packet_grab(5, m - 1)) for m in (2, 3, 4)]
        assert await points.release_many(s, community_id=cid, grants=grabs, now=now) == {
            grabs[1].why,
            grabs[2].why,
        }
        assert await points.release_many(s, community_id=cid, grants=grabs, now=now) == set()
        assert await points.held(s, cid, Escrow.RED_PACKETS) == 0
        assert [await points.balance(s, cid, m) for m in (1, 2, 3, 4)] == [0, 13, 13, 4]
    assert ("checkin:3:2026-03-07#0", 10, ISSUE, "checkin") in await entries(store, cid)
    assert ("redpacket:5:3#1", 4, TRANSFER, "redpacket:5") in await entries(store, cid)
    await books_balance(store, cid)


async def test_many_tasks_award_one_reason_once(store: Store, clock: FakeClock) -> None:
    cid = await community(store, clock)
    results = await asyncio.gather(
        *(award(store, cid, 1, 10, PointsReason.checkin(1, DAY)) for _ in range(TASKS))
    )
    assert results.count(True) == 1
    async with store.transaction() as s:
        assert await store.points.balance(s, cid, 1) == 10
    await books_balance(store, cid)


async def test_many_tasks_never_overdraw_a_member_or_escrow(store: Store, clock: FakeClock) -> None:
    """Charges racing on one member, and grabs (single and batched) racing on one escrow: the
    guarded updates let exactly as many through as the points cover."""
    cid = await community(store, clock)
    await award(store, cid, 1, 100, PointsReason.given("fake", "g", "seed", None))

    async def charge(n: int) -> bool:
        try:
            async with store.transaction() as s:
                return await store.points.charge(
                    s,
                    community_id=cid,
                    member_id=1,
                    amount=7,
                    why=PointsReason.taken("fake", "g", f"u{n}", None),
                    now=clock.now(),
                )
        except InsufficientPoints:
            return False

    charged = await asyncio.gather(*(charge(n) for n in range(TASKS)))
    assert charged.count(True) == 14  # 14 x 7 = 98 <= 100 < 105
    await award(store, cid, 2, 50, PointsReason.given("fake", "g", "seed2", None))
    async with store.transaction() as s:
        await store.points.hold(
            s,
            community_id=cid,
            member_id=2,
            amount=50,
            why=PointsReason.red_packet(1),
            now=clock.now(),
        )

    async def grab(n: int) -> int:
        grants = [Grant(100 + n, 3, PointsReason.red_packet_grab(1, n))]
        try:
            async with store.transaction() as s:
                if n % 2:
                    return len(
                        await store.points.release_many(
                            s, community_id=cid, grants=grants, now=clock.now()
                        )
                    )
                released = await store.points.release(
                    s, community_id=cid, to={100 + n: 3}, why=grants[0].why, now=clock.now()
                )
                return int(released)
        except InsufficientPoints:
            return 0

    grabbed = await asyncio.gather(*(grab(n) for n in range(TASKS)))
    assert sum(grabbed) == 16  # 16 x 3 = 48 <= 50 < 51
    async with store.transaction() as s:
        assert await store.points.balance(s, cid, 1) == 2
        assert await store.points.held(s, cid, Escrow.RED_PACKETS) == 2
    await books_balance(store, cid)
