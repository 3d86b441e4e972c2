"""The capture's write path (``InsightRepo.add``, ``add_up``) on SQLite and PostgreSQL: rows
that change different counters, a row of zeros, the same key twice in one batch and two
batches all add up to what was counted; PostgreSQL leaves room for in-place updates."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from storage import Database, Store
from storage.insight_reports import HourCount, InsightHour, InsightReports
from storage.insight_tally import LOOP_ROWS, write_on_loop, write_plain
from storage.insights import (
    COUNTERS,
    FILLFACTOR,
    InsightMemberDay,
    InsightMovement,
    InsightRepo,
    MemberDay,
    Movement,
    _shapes,
)

NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)
DAY = date(2026, 11, 27)


def counts(**named: int) -> tuple[int, ...]:
    return tuple(named.get(name, 0) for name in COUNTERS)


async def test_batches_of_different_shapes_add_up(store: Store) -> None:
    cid, ids = await community_of(store, 4)
    batches = [
        [
            MemberDay(cid, ids[0], DAY, counts(messages=3)),
            MemberDay(cid, ids[1], DAY, counts(messages=1, links=1, feedback=2)),
            MemberDay(cid, ids[2], DAY, counts()),  # a row of zeros still makes the row
            MemberDay(cid, ids[0], DAY, counts(replies_given=1)),  # the same key again
        ],
        [
            MemberDay(cid, ids[0], DAY, counts(messages=2, reactions_received=5)),
            MemberDay(cid, ids[3], DAY, counts(answers=1)),
            MemberDay(cid, ids[1], DAY, counts(feedback=1)),
        ],
    ]
    repo = InsightRepo(store.db)
    for batch in batches:
        async with store.transaction() as s:
            await repo.add(s, batch, [])
            await InsightReports(store.db).add_hours(
                s, [HourCount(cid, DAY, 9, len(batch)), HourCount(cid, DAY, 10, 1)]
            )
    expected: dict[int, list[int]] = {}
    for batch in batches:
        for row in batch:
            into = expected.setdefault(row.member_id, [0] * len(COUNTERS))
            for position, value in enumerate(row.counts):
                into[position] += value
    columns = [getattr(InsightMemberDay, name) for name in COUNTERS]
    async with store.transaction() as s:
        rows = (
            await s.execute(
                select(InsightMemberDay.member_id, *columns).where(InsightMemberDay.day == DAY)
            )
        ).all()
        hours = (await s.execute(select(InsightHour.hour, InsightHour.messages))).all()
    assert {row[0]: list(row[1:]) for row in rows} == expected
    assert sorted(hours) == [(9, 7), (10, 2)]


async def test_postgresql_leaves_room_for_updates_in_place(store: Store) -> None:
    if store.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no fillfactor")
    async with store.transaction() as s:
        options = dict(
            (
                await s.execute(
                    text(
                        "SELECT relname, reloptions FROM pg_class WHERE relname IN "
                        "('insight_member_days', 'insight_hours', 'insight_movements') "
                        "AND relnamespace = to_regnamespace(current_schema())::oid"
                    )
                )
            ).all()
        )
    room = [f"fillfactor={FILLFACTOR}"]
    assert options == {
        "insight_member_days": room,
        "insight_hours": room,
        "insight_movements": room,
    }


async def community_of(store: Store, members: int) -> tuple[int, list[int]]:
    """A community and its first ``members`` members' ids."""
    async with store.transaction() as s:
        community = await store.communities.ensure(
            s, platform="fake", chat_id="c", chat_type="group", title="C", now=NOW
        )
        ids = []
        for n in range(members):
            member = await store.members.record(
                s,
                community_id=community.id,
                platform_user_id=f"u{n}",
                display_name=f"U{n}",
                username=None,
                is_bot=False,
                now=NOW,
            )
            ids.append(member.id)
    return community.id, ids


def a_flush(
    cid: int, ids: list[int]
) -> tuple[list[tuple[object, ...]], list[Movement], list[HourCount]]:
    """A flush's rows: two members' days (one key twice), a join, an hour slot twice."""
    days = [
        (ids[0], DAY, cid, *counts(messages=3)),
        (ids[1], DAY, cid, *counts(messages=1, links=1, feedback=2)),
        (ids[0], DAY, cid, *counts(replies_given=1)),  # the same key again
    ]
    moves = [Movement(cid, DAY, "join", "link", "summer", 2)]
    hours = [HourCount(cid, DAY, 9, 4), HourCount(cid, DAY, 9, 1)]
    return days, moves, hours


async def written(
    store: Store,
) -> tuple[dict[int, list[int]], list[tuple[int, int]], list[tuple[str, int]]]:
    """Member days' counters by member, hour slots, joins by link, as stored."""
    columns = [getattr(InsightMemberDay, name) for name in COUNTERS]
    async with store.transaction() as s:
        rows = (await s.execute(select(InsightMemberDay.member_id, *columns))).all()
        hours = (await s.execute(select(InsightHour.hour, InsightHour.messages))).all()
        joins = (await s.execute(select(InsightMovement.link, InsightMovement.n))).all()
    return (
        {row[0]: list(row[1:]) for row in rows},
        [(h, n) for h, n in hours],
        [(link, n) for link, n in joins],
    )


async def test_sqlite_flushes_on_the_loop_as_through_a_session(sqlite_db: Database) -> None:
    """``write_on_loop`` (the event loop's own connection, one call) adds up exactly what
    ``add_rows`` and ``add_hours`` add up; it gives way (``False``, nothing written) while
    another writer holds the lock, and a row of a deleted member rolls the whole flush back
    as an ``IntegrityError`` (the flush then drops it rather than block every later one)."""
    store = Store(sqlite_db)
    cid, ids = await community_of(store, 3)
    days, moves, hours = a_flush(cid, ids)
    assert write_on_loop(sqlite_db, days, moves, hours) is True
    assert write_on_loop(sqlite_db, [(ids[2], DAY, cid, *counts())], [], []) is True

    path = make_url(sqlite_db.url).database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer, mid-transaction
        assert write_on_loop(sqlite_db, days, moves, hours) is False
        other.execute("ROLLBACK")
    finally:
        other.close()
    with pytest.raises(IntegrityError):
        write_on_loop(sqlite_db, [*days, (10**9, DAY, cid, *counts(messages=1))], [], hours)

    rows, written_hours, joins = await written(store)
    assert rows == {
        ids[0]: list(counts(messages=3, replies_given=1)),
        ids[1]: list(counts(messages=1, links=1, feedback=2)),
        ids[2]: list(counts()),
    }
    assert written_hours == [(9, 5)] and joins == [("summer", 2)]


async def test_postgresql_flushes_on_a_plain_connection_as_through_a_session(
    store: Store,
) -> None:
    """``write_plain`` (asyncpg's own call on a pooled connection, one statement) adds up
    what ``add_rows`` and ``add_hours`` add up, and a row of a deleted member rolls the whole
    flush back as an ``IntegrityError``; elsewhere than PostgreSQL it writes nothing."""
    db = store.db
    if db.engine.dialect.name != "postgresql":
        assert await write_plain(db, [], [], []) is False
        return
    cid, ids = await community_of(store, 2)
    days, moves, hours = a_flush(cid, ids)
    assert await write_plain(db, days, moves, hours) is True
    assert await write_plain(db, [(ids[1], DAY, cid, *counts(messages=2))], [], []) is True
    with pytest.raises(IntegrityError):
        await write_plain(db, [*days, (10**9, DAY, cid, *counts(messages=1))], [], hours)
    rows, written_hours, joins = await written(store)
    assert rows == {
        ids[0]: list(counts(messages=3, replies_given=1)),
        ids[1]: list(counts(messages=3, links=1, feedback=2)),
    }
    assert written_hours == [(9, 5)] and joins == [("summer", 2)]


async def test_a_large_flush_leaves_the_loop_alone(sqlite_db: Database) -> None:
    """More than ``LOOP_ROWS`` rows would hold the event loop for milliseconds: such a flush
    goes through aiosqlite's thread (``False``: nothing written here)."""
    rows = [(n, DAY, 1, *counts(messages=1)) for n in range(LOOP_ROWS + 1)]
    assert write_on_loop(sqlite_db, rows, [], []) is False


def many_shapes(
    cid: int, ids: list[int]
) -> tuple[list[tuple[object, ...]], list[Movement], list[HourCount]]:
    """A flush of every shape at once: chatter alone (most rows), rows of zeros, one or
    several other counters, two days, a key twice, joins and leaves, hour slots."""
    later = date(2026, 11, 28)
    days: list[tuple[object, ...]] = []
    for n, member in enumerate(ids):
        days.append((member, DAY, cid, *counts(messages=n % 4)))  # n % 4 == 0: zeros
        if n % 3 == 0:
            days.append((member, later, cid, *counts(messages=1, links=n % 2, feedback=1)))
        if n % 5 == 0:
            days.append((member, later, cid, *counts(reactions_received=2)))  # a key twice
    moves = [
        Movement(cid, DAY, "join", "link", "summer, fair", 2),
        Movement(cid, later, "leave", "left", "", 1),
    ]
    hours = [HourCount(cid, DAY, h % 3, h) for h in range(1, 7)]
    return days, moves, hours


async def test_the_direct_paths_add_what_the_session_adds(store: Store) -> None:
    """A flush of every shape, written through a session (``add_rows``, ``add_hours``) and
    then by the direct path of its database (``write_on_loop`` on SQLite: rows grouped by
    the counters they change; ``write_plain`` on PostgreSQL: one statement): the second
    write adds exactly what the first did."""
    db = store.db
    cid, ids = await community_of(store, 12)
    days, moves, hours = many_shapes(cid, ids)
    async with store.transaction() as s:
        await InsightRepo(db).add_rows(s, days, moves)
        await InsightReports(db).add_hours(s, hours)
    once = await written(store)
    if db.engine.dialect.name == "postgresql":
        assert await write_plain(db, days, moves, hours) is True
    else:
        assert write_on_loop(db, days, moves, hours) is True
    twice = await written(store)
    assert twice[0] == {member: [2 * n for n in row] for member, row in once[0].items()}
    assert sorted(twice[1]) == sorted((h, 2 * n) for h, n in once[1])
    assert sorted(twice[2]) == sorted((link, 2 * n) for link, n in once[2])
    assert len(once[0]) == 12 and len(once[2]) == 2


def test_rows_are_grouped_by_the_counters_they_change() -> None:
    """``_shapes`` (chatter told apart in C) groups rows as one Python step per row did."""
    rng = random.Random(15)
    rows = [
        (
            n,
            DAY,
            1,
            *(
                rng.choice((0, 0, 0, 1, 2)) if rng.random() < 0.2 or c == 0 else 0
                for c in range(len(COUNTERS))
            ),
        )
        for n in range(400)
    ]
    rows += [(500, DAY, 1, *counts()), (501, DAY, 1, *counts(feedback=1))]
    counted = list(range(3, 3 + len(COUNTERS)))
    expected: dict[tuple[int, ...], list[tuple[object, ...]]] = {}
    for row in rows:
        changed = tuple(p for p in counted if row[p]) or (counted[0],)
        expected.setdefault(changed, []).append(row)
    assert _shapes(rows, counted) == expected
    assert _shapes(rows, [3]) == {(3,): rows}
