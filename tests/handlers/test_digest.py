"""The weekly digest on SQLite and PostgreSQL, the fake clock moved (nothing slept): when it
goes out (the community's own Monday 09:00), exactly once across racing ticks, processes and
restarts, off and on, ``/digest now`` and who may ask, the suggestion rules, privacy (the
group never reads a figure about a member), and a community with nobody to tell (settled at
once, no chart drawn, no retries; the next week tried again)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.actions import Action, Notify, Reply, SendImage
from bot.context import TickContext
from bot.richtext import RichText
from handlers.digest import Facts, enqueue_digests, suggestions
from handlers.insights import flush
from handlers.outbox import deliverer, send_due
from persona.render import default_packs
from storage.communities import Community, CommunityInfo
from storage.insight_reports import Days, Figure, PeriodFigures
from storage.outbox import Due, Scheduled, ScheduledSend
from tests.handlers.test_insights import english
from tests.handlers.test_insights_stats import ADMIN, scripted
from tests.support import Harness
from tests.wording import is_variant

#: The scripted week ends Thursday 26 November 09:00 in Shanghai; the digest is due Monday.
MONDAY_9 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai


async def tick(h: Harness) -> list[Notify]:
    """One scheduler round (enqueue, then the outbox); the notices that went out."""
    context = h.dispatcher.tick_context()
    h.adapter.take()
    await enqueue_digests(context)
    await send_due(context)
    done = h.adapter.take()
    # Privately or not at all: nothing of a digest is ever shown in the group.
    assert all(isinstance(a, Notify) and a.user_id for a in done), done
    return [a for a in done if isinstance(a, Notify)]


async def test_it_goes_out_on_monday_at_nine_local_and_once_a_week(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    # Thursday: this week's Monday is days past, too late to be worth a row (no stale digest).
    assert await enqueue_digests(h.dispatcher.tick_context()) == 0
    h.clock.set(MONDAY_9 - timedelta(days=1))
    await h.send(h.join("Eve"))
    await flush(h.dispatcher.tick_context())
    h.clock.set(MONDAY_9 - timedelta(minutes=1))
    assert await tick(h) == []
    h.clock.set(MONDAY_9)
    notices = await tick(h)
    assert [n.user_id for n in notices] == ["id-alice"]  # the one admin, privately
    [digest] = notices
    text = digest.text.plain()
    assert text.startswith("Your weekly digest (only you can see this)")
    assert "Activity over the last 7 days (11/24 to 11/30)" in text  # as /stats 7d says
    assert "Messages: 8 (−33%)" in text
    assert "Joined: 1 · left: 0" in text
    assert "1 newcomer has not spoken yet: Eve" in text
    assert "Nobody is at risk right now." in text
    assert "Most active this week: Ann, Bob, Carol" in text
    assert text.endswith(
        "Suggested this week:\n\n"
        "• 1 newcomer never spoke: welcome them by name (Eve).\n\n"
        "• Messages fell 33%: ask the group a question or start a poll.\n\n"
        "• Ann carried the week: a thank-you keeps them going."
    )
    assert len(digest.pictures) == 2 and all(p.png.startswith(b"\x89PNG") for p in digest.pictures)
    assert digest.fallback == "record"
    # Later that week: nothing more; the next Monday: the next digest.
    for hours in (1, 24, 6 * 24):
        h.clock.set(MONDAY_9 + timedelta(hours=hours))
        assert await tick(h) == []
    h.clock.set(MONDAY_9 + timedelta(weeks=1))
    assert len(await tick(h)) == 1


async def test_a_community_in_another_zone_gets_it_at_its_own_nine(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    async with h.store.transaction() as s:
        await s.execute(update(Community).values(timezone="Europe/Berlin"))
    h.clock.set(MONDAY_9)  # 02:00 in Berlin
    assert await tick(h) == []
    h.clock.set(datetime(2026, 11, 30, 7, 59, tzinfo=UTC))
    assert await tick(h) == []
    h.clock.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))  # 09:00 in Berlin
    assert len(await tick(h)) == 1


async def test_racing_ticks_and_processes_send_it_once(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    others = [english(h) for _ in range(3)]
    for other in others:
        other.adapter.admins.add(ADMIN)
    h.clock.set(MONDAY_9 + timedelta(minutes=2))
    bots = [h, *others]
    contexts = [bot.dispatcher.tick_context() for bot in bots for _ in range(3)]
    await asyncio.gather(*(enqueue_digests(c) for c in contexts))
    sent = await asyncio.gather(*(send_due(c) for c in contexts))
    assert sorted(sent) == [0] * (len(contexts) - 1) + [1]
    notices = [a for bot in bots for a in bot.adapter.take() if isinstance(a, Notify)]
    assert len(notices) == 1
    # A restart later that week (a new bot over the same database): nothing again.
    h.clock.set(MONDAY_9 + timedelta(hours=3))
    again = english(h)
    again.adapter.admins.add(ADMIN)
    again._keys = itertools.count(10_000)
    assert await tick(again) == []


async def test_off_and_on(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    assert await h.say("/digest off", user="Ann") == ["Sorry, only analyst can do that."]
    await h.say("/role grant @Ann analyst")
    [refused] = await h.say("/digest off", user="Ann")  # an analyst, not an admin
    assert refused.startswith("Only admins can turn the weekly digest on or off.")
    [off] = await h.say("/digest off")
    assert off.startswith("Done: the weekly digest is off here.")
    h.clock.set(MONDAY_9)
    assert await tick(h) == []
    [on] = await h.say("/digest on")
    assert on == (
        "Done: the weekly digest is on. It goes to admins and analysts privately every"
        " Monday at 09:00."
    )
    assert sorted(n.user_id or "" for n in await tick(h)) == ["id-alice", "id-ann"]


async def test_digest_now_is_private_and_for_readers_only(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    actions = await h.send(h.message("/digest now", user="Alice"))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    assert notice.user_id == "id-alice" and len(notice.pictures) == 2
    shown = [a.text.plain() for a in actions if isinstance(a, Reply)]
    assert shown == ["Done, I've sent you the digest privately."]
    assert not [a for a in actions if isinstance(a, SendImage)]
    # Nothing about a member in the group: no names, no figures.
    for name in ("Ann", "Bob", "Carol", "Dan"):
        assert all(name not in text for text in shown)
    # A member without a role: refused, nothing private.
    refused = await h.send(h.message("/digest now", user="Bob"))
    assert [a.text.plain() for a in refused] == ["Sorry, only analyst can do that."]
    # Bad input: the usage, nothing sent.
    bad = await h.send(h.message("/digest tomorrow", user="Alice"))
    assert not [a for a in bad if isinstance(a, Notify)]
    assert any("/digest now" in a.text.plain() for a in bad if isinstance(a, Reply))


async def test_a_new_quiet_community_gets_not_enough_data(any_harness: Harness) -> None:
    h = english(any_harness)
    h.adapter.admins.add(ADMIN)
    await h.say("hello", user="Alice")
    h.adapter.take()
    actions: list[Action] = await h.send(h.message("/digest now", user="Alice"))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    assert "Not enough data yet" in notice.text.plain()
    assert notice.pictures == ()


def _figures(**changes: tuple[float, float]) -> PeriodFigures:
    steady = {
        name: Figure(10, 10)
        for name in (
            "members",
            "dau",
            "wau",
            "mau",
            "stickiness",
            "active",
            "messages",
            "joins",
            "leaves",
            "net_growth",
            "checked_in",
            "checkin_rate",
        )
    }
    steady.update({name: Figure(*pair) for name, pair in changes.items()})
    return PeriodFigures(days=Days.ending(date(2026, 11, 29), 7), **steady)


def test_the_suggestion_rules_fire_in_priority_order() -> None:
    def facts(newcomers=(), quiet=(), top=(), **changes):  # type: ignore[no-untyped-def]
        return Facts(_figures(**changes), list(newcomers), list(quiet), list(top))

    assert suggestions(facts()) == []
    assert suggestions(facts(top=["Ann"])) == ["thank_top"]
    assert suggestions(facts(newcomers=["Dan"], quiet=["Bob"], top=["Ann"])) == [
        "welcome_newcomers",
        "hello_quiet",
        "thank_top",
    ]
    # Check-ins down 30% exactly fires; 29% does not.
    assert suggestions(facts(checked_in=(7, 10))) == ["checkins_fell"]
    assert suggestions(facts(checked_in=(71, 100))) == []
    assert suggestions(facts(messages=(5, 10), joins=(1, 1), leaves=(3, 3), top=["Ann"])) == [
        "messages_fell",
        "more_left",
        "thank_top",
    ]
    # Nothing before: no fall.
    assert suggestions(facts(checked_in=(0, 0), messages=(3, 0))) == []
    # All six apply: the first three by priority.
    assert suggestions(
        facts(
            newcomers=["Dan"],
            quiet=["Bob"],
            top=["Ann"],
            checked_in=(1, 10),
            messages=(1, 10),
            leaves=(2, 2),
            joins=(0, 0),
        )
    ) == ["welcome_newcomers", "hello_quiet", "checkins_fell"]


async def test_opted_out_members_are_never_named(any_harness: Harness) -> None:
    h = await scripted(any_harness)
    await h.say("/stats optout", user="Ann")
    h.adapter.take()
    actions = await h.send(h.message("/digest now", user="Alice"))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    text = notice.text.plain()
    assert "Most active this week: Bob, Carol" in text
    assert "Ann" not in text
    assert "Messages: 20" in text  # still counted, without her name


async def test_the_digest_speaks_chinese(any_harness: Harness) -> None:
    h = any_harness  # the default persona speaks zh-CN
    h.adapter.admins.add(ADMIN)
    for name in ("Ann", "Bob"):
        await h.send(h.join(name))
    for _ in range(2):
        await h.send(h.message("大家早", user="Ann"))
        await flush(h.dispatcher.tick_context())
        h.clock.advance(timedelta(days=1))
    actions = await h.send(h.message("/digest now", user="Alice"))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    text = notice.text.plain()
    opening, figures = text.split("\n\n")[:2]
    assert is_variant(default_packs(), "zh-CN", "warm", "digest.header", opening)
    assert opening.startswith("本周简报（仅你可见）") and figures.startswith("最近 7 天的活跃数据")
    assert "还没说过话的新人（1 位）：Bob" in text
    assert "本周最活跃：Ann" in text
    assert "• 1 位新人还没开口：点名欢迎一下吧（Bob）。" in text
    assert len(notice.pictures) == 2


async def _rows(h: Harness, kind: str = "digest") -> list[tuple[str, str, int]]:
    """(occurrence, status, attempts) of the outbox's rows of ``kind``, oldest first."""
    async with h.store.transaction() as s:
        found = await s.execute(
            select(ScheduledSend.occurrence, ScheduledSend.status, ScheduledSend.attempts)
            .where(ScheduledSend.kind == kind)
            .order_by(ScheduledSend.id)
        )
    return [(occurrence, status, attempts) for occurrence, status, attempts in found]


async def test_nobody_to_tell_settles_at_once_and_next_week_tries_again(
    any_harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = await scripted(any_harness)
    h.adapter.admins.clear()  # no owner, no admin, no analyst: nobody may read it
    from handlers.insights import charts  # matplotlib: only the tests that draw import it

    drawn: list[str] = []
    draw = charts.render

    async def counted(chart: Any, *args: Any, **kwargs: Any) -> bytes:
        drawn.append(chart.__name__)
        return await draw(chart, *args, **kwargs)

    monkeypatch.setattr(charts, "render", counted)
    caplog.set_level(logging.INFO)
    h.clock.set(MONDAY_9)
    assert await tick(h) == []
    # Settled on the first claim, unwritten: no chart drawn, no retry to come.
    assert await _rows(h) == [("2026-W49", "skipped", 1)]
    assert drawn == []
    for minutes in (1, 2, 5, 10, 30, 60):
        h.clock.set(MONDAY_9 + timedelta(minutes=minutes))
        assert await tick(h) == []
    assert await _rows(h) == [("2026-W49", "skipped", 1)] and drawn == []
    said = [r for r in caplog.records if "nobody to tell" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    assert "2026-W49" in said[0].getMessage()
    assert f"community {await _community_id(h)}" in said[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]
    # The next week, with an admin again: its own row, written and sent as usual.
    h.adapter.admins.add(ADMIN)
    h.clock.set(MONDAY_9 + timedelta(weeks=1))
    [notice] = await tick(h)
    assert notice.user_id == "id-alice" and len(notice.pictures) == 2
    assert await _rows(h) == [("2026-W49", "skipped", 1), ("2026-W50", "sent", 1)]
    assert sorted(drawn) == ["daily_activity", "weekly_rhythm"]


async def _community_id(h: Harness) -> int:
    async with h.store.transaction() as s:
        return (await s.execute(select(Community.id))).scalar_one()


ORPHAN = "test-role-notice"


@deliverer(ORPHAN)
async def _to_the_analysts(ctx: TickContext, row: Due, community: CommunityInfo) -> Notify:
    """A role notice written without asking who holds the role (as a digest is when its
    readers left between the question and the notice)."""
    return Notify(
        platform=row.platform,
        chat_id=row.chat_id,
        role="analyst",
        text=RichText.of("figures"),
        fallback="record",
    )


async def test_a_role_notice_that_reaches_nobody_is_not_retried(
    any_harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = english(any_harness)
    await h.say("hello", user="Ann")  # the community exists; nobody holds a role
    h.adapter.take()
    caplog.set_level(logging.INFO)
    community = await _community_id(h)
    async with h.store.transaction() as s:
        await h.store.outbox.enqueue(
            s,
            [Scheduled(community, "operators", ORPHAN, "once", h.clock.now(), {})],
            h.clock.now(),
        )
    context = h.dispatcher.tick_context()
    assert await send_due(context) == 0
    assert await _rows(h, ORPHAN) == [("once", "skipped", 1)]
    for minutes in (1, 3, 10):
        h.clock.advance(timedelta(minutes=minutes))
        assert await send_due(context) == 0
    assert await _rows(h, ORPHAN) == [("once", "skipped", 1)]
    assert not [a for a in h.adapter.take() if isinstance(a, Notify)]
    said = [r for r in caplog.records if "nobody holds" in r.getMessage()]
    assert len(said) == 1 and "role:analyst" in said[0].getMessage()
