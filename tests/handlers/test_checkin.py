"""Daily check-in: local days, streaks, points and badges; exactly once under concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from persona.render import default_packs
from storage import Store
from storage.checkins import CheckIn
from storage.ledger import LedgerEntry
from storage.members import Member
from tests.support import Harness, make_settings
from tests.wording import is_variant, values_of


def at_local(zone_offset_hours: float, year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC) - timedelta(hours=zone_offset_hours)


async def test_streaks_points_badges_and_already_done(sqlite_db, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        checkin={"base": 10, "bonus": [{"day": 3, "points": 5}], "badges": [3]}
    )
    h = Harness(store=Store(sqlite_db), settings=settings, clock=clock)
    [first] = await h.say("签到", user="Ann")
    assert "1" in first and "10" in first and "今日第一" in first
    [again] = await h.say("打卡", user="Ann")
    assert again != first and "1" in again
    [bob] = await h.say("/checkin", user="Bob")
    assert "2" in bob and "今日第一" not in bob
    clock.advance(timedelta(days=1))
    await h.say("签到", user="Ann")
    clock.advance(timedelta(days=1))
    [third] = await h.say("签到", user="Ann")
    assert "3" in third and "15" in third and "连续签到 3 天" in third
    clock.advance(timedelta(days=2))  # a day missed: the streak starts again
    [restart] = await h.say("签到", user="Ann")
    assert "10" in restart and "15" not in restart
    async with h.store.transaction() as s:
        assert await h.store.ledger.verify(s) == []
        total = (await s.execute(select(func.sum(LedgerEntry.delta)))).scalar_one()
    assert total == 10 + 10 + 10 + 15 + 10  # Ann 45, Bob 10


@pytest.mark.parametrize(
    ("zone", "offset"),
    [
        ("Pacific/Kiritimati", 14),
        ("Etc/GMT+12", -12),
        ("Asia/Kolkata", 5.5),
        ("Asia/Kathmandu", 5.75),
    ],
)
async def test_the_day_follows_the_community_zone_and_reset_hour(
    sqlite_db, zone: str, offset: float
) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(at_local(offset, 2026, 11, 21, 3))  # 03:00 local
    settings = make_settings(community={"timezone": zone, "day_reset_hour": 4})
    h = Harness(store=Store(sqlite_db), settings=settings, clock=clock)
    await h.say("签到", user="Ann")  # counts for the 20th (before the 04:00 reset)
    clock.set(at_local(offset, 2026, 11, 21, 5))  # 05:00 local: the 21st
    [second] = await h.say("签到", user="Ann")
    assert "2" in second  # a new day, and the streak continues
    async with h.store.transaction() as s:
        days = sorted((await s.execute(select(CheckIn.local_date))).scalars())
    assert [d.isoformat() for d in days] == ["2026-11-20", "2026-11-21"]


async def test_new_york_daylight_saving_days(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(datetime(2026, 3, 7, 17, tzinfo=UTC))  # 12:00 EST, Saturday
    h = Harness(
        store=Store(sqlite_db),
        settings=make_settings(community={"timezone": "America/New_York"}),
        clock=clock,
    )
    await h.say("签到", user="Ann")
    clock.advance(timedelta(hours=23))  # 12:00 EDT on Sunday (the 23-hour day)
    [sunday] = await h.say("签到", user="Ann")
    assert "2" in sunday
    clock.set(datetime(2026, 11, 1, 16, tzinfo=UTC))  # the 25-hour day: 11:00 EST
    await h.say("签到", user="Bob")
    clock.advance(timedelta(hours=12))  # 23:00 EST, same day
    [same_day] = await h.say("签到", user="Bob")
    assert "1" in same_day and same_day != sunday


async def test_a_thousand_members_at_once_and_one_member_twenty_times(any_harness: Harness) -> None:
    h = any_harness
    gate = asyncio.Semaphore(50)

    async def check_in(name: str, key: str) -> None:
        async with gate:
            await h.dispatcher.handle(h.message("签到", user=name, key=key))

    await asyncio.gather(*(check_in(f"M{n}", f"k{n}") for n in range(1000)))
    await asyncio.gather(*(check_in("Solo", f"solo{n}") for n in range(20)))
    async with h.store.transaction() as s:
        rows = (await s.execute(select(func.count()).select_from(CheckIn))).scalar_one()
        paid = (await s.execute(select(func.sum(LedgerEntry.delta)))).scalar_one()
        assert await h.store.ledger.verify(s) == []
    assert rows == 1001
    assert paid == 1001 * 10


# -- make-up check-in (补签) -----------------------------------------------------------------


async def _makeup_entries(h: Harness) -> list[int]:
    async with h.store.transaction() as s:
        rows = await s.execute(select(LedgerEntry.delta).where(LedgerEntry.reference == "makeup"))
        return list(rows.scalars())


async def _days(h: Harness, name: str) -> dict[str, tuple[int, int]]:
    """A member's check-ins: ISO day -> (streak, points)."""
    async with h.store.transaction() as s:
        rows = await s.execute(
            select(CheckIn.local_date, CheckIn.streak, CheckIn.points)
            .join(Member, Member.id == CheckIn.member_id)
            .where(Member.display_name == name)
        )
        return {day.isoformat(): (streak, points) for day, streak, points in rows.all()}


async def test_makeup_fills_yesterday_and_the_streak_goes_on(db, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        checkin={
            "base": 10,
            "bonus": [{"day": 4, "points": 5}],
            "badges": [3, 4],
            "makeup_cost": 15,
        }
    )
    h = Harness(store=Store(db), settings=settings, clock=clock)
    await h.say("签到", user="Ann")  # the 21st: streak 1
    clock.advance(timedelta(days=1))
    await h.say("签到", user="Ann")  # the 22nd: streak 2
    clock.advance(timedelta(days=2))  # the 23rd is missed
    [restart] = await h.say("签到", user="Ann")  # the 24th: streak 1 for now
    assert "连续 1 天" in restart or "连续签到 1 天" in restart
    [made] = await h.say("补签", user="Ann")
    lines = made.splitlines()
    assert "15" in lines[0] and "4 天" in lines[0]  # the cost and the reconnected streak
    assert "第 4 天" in lines[1] and "5" in lines[1]  # today's missed day-4 bonus, paid now
    assert lines[2:] == ["🏅 获得徽章：连续签到 3 天", "🏅 获得徽章：连续签到 4 天"]
    [again] = await h.say("/makeup", user="Ann")
    assert "不需要补签" in again and "3" in again
    assert await _days(h, "Ann") == {
        "2026-11-21": (1, 10),
        "2026-11-22": (2, 10),
        "2026-11-23": (3, 0),  # the filled day pays nothing
        "2026-11-24": (4, 15),  # today now has day 4's bonus, as if 补签 had come first
    }
    clock.advance(timedelta(days=1))
    [next_day] = await h.say("签到", user="Ann")
    assert "5 天" in next_day
    [mine] = await h.say("积分", user="Ann")
    assert "30" in mine.splitlines()[0]  # 10 + 10 + 10 - 15 + 5 + 10
    assert "5 天" in mine.splitlines()[0]
    assert await _makeup_entries(h) == [-15]
    async with h.store.transaction() as s:
        assert await h.store.ledger.verify(s) == []


async def test_makeup_before_the_check_in_gives_the_same_result(
    sqlite_db, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(checkin={"base": 10, "bonus": [{"day": 3, "points": 5}]})
    h = Harness(store=Store(sqlite_db), settings=settings, clock=clock)
    h.adapter.admins.add(("g1", "id-alice"))
    await h.say("/give @Ann 100", user="Alice", mentions=(h.user("Ann"),))
    await h.say("签到", user="Ann")
    clock.advance(timedelta(days=2))
    [made] = await h.say("补签", user="Ann")
    assert "2 天" in made and "50" in made and "奖励" not in made
    [today] = await h.say("签到", user="Ann")
    assert "3 天" in today and "15" in today  # day 3 with its bonus
    assert await _days(h, "Ann") == {
        "2026-11-21": (1, 10),
        "2026-11-22": (2, 0),
        "2026-11-23": (3, 15),
    }


async def test_makeup_refusals_and_the_monthly_quota(db, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(checkin={"base": 10, "makeup_cost": 5, "makeup_per_month": 2})
    h = Harness(store=Store(db), settings=settings, clock=clock)

    async def day(n: int, *texts: str) -> list[str]:
        """Go to day ``n`` of November (or December past 30) and say ``texts`` as Ann."""
        clock.set(datetime(2026, 11, 1, 1, tzinfo=UTC) + timedelta(days=n - 1))
        return [reply for text in texts for reply in await h.say(text, user="Ann")]

    [never] = await day(21, "补签")
    assert "前天没有签到" in never
    await day(21, "签到")
    [not_missing] = await day(22, "补签")  # the 21st is not missing
    assert "不需要补签" in not_missing
    first, _ = await day(24, "补签", "签到")  # the 23rd mends nothing: the 22nd was missed too
    assert "前天没有签到" in first
    await day(25, "签到")  # streak 2
    used = await day(27, "补签", "签到")  # fills the 26th: streak 3, today 4
    assert "3 天" in used[0] and "4 天" in used[1]
    used = await day(29, "补签", "签到")  # fills the 28th, the second this month: 5, 6
    assert "5 天" in used[0] and "6 天" in used[1]
    [quota] = await day(31, "补签")  # the 30th: November's two are used (Dec 1 here)
    assert "2 次" in quota and "用完" in quota
    await day(31, "签到")  # 1 December: a new streak
    [december] = await day(33, "补签")  # fills 2 December: December's quota is fresh
    assert "2 天" in december
    assert await _makeup_entries(h) == [-5, -5, -5]
    days = await _days(h, "Ann")
    assert "2026-11-23" not in days and "2026-11-30" not in days
    assert days["2026-12-02"] == (2, 0)
    async with h.store.transaction() as s:
        assert await h.store.ledger.verify(s) == []


async def test_makeup_without_enough_points_changes_nothing(db, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    h = Harness(store=Store(db), settings=make_settings(), clock=clock)  # base 10, cost 50
    await h.say("签到", user="Ann")
    clock.advance(timedelta(days=2))
    [poor] = await h.say("补签", user="Ann")
    assert "50" in poor and "10" in poor and "没有扣除" in poor
    assert await _days(h, "Ann") == {"2026-11-21": (1, 10)}
    assert await _makeup_entries(h) == []
    [mine] = await h.say("积分", user="Ann")
    assert "10" in mine
    [today] = await h.say("签到", user="Ann")
    assert "连续 1 天" in today or "连续签到 1 天" in today
    async with h.store.transaction() as s:
        assert await h.store.ledger.verify(s) == []


async def test_makeup_can_be_turned_off(sqlite_db, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(checkin={"makeup_per_month": 0, "makeup_cost": 0})
    h = Harness(store=Store(sqlite_db), settings=settings, clock=clock)
    await h.say("签到", user="Ann")
    clock.advance(timedelta(days=2))
    [off] = await h.say("补签", user="Ann")
    assert "没有开启" in off
    assert await _days(h, "Ann") == {"2026-11-21": (1, 10)}


async def test_twenty_makeups_and_check_ins_at_once_pay_once(db, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    h = Harness(store=Store(db), settings=make_settings(checkin={"base": 60}), clock=clock)
    await h.say("签到", user="Ann")
    clock.advance(timedelta(days=2))

    async def send(text: str, key: str) -> None:
        await h.dispatcher.handle(h.message(text, user="Ann", key=key))

    await asyncio.gather(
        *(send(text, f"{n}{text}") for n in range(20) for text in ("签到", "补签"))
    )
    # Whatever the order, yesterday is filled once and today continues the streak.
    assert await _days(h, "Ann") == {
        "2026-11-21": (1, 60),
        "2026-11-22": (2, 0),
        "2026-11-23": (3, 60),
    }
    assert await _makeup_entries(h) == [-50]
    async with h.store.transaction() as s:
        assert await h.store.ledger.balance(s, 1, "m:1") == 60 + 60 - 50
        assert await h.store.ledger.verify(s) == []


# -- bursts: a chat's queued check-ins are handled as one batch -----------------------------


async def test_a_burst_through_the_chat_queue_is_batched_and_exact(any_harness: Harness) -> None:
    h = any_harness
    calls: list[int] = []
    batch = h.registry.batches["checkin"]

    async def counted(ctxs):  # type: ignore[no-untyped-def]
        calls.append(len(ctxs))
        return await batch(ctxs)

    h.registry.batches["checkin"] = counted
    events = [h.message("签到", user=f"M{n}", key=f"b{n}") for n in range(300)]
    events[150:150] = [h.message("签到", user="M7", key="again")]  # twice in the burst
    events[200:200] = [h.message("/help", user="M8", key="help")]  # another command between
    results = await asyncio.gather(*(h.dispatcher.submit(event) for event in events))
    assert max(calls) > 1 and sum(calls) == 301  # batched; /help ended a run
    replies = [r for result in results for r in result if r.ok]
    assert len(replies) >= 302
    texts = [a.text.plain() for a in h.adapter.actions if hasattr(a, "text")]
    packs = default_packs()
    first_lines = [t.split("\n")[0] for t in texts]
    assert sum(is_variant(packs, "zh-CN", "warm", "checkin.already", t) for t in first_lines) == 1
    assert sum("今日第一" in t for t in texts) == 1  # one first-of-the-day badge
    async with h.store.transaction() as s:
        rows = (await s.execute(select(func.count()).select_from(CheckIn))).scalar_one()
        paid = (await s.execute(select(func.sum(LedgerEntry.delta)))).scalar_one()
        assert await h.store.ledger.verify(s) == []
    assert rows == 300 and paid == 300 * 10
    ranks = sorted(
        int(values_of(packs, "zh-CN", "warm", "checkin.done", t)["rank"])
        for t in first_lines
        if is_variant(packs, "zh-CN", "warm", "checkin.done", t)
    )
    assert ranks == list(range(1, 301))


async def test_a_failing_batch_falls_back_to_one_by_one(harness: Harness) -> None:
    h = harness

    async def broken(ctxs):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    h.registry.batches["checkin"] = broken
    events = [h.message("签到", user=f"M{n}", key=f"f{n}") for n in range(20)]
    await asyncio.gather(*(h.dispatcher.submit(event) for event in events))
    async with h.store.transaction() as s:
        rows = (await s.execute(select(func.count()).select_from(CheckIn))).scalar_one()
        assert await h.store.ledger.verify(s) == []
    assert rows == 20
