"""Birthdays and join anniversaries through the outbox, on real SQLite and PostgreSQL, with
a fake clock: time zones, Feb 29, New York's DST days, quiet hours, restarts, two processes,
the late limit and the crash policy."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.actions import Send
from bot.clock import FakeClock
from bot.zones import zone_label
from handlers.birthdays import enqueue_greetings
from handlers.outbox import send_due
from persona.render import default_packs
from storage import Store
from storage.ledger import LedgerEntry
from storage.outbox import ScheduledSend
from tests.support import Harness, make_settings
from tests.wording import variant_of

NO_QUIET = {"quiet_start": "00:00", "quiet_end": "00:00"}


def harness(db, clock: FakeClock, **sections: dict) -> Harness:  # type: ignore[no-untyped-def, type-arg]
    sections.setdefault("schedule", NO_QUIET)
    return Harness(store=Store(db), settings=make_settings(**sections), clock=clock)


async def tell(h: Harness, name: str, birthday: str, zone: str | None = None) -> None:
    await h.send(h.join(name))
    await h.say(f"/birthday {birthday}", user=name)
    if zone:
        [saved] = await h.say(f"/timezone {zone}", user=name)
        assert zone_label(zone) in saved  # Etc/GMT+12 is shown as UTC-12


async def run_until(
    h: Harness, end: datetime, step: timedelta = timedelta(minutes=15)
) -> list[tuple[datetime, str]]:
    """Move the clock in steps, running the enqueue and outbox ticks like the scheduler
    would; every greeting sent, with when."""
    sent = []
    tick = h.dispatcher.tick_context()
    await enqueue_greetings(tick)
    while h.clock.now() < end:
        h.clock.advance(step)
        if h.clock.now().minute == 0:  # hourly is plenty: greetings are queued 36 h ahead
            await enqueue_greetings(tick)
        h.adapter.take()
        await send_due(tick)
        sent += [(h.clock.now(), t) for t in h.adapter.texts()]
    return sent


async def test_the_commands_and_bad_input(any_harness: Harness) -> None:
    h = any_harness
    [none] = await h.say("/birthday")
    assert "还没有登记" in none
    for bad in ("13-01", "2023-02-29", "1850-01-01", "11-21 secret", "tomorrow"):
        [reply] = await h.say(f"/birthday {bad}")
        assert bad.split()[0] in reply, reply
    [saved] = await h.say("/birthday 1996-11-25")
    assert "11-25" in saved and "1996" not in saved and "保密" in saved
    [shown] = await h.say("生日")
    assert "1996-11-25" in shown and "保密" in shown  # the owner sees their own year
    [public] = await h.say("/birthday 1996-11-25 public")
    assert "1996-11-25" in public and "公开" in public
    [bad_zone] = await h.say("/timezone Mars/Olympus")
    assert "Mars/Olympus" in bad_zone
    await h.say("/timezone Asia/Tokyo")
    [zone] = await h.say("时区")
    assert "Asia/Tokyo" in zone
    await tell(h, "Bob", "11-30")
    [listed] = await h.say("/birthdays")
    assert "11-25 Alice（30 岁）" in listed and "11-30 Bob" in listed
    await h.say("/birthday hide", user="Bob")
    [hidden] = await h.say("生日列表")
    assert "Bob" not in hidden
    [removed] = await h.say("/birthday off")
    assert "删除" in removed
    [gone] = await h.say("/birthday")
    assert "还没有登记" in gone


@pytest.mark.parametrize(
    ("zone", "greeted_at"),
    [
        ("Pacific/Kiritimati", datetime(2026, 11, 24, 19, tzinfo=UTC)),  # UTC+14
        ("Etc/GMT+12", datetime(2026, 11, 25, 21, tzinfo=UTC)),  # UTC-12
        ("Asia/Kolkata", datetime(2026, 11, 25, 3, 30, tzinfo=UTC)),  # +5:30
        ("Asia/Kathmandu", datetime(2026, 11, 25, 3, 15, tzinfo=UTC)),  # +5:45
    ],
)
async def test_greeted_once_at_nine_in_the_members_own_zone(
    sqlite_db, zone: str, greeted_at: datetime
) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(datetime(2026, 11, 24, 12, tzinfo=UTC))
    h = harness(sqlite_db, clock)
    await tell(h, "Ann", "11-25", zone)
    sent = await run_until(h, datetime(2026, 11, 26, 12, tzinfo=UTC))
    assert [(when, "Ann" in text) for when, text in sent] == [(greeted_at, True)]


async def test_one_message_for_a_chats_birthdays_and_round_ages(any_harness: Harness) -> None:
    h = harness(any_harness.store.db, any_harness.clock, birthdays={"gift_points": 20})
    await tell(h, "Eve", "11-25")
    await tell(h, "Fay", "1996-11-25 public")  # turns 30: said
    await tell(h, "Gus", "1996-11-25")  # turns 30 too, but the year is private
    await tell(h, "Hal", "11-26")
    sent = await run_until(h, datetime(2026, 11, 26, 12, tzinfo=UTC))
    [(when, text), (_, next_day)] = sent
    assert when == datetime(2026, 11, 25, 1, tzinfo=UTC)  # 09:00 in Shanghai
    assert "Eve" in text and "Fay" in text and "Gus" in text and "Hal" not in text
    assert "Fay今天 30 岁" in text and "Gus今天" not in text
    assert "Hal" in next_day
    async with h.store.transaction() as s:
        gifts = (
            await s.execute(select(func.count()).where(LedgerEntry.reference == "birthday"))
        ).scalar_one()
        assert await h.store.ledger.verify(s) == []
    assert gifts == 4


@pytest.mark.parametrize(
    ("feb29", "year", "day"),
    [("feb28", 2027, 28), ("mar1", 2027, 1), ("feb28", 2028, 29), ("mar1", 2028, 29)],
)
async def test_feb_29_in_common_and_leap_years(sqlite_db, feb29: str, year: int, day: int) -> None:  # type: ignore[no-untyped-def]
    month = 3 if day == 1 else 2
    clock = FakeClock(datetime(year, 2, 26, tzinfo=UTC))
    h = harness(sqlite_db, clock, birthdays={"feb29": feb29})
    await tell(h, "Leo", "02-29")
    sent = await run_until(h, datetime(year, 3, 3, tzinfo=UTC), step=timedelta(hours=1))
    assert [when for when, _ in sent] == [datetime(year, month, day, 1, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("birthday", "greeted_at"),
    [
        ("03-08", datetime(2026, 3, 8, 13, tzinfo=UTC)),  # 09:00 EDT, the 23-hour day
        ("11-01", datetime(2026, 11, 1, 14, tzinfo=UTC)),  # 09:00 EST, the 25-hour day
    ],
)
async def test_new_york_daylight_saving_days(
    sqlite_db, birthday: str, greeted_at: datetime
) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(greeted_at - timedelta(days=2))
    h = harness(sqlite_db, clock, community={"timezone": "America/New_York"})
    await tell(h, "Ny", birthday)
    sent = await run_until(h, greeted_at + timedelta(days=2))
    assert [when for when, _ in sent] == [greeted_at]


async def test_a_greeting_hour_inside_quiet_hours_waits_for_the_morning(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(datetime(2026, 11, 24, tzinfo=UTC))
    h = harness(
        sqlite_db,
        clock,
        birthdays={"greeting_hour": 6},
        schedule={"quiet_start": "23:00", "quiet_end": "08:00"},
    )
    await tell(h, "Ann", "11-25")
    sent = await run_until(h, datetime(2026, 11, 26, tzinfo=UTC))
    assert [when for when, _ in sent] == [datetime(2026, 11, 25, 0, tzinfo=UTC)]  # 08:00


async def test_a_restart_across_the_greeting_time_sends_once(db) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(datetime(2026, 11, 25, 0, 30, tzinfo=UTC))  # 08:30 in Shanghai
    h = harness(db, clock)
    await tell(h, "Ann", "11-25")
    assert await enqueue_greetings(h.dispatcher.tick_context()) == 1
    clock.advance(timedelta(hours=3))  # down across 09:00, back at 11:30
    again = harness(db, clock)
    again._keys = itertools.count(10_000)
    await enqueue_greetings(again.dispatcher.tick_context())  # idempotent
    results = await asyncio.gather(
        send_due(again.dispatcher.tick_context()), send_due(h.dispatcher.tick_context())
    )
    assert sorted(results) == [0, 1]  # two processes: one greeting
    assert await send_due(again.dispatcher.tick_context()) == 0


async def test_too_late_after_downtime_is_skipped(any_harness: Harness) -> None:
    h = harness(any_harness.store.db, any_harness.clock)
    h.clock.set(datetime(2026, 11, 25, 0, 30, tzinfo=UTC))
    await tell(h, "Ann", "11-25")
    await enqueue_greetings(h.dispatcher.tick_context())
    h.clock.set(datetime(2026, 11, 25, 13, 1, tzinfo=UTC))  # 12 h and a minute late
    h.adapter.take()
    assert await send_due(h.dispatcher.tick_context()) == 0
    assert not [a for a in h.adapter.take() if isinstance(a, Send)]
    async with h.store.transaction() as s:
        assert (await s.execute(select(ScheduledSend.status))).scalars().all() == ["skipped"]


async def test_a_crash_between_sending_and_marking_never_sends_twice(any_harness: Harness) -> None:
    h = harness(any_harness.store.db, any_harness.clock)
    h.clock.set(datetime(2026, 11, 25, 0, 30, tzinfo=UTC))
    await tell(h, "Ann", "11-25")
    await enqueue_greetings(h.dispatcher.tick_context())
    h.clock.set(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    async with h.store.transaction() as s:  # a process claims it, sends, and dies
        [claimed] = await h.store.outbox.claim(s, h.clock.now())
    h.clock.advance(timedelta(minutes=15))
    h.adapter.take()
    assert await send_due(h.dispatcher.tick_context()) == 0
    assert not h.adapter.take()
    async with h.store.transaction() as s:
        status = (await s.execute(select(ScheduledSend.status))).scalar_one()
    assert claimed.kind == "birthday" and status == "unsure"


async def test_the_hourly_cap_holds_back_the_fourth(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(datetime(2026, 11, 24, tzinfo=UTC))
    h = harness(sqlite_db, clock)
    # 09:00 in these zones is 02:30, 03:00, 03:15 and 03:30 UTC: four posts in one hour.
    for n, zone in enumerate(("Asia/Yangon", "Asia/Dhaka", "Asia/Kathmandu", "Asia/Kolkata")):
        await tell(h, f"M{n}", "11-25", zone)
    h.clock.set(datetime(2026, 11, 25, 2, tzinfo=UTC))
    sent = await run_until(h, datetime(2026, 11, 25, 5, tzinfo=UTC), step=timedelta(minutes=5))
    times = [when.strftime("%H:%M") for when, _ in sent]
    assert times == ["02:30", "03:00", "03:15", "03:35"]  # the 4th waits for a free slot


async def test_join_anniversaries_with_the_members_numbers(any_harness: Harness) -> None:
    h = harness(any_harness.store.db, any_harness.clock)
    joined = datetime(2026, 8, 17, 2, tzinfo=UTC)  # 10:00 in Shanghai, 100 days before 11-25
    h.clock.set(joined)
    await h.send(h.join("Newbie"))
    await h.say("签到", user="Newbie")
    h.clock.set(datetime(2025, 11, 25, 2, tzinfo=UTC))
    await h.send(h.join("Veteran"))
    h.clock.set(datetime(2026, 11, 24, tzinfo=UTC))
    sent = await run_until(h, datetime(2026, 11, 26, tzinfo=UTC))
    [(when, text)] = sent
    assert when == datetime(2026, 11, 25, 1, tzinfo=UTC)
    assert "Newbie" in text and "100 天" in text and "签到 1 次" in text and "10 积分" in text
    veteran = text.split("\n")[1]  # a years greeting, whichever wording the day turned to
    assert variant_of(default_packs(), "zh-CN", "warm", "anniversary.years_plain", veteran)
    assert "Veteran" in veteran and " 1 " in veteran and "365 天" in veteran


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_an_anniversary_leaves_out_figures_that_are_zero(
    any_harness: Harness, locale: str
) -> None:
    h = harness(any_harness.store.db, any_harness.clock, persona={"locale": locale})
    h.clock.set(datetime(2026, 8, 17, 2, tzinfo=UTC))  # 100 days before 11-25
    await h.send(h.join("Quiet"))
    await h.send(h.join("Keen"))
    await h.say("签到", user="Keen")
    h.clock.set(datetime(2025, 11, 25, 2, tzinfo=UTC))
    await h.send(h.join("Veteran"))
    h.clock.set(datetime(2026, 11, 24, tzinfo=UTC))
    [(_, text)] = await run_until(h, datetime(2026, 11, 26, tzinfo=UTC))
    lines = {
        name: line
        for line in text.splitlines()
        for name in ("Quiet", "Keen", "Veteran")
        if name in line
    }
    assert set(lines) == {"Quiet", "Keen", "Veteran"}
    for name in ("Quiet", "Veteran"):  # nothing to count: no "0 check-ins, 0 points"
        assert not re.search(r"\b0\b", lines[name].replace("100", "").replace("365", "")), lines
    if locale == "en":
        assert "1 check-in and 10 points earned" in lines["Keen"]
        assert "check-in" not in lines["Quiet"] and "point" not in lines["Veteran"]
    else:
        assert "签到 1 次、获得 10 积分" in lines["Keen"]
        assert "签到" not in lines["Quiet"] and "积分" not in lines["Veteran"]
