"""Introductions (自我介绍) and the topic of the day: a newcomer's first introduction is thanked
once with a badge and optional points and linked from /me; topics count participation once
per member, pay the first N once under concurrency, and refuse bad input changing nothing.
On SQLite and PostgreSQL (``any_harness``)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from bot.actions import Notify
from handlers.intro import looks_like_intro
from handlers.topics import find_hashtag, parse_topic
from storage import Store
from storage.checkins import Badge
from storage.intro import IntroductionRow, IntroRepo, TopicParticipantRow, TopicRow
from storage.members import Member
from storage.points import PointsReason
from tests.support import FakeAdapter, Harness, make_settings

LONG = "Hi all, I'm Bob, a gardener from Lyon who loves tomatoes."


def english(base: Harness, **sections: dict) -> Harness:  # type: ignore[type-arg]
    """A bot speaking English over ``base``'s database, where Alice administers the groups."""
    h = Harness(
        store=Store(base.store.db),
        settings=make_settings(persona={"locale": "en"}, **sections),
        clock=base.clock,
        adapter=FakeAdapter(),
    )
    h.adapter.admins |= {(chat, "id-alice") for chat in ("g1", "g2")}
    return h


async def counts(h: Harness) -> tuple[int, int, int]:
    """Introductions, ``intro`` badges, topics."""
    async with h.store.transaction() as s:
        intros = (await s.execute(select(func.count()).select_from(IntroductionRow))).scalar_one()
        badges = (await s.execute(select(func.count()).where(Badge.badge == "intro"))).scalar_one()
        topics = (await s.execute(select(func.count()).select_from(TopicRow))).scalar_one()
    return int(intros), int(badges), int(topics)


async def balance(h: Harness, user: str) -> int:
    async with h.store.transaction() as s:
        member_id = (
            await s.execute(
                select(Member.id).where(Member.platform_user_id == f"id-{user.lower()}")
            )
        ).scalar_one()
        community_id = (
            await s.execute(select(Member.community_id).where(Member.id == member_id))
        ).scalar_one()
        return await h.store.points.balance(s, community_id, member_id)


def test_what_reads_as_an_introduction() -> None:
    assert looks_like_intro(LONG, 30)
    assert not looks_like_intro("hi!", 30)
    # Links say nothing about who shares them: a long link alone is no introduction.
    assert not looks_like_intro("周末的照片发群里啦 https://example.com/photos/2026/11/22", 30)
    assert looks_like_intro("周末的照片发群里啦 https://example.com/photos " + LONG, 30)
    assert looks_like_intro("hi ＃自我介绍", 30)
    assert looks_like_intro("#INTRO hey", 30)
    assert not looks_like_intro("\u200b" * 100, 30)  # invisible characters fill nothing


async def test_a_newcomers_first_introduction_is_thanked_once(any_harness: Harness) -> None:
    h = english(any_harness, intro={"points": 10})
    await h.send(h.join("Bob"))
    assert await h.say("hi", user="Bob") == []  # too short: not an introduction
    [thanks] = await h.say(LONG, user="Bob")
    assert "Bob" in thanks and "10 points" in thanks
    assert await h.say(LONG + " again", user="Bob") == []  # once
    assert await counts(h) == (1, 1, 0)
    assert await balance(h, "Bob") == 10
    [me] = await h.say("/me", user="Bob")
    assert "introduced yourself" in me  # no message link on the fake platform: the day
    [points] = await h.say("/points", user="Bob")
    assert "Introduced" in points


async def test_old_members_and_late_newcomers_are_not_asked(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.say("hello", user="Carol")  # never joined through a join event: an old member
    assert await h.say(LONG, user="Carol") == []
    await h.send(h.join("Dan"))
    h.clock.advance(timedelta(days=8))
    assert await h.say(LONG, user="Dan") == []
    assert await counts(h) == (0, 0, 0)


async def test_a_restart_reloads_the_pending_newcomers(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.send(h.join("Bob"))
    await h.send(h.join("Eve"))
    restarted = english(any_harness)  # a new process: nothing in memory
    [thanks] = await restarted.say("#自我介绍 hi", user="Eve", key="after-restart")
    assert "Eve" in thanks
    async with restarted.store.transaction() as s:
        community_id = (await s.execute(select(Member.community_id).limit(1))).scalar_one()
        left = await IntroRepo(restarted.store.db).not_introduced(
            s, community_id, restarted.clock.now() - timedelta(days=7), 10
        )
    assert [j.name for j in left] == ["Bob"]


async def test_introduction_points_are_paid_once_under_concurrency(any_harness: Harness) -> None:
    h = english(any_harness, intro={"points": 7})
    await h.send(h.join("Bob"))
    async with h.store.transaction() as s:
        member_id, community_id = (
            await s.execute(
                select(Member.id, Member.community_id).where(Member.platform_user_id == "id-bob")
            )
        ).one()

    async def award() -> bool:
        async with h.store.transaction() as s:
            return await h.store.points.award(
                s,
                community_id=community_id,
                member_id=member_id,
                amount=7,
                why=PointsReason.introduction(community_id, member_id),
                now=h.clock.now(),
            )

    results = await asyncio.gather(*(award() for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    assert await balance(h, "Bob") == 7


def test_topic_parsing_and_hashtags() -> None:
    assert parse_topic("What did you learn? #weekly") == ("What did you learn?", "weekly")
    assert parse_topic("说说你的爱好 ＃本周话题") == ("说说你的爱好", "本周话题")
    assert parse_topic("") == "usage"
    assert parse_topic("no tag here") == "no_hashtag"
    assert parse_topic("bad #tag!") == "bad_hashtag"
    assert parse_topic("#weekly") == "empty_text"
    assert parse_topic("x" * 201 + " #weekly") == "too_long"
    assert find_hashtag("love it #Weekly!", "weekly")
    assert not find_hashtag("#weekly2 only", "weekly")
    assert find_hashtag("#weekly2 and ＃weekly", "weekly")


async def test_bad_topics_change_nothing(any_harness: Harness) -> None:
    h = english(any_harness)
    for text, expected in [
        ("/topic set", "Write /topic to see"),
        ("/topic set no hashtag", "End the topic with its hashtag"),
        ("/topic set bad <b>x</b> #<b>", "A hashtag is #"),
        ("/topic set #weekly", "The topic is empty"),
        ("/topic set " + "x" * 201 + " #weekly", "at most 200 characters"),
        ("/topic nonsense", "Write /topic to see"),
    ]:
        [answer] = await h.say(text)
        assert expected in answer, (text, answer)
    [refused] = await h.say("/topic set Hi #weekly", user="Bob")
    assert "Hi" not in refused
    assert await counts(h) == (0, 0, 0)


async def test_a_topic_counts_each_member_once_and_pays_the_first_n(any_harness: Harness) -> None:
    h = english(any_harness, topics={"points_first_n": 2, "points": 3})
    [posted] = await h.say("/topic set What did you learn this week? <b>x</b> #weekly")
    assert "What did you learn this week? <b>x</b>" in posted and "#weekly" in posted
    [none] = await h.say("/topic", user="Bob")
    assert "0 members have" in none
    [paid] = await h.say("I learned to cook #weekly", user="Bob")
    assert "3 points" in paid
    assert await h.say("and bake #WEEKLY", user="Bob") == []  # counted once
    assert await h.say("#weekly2 is another tag", user="Carol") == []
    await h.say("me too #weekly", user="Carol")
    assert await h.say("late #weekly", user="Dan") == []  # third: counted, no points
    [today] = await h.say("/topic", user="Bob")
    assert "3 members have" in today
    assert [await balance(h, u) for u in ("Bob", "Carol", "Dan")] == [3, 3, 0]
    [listed] = await h.say("/topics", user="Dan")
    assert "(#weekly): 3 members" in listed
    h.clock.advance(timedelta(days=1))
    [tomorrow] = await h.say("/topic", user="Bob")
    assert "no topic today" in tomorrow
    assert await h.say("still #weekly", user="Eve") == []
    async with h.store.transaction() as s:
        rows = (await s.execute(select(func.count()).select_from(TopicParticipantRow))).scalar_one()
    assert rows == 3


async def test_topic_points_go_to_the_first_n_once_under_concurrency(any_harness: Harness) -> None:
    h = english(any_harness, topics={"points_first_n": 3, "points": 2})
    await h.say("/topic set Favourite book? #books")
    users = [f"U{n}" for n in range(8)]
    for user in users:
        await h.say("hello", user=user)  # make the members
    await asyncio.gather(*(h.dispatcher.handle(h.message("#books yes", user=u)) for u in users))
    paid = [await balance(h, u) for u in users]
    assert sorted(paid) == [0] * 5 + [2] * 3
    async with h.store.transaction() as s:
        positions = (
            (
                await s.execute(
                    select(TopicParticipantRow.position).order_by(TopicParticipantRow.position)
                )
            )
            .scalars()
            .all()
        )
    assert list(positions) == list(range(1, 9))


async def test_the_digest_names_newcomers_who_have_not_introduced(any_harness: Harness) -> None:
    h = english(any_harness)
    for name in ("Bob", "Eve", "Dan"):
        await h.send(h.join(name))
    await h.say("#intro Eve here", user="Eve")
    await h.say("/stats optout", user="Dan")
    actions = await h.send(h.message("/digest now", user="Alice"))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    text = notice.text.plain()
    assert "2 newcomers have not introduced themselves yet: Bob" in text
    assert "Dan" not in text and "Eve" not in text  # opted out: counted, not named
    await h.say("#自我介绍 Bob", user="Bob")
    actions = await h.send(h.message("/digest now", user="Alice"))
    [notice] = [a for a in actions if isinstance(a, Notify)]
    assert "1 newcomer has not introduced themselves yet." in notice.text.plain()
