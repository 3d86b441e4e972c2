"""Calls for submissions (征集) on real SQLite and PostgreSQL: submissions, the poll they
become, the reward paid once through the ledger (ties share, nobody wins: refunded)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.actions import Send
from handlers.collect import close_calls, settle_calls
from handlers.polls import close_due_polls
from storage.ledger import ISSUE, Movement, member_owner
from storage.polls import Poll
from storage.solicitations import POOL
from tests.support import PLATFORM, Harness


async def fund(h: Harness, name: str, points: int) -> None:
    await h.send(h.join(name))
    async with h.store.transaction() as s:
        community = await h.store.communities.find(s, PLATFORM, "g1")
        assert community is not None
        member = await h.store.members.find(s, community.id, h.user(name).id)
        assert member is not None
        await h.store.ledger.post(
            s,
            community_id=community.id,
            key=f"fund:{name}",
            movements=[Movement(member_owner(member.id), points)],
            reason=ISSUE,
            reference="test",
            now=h.clock.now(),
        )


async def balance(h: Harness, owner: str) -> int:
    async with h.store.transaction() as s:
        if owner != POOL:
            member = await h.store.members.find(s, 1, h.user(owner).id)
            assert member is not None
            owner = member_owner(member.id)
        return await h.store.ledger.balance(s, 1, owner)


async def books_balance(h: Harness) -> None:
    async with h.store.transaction() as s:
        assert await h.store.ledger.verify(s) == []


async def close_submissions(h: Harness) -> list[str]:
    """Past the call's deadline: the close tick runs (twice: once is all it does)."""
    h.clock.advance(timedelta(days=1, seconds=1))
    tick = h.dispatcher.tick_context()
    h.adapter.take()
    assert await close_calls(tick) == 1
    assert await close_calls(tick) == 0
    return h.adapter.texts()


async def end_vote(h: Harness) -> list[str]:
    h.clock.advance(timedelta(hours=24, seconds=1))
    tick = h.dispatcher.tick_context()
    await close_due_polls(tick)
    h.adapter.take()
    assert await settle_calls(tick) == 1
    assert await settle_calls(tick) == 0
    return h.adapter.texts()


async def test_a_call_through_to_its_paid_reward(any_harness: Harness) -> None:
    h = any_harness
    await fund(h, "Alice", 100)
    [opened] = await h.say("/collect 给吉祥物起个名字 <b> --for 1d --reward 60")
    assert "给吉祥物起个名字 <b>" in opened and "60" in opened
    assert await balance(h, "Alice") == 40 and await balance(h, POOL) == 60
    [got] = await h.say("/submit 团团", user="Bob")
    assert "团团" in got
    await h.say("投稿 圆圆", user="Carol")
    [twice] = await h.say("/submit 糖糖", user="Bob")  # a second entry: refused, nothing changed
    assert "投过稿" in twice and "团团" in twice and "--edit" in twice
    [edited] = await h.say("/submit --edit 糖糖", user="Bob")
    assert "更新" in edited
    await h.say("/submit 豆豆", user="Dan")
    texts = await close_submissions(h)
    assert any("3 份投稿" in t for t in texts)
    [late] = await h.say("/submit 晚了", user="Eve")
    assert "没有正在进行的征集" in late
    async with h.store.transaction() as s:
        poll = (await s.execute(select(Poll))).scalar_one()
        options = (await h.store.polls.get(s, poll.id)).options  # type: ignore[union-attr]
    assert options == ("糖糖", "圆圆", "豆豆")  # Bob's edited entry, in submission order
    for name, option in {"Eve": 2, "Fay": 2, "Gus": 1}.items():
        await h.send(h.press(f"poll:{poll.id}:{option}", user=name))
    [result] = await end_vote(h)
    assert "圆圆" in result and "Carol" in result and "60" in result
    assert await balance(h, "Carol") == 60 and await balance(h, POOL) == 0
    await books_balance(h)


async def test_a_tie_shares_the_reward_and_no_votes_refunds(any_harness: Harness) -> None:
    h = any_harness
    await fund(h, "Alice", 100)
    await h.say("/collect 口号 --for 1d --reward 11")
    await h.say("/submit 一起变好", user="Bob")
    await h.say("/submit 常来看看", user="Carol")
    await close_submissions(h)
    await h.send(h.press("poll:1:1", user="Dan"))
    await h.send(h.press("poll:1:2", user="Eve"))
    [result] = await end_vote(h)
    assert "Bob" in result and "Carol" in result
    assert await balance(h, "Bob") == 6 and await balance(h, "Carol") == 5  # the odd point first
    await h.say("/collect 第二个口号 --for 1d --reward 20")
    await h.say("/submit 甲", user="Bob")
    await h.say("/submit 乙", user="Carol")
    await close_submissions(h)
    [nobody] = await end_vote(h)
    assert "没有人参与" in nobody and "20" in nobody
    assert await balance(h, "Alice") == 100 - 11  # the second reward came back
    await books_balance(h)


async def test_one_entry_wins_outright_and_none_is_void(any_harness: Harness) -> None:
    h = any_harness
    await fund(h, "Alice", 100)
    await h.say("/collect 活动点子 --for 1d --reward 30")
    await h.say("/submit 野餐", user="Bob")
    [won] = await close_submissions(h)
    assert "野餐" in won and "Bob" in won and "30" in won
    assert await balance(h, "Bob") == 30
    await h.say("/collect 冷门话题 --for 1d --reward 10")
    [void] = await close_submissions(h)
    assert "没有收到投稿" in void
    assert await balance(h, "Alice") == 70
    async with h.store.transaction() as s:
        assert (await s.execute(select(Poll))).first() is None  # no vote was needed
    await books_balance(h)


async def test_bad_input_changes_nothing(any_harness: Harness) -> None:
    h = any_harness
    await fund(h, "Alice", 10)
    cases = {
        "/collect": "/collect",
        "/collect --for 1d": "/collect",
        "/collect 名字 --for 10m": "10m",
        "/collect 名字 --for 400d": "400d",
        "/collect 名字 --reward lots": "lots",
        "/collect 名字 --reward -5": "-5",
        "/collect 名字 --reward 50": "10",  # more than Alice has
        "/submit 没有征集": "没有正在进行的征集",
    }
    for command, hint in cases.items():
        [reply] = await h.say(command)
        assert hint in reply, (command, reply)
    await h.say("/collect 名字")
    [long] = await h.say("/submit " + "长" * 101, user="Bob")
    assert "100" in long
    async with h.store.transaction() as s:
        assert await h.store.solicitations.entries(s, 1) == []
    assert await balance(h, "Alice") == 10
    await books_balance(h)


async def test_two_processes_close_and_pay_once(any_harness: Harness) -> None:
    h = any_harness
    await fund(h, "Alice", 100)
    await h.say("/collect 名字 --for 1d --reward 40")
    await h.say("/submit 甲", user="Bob")
    await h.say("/submit 乙", user="Carol")
    h.clock.advance(timedelta(days=2))
    other = Harness(store=h.store, settings=h.settings, clock=h.clock)
    closed = await asyncio.gather(
        close_calls(h.dispatcher.tick_context()), close_calls(other.dispatcher.tick_context())
    )
    assert sorted(closed) == [0, 1]
    polls = [
        a for a in h.adapter.actions + other.adapter.actions if isinstance(a, Send) and a.buttons
    ]
    assert len(polls) == 1
    # The poll's id is whichever the winner got: on PostgreSQL the loser's rolled-back insert
    # may have used id 1 (a sequence is not rolled back), so the vote takes the button's data.
    [for_carol] = [b.data for row in polls[0].buttons for b in row if "乙" in b.label]
    await h.send(h.press(for_carol, user="Dan"))
    h.clock.advance(timedelta(days=2))
    await close_due_polls(h.dispatcher.tick_context())
    settled = await asyncio.gather(
        settle_calls(h.dispatcher.tick_context()), settle_calls(other.dispatcher.tick_context())
    )
    assert sorted(settled) == [0, 1]
    assert await balance(h, "Carol") == 40
    await books_balance(h)


async def test_the_vote_s_end_is_one_message_with_the_winner_and_the_reward(
    any_harness: Harness,
) -> None:
    h = any_harness
    await fund(h, "Alice", 100)
    await h.say("/collect 口号 --for 1d --reward 10")
    await h.say("/submit 一起变好", user="Bob")
    await h.say("/submit 常来看看", user="Carol")
    await close_submissions(h)
    await h.send(h.press("poll:1:2", user="Dan"))
    h.clock.advance(timedelta(hours=24, seconds=1))
    tick = h.dispatcher.tick_context()
    h.adapter.take()
    assert await close_due_polls(tick) == 1
    assert not [a for a in h.adapter.take() if isinstance(a, Send)]  # the poll is only edited
    assert await settle_calls(tick) == 1
    [result] = h.adapter.texts()
    assert "常来看看" in result and "Carol" in result and "1 票" in result and "10" in result
