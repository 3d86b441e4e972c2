"""Check-in answers through the whole bot with a moved clock: the wording turns every day
for the member, and greets at the member's local hour (their own zone if set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.clock import FakeClock
from persona.render import Packs, default_packs
from storage import Store
from tests.support import Harness, make_settings
from tests.wording import GENERAL, variant_of

SHANGHAI = {"timezone": "Asia/Shanghai", "day_reset_hour": 0}


def _harness(db, clock: FakeClock) -> Harness:  # type: ignore[no-untyped-def]
    return Harness(store=Store(db), settings=make_settings(community=SHANGHAI), clock=clock)


def _choice(packs: Packs, key: str, reply: str) -> tuple[str, int]:
    return variant_of(packs, "zh-CN", "warm", key, reply.split("\n")[0])


async def _daily(h: Harness, clock: FakeClock, days: int, key: str = "checkin.done") -> list:
    packs, chosen = default_packs(), []
    for _ in range(days):
        [reply] = await h.say("签到", user="Ann")
        chosen.append(_choice(packs, key, reply))
        clock.advance(timedelta(days=1))
    return chosen


async def test_a_morning_check_in_turns_its_wording_every_day(db) -> None:  # type: ignore[no-untyped-def]
    """07:30 in Shanghai for eight days: eight different slots, each a morning or a general
    variant, the morning ones among them."""
    clock = FakeClock(datetime(2026, 11, 1, 23, 30, tzinfo=UTC))  # 07:30 on the 2nd, local
    h = _harness(db, clock)
    chosen = await _daily(h, clock, 8)
    assert len({slot for _, slot in chosen}) == 8
    assert {part for part, _ in chosen} == {"morning", GENERAL}


async def test_a_late_check_in_is_never_greeted_good_morning(db) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(datetime(2026, 11, 2, 15, 30, tzinfo=UTC))  # 23:30 local
    h = _harness(db, clock)
    chosen = await _daily(h, clock, 8)
    assert {part for part, _ in chosen} == {"night", GENERAL}
    assert len({slot for _, slot in chosen}) == 8


async def test_the_members_own_zone_sets_the_hour(db) -> None:  # type: ignore[no-untyped-def]
    """09:00 in Shanghai is the evening before in New York: a member who set New York is
    greeted for the evening, never the morning; the group's day still turns the wording."""
    clock = FakeClock(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))  # 09:00 Shanghai, 20:00 NY
    h = _harness(db, clock)
    await h.say("/timezone America/New_York", user="Ann")
    chosen = await _daily(h, clock, 8)
    assert {part for part, _ in chosen} == {"evening", GENERAL}
    assert len({slot for _, slot in chosen}) == 8


async def test_asking_twice_the_same_day_gets_the_same_answer(db) -> None:  # type: ignore[no-untyped-def]
    """The wording is one per member, key and day (a second "already" reads as the first:
    it answers the same question); the next day's differs."""
    clock = FakeClock(datetime(2026, 11, 2, 6, 0, tzinfo=UTC))  # 14:00 local
    h = _harness(db, clock)
    await h.say("签到", user="Ann")
    [first] = await h.say("签到", user="Ann")
    clock.advance(timedelta(minutes=30))
    [second] = await h.say("签到", user="Ann")
    assert first == second
    clock.advance(timedelta(days=1))
    await h.say("签到", user="Ann")
    [tomorrow] = await h.say("签到", user="Ann")
    packs = default_packs()
    assert (
        _choice(packs, "checkin.already", tomorrow)[1]
        != _choice(packs, "checkin.already", first)[1]
    )


async def test_birthday_greetings_follow_the_celebrants_hour_and_turn_daily(db) -> None:  # type: ignore[no-untyped-def]
    """Five celebrants in New York on five days: each greeted at 09:00 their time (22:00 in
    the group's Shanghai), so with morning or general wordings, never night ones; and five
    days give five different wordings."""
    from tests.handlers.test_birthdays import harness, run_until, tell

    clock = FakeClock(datetime(2026, 11, 24, tzinfo=UTC))
    h = harness(db, clock, community=SHANGHAI)
    for n in range(5):
        await tell(h, f"M{n}", f"11-{25 + n}", "America/New_York")
    sent = await run_until(h, datetime(2026, 11, 30, 12, tzinfo=UTC), step=timedelta(hours=1))
    assert [when.hour for when, _ in sent] == [14] * 5  # 09:00 in New York
    packs = default_packs()
    chosen = [_choice(packs, "birthday.one", text) for _, text in sent]
    assert {part for part, _ in chosen} == {"morning", GENERAL}
    assert len({slot for _, slot in chosen}) == 5


async def test_a_stored_zone_this_system_lacks_falls_back_to_the_communitys(db) -> None:  # type: ignore[no-untyped-def]
    """A member's zone saved on another machine's tz database: the community's hour is used,
    and the check-in is answered as usual."""
    from sqlalchemy import update

    from storage.members import Member

    clock = FakeClock(datetime(2026, 11, 1, 23, 30, tzinfo=UTC))  # 07:30 local
    h = _harness(db, clock)
    await h.say("/timezone America/New_York", user="Ann")
    async with h.store.transaction() as session:
        await session.execute(update(Member).values(timezone="Mars/Olympus_Mons"))
    chosen = await _daily(h, clock, 8)
    assert {part for part, _ in chosen} == {"morning", GENERAL}
