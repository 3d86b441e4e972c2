"""``UpdateRepo.claim_alone``, the inbound hot path's one-trip transaction on a plain
connection, on SQLite and PostgreSQL: it dedupes like ``claim_many``, keeps events until
they are marked, marks in the same transaction, keeps the given order, and a failure
leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot.clock import FakeClock
from storage import Database, Store, migrate
from storage import loop_writes as loop_writes_module
from storage.base import UPDATE_KEY_LEN
from storage.updates import ProcessedUpdate, UpdateRepo


async def rows(store: Store) -> list[tuple[str, str, bool, str | None]]:
    """(platform, key, handled, kept event) by id."""
    async with store.transaction() as s:
        found = await s.execute(
            select(
                ProcessedUpdate.platform,
                ProcessedUpdate.update_key,
                ProcessedUpdate.handled_at,
                ProcessedUpdate.event,
            ).order_by(ProcessedUpdate.id)
        )
        return [(r.platform, r.update_key, r.handled_at is not None, r.event) for r in found]


async def test_claims_dedupe_keep_events_in_order_and_marks_ride_along(
    store: Store, clock: FakeClock
) -> None:
    updates = store.updates
    assert updates.plain
    keys = [("telegram", "3"), ("telegram", "1"), ("discord", "1"), ("telegram", "3")]
    kept = {key: f'{{"n": "{key[1]}"}}' for key in keys[:2]}
    claimed = await updates.claim_alone(keys, clock.now(), kept)
    assert claimed == {("telegram", "3"), ("telegram", "1"), ("discord", "1")}
    assert await rows(store) == [
        ("telegram", "3", False, '{"n": "3"}'),  # kept: waits to be marked handled
        ("telegram", "1", False, '{"n": "1"}'),
        ("discord", "1", True, None),  # nothing kept: handled as recorded
    ]
    clock.advance(timedelta(seconds=1))
    # A redelivery claims nothing; the stamps given ride along in the same trip.
    again = await updates.claim_alone(
        [("telegram", "1"), ("telegram", "9")],
        clock.now(),
        {("telegram", "9"): "{}"},
        handled=[("telegram", "3"), ("telegram", "1")],
    )
    assert again == {("telegram", "9")}
    assert await rows(store) == [
        ("telegram", "3", True, None),
        ("telegram", "1", True, None),
        ("discord", "1", True, None),
        ("telegram", "9", False, "{}"),
    ]
    # Marks alone (the stamper's call); its time is the column's own.
    assert await updates.claim_alone([], clock.now(), handled=[("telegram", "9")]) == set()
    async with store.transaction() as s:
        stamped = await s.scalar(
            select(ProcessedUpdate.handled_at).where(ProcessedUpdate.update_key == "9")
        )
    assert stamped == clock.now()


async def test_a_failed_trip_leaves_nothing_and_the_next_one_works(
    store: Store, clock: FakeClock
) -> None:
    updates = store.updates
    with pytest.raises(ValueError):
        await updates.claim_alone([("telegram", "x" * (UPDATE_KEY_LEN + 1))], clock.now())
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error type
        # Kept events must be text: the whole transaction fails, its first row with it.
        await updates.claim_alone(
            [("telegram", "1"), ("telegram", "2")],
            clock.now(),
            {("telegram", "1"): "{}", ("telegram", "2"): object()},  # type: ignore[dict-item]
        )
    assert await rows(store) == []
    assert await updates.claim_alone([("telegram", "1")], clock.now()) == {("telegram", "1")}
    assert await rows(store) == [("telegram", "1", True, None)]


async def test_sqlite_claims_on_the_loop_and_waits_on_the_thread_when_the_lock_is_held(
    sqlite_db: Database, clock: FakeClock
) -> None:
    """SQLite: a claim runs on the event loop's own connection (no trip to aiosqlite's
    thread); while another writer holds the lock it never blocks the loop, but goes through
    the thread, which waits its turn, and is not lost."""
    store = Store(sqlite_db)
    updates = store.updates
    assert await updates.claim_alone([("telegram", "1")], clock.now()) == {("telegram", "1")}
    assert updates._loop.connection is not None
    path = make_url(sqlite_db.url).database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer, mid-transaction
        other.execute(
            "INSERT INTO processed_updates (platform, update_key, processed_at)"
            " VALUES ('discord', 'x', '2026-01-01 00:00:00.000000')"
        )
        claiming = asyncio.ensure_future(
            updates.claim_alone([("telegram", "2")], clock.now(), {("telegram", "2"): "{}"})
        )
        # The loop keeps turning while the claim waits for the lock.
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert not claiming.done()
        other.execute("COMMIT")
        assert await asyncio.wait_for(claiming, 10) == {("telegram", "2")}
    finally:
        other.close()
    assert [key for _p, key, _h, _e in await rows(store)] == ["1", "x", "2"]


def _size(path: str) -> int:
    return os.path.getsize(path)


async def test_sqlite_loop_commits_are_checkpointed_off_the_loop(
    sqlite_db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's connection never checkpoints the WAL itself (it would stall the loop);
    every ``LOOP_CHECKPOINT_EVERY`` commits another thread does, so the WAL stays small."""
    path = make_url(sqlite_db.url).database
    assert path is not None
    wal = f"{path}-wal"
    event = '{"text": "' + "x" * 2000 + '"}'

    async def grow(updates: UpdateRepo, start: int) -> int:
        for n in range(start, start + 300):
            key = ("telegram", str(n))
            await updates.claim_alone([key], clock.now(), {key: event})
            if updates._loop.checkpoint is not None:
                await updates._loop.checkpoint
        return _size(wal)

    monkeypatch.setattr(loop_writes_module, "LOOP_CHECKPOINT_EVERY", 5)
    checked = await grow(UpdateRepo(sqlite_db), 0)
    monkeypatch.setattr(loop_writes_module, "LOOP_CHECKPOINT_EVERY", 1_000_000)
    unchecked = await grow(UpdateRepo(sqlite_db), 1000)
    # 300 commits of 2 KB events: without checkpoints the WAL grew by every one of them;
    # with them it is reused from its start and stays at a few commits' worth.
    assert unchecked > 1_000_000
    assert checked * 4 < unchecked


async def test_an_in_memory_sqlite_database_claims_through_the_thread(clock: FakeClock) -> None:
    """A second connection to ``:memory:`` would see another database: no loop connection."""
    db = Database("sqlite+aiosqlite:///:memory:")
    try:
        await migrate.upgrade(db)
        updates = Store(db).updates
        assert await updates.claim_alone([("telegram", "1")], clock.now()) == {("telegram", "1")}
        assert updates._loop.connection is None
        assert await updates.claim_alone([("telegram", "1")], clock.now()) == set()
    finally:
        await db.dispose()
