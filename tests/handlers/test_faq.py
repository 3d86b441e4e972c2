"""``/faq``: moderators and experts keep the entries, anyone lists and searches them; every bad
line is refused with what was expected and changes nothing. The search index per community is
rebuilt when an entry changes. On SQLite and PostgreSQL (``any_harness``)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from handlers import faq as faq_feature
from handlers.faq import find_faq
from storage import Store
from storage.faq import ANSWER_LEN, QUESTION_LEN, FaqEntry, FaqEntryRow
from tests.support import FakeAdapter, Harness, make_settings


def english(base: Harness, **sections: dict) -> Harness:  # type: ignore[type-arg]
    """A bot speaking English over ``base``'s database, where Alice administers the groups."""
    h = Harness(
        store=Store(base.store.db),
        settings=make_settings(persona={"locale": "en"}, **sections),
        clock=base.clock,
        adapter=FakeAdapter(),
    )
    admin(h)
    return h


def admin(h: Harness) -> Harness:
    h.adapter.admins |= {(chat, "id-alice") for chat in ("g1", "g2", "g3")}
    return h


async def rows(h: Harness) -> list[tuple[int, str, str, bool]]:
    """Every stored entry: (number, question, answer, removed)."""
    async with h.store.transaction() as s:
        found = await s.execute(
            select(
                FaqEntryRow.number,
                FaqEntryRow.question,
                FaqEntryRow.answer,
                FaqEntryRow.removed_at,
            ).order_by(FaqEntryRow.community_id, FaqEntryRow.number)
        )
        return [(n, q, a, r is not None) for n, q, a, r in found.all()]


async def test_an_expert_adds_edits_and_removes_and_anyone_reads(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.say("hello", user="Ann")
    await h.say("/role grant @Ann expert")
    [added] = await h.say("/faq add How do I check in? | Send 签到 once a day.", user="Ann")
    assert added.startswith("FAQ entry 1 added") or "number 1" in added
    await h.say("/faq add 积分有什么用？ | 积分可以兑换周边和抽奖券。", user="Ann")
    [listed] = await h.say("/faq", user="Bob")
    assert "2 entries" in listed
    assert "1. How do I check in?" in listed and "2. 积分有什么用？" in listed
    [one] = await h.say("/faq 2", user="Bob")
    assert "积分可以兑换周边和抽奖券。" in one
    [found] = await h.say("/faq checking in", user="Bob")
    assert found.startswith("❓ 1. How do I check in?")
    [edited] = await h.say("/faq edit 2 | 积分可以兑换周边、抽奖券和头衔。", user="Ann")
    assert edited == "FAQ entry 2 updated: 积分有什么用？"
    [found] = await h.say("常见问题 头衔", user="Bob")
    assert found.startswith("❓ 2. 积分有什么用？")
    [removed] = await h.say("/faq remove 1", user="Ann")
    assert removed == "FAQ entry 1 removed: How do I check in?"
    [gone] = await h.say("/faq check in", user="Bob")
    assert "couldn't find" in gone or "Nothing in the FAQ" in gone or "No FAQ entry" in gone
    assert await rows(h) == [
        (1, "How do I check in?", "Send 签到 once a day.", True),
        (2, "积分有什么用？", "积分可以兑换周边、抽奖券和头衔。", False),
    ]


async def test_a_member_may_search_but_not_change(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.say("/faq add Q one | A one")
    before = await rows(h)
    for line in ("/faq add Q | A", "/faq edit 1 Q | B", "/faq remove 1"):
        [refused] = await h.say(line, user="Bob")
        assert "only" in refused.lower() and "expert" in refused.lower()
    assert await rows(h) == before


async def test_bad_lines_say_what_is_expected_and_change_nothing(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.say("/faq add Q one | A one")
    before = await rows(h)
    cases = {
        "/faq add no bar here": "Put a bar between the question and the answer",
        "/faq add  | an answer": "The question is empty",
        "/faq add \u200b | an answer": "The question is empty",
        "/faq add a question |  ": "The answer is empty",
        f"/faq add {'q' * (QUESTION_LEN + 1)} | a": f"at most {QUESTION_LEN} characters",
        f"/faq add q | {'a' * (ANSWER_LEN + 1)}": f"at most {ANSWER_LEN} characters",
        "/faq edit x Q | A": "Write the entry's number",
        "/faq edit 1 no bar": "Write the entry's number",
        "/faq edit 9 Q | A": "There is no FAQ entry 9",
        "/faq edit 1 Q | ": "The answer is empty",
        "/faq remove": "Write the number of the entry to remove",
        "/faq remove one": "Write the number of the entry to remove",
        "/faq remove 99999999999999999999": "Write the number of the entry to remove",
        "/faq remove 7": "There is no FAQ entry 7",
        "/faq 7": "There is no FAQ entry 7",
        "/faq page x": "isn't a page number",
        "/faq page 3": "There is no page 3: the FAQ has 1 page.",
    }
    for line, expected in cases.items():
        [answer] = await h.say(line)
        assert expected in answer, (line, answer)
    assert await rows(h) == before


async def test_a_full_faq_refuses_another_entry(any_harness: Harness) -> None:
    h = english(any_harness, faq={"most_entries": 2})
    await h.say("/faq add Q1 | A1")
    await h.say("/faq add Q2 | A2")
    [full] = await h.say("/faq add Q3 | A3")
    assert full.startswith("The FAQ already holds 2 entries, the most allowed.")
    assert [n for n, *_ in await rows(h)] == [1, 2]


async def test_the_list_is_paged(any_harness: Harness) -> None:
    h = english(any_harness, faq={"page_size": 3})
    for n in range(1, 8):
        await h.say(f"/faq add Question {n} | Answer {n}")
    [first] = await h.say("/faq")
    assert "7 entries, page 1 of 3" in first and "/faq page 2" in first
    assert "3. Question 3" in first and "4. Question 4" not in first
    [last] = await h.say("/faq page 3")
    assert "7. Question 7" in last and "/faq page 4" not in last


async def test_the_index_follows_changes_made_by_another_bot(any_harness: Harness) -> None:
    """Two bots over one database: an entry added by one is found by the other (the version
    check), and a removed one is no longer offered."""
    h = english(any_harness)
    other = english(any_harness)
    await h.say("/faq add How do red packets work? | Grab one with the button.")
    [community] = {c for c in await _communities(h)}
    assert [e.number for e in await find_faq(other.store, community, "red packet")] == [1]
    await h.say("/faq add How do I send a red packet? | /redpacket TOTAL COUNT")
    found = await find_faq(other.store, community, "send a red packet")
    assert [e.number for e in found] == [2, 1]
    await h.say("/faq remove 2")
    assert [e.number for e in await find_faq(other.store, community, "send a red packet")] == [1]
    assert await find_faq(other.store, community, "") == []
    assert await find_faq(other.store, community + 1000, "red packet") == []


async def test_concurrent_searches_and_adds_agree(any_harness: Harness) -> None:
    h = english(any_harness)
    await h.say("/faq add warmup | entry")
    [community] = await _communities(h)

    async def add(n: int) -> FaqEntry:
        async with h.store.transaction() as s:
            return await h.store.faq.add(s, community, f"topic{n} question", f"a{n}", None)

    added = await asyncio.gather(*(add(n) for n in range(10)))
    results = await asyncio.gather(*(find_faq(h.store, community, f"topic{n}") for n in range(10)))
    assert sorted(e.number for e in added) == list(range(2, 12))
    assert all(len(r) == 1 and r[0].question == f"topic{n} question" for n, r in enumerate(results))


async def test_the_cache_is_bounded(any_harness: Harness, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(faq_feature, "CACHED_COMMUNITIES", 2)
    faq_feature._INDEXES.pop(any_harness.store.db, None)
    h = english(any_harness)
    for chat in ("g1", "g2", "g3"):
        await h.say("/faq add Q | A", chat=chat)
        await h.say("/faq q", chat=chat)
    assert len(faq_feature._indexes(h.store.db)) == 2
    [found] = await h.say("/faq q", chat="g1")  # dropped, rebuilt
    assert found.startswith("❓ 1. Q")


async def test_chinese_lines_work_with_full_width_bars(any_harness: Harness) -> None:
    h = admin(any_harness)
    [added] = await h.say("/faq 添加 怎么签到？｜发「签到」就行")
    assert "1" in added
    [found] = await h.say("常见问题 打卡")
    assert found.startswith("❓ 1. 怎么签到？")
    [none] = await h.say("/faq 天气")
    assert "/ask" in none


async def _communities(h: Harness) -> list[int]:
    async with h.store.transaction() as s:
        found = await s.execute(select(func.distinct(FaqEntryRow.community_id)))
        return [int(c) for c in found.scalars()]
