"""The poll repository on SQLite and PostgreSQL: vote outcomes, the deadline, closing once,
many voters at once, and the unique (poll, member, option) backstop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from bot.clock import FakeClock
from storage import Store
from storage.polls import PollVote


async def _poll(store: Store, clock: FakeClock, *, voters: int, max_choices: int = 1):  # type: ignore[no-untyped-def]
    async with store.transaction() as s:
        community = await store.communities.ensure(
            s, platform="fake", chat_id="g", chat_type="group", title="G", now=clock.now()
        )
        members = [
            await store.members.record(
                s,
                community_id=community.id,
                platform_user_id=str(9_007_199_254_740_993 + n),
                display_name=f"M{n}",
                username=None,
                is_bot=False,
                now=clock.now(),
            )
            for n in range(voters)
        ]
        poll_id = await store.polls.create(
            s,
            community_id=community.id,
            channel_id=None,
            creator_member_id=members[0].id,
            question="Q?",
            options=["A", "B", "C"],
            max_choices=max_choices,
            anonymous=False,
            send_key="k1",
            now=clock.now(),
            closes_at=clock.now() + timedelta(hours=1),
        )
        again = await store.polls.create(
            s,
            community_id=community.id,
            channel_id=None,
            creator_member_id=members[0].id,
            question="Q?",
            options=["A", "B"],
            max_choices=1,
            anonymous=False,
            send_key="k1",
            now=clock.now(),
            closes_at=clock.now() + timedelta(hours=1),
        )
    assert poll_id is not None and again is None  # one poll per send key
    return poll_id, [member.id for member in members]


async def _vote(store: Store, poll_id: int, member_id: int, position: int, clock: FakeClock):  # type: ignore[no-untyped-def]
    async with store.transaction() as s:
        return await store.polls.vote(s, poll_id, member_id, position, clock.now())


async def test_outcomes_and_the_deadline(store: Store, clock: FakeClock) -> None:
    poll_id, [ann, bob] = await _poll(store, clock, voters=2)
    assert (await _vote(store, poll_id, ann, 1, clock)).outcome == "voted"
    assert (await _vote(store, poll_id, ann, 1, clock)).outcome == "same"
    changed = await _vote(store, poll_id, ann, 3, clock)
    assert changed.outcome == "changed" and changed.previous == (1,) and changed.chosen == (3,)
    assert (await _vote(store, poll_id, ann, 4, clock)).outcome == "unknown"
    assert (await _vote(store, 999, ann, 1, clock)).outcome == "unknown"
    clock.advance(timedelta(hours=1))
    assert (await _vote(store, poll_id, bob, 1, clock)).outcome == "closed"
    async with store.transaction() as s:
        assert await store.polls.due(s, clock.now()) == [poll_id]
    results = await asyncio.gather(
        *(_close(store, poll_id, clock) for _ in range(5)),
    )
    assert sorted(results) == [False] * 4 + [True]
    async with store.transaction() as s:
        assert await store.polls.due(s, clock.now()) == []
        poll = await store.polls.get(s, poll_id)
        assert poll is not None and poll.status == "closed"
        tally = await store.polls.tally(s, poll)
    assert [o.votes for o in tally.options] == [0, 0, 1] and tally.voters == 1
    assert [w.text for w in tally.winners] == ["C"]


async def _close(store: Store, poll_id: int, clock: FakeClock) -> bool:
    async with store.transaction() as s:
        return await store.polls.close(s, poll_id, clock.now())


async def test_many_voters_at_once_and_the_multi_limit(store: Store, clock: FakeClock) -> None:
    poll_id, members = await _poll(store, clock, voters=60, max_choices=2)
    await asyncio.gather(
        *(_vote(store, poll_id, member, n % 3 + 1, clock) for n, member in enumerate(members)),
        *(
            _vote(store, poll_id, member, (n + 1) % 3 + 1, clock)
            for n, member in enumerate(members)
        ),
    )
    limited = await _vote(store, poll_id, members[0], 3, clock)
    assert limited.outcome == "limit" and limited.chosen == (1, 2)
    async with store.transaction() as s:
        poll = await store.polls.get(s, poll_id)
        assert poll is not None
        tally = await store.polls.tally(s, poll)
    assert [o.votes for o in tally.options] == [40, 40, 40] and tally.voters == 60
    assert len(tally.winners) == 3  # a three-way tie
    assert tally.options[0].voters[0].name.startswith("M")


async def test_a_member_holds_an_option_once(store: Store, clock: FakeClock) -> None:
    poll_id, [ann] = await _poll(store, clock, voters=1)
    await _vote(store, poll_id, ann, 2, clock)
    with pytest.raises(IntegrityError):
        async with store.transaction() as s:
            await s.execute(
                PollVote.__table__.insert().values(
                    poll_id=poll_id, member_id=ann, position=2, voted_at=clock.now()
                )
            )
