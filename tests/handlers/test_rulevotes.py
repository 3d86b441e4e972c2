"""Rules adopted by vote, on real SQLite and PostgreSQL: adoption with quorum and threshold,
rejection without, a veto, each decided once with a fake clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.actions import Edit, Reply, Send
from handlers.polls import close_due_polls
from handlers.rulevotes import decide_proposals
from storage import Store
from storage.audit import AuditEntry
from storage.polls import Poll
from tests.support import Harness, make_settings

VOTE = make_settings(rule_votes={"quorum": 3, "threshold_percent": 67, "hours": 24})


async def propose(h: Harness, text: str = "不发广告 <b>", user: str = "Alice") -> str:
    """Propose a rule; the prefix of its poll's buttons."""
    actions = await h.send(h.message(f"/proposerule {text}", user=user))
    [poll] = [a for a in actions if isinstance(a, Send) and a.buttons]
    [yes, no] = [button for row in poll.buttons for button in row]
    assert "赞成" in yes.label and "反对" in no.label
    return yes.data.rsplit(":", 1)[0]


async def vote(h: Harness, prefix: str, ballots: dict[str, int]) -> None:
    for name, option in ballots.items():
        await h.send(h.press(f"{prefix}:{option}", user=name))


async def end_vote(h: Harness) -> list[str]:
    """Move past the deadline, let the polls close and the proposals be decided."""
    h.clock.advance(timedelta(hours=24, seconds=1))
    tick = h.dispatcher.tick_context()
    await close_due_polls(tick)
    h.adapter.take()
    assert await decide_proposals(tick) == 1
    assert await decide_proposals(tick) == 0  # decided once
    return h.adapter.texts()


async def test_adopted_with_quorum_and_threshold(db, clock) -> None:  # type: ignore[no-untyped-def]
    h = Harness(store=Store(db), settings=VOTE, clock=clock)
    prefix = await propose(h)
    await vote(h, prefix, {"Bob": 1, "Carol": 1, "Dan": 1, "Eve": 2})  # 75% of 4
    [announcement] = await end_vote(h)
    assert "不发广告 <b>" in announcement and "75%" in announcement and "第 1 条" in announcement
    [rules] = await h.say("/rules")
    assert "不发广告 <b>" in rules
    async with h.store.transaction() as s:
        actions = set((await s.execute(select(AuditEntry.action))).scalars())
    assert {"rule.propose", "rule.adopted"} <= actions


async def test_adoption_keeps_the_configured_rules(db, clock) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        rule_votes={"quorum": 1, "threshold_percent": 50, "hours": 24},
        community={"rules": ["友善交流"]},
    )
    h = Harness(store=Store(db), settings=settings, clock=clock)
    prefix = await propose(h, "周末晒图")
    await vote(h, prefix, {"Bob": 1})
    [announcement] = await end_vote(h)
    assert "第 2 条" in announcement
    [rules] = await h.say("/rules")
    assert "友善交流" in rules and "周末晒图" in rules


async def test_rejected_without_quorum_or_below_threshold(any_harness: Harness) -> None:
    h = Harness(store=any_harness.store, settings=VOTE, clock=any_harness.clock)
    prefix = await propose(h, "A")
    await vote(h, prefix, {"Bob": 1, "Carol": 1})  # 2 voters < quorum 3
    [quorum] = await end_vote(h)
    assert "2 人投票" in quorum and "不足 3 人" in quorum
    prefix = await propose(h, "B")
    await vote(h, prefix, {"Bob": 1, "Carol": 1, "Dan": 2})  # 67% rounds, but 2/3 < 67%
    [threshold] = await end_vote(h)
    assert "未达到 67%" in threshold
    async with h.store.transaction() as s:
        assert await h.store.rules.list(s, 1) == []  # nothing adopted


async def test_a_veto_ends_the_vote_with_its_reason(any_harness: Harness) -> None:
    h = Harness(store=any_harness.store, settings=VOTE, clock=any_harness.clock)
    h.adapter.admins.add(("g1", "id-alice"))
    prefix = await propose(h, "每天发红包", user="Bob")
    await vote(h, prefix, {"Bob": 1, "Carol": 1, "Dan": 1})
    [refused] = await h.say("/veto 1 不合适", user="Carol")
    assert "管理员" in refused
    said = await h.say("/veto 1 会给新人压力")
    assert any("会给新人压力" in t and "否决" in t for t in said)
    async with h.store.transaction() as s:
        poll = (await s.execute(select(Poll))).scalar_one()
    assert poll.status == "closed"
    [again] = await h.say("/veto 1 再来")
    assert "已经有结果" in again
    h.clock.advance(timedelta(days=2))
    tick = h.dispatcher.tick_context()
    await close_due_polls(tick)
    assert await decide_proposals(tick) == 0
    [rules] = await h.say("/rules")
    assert "每天发红包" not in rules


async def test_two_processes_decide_once(db, clock) -> None:  # type: ignore[no-untyped-def]
    h = Harness(store=Store(db), settings=VOTE, clock=clock)
    prefix = await propose(h)
    await vote(h, prefix, {"Bob": 1, "Carol": 1, "Dan": 1})
    h.clock.advance(timedelta(hours=25))
    other = Harness(store=Store(db), settings=VOTE, clock=clock)
    await close_due_polls(h.dispatcher.tick_context())
    results = await asyncio.gather(
        decide_proposals(h.dispatcher.tick_context()),
        decide_proposals(other.dispatcher.tick_context()),
    )
    assert sorted(results) == [0, 1]
    async with h.store.transaction() as s:
        rules = await h.store.rules.list(s, 1)
    assert rules.count("不发广告 <b>") == 1


async def test_the_end_of_a_vote_is_one_message_with_the_count_and_the_decision(
    any_harness: Harness,
) -> None:
    h = Harness(store=any_harness.store, settings=VOTE, clock=any_harness.clock)
    prefix = await propose(h)
    await vote(h, prefix, {"Bob": 1, "Carol": 1, "Dan": 1, "Eve": 2})
    h.clock.advance(timedelta(hours=24, seconds=1))
    tick = h.dispatcher.tick_context()
    h.adapter.take()
    assert await close_due_polls(tick) == 1
    closing = h.adapter.take()
    assert closing and all(isinstance(a, Edit) for a in closing)  # the poll shows its count
    assert await decide_proposals(tick) == 1
    [decision] = h.adapter.texts()
    assert "#1" in decision and "4 人投票" in decision and "3 人赞成" in decision
    assert "75%" in decision and "第 1 条" in decision


async def test_a_proposal_has_one_number_its_poll_s(any_harness: Harness) -> None:
    h = Harness(store=any_harness.store, settings=VOTE, clock=any_harness.clock)
    h.adapter.admins.add(("g1", "id-alice"))
    await h.say("/poll 午饭？| 面条 | 米饭")  # poll #1: proposal 1 gets poll #2
    actions = await h.send(h.message("/proposerule 每天发红包", user="Bob"))
    [opened] = [a.text.plain() for a in actions if isinstance(a, Reply)]
    [poll] = [a.text.plain() for a in actions if isinstance(a, Send) and a.buttons]
    assert "群规提议 #2" in opened and "投票 #2" in poll
    [not_a_proposal] = await h.say("/veto 1 不合适")
    assert "#1" in not_a_proposal and "没有" in not_a_proposal
    [early] = await h.say("/closepoll 2", user="Bob")  # the proposer cannot end the vote early
    assert "#2" in early and "/veto" in early
    said = await h.say("/veto #2 会给新人压力")
    assert any("群规提议 #2" in t and "否决" in t and "会给新人压力" in t for t in said)
    [again] = await h.say("/veto 2 再来")
    assert "#2" in again and "已经有结果" in again
    [bad] = await h.say("/veto 第二 再来")
    assert "/veto" in bad


async def test_no_veto_once_the_vote_is_over(any_harness: Harness) -> None:
    h = Harness(store=any_harness.store, settings=VOTE, clock=any_harness.clock)
    h.adapter.admins.add(("g1", "id-alice"))
    prefix = await propose(h, "周末晒图", user="Bob")
    await vote(h, prefix, {"Bob": 1, "Carol": 1, "Dan": 1})
    h.clock.advance(timedelta(hours=24, seconds=1))  # the deadline passed; no tick ran yet
    [late] = await h.say("/veto 1 来不及了")
    assert "已经有结果" in late
    tick = h.dispatcher.tick_context()
    await close_due_polls(tick)
    assert await decide_proposals(tick) == 1
    [rules] = await h.say("/rules")
    assert "周末晒图" in rules  # the members' decision stands
