"""Polls through the dispatcher on real SQLite and PostgreSQL: parsing and bad input, votes
counted exactly once under contention, vote changes, the multi-choice limit, anonymity,
coalesced edits, closing on time across a restart, early closing, ties."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.actions import ActionResult, AnswerButton, Button, DeclineReason, Edit, Reply, Send
from handlers.polls import (
    PollSettings,
    PollSpec,
    Refusal,
    close_due_polls,
    parse_poll,
    refresh_polls,
)
from persona.render import default_packs
from storage import Store
from storage.polls import Poll, PollVote
from tests.conftest import START
from tests.support import Harness, make_settings
from tests.wording import is_variant

SHANGHAI = ZoneInfo("Asia/Shanghai")


def restarted(h: Harness) -> Harness:
    """A new dispatcher over the same database, as after a restart (update keys go on)."""
    again = Harness(store=Store(h.store.db), settings=h.settings, clock=h.clock)
    again._keys = itertools.count(10_000)
    return again


def poll_of(actions: list) -> tuple[Send, list[Button]]:  # type: ignore[type-arg]
    [sent] = [a for a in actions if isinstance(a, Send)]
    return sent, [button for row in sent.buttons for button in row]


async def press(h: Harness, data: str, user: str) -> tuple[str, list[Edit]]:
    """Press a button: the presser's private note and any edits of the poll message."""
    actions = await h.send(h.press(data, user=user))
    [answer] = [a for a in actions if isinstance(a, AnswerButton)]
    return answer.text or "", [a for a in actions if isinstance(a, Edit)]


async def votes(h: Harness) -> list[tuple[str, int]]:
    """(member name, option) for every vote row."""
    async with h.store.transaction() as s:
        rows = await s.execute(select(PollVote.member_id, PollVote.position))
        found = []
        for member_id, position in rows.all():
            member = await h.store.members.get(s, member_id)
            assert member is not None
            found.append((member.display_name or "?", position))
    return sorted(found)


async def test_vote_change_refresh_close_and_results(any_harness: Harness) -> None:
    h = any_harness
    for name in ("Bob", "Carol", "Dan"):
        await h.send(h.join(name))
    sent, buttons = poll_of(await h.send(h.message("/poll 午饭吃什么？| 面条 | 米饭 <b> | 饺子")))
    text = sent.text.plain()
    assert "午饭吃什么？" in text and "米饭 <b>" in text and "单选" in text
    assert "2026-11-22 09:00" in text  # 24 h by default, in community time
    assert [b.data for b in buttons] == ["poll:1:1", "poll:1:2", "poll:1:3"]
    assert buttons[1].label == "2. 米饭 <b>"

    note, [edit] = await press(h, "poll:1:1", "Bob")  # the first vote edits at once
    assert "面条" in note and "1 人已投" in edit.text.plain() and edit.buttons
    note, edits = await press(h, "poll:1:2", "Carol")
    assert "米饭" in note and not edits  # within 5 s: coalesced
    note, edits = await press(h, "poll:1:2", "Bob")  # Bob changes his vote
    assert "改投" in note and "面条" in note and not edits
    note, _ = await press(h, "poll:1:2", "Bob")
    assert "已经投了" in note
    tick = h.dispatcher.tick_context()
    assert await refresh_polls(tick) == 1
    [refreshed] = h.adapter.take()
    assert isinstance(refreshed, Edit)
    shown = refreshed.text.plain()
    assert "2 人已投" in shown and "██████████ 2 票（100%）" in shown
    assert "Carol, Bob" in shown  # voters are shown, in voting order
    assert await refresh_polls(tick) == 0
    assert await votes(h) == [("Bob", 2), ("Carol", 2)]

    [refused] = await h.say("/closepoll", user="Dan")
    assert "发起人" in refused
    actions = await h.send(h.message("/closepoll 1"))
    [final] = [a for a in actions if isinstance(a, Edit)]
    [results] = [a for a in actions if isinstance(a, Send)]
    assert not final.buttons and "已结束" in final.text.plain()
    summary = results.text.plain()
    assert "胜出" in summary and "米饭 <b>" in summary and "2 票" in summary
    assert "Alice" in summary  # closed early by
    note, edits = await press(h, "poll:1:1", "Dan")
    assert "已经结束" in note and not edits
    assert await votes(h) == [("Bob", 2), ("Carol", 2)]
    [again] = await h.say("/closepoll 1")
    assert "已经结束" in again
    assert await close_due_polls(tick) == 0  # closed once


async def test_the_results_are_posted_once(any_harness: Harness) -> None:
    h = any_harness
    await h.send(h.message("/poll 周末去哪？| 爬山 | 看电影"))
    await press(h, "poll:1:1", "Bob")
    await press(h, "poll:1:1", "Carol")
    h.clock.advance(timedelta(hours=24, seconds=1))
    h.adapter.take()
    assert await close_due_polls(h.dispatcher.tick_context()) == 1
    actions = h.adapter.take()
    [final] = [a for a in actions if isinstance(a, Edit)]
    [results] = [a for a in actions if isinstance(a, Send)]
    assert "██████████ 2 票（100%）" in final.text.plain() and "已结束" in final.text.plain()
    summary = results.text.plain()
    assert "胜出" in summary and "爬山" in summary and "共 2 人投票" in summary
    assert "█" not in summary and "░" not in summary  # the count is in the poll message only
    # A poll whose message never went out has nothing to edit: the results carry the count.
    h.adapter.decline["send"] = ActionResult(ok=False, reason=DeclineReason.MISSING_RIGHT)
    await h.send(h.message("/poll 午饭？| 面条 | 米饭"))
    del h.adapter.decline["send"]
    h.clock.advance(timedelta(hours=24, seconds=1))
    h.adapter.take()
    assert await close_due_polls(h.dispatcher.tick_context()) == 1
    [alone] = h.adapter.take()
    assert isinstance(alone, Send) and "░░░░░░░░░░ 0 票" in alone.text.plain()


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("/poll", "/poll"),
        ("/poll 没有选项", "/poll"),
        ("/poll 只有一个？| 选项", "两个"),
        ("/poll 空白？| Red |  | ", "两个"),  # blank options dropped: one left
        ("/poll 重复？| Red | red  ", "「red」重复"),
        ("/poll 重复？| Red Wine | red   wine | Beer", "「red wine」重复"),
        ("/poll 太早？| A | B --until 2026-11-20 10:00", "已经过去"),
        ("/poll 太早？| A | B --until 2026-11-21 08:59", "已经过去"),
        ("/poll 看不懂？| A | B --for soon", "soon"),
        ("/poll 看不懂？| A | B --until 2026-13-01", "2026-13-01"),
        ("/poll 看不懂？| A | B --until 2026-12-01 25:00", "25:00"),
        ("/poll 两个？| A | B --for 2h --until 2026-12-01", "选一个"),
        ("/poll 太多？| A | B --multi 3", "1 到 2"),
        ("/poll 太短？| A | B --for 30s", "一分钟"),
        ("/poll 太久？| A | B --for 40d", "30 天"),
        ("/poll 太多？| " + " | ".join(f"O{n}" for n in range(11)), "10"),
        ("/poll 太长？| " + "x" * 101 + " | B", "100"),
    ],
)
async def test_bad_input_is_refused_privately_and_changes_nothing(
    any_harness: Harness, line: str, hint: str
) -> None:
    h = any_harness
    [reply] = await h.send(h.message(line))
    assert isinstance(reply, Reply) and reply.private
    assert hint in reply.text.plain(), (line, reply.text.plain())
    async with h.store.transaction() as s:
        assert (await s.execute(select(func.count()).select_from(Poll))).scalar_one() == 0


def test_parsing_flags_anywhere_in_community_time() -> None:
    limits, now = PollSettings(), START
    spec = parse_poll(
        "--multi 2 Pick？｜ A |B| C --anon --until 2026-12-01 20:00",
        now=now,
        zone=SHANGHAI,
        limits=limits,
    )
    assert isinstance(spec, PollSpec)
    assert spec.question == "Pick？" and spec.options == ("A", "B", "C")
    assert spec.max_choices == 2 and spec.anonymous
    assert spec.closes_at == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    spec = parse_poll("Q | A | B --multi --for 90m", now=now, zone=SHANGHAI, limits=limits)
    assert isinstance(spec, PollSpec) and spec.max_choices == 2 and not spec.anonymous
    assert spec.closes_at == now + timedelta(minutes=90)
    # A time alone means its next occurrence: 08:00 has passed today (09:00), so tomorrow.
    spec = parse_poll("Q | A | B --until 08:00", now=now, zone=SHANGHAI, limits=limits)
    assert isinstance(spec, PollSpec)
    assert spec.closes_at == datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    # A date alone means the end of that day.
    spec = parse_poll("Q | A | B --until 2026-11-25", now=now, zone=SHANGHAI, limits=limits)
    assert isinstance(spec, PollSpec)
    assert spec.closes_at == datetime(2026, 11, 25, 15, 59, tzinfo=UTC)
    # A full-width colon, as Chinese keyboards type it.
    spec = parse_poll("Q | A | B --until 2026-12-01 20：00", now=now, zone=SHANGHAI, limits=limits)
    assert isinstance(spec, PollSpec)
    assert spec.closes_at == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    refused = parse_poll("Q | A | a ", now=now, zone=SHANGHAI, limits=limits)
    assert refused == Refusal("polls.duplicate", {"option": "a"})


async def test_closes_on_time_across_a_restart_with_votes_kept(any_harness: Harness) -> None:
    h = any_harness
    await h.send(h.join("Bob"))
    poll_of(await h.send(h.message("投票 周末去哪？| 爬山 | 看电影 --for 2h")))
    await press(h, "poll:1:1", "Bob")
    await press(h, "poll:1:1", "Carol")
    await press(h, "poll:1:2", "Alice")

    h2 = restarted(h)
    tick = h2.dispatcher.tick_context()
    h.clock.advance(timedelta(hours=1, minutes=59))
    assert await close_due_polls(tick) == 0  # not yet
    note, _ = await press(h2, "poll:1:2", "Dan")  # the button still works after the restart
    assert "看电影" in note
    h.clock.advance(timedelta(minutes=1))
    note, edits = await press(h2, "poll:1:1", "Eve")  # due: refused even before the tick
    assert "已经结束" in note and not edits
    results = await asyncio.gather(
        close_due_polls(tick), close_due_polls(h.dispatcher.tick_context())
    )
    assert sorted(results) == [0, 1]  # two processes, one close
    assert await close_due_polls(tick) == 0
    texts = h.adapter.texts() + h2.adapter.texts()
    packs = default_packs()
    [summary] = [
        t for t in texts if is_variant(packs, "zh-CN", "warm", "polls.results", t.split("\n")[0])
    ]
    assert "🤝" in summary and "爬山、看电影" in summary and "各得 2 票" in summary  # a tie
    assert "共 4 人投票" in summary
    assert await votes(h) == [("Alice", 2), ("Bob", 1), ("Carol", 1), ("Dan", 2)]
    async with h.store.transaction() as s:
        poll = (await s.execute(select(Poll))).scalar_one()
    assert poll.status == "closed" and poll.closed_by_member_id is None
    assert poll.closed_at == START + timedelta(hours=2)


async def test_two_hundred_concurrent_votes_and_changes(any_harness: Harness) -> None:
    h = any_harness
    voters = [f"V{n}" for n in range(200)]
    for name in voters:
        await h.send(h.join(name))
    poll_of(await h.send(h.message("/poll 选哪个？| 一 | 二 | 三")))
    gate = asyncio.Semaphore(50)

    async def vote(name: str, option: int) -> None:
        async with gate:
            await h.dispatcher.handle(h.press(f"poll:1:{option}", user=name))

    await asyncio.gather(*(vote(name, n % 3 + 1) for n, name in enumerate(voters)))
    assert len(await votes(h)) == 200
    # Every second voter changes to option 1 (twice, at once); the others press again.
    await asyncio.gather(
        *(vote(name, 1 if n % 2 else n % 3 + 1) for n, name in enumerate(voters)),
        *(vote(name, 1) for n, name in enumerate(voters) if n % 2),
    )
    expected = sorted((name, 1 if n % 2 else n % 3 + 1) for n, name in enumerate(voters))
    assert await votes(h) == expected
    actions = await h.send(h.message("/closepoll"))
    [results] = [a for a in actions if isinstance(a, Send)]
    [final] = [a for a in actions if isinstance(a, Edit)]
    counts = {option: sum(1 for _, o in expected if o == option) for option in (1, 2, 3)}
    summary = results.text.plain()
    assert "共 200 人投票" in summary and "200 人投票" in final.text.plain()
    for position, text in ((1, "一"), (2, "二"), (3, "三")):
        assert re.search(
            rf"{position}\. {text}\n[█░]{{10}} {counts[position]} 票", final.text.plain()
        )
    assert counts[1] > max(counts[2], counts[3]) and "一" in summary.split("胜出")[1]


async def test_one_member_pressing_twenty_times_at_once_votes_once(any_harness: Harness) -> None:
    h = any_harness
    poll_of(await h.send(h.message("/poll Q | A | B | C --multi 2")))
    await asyncio.gather(*(h.dispatcher.handle(h.press("poll:1:2", user="Bob")) for _ in range(20)))
    # A multi-choice press toggles, one press at a time: twenty presses leave it off.
    assert await votes(h) == []
    await asyncio.gather(
        *(h.dispatcher.handle(h.press("poll:1:3", user="Carol")) for _ in range(20))
    )
    async with h.store.transaction() as s:
        dupes = await s.execute(
            select(func.count())
            .select_from(PollVote)
            .group_by(PollVote.member_id, PollVote.position)
            .having(func.count() > 1)
        )
        assert dupes.all() == []


async def test_single_choice_presses_at_once_keep_one_vote(any_harness: Harness) -> None:
    h = any_harness
    poll_of(await h.send(h.message("/poll Q | A | B | C")))
    await asyncio.gather(
        *(h.dispatcher.handle(h.press(f"poll:1:{n % 3 + 1}", user="Bob")) for n in range(30))
    )
    [(name, _option)] = await votes(h)
    assert name == "Bob"


async def test_multi_limit_and_anonymous(any_harness: Harness) -> None:
    h = any_harness
    sent, buttons = poll_of(
        await h.send(h.message("/poll 周末活动？| 爬山 | 电影 | 桌游 | 烧烤 --multi 2 --anon"))
    )
    assert "最多选 2 项" in sent.text.plain() and "匿名" in sent.text.plain()
    assert len(buttons) == 4
    note, _ = await press(h, "poll:1:1", "Bob")
    assert "爬山" in note
    note, _ = await press(h, "poll:1:3", "Bob")
    assert "爬山, 桌游" in note
    note, _ = await press(h, "poll:1:4", "Bob")
    assert "最多只能选 2 项" in note and "爬山, 桌游" in note
    note, _ = await press(h, "poll:1:1", "Bob")  # toggle off, then the third fits
    assert "已取消" in note
    note, _ = await press(h, "poll:1:4", "Bob")
    assert "桌游, 烧烤" in note
    await press(h, "poll:1:4", "Carol")
    assert await votes(h) == [("Bob", 3), ("Bob", 4), ("Carol", 4)]
    h.clock.advance(timedelta(seconds=6))
    _, [edit] = await press(h, "poll:1:2", "Dan")
    assert "Bob" not in edit.text.plain() and "Carol" not in edit.text.plain()
    assert "3 人已投" in edit.text.plain()
    actions = await h.send(h.message("/closepoll"))
    [results] = [a for a in actions if isinstance(a, Send)]
    summary = results.text.plain()
    assert "烧烤" in summary.split("胜出")[1] and "2 票" in summary
    assert "Bob" not in summary and "Carol" not in summary and "Dan" not in summary


async def test_who_may_start_lists_and_settings(any_harness: Harness) -> None:
    h = any_harness
    h.adapter.admins.add(("g1", "id-alice"))
    [refused] = await h.say("/pollset who_may_start planners", user="Bob")
    assert "管理员" in refused or "只有" in refused
    [bad] = await h.say("/pollset who_may_start nobody")
    assert "nobody" in bad
    [saved] = await h.say("/pollset who_may_start planners")
    assert "who_may_start" in saved
    [not_allowed] = await h.say("/poll Q | A | B", user="Bob")
    assert "策划" in not_allowed or "只有" in not_allowed
    poll_of(await h.send(h.message("/poll 第一个？| A | B")))
    poll_of(await h.send(h.message("/poll 第二个？| C | D --for 3h")))
    [listing] = await h.say("投票列表", user="Bob")
    assert "第一个？" in listing and "第二个？" in listing and "#2" in listing
    assert "2026-11-21 12:00" in listing  # community time
    h.clock.advance(timedelta(hours=3))
    await close_due_polls(h.dispatcher.tick_context())
    [listing] = await h.say("/polls")
    assert "第一个？" in listing and "第二个？" not in listing
    [shown] = await h.say("/pollset")
    assert "谁可以发起投票（who_may_start）：活动策划及以上（planners）" in shown
    assert "最多选项数（max_options）：10" in shown and " = " not in shown
    [private] = await h.say("/poll Q | A | B", private=True)
    assert "群" in private


async def test_no_votes_and_english(any_harness: Harness) -> None:
    h = any_harness
    h.adapter.admins.add(("g1", "id-alice"))
    await h.say("/persona set locale en")
    poll_of(await h.send(h.message("/poll Lunch? | Noodles | Rice --for 1h")))
    h.clock.advance(timedelta(hours=1))
    assert await close_due_polls(h.dispatcher.tick_context()) == 1
    texts = h.adapter.texts()
    assert any("Nobody voted" in t for t in texts)
    note, _ = await press(h, "poll:1:1", "Bob")
    assert "closed" in note
    note, _ = await press(h, "poll:9:1", "Bob")
    assert "button" in note


async def test_long_polls_leave_the_names_out_to_fit_one_message(db, clock) -> None:  # type: ignore[no-untyped-def]
    h = Harness(store=Store(db), settings=make_settings(polls={"max_options": 15}), clock=clock)
    options = " | ".join(f"{n:02d}" + "x" * 68 for n in range(15))
    poll_of(await h.send(h.message(f"/poll Q | {options}")))
    voters = [f"Voter{n}" + "n" * 40 for n in range(15)]
    shown = []
    for n, name in enumerate(voters):
        clock.advance(timedelta(seconds=6))  # every vote edits
        _, [edit] = await press(h, f"poll:1:{n + 1}", name)
        text = edit.text.plain()
        assert len(text) <= 1800 and f"{n + 1} 人已投" in text
        shown.append("Voter0" in text)
    assert shown[0] and not shown[-1]  # names while they fit, then left out
