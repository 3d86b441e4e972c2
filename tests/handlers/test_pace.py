"""Slow mode and night mode through the dispatcher, on SQLite and PostgreSQL: the too-soon
message deleted with one private notice, operators exempt; the night closed and reopened
once as the fake clock crosses midnight, across a restart and a process stopped mid-way;
bad input refused with nothing changed; the platform's refusal named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.actions import Action, ActionResult, DeclineReason, Delete, LockChat, Notify, Send
from bot.actions import SetSlowMode as SetSlowModeAction
from handlers.pace import keep_the_night, night_edges, parse_window
from storage import Store
from storage.pace import ABANDONED_AFTER, NightMode, NightModeRepo
from tests.support import FakeAdapter, Harness, make_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")


def english(base: Harness, adapter: FakeAdapter | None = None) -> Harness:
    """A bot speaking English over ``base``'s database and clock (a new one: a restart)."""
    h = Harness(
        store=Store(base.store.db),
        settings=make_settings(persona={"locale": "en"}),
        clock=base.clock,
        adapter=adapter or FakeAdapter(),
    )
    h.adapter.admins.add(("g1", "id-ann"))
    return h


@pytest.fixture
async def group(any_harness: Harness) -> Harness:
    h = english(any_harness)
    for who in ("Ann", "Bob"):
        await h.send(h.message("hello", user=who))
    return h


def local(h: Harness, day: int, hour: int, minute: int = 0) -> None:
    """Move the fake clock to Nov ``day`` at ``hour``:``minute`` in Shanghai."""
    h.clock.set(datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI))


async def tick(h: Harness) -> list[Action]:
    h.adapter.actions.clear()
    await keep_the_night(h.dispatcher.tick_context())
    return h.adapter.take()


def locks(actions: list[Action]) -> list[bool]:
    return [a.locked for a in actions if isinstance(a, LockChat)]


async def rows(h: Harness) -> int:
    async with h.store.transaction() as session:
        return int(
            (await session.execute(select(func.count()).select_from(NightMode))).scalar_one()
        )


# -- night mode -------------------------------------------------------------------------------


async def test_the_night_closes_and_opens_once_across_midnight_and_a_restart(
    group: Harness,
) -> None:
    h = group
    local(h, 21, 9)
    [answer] = await h.say("/nightmode 23:00-07:00", user="Ann")
    assert "23:00" in answer and "07:00" in answer and "Asia/Shanghai" in answer
    local(h, 21, 22, 59)
    assert await tick(h) == []
    local(h, 21, 23, 0)
    closing = await tick(h)
    assert locks(closing) == [True]
    [said] = [a for a in closing if isinstance(a, Send)]
    assert "07:00" in said.text.plain()
    assert await tick(h) == []
    # A restart after midnight: the new process neither closes again nor opens early.
    local(h, 22, 3)
    again = english(h)
    assert await tick(again) == []
    local(h, 22, 7, 0)
    opening = await tick(again)
    assert locks(opening) == [False]
    assert any(isinstance(a, Send) for a in opening)
    assert await tick(h) == [] and await tick(again) == []
    # The next night comes round by itself.
    local(h, 22, 23, 1)
    assert locks(await tick(again)) == [True]


async def test_a_process_stopped_mid_way_is_taken_over_once(group: Harness) -> None:
    h = group
    local(h, 21, 9)
    await h.say("/nightmode 23:00-07:00", user="Ann")
    local(h, 21, 23, 0)
    repo = NightModeRepo(h.store.db)
    async with h.store.transaction() as session:
        [row] = await repo.due(session, h.clock.now())
        assert await repo.claim(session, row.id, h.clock.now())  # then the process dies
    restarted = english(h)
    assert await tick(restarted) == []  # claimed recently: maybe still acting
    h.clock.advance(ABANDONED_AFTER + timedelta(minutes=1))
    assert locks(await tick(restarted)) == [True]
    assert await tick(restarted) == []


async def test_downtime_through_the_whole_night_changes_nothing(group: Harness) -> None:
    h = group
    local(h, 21, 9)
    await h.say("/nightmode 23:00-07:00", user="Ann")
    local(h, 22, 8)
    assert await tick(english(h)) == []


async def test_set_during_the_night_closes_at_once_and_off_reopens(group: Harness) -> None:
    h = group
    local(h, 21, 23, 30)
    actions = await h.send(h.message("/nightmode 23:00-07:00", user="Ann"))
    assert locks(actions) == [True]
    assert await tick(h) == []
    [answer] = await h.say("/nightmode", user="Ann")
    assert "23:00" in answer
    actions = await h.send(h.message("/nightmode off", user="Ann"))
    assert locks(actions) == [False]
    local(h, 22, 7)
    assert await tick(h) == []
    local(h, 22, 23)
    assert await tick(h) == []
    [answer] = await h.say("/nightmode", user="Ann")
    assert "off" in answer.casefold()


@pytest.mark.parametrize(
    "value",
    ["25:00-07:00", "23:00", "23:60-07:00", "23:\u200b00-07:00", "tonight", "23:00-07:00-08:00"],
)
async def test_an_unreadable_window_is_refused_naming_the_form(group: Harness, value: str) -> None:
    h = group
    [answer] = await h.say(f"/nightmode {value}", user="Ann")
    assert "23:00-07:00" in answer and "24-hour" in answer
    assert await rows(h) == 0


async def test_an_empty_window_and_a_member_are_refused(group: Harness) -> None:
    h = group
    [answer] = await h.say("/nightmode 07:00-07:00", user="Ann")
    assert "same time" in answer
    await h.say("/nightmode 23:00-07:00", user="Bob")
    assert await rows(h) == 0


async def test_the_missing_right_is_named(group: Harness) -> None:
    h = group
    h.adapter.decline["lock_chat"] = ActionResult.declined(
        DeclineReason.MISSING_RIGHT, "can_restrict_members"
    )
    local(h, 21, 23, 30)
    [answer] = await h.say("/nightmode 23:00-07:00", user="Ann")
    assert "can_restrict_members" in answer
    # Tried again later, once the right is there.
    del h.adapter.decline["lock_chat"]
    h.clock.advance(timedelta(minutes=6))
    assert locks(await tick(h)) == [True]


def test_the_window_reads_forms_people_type() -> None:
    assert parse_window("23:00-07:00") == ("23:00", "07:00")
    assert parse_window("２３：３０～６：００") == ("23:30", "06:00")
    assert parse_window("22:00 至 06:30") == ("22:00", "06:30")
    assert parse_window("9:00-17:00") == ("09:00", "17:00")
    assert parse_window("24:00-07:00") is None
    assert parse_window("x" * 10_000) is None


def test_the_edges_follow_the_wall_clock_over_a_daylight_saving_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # Summer time ends on 2026-10-25 at 03:00 (clocks back to 02:00).
    before = datetime(2026, 10, 24, 22, 0, tzinfo=berlin)
    inside, closes = night_edges(("23:00", "07:00"), berlin, before.astimezone(UTC))
    assert not inside and closes == datetime(2026, 10, 24, 21, 0, tzinfo=UTC)  # 23:00 CEST
    inside, opens = night_edges(("23:00", "07:00"), berlin, closes)
    assert inside and opens == datetime(2026, 10, 25, 6, 0, tzinfo=UTC)  # 07:00 CET
    assert opens - closes == timedelta(hours=9)  # the night an hour longer, on the wall 23-07
    inside, after = night_edges(("23:00", "07:00"), berlin, opens)
    assert not inside and after == datetime(2026, 10, 25, 22, 0, tzinfo=UTC)  # 23:00 CET


# -- slow mode --------------------------------------------------------------------------------


async def test_slow_mode_deletes_the_too_soon_message_with_one_notice(group: Harness) -> None:
    h = group
    actions = await h.send(h.message("/slowmode 30s", user="Ann"))
    assert [a.seconds for a in actions if isinstance(a, SetSlowModeAction)] == [30]
    assert await h.send(h.message("first", user="Bob")) == []
    h.clock.advance(timedelta(seconds=10))
    second = await h.send(h.message("second", user="Bob"))
    assert [type(a) for a in second] == [Delete, Notify]
    [notice] = [a for a in second if isinstance(a, Notify)]
    assert notice.user_id == "id-bob" and notice.fallback == "record"
    assert "30 seconds" in notice.text.plain()
    third = await h.send(h.message("third", user="Bob"))
    assert [type(a) for a in third] == [Delete]  # told once
    h.clock.advance(timedelta(seconds=31))
    assert await h.send(h.message("fourth", user="Bob")) == []
    # Operators are exempt.
    assert await h.send(h.message("a", user="Ann")) == []
    assert await h.send(h.message("b", user="Ann")) == []
    await h.say("/slowmode off", user="Ann")
    assert await h.send(h.message("x", user="Bob")) == []
    assert await h.send(h.message("y", user="Bob")) == []


async def test_slow_mode_on_a_platform_without_its_own_is_paced_by_the_bot(
    group: Harness,
) -> None:
    h = group
    h.adapter.decline["set_slow_mode"] = ActionResult.declined(DeclineReason.UNSUPPORTED)
    [answer] = await h.say("/slowmode 5m", user="Ann")
    assert "5 minutes" in answer
    await h.send(h.message("first", user="Bob"))
    assert Delete in [type(a) for a in await h.send(h.message("second", user="Bob"))]


@pytest.mark.parametrize("value", ["0.1s", "7h", "soon", "30", "1\u200bm"])
async def test_a_bad_interval_is_refused(group: Harness, value: str) -> None:
    h = group
    [answer] = await h.say(f"/slowmode {value}", user="Ann")
    assert "1 second to 6 hours" in answer
    await h.send(h.message("first", user="Bob"))
    assert await h.send(h.message("second", user="Bob")) == []


async def test_slow_mode_names_the_missing_right_and_changes_nothing(group: Harness) -> None:
    h = group
    h.adapter.decline["set_slow_mode"] = ActionResult.declined(
        DeclineReason.MISSING_RIGHT, "manage_channels"
    )
    [answer] = await h.say("/slowmode 30s", user="Ann")
    assert "Manage channels" in answer
    await h.send(h.message("first", user="Bob"))
    assert await h.send(h.message("second", user="Bob")) == []
