"""Daily check-in: local days, streaks, points and badges; exactly once under concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import FakeClock
from storage import Store
from storage.models import CheckIn, LedgerEntry
from tests.support import Harness, make_settings


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
