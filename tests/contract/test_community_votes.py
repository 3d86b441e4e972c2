"""Rules adopted by vote and a call for submissions, the same on Telegram and Discord: votes
by button, the decision and the paid reward announced to the group. The app runs on the real
clock, so deadlines are moved in the database and the ticks are run by hand."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from handlers.collect import close_calls, settle_calls
from handlers.polls import close_due_polls
from handlers.rulevotes import decide_proposals
from storage.polls import Poll
from storage.solicitations import Solicitation
from tests.contract.drivers import Driver as Platform
from tests.contract.drivers import Person

ANN = Person(1, "Ann", "ann")  # a group admin
BOB = Person(2, "Bob", "bob")
CAROL = Person(3, "Carol", "carol")


async def _due(app, model) -> None:  # type: ignore[no-untyped-def]
    """Move every open deadline of ``model`` into the past."""
    column = model.closes_at
    async with app.store.transaction() as session:
        await session.execute(
            update(model).values({column: app.clock.now() - timedelta(seconds=1)})
        )


async def test_a_rule_adopted_by_vote_and_another_vetoed(platform: Platform) -> None:
    app = await platform.start(members=(ANN, BOB, CAROL), admins=(ANN,), rule_votes={"quorum": 2})
    proposed = await platform.say(BOB, "/proposerule 晒图请配文字 <b>")
    assert any("群规提议 #1" in t for t in proposed.texts)  # its poll's number
    [(message_id, yes), (_, _no)] = proposed.buttons
    for who in (BOB, CAROL):
        voted = await platform.press(who, yes, message_id)
        assert "赞成" in voted.notes[0]
    await _due(app, Poll)
    tick = app.dispatcher.tick_context()
    closed = await platform.scheduled(lambda: close_due_polls(tick))
    assert closed.edits and not closed.texts  # the count is in the poll; one message follows
    decided = await platform.scheduled(lambda: decide_proposals(tick))
    [adopted] = decided.texts
    assert "晒图请配文字 <b>" in adopted and "第 1 条" in adopted and "2 人投票" in adopted
    [rules] = (await platform.say(CAROL, "/rules")).texts
    assert "晒图请配文字 <b>" in rules

    second = await platform.say(CAROL, "/proposerule 每天发红包")
    assert any("群规提议 #2" in t for t in second.texts)
    [refused] = (await platform.say(BOB, "/veto 2 不合适")).texts
    assert "管理员" in refused
    vetoed = await platform.say(ANN, "/veto #2 会给新人压力")
    assert any("否决" in t and "会给新人压力" in t for t in vetoed.texts)
    assert not (await platform.scheduled(lambda: decide_proposals(tick))).texts


async def test_a_call_for_submissions_pays_its_winner(platform: Platform) -> None:
    app = await platform.start(members=(ANN, BOB, CAROL), admins=(ANN,))
    await platform.say(BOB, "大家好")
    await platform.say(ANN, "/give @bob 50")
    [opened] = (await platform.say(BOB, "/collect 吉祥物名字 --for 1d --reward 20")).texts
    assert "吉祥物名字" in opened and "20" in opened
    await platform.say(CAROL, "/submit 团团")
    await platform.say(ANN, "投稿 圆圆")
    await _due(app, Solicitation)
    tick = app.dispatcher.tick_context()
    voting = await platform.scheduled(lambda: close_calls(tick))
    assert any("2 份投稿" in t for t in voting.texts)
    [(message_id, first), _second] = voting.buttons
    await platform.press(BOB, first, message_id)
    await platform.press(ANN, first, message_id)
    await _due(app, Poll)
    assert not (await platform.scheduled(lambda: close_due_polls(tick))).texts
    settled = await platform.scheduled(lambda: settle_calls(tick))
    [result] = settled.texts
    assert "团团" in result and "Carol" in result and "20" in result
    assert platform.user_id(CAROL) in settled.pinged[0]
    [points] = (await platform.say(CAROL, "积分")).texts
    assert "20" in points
    async with app.store.transaction() as session:
        assert await app.store.ledger.verify(session) == []
