"""A persona that remembers: holidays, a welcome back, milestones, birthdays, the streak about
to round, /callme and /holiday; each line once, one per reply, under concurrency and restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, update

from bot.clock import FakeClock
from bot.richtext import Mention
from storage import Store
from storage.audit import AuditEntry
from storage.members import Member
from storage.moments import CallName, Moment
from tests.handlers.test_redpacket import fund
from tests.support import Harness, make_settings


def shanghai(year: int, month: int, day: int, hour: int = 9) -> datetime:
    """``hour`` o'clock in Shanghai (the default community zone) on that day."""
    return datetime(year, month, day, hour, tzinfo=UTC) - timedelta(hours=8)


def harness(db, when: datetime, **sections) -> Harness:  # type: ignore[no-untyped-def]
    return Harness(store=Store(db), settings=make_settings(**sections), clock=FakeClock(when))


async def moments_of(h: Harness, kind: str | None = None) -> list[tuple[str, str, str]]:
    """(member name, kind, occasion) of every moment said, oldest first."""
    async with h.store.transaction() as s:
        query = select(Member.display_name, Moment.kind, Moment.occasion).join(
            Member, Member.id == Moment.member_id
        )
        if kind is not None:
            query = query.where(Moment.kind == kind)
        rows = await s.execute(query.order_by(Moment.id))
        return [(n, k, o) for n, k, o in rows.all()]


async def member_id(h: Harness, name: str) -> int:
    async with h.store.transaction() as s:
        return (await s.execute(select(Member.id).where(Member.display_name == name))).scalar_one()


async def past_checkins(h: Harness, name: str, days: list[tuple[date, int]]) -> None:
    """Check-ins ``name`` made before (day, streak), written as the check-in writes them."""
    await h.say("/me", user=name)  # the member exists
    mid = await member_id(h, name)
    async with h.store.transaction() as s:
        community = (
            await s.execute(select(Member.community_id).where(Member.id == mid))
        ).scalar_one()
        for day, streak in days:
            await h.store.checkins.claim(
                s,
                community_id=community,
                member_id=mid,
                day=day,
                streak=streak,
                points=10,
                now=h.clock.now(),
            )


# -- the calendar ---------------------------------------------------------------------------


async def test_a_chinese_holiday_is_wished_once_per_member(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 9, 25))  # 中秋 2026
    [ann] = await h.say("签到", user="Ann")
    assert "中秋" in ann
    [again] = await h.say("签到", user="Ann")
    assert "中秋" not in again  # already checked in: no second line
    [bob] = await h.say("签到", user="Bob")
    assert "中秋" in bob  # once per member
    welcome = [a.text.plain() for a in await h.send(h.join("Carol")) if hasattr(a, "text")]
    assert any("中秋" in text for text in welcome)  # a newcomer's welcome carries it too
    [carol] = await h.say("签到", user="Carol")
    assert "中秋" not in carol  # said in her welcome already
    h.clock.advance(timedelta(days=1))
    [next_day] = await h.say("签到", user="Ann")
    assert "中秋" not in next_day
    assert [(n, o) for n, _, o in await moments_of(h, "holiday")] == [
        ("Ann", "mid_autumn:2026"),
        ("Bob", "mid_autumn:2026"),
        ("Carol", "mid_autumn:2026"),
    ]


async def test_an_english_holiday_in_an_english_community(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 12, 25), persona={"locale": "en"})
    [ann] = await h.say("/checkin", user="Ann")
    assert "Merry Christmas" in ann
    h.clock.set(shanghai(2026, 11, 26))  # not a Chinese holiday, and in the past: no line
    assert await moments_of(h, "holiday") == [("Ann", "holiday", "christmas:2026")]
    zh = harness(db, shanghai(2026, 12, 25))  # a Chinese community on Christmas: not its day
    [bob] = await zh.say("签到", user="Bob", chat="g2", key="zh-1")
    assert "圣诞" not in bob


async def test_operators_add_a_holiday_audited_and_bad_input_changes_nothing(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 6, 18))
    h.adapter.admins.add(("g1", "id-alice"))
    for bad, hint in (
        ("/holiday add 13-01 周年", "月-日"),
        ("/holiday add 02-30 周年", "月-日"),
        ("/holiday add junk", "月-日"),
        ("/holiday add 06-18", "名字"),
        ("/holiday add 06-18 " + "长" * 40, "32"),
    ):
        [reply] = await h.say(bad)
        assert hint in reply, (bad, reply)
    [refused] = await h.say("/holiday add 06-18 周年", user="Bob")  # not an operator
    assert "周年" not in refused
    [none] = await h.say("/holiday list")
    assert "还没有" in none
    [added] = await h.say("/holiday add 6-18 <b>建群纪念日</b>")
    assert "06-18" in added and "<b>建群纪念日</b>" in added
    [listed] = await h.say("/holiday")
    assert "06-18" in listed and "建群纪念日" in listed
    [ann] = await h.say("签到", user="Ann")
    assert "<b>建群纪念日</b>快乐" in ann  # the name is text, as written
    async with h.store.transaction() as s:
        actions = (await s.execute(select(AuditEntry.action).order_by(AuditEntry.id))).scalars()
        assert list(actions) == ["holiday.add"]
    [removed] = await h.say("/holiday remove 06-18")
    assert "06-18" in removed
    [missing] = await h.say("/holiday remove 06-18")
    assert "没有" in missing


async def test_configured_holidays_and_the_calendar_can_be_turned_off(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(
        db,
        shanghai(2026, 9, 25),
        moments={"calendar": "none", "holidays": [{"date": "09-25", "name": "社庆"}]},
    )
    [ann] = await h.say("签到", user="Ann")
    assert "社庆" in ann and "中秋" not in ann


# -- a welcome back ---------------------------------------------------------------------------


async def test_a_return_after_fifteen_days_is_welcomed_once(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 11, 2))
    await h.say("签到", user="Ann")
    h.clock.advance(timedelta(days=10))
    [soon] = await h.say("签到", user="Ann")
    assert "欢迎回来" not in soon  # 10 days: not long enough
    h.clock.advance(timedelta(days=15))
    [back] = await h.say("签到", user="Ann")
    assert "欢迎回来" in back and "15" in back
    h.clock.advance(timedelta(days=1))
    [next_day] = await h.say("签到", user="Ann")
    assert "欢迎回来" not in next_day
    assert [o for _, _, o in await moments_of(h, "return")] == ["2026-11-27"]


async def test_a_rejoin_after_a_long_silence_is_welcomed_back(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 11, 2), moments={"return_after_days": 14})
    await h.say("签到", user="Ann")
    await h.send(h.leave("Ann"))
    h.clock.advance(timedelta(days=20))
    texts = [a.text.plain() for a in await h.send(h.join("Ann")) if hasattr(a, "text")]
    assert any("欢迎回来" in t and "20" in t for t in texts)
    [checkin] = await h.say("签到", user="Ann")
    assert "欢迎回来" not in checkin  # this return was welcomed already


# -- milestones -------------------------------------------------------------------------------


async def test_the_hundredth_check_in_is_said_once_among_twenty_at_once_and_after_restart(
    db,
) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 11, 25))  # a Wednesday, no holiday
    today = date(2026, 11, 25)
    await past_checkins(h, "Ann", [(today - timedelta(days=2 * n + 2), 1) for n in range(99)])

    async def check_in(n: int) -> list[str]:
        actions = await h.dispatcher.handle(h.message("签到", user="Ann", key=f"c{n}"))
        return [a.text.plain() for a in actions if hasattr(a, "text")]

    await asyncio.gather(*(check_in(n) for n in range(20)))
    sent = [a.text.plain() for a in h.adapter.take() if hasattr(a, "text")]
    assert sum("第100次签到" in text for text in sent) == 1, sent
    assert await moments_of(h, "checkins") == [("Ann", "checkins", "100")]
    again = Harness(store=h.store, settings=h.settings, clock=h.clock)  # a restart
    await again.dispatcher.handle(h.message("签到", user="Ann", key="c0"))  # redelivered
    [later] = await again.say("签到", user="Ann", key="after-restart")
    assert all("第100次" not in t for t in [later, *map(str, again.adapter.take())])
    async with h.store.transaction() as s:
        assert (await s.execute(select(func.count()).select_from(Moment))).scalar_one() == 1


async def test_a_round_streak_once_among_twenty_at_once_and_one_line_per_reply(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 11, 25))
    today = date(2026, 11, 25)
    await past_checkins(h, "Ann", [(today - timedelta(days=7 - n), n) for n in range(1, 7)])
    results = await asyncio.gather(
        *(h.dispatcher.handle(h.message("签到", user="Ann", key=f"s{n}")) for n in range(20))
    )
    assert results
    sent = [a.text.plain() for a in h.adapter.take() if hasattr(a, "text")]
    assert sum("连续打卡7天" in text for text in sent) == 1, sent
    assert [o for _, _, o in await moments_of(h, "streak")] == ["7:2026-11-19"]


async def test_priority_birthday_first_and_the_rest_stays_unsaid(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 9, 25))  # 中秋, and Ann's birthday, and her 7th day
    today = date(2026, 9, 25)
    await past_checkins(h, "Ann", [(today - timedelta(days=7 - n), n) for n in range(1, 7)])
    async with h.store.transaction() as s:
        await s.execute(update(Member).values(birthday_month=9, birthday_day=25))
    [reply] = await h.say("签到", user="Ann")
    assert "生日快乐" in reply
    assert "连续打卡7天" not in reply and "中秋" not in reply  # one moment per reply
    assert [k for _, k, _ in await moments_of(h)] == ["birthday"]


async def test_streak_twenty_nine_says_one_more_day(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 11, 25))
    today = date(2026, 11, 25)
    await past_checkins(h, "Ann", [(today - timedelta(days=29 - n), n) for n in range(1, 29)])
    [reply] = await h.say("签到", user="Ann")
    assert "29" in reply and "再坚持一天就连续30天" in reply
    h.clock.advance(timedelta(days=1))
    [thirty] = await h.say("签到", user="Ann")
    assert "连续打卡30天" in thirty


async def test_first_red_packet_is_thanked_once(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 11, 25))
    await fund(h, "Ann", 100)
    first = await h.say("/redpacket 20 2", user="Ann")
    assert sum("第一个红包" in t for t in first) == 1, first
    second = await h.say("/redpacket 20 2", user="Ann")
    assert len(second) == 1 and "第一个红包" not in second[0]


# -- /callme ----------------------------------------------------------------------------------


async def test_callme_names_the_member_everywhere_and_refuses_bad_names(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 11, 25), rules={"words": ["笨蛋"]})
    h.adapter.admins.add(("g1", "id-ann"))  # the filters spare operators' messages, not names
    for bad, hint in (
        ("/callme", "24"),
        ("/callme    ", "24"),
        ("/callme \u200b\u202e", "24"),
        ("/callme " + "名" * 25, "25"),
        ("/callme 大笨 蛋", "笨 蛋"),
    ):
        [reply] = await h.say(bad, user="Ann")
        assert hint in reply, (bad, reply)
    [member_typed] = await h.say("/callme 笨蛋", user="Bob")  # a member: the filter acts first
    assert "警告" in member_typed
    async with h.store.transaction() as s:
        assert (await s.execute(select(func.count()).select_from(CallName))).scalar_one() == 0
    [done] = await h.say("/callme <b>Captain</b> `x`", user="Ann")
    assert "<b>Captain</b> `x`" in done
    actions = await h.send(h.message("签到", user="Ann"))
    mention = next(
        seg
        for seg in actions[0].text.segments
        if isinstance(seg, Mention)  # type: ignore[attr-defined]
    )
    assert mention.text == "<b>Captain</b> `x`" and mention.user_id == "id-ann"
    other = harness(db, shanghai(2026, 11, 25))  # another process reads it from the database
    [seen] = await other.say("打卡", user="Ann", key="other-1")
    assert "<b>Captain</b> `x`" in seen
    [bob] = await h.say("签到", user="Bob")
    assert "Captain" not in bob  # per member
    [elsewhere] = await h.say("签到", user="Ann", chat="g2")
    assert "Captain" not in elsewhere  # per community
    [reset] = await h.say("/callme reset", user="Ann")
    assert "Ann" in reset and "Captain" not in reset
    [private] = await h.say("/callme Cap", user="Ann", private=True)
    assert "群" in private  # a name is per community: asked for in one


# -- the digest -------------------------------------------------------------------------------


async def test_the_weekly_digest_names_the_week_s_holidays_once(any_harness: Harness) -> None:
    from tests.handlers.test_digest import MONDAY_9, tick
    from tests.handlers.test_insights_stats import scripted

    h = await scripted(any_harness)  # an English community
    h.clock.set(MONDAY_9)
    [plain] = await tick(h)
    assert "Coming up this week" not in plain.text.plain()
    h.clock.set(MONDAY_9 + timedelta(weeks=3))  # Monday 21 December
    [festive] = await tick(h)
    assert "Coming up this week: Christmas Eve (12-24), Christmas (12-25)." in festive.text.plain()
    h.clock.set(MONDAY_9 + timedelta(weeks=3, hours=2))
    assert await tick(h) == []  # once per digest


async def test_a_call_name_shows_in_what_other_features_write(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 11, 25))
    await fund(h, "Ann", 100)
    await h.say("/callme 安安", user="Ann")
    [packet, first] = await h.say("/redpacket 20 2", user="Ann")
    assert "安安" in packet and "Ann" not in packet  # the packet names its sender so
    assert "安安" in first


async def test_talking_counts_as_being_there_and_being_replied_to_does_not(db) -> None:  # type: ignore[no-untyped-def]
    from handlers.insights import flush

    h = harness(db, shanghai(2026, 11, 2))
    await h.say("签到", user="Ann")
    await h.say("签到", user="Bob")
    h.clock.advance(timedelta(days=10))
    await h.send(h.message("hello", user="Ann"))  # Ann talks on day 10
    await h.send(h.message("hi Bob", user="Cat", reply_to=h.user("Bob")))  # Bob is replied to
    await flush(h.dispatcher.tick_context())
    h.clock.advance(timedelta(days=10))
    [ann] = await h.say("签到", user="Ann")
    [bob] = await h.say("签到", user="Bob")
    assert "欢迎回来" not in ann  # silent 10 days only
    assert "欢迎回来" in bob and "20" in bob


async def test_the_first_accepted_answer_is_thanked_once_and_not_for_ones_own(
    any_harness: Harness,
) -> None:
    from tests.handlers.test_questions import english, posted

    h = english(any_harness)

    async def asked_and_accepted(question: int, answerer: str) -> list[str]:
        await h.send(h.message(f"/ask Question number {question}?", user="Eve"))
        actions = await h.send(h.message(f"/answer {question} An answer.", user=answerer))
        accept = next(a for a in actions if getattr(a, "buttons", ())).buttons[0][0].data  # type: ignore[attr-defined]
        return posted(await h.send(h.press(accept, user="Eve")))

    first = await asked_and_accepted(1, "Bob")
    assert sum("first accepted answer" in t for t in first) == 1, first
    second = await asked_and_accepted(2, "Bob")
    assert not any("first accepted answer" in t for t in second)
    own = await asked_and_accepted(3, "Eve")  # answering one's own question earns nothing
    assert not any("first accepted answer" in t for t in own)
    assert [(n, k) for n, k, _ in await moments_of(h)] == [("Bob", "first_answer")]


async def test_moments_can_be_turned_off_and_callme_still_works(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 9, 25), moments={"enabled": False})
    await h.say("/callme 小安", user="Ann")
    [ann] = await h.say("签到", user="Ann")
    assert "中秋" not in ann and "小安" in ann
    assert await moments_of(h) == []


async def test_a_burst_of_check_ins_on_a_holiday_is_batched_and_greets_each_once(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 9, 25))
    await past_checkins(h, "M3", [(date(2026, 9, 24 - n), 6 - n) for n in range(6)])  # 7th day
    calls: list[int] = []
    batch = h.registry.batches["checkin"]

    async def counted(ctxs):  # type: ignore[no-untyped-def]
        calls.append(len(ctxs))
        return await batch(ctxs)

    h.registry.batches["checkin"] = counted
    h.adapter.actions.clear()
    events = [h.message("签到", user=f"M{n}", key=f"b{n}") for n in range(120)]
    events[60:60] = [h.message("签到", user="M7", key="again")]  # twice in the burst
    await asyncio.gather(*(h.dispatcher.submit(event) for event in events))
    assert max(calls) > 1  # batched
    texts = [a.text.plain() for a in h.adapter.actions if hasattr(a, "text")]
    assert sum("中秋" in t for t in texts) == 119  # everyone once; M3 hears of the streak
    assert sum("连续打卡7天" in t for t in texts) == 1
    said = await moments_of(h)
    assert len(said) == 120 and ("M3", "streak", "7:2026-09-19") in said


async def test_a_year_since_joining_is_said_on_a_check_in_near_the_date(db) -> None:  # type: ignore[no-untyped-def]
    h = harness(db, shanghai(2026, 11, 27))
    await h.say("/me", user="Ann")
    async with h.store.transaction() as s:
        await s.execute(update(Member).values(joined_at=shanghai(2025, 11, 24)))
    [ann] = await h.say("签到", user="Ann")
    assert "加入我们已经1年了" in ann
    h.clock.advance(timedelta(days=1))
    [again] = await h.say("签到", user="Ann")
    assert "1年" not in again
    assert await moments_of(h, "joined") == [("Ann", "joined", "1")]
