"""The aiosqlite adapter of ``storage.sqlite_driver``: one trip to the database thread per
statement, the pool's rollback skipped only when nothing ran since the last commit, and the
DBAPI behaviour SQLAlchemy relies on (rows, rowcount, executemany, errors) unchanged."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.util import greenlet_spawn

from storage import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield database
    await database.dispose()


@contextmanager
def trips() -> Iterator[list[str]]:
    """The calls queued to aiosqlite's thread meanwhile, by function name."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(
        self: aiosqlite.Connection, fn: object, *args: object, **kw: object
    ) -> object:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kw)

    aiosqlite.Connection._execute = counted  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        aiosqlite.Connection._execute = original  # type: ignore[method-assign]


async def test_a_write_transaction_is_three_trips(db: Database) -> None:
    async with db.transaction() as session:  # a pooled connection exists already
        await session.execute(text("SELECT 1"))
    with trips() as seen:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('a') RETURNING id"))
    # BEGIN IMMEDIATE with the insert (its rows read in the same trip), then COMMIT; no
    # rollback after it.
    assert seen == ["_run", "commit"]


async def test_a_transaction_that_runs_nothing_costs_no_trip(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(text("SELECT 1"))
    with trips() as seen:
        async with db.transaction() as session:
            await session.connection()
        async with db.reading() as session:
            await session.connection()
    assert seen == []


async def test_the_deferred_begin_still_takes_the_write_lock(db: Database, tmp_path: Path) -> None:
    """``BEGIN IMMEDIATE`` runs with the first statement, reads included: from then on until
    the commit, no other connection can start writing."""

    def other_writer_can_begin() -> bool:
        other = sqlite3.connect(tmp_path / "driver.db", timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError as error:
            assert "locked" in str(error)
            return False
        finally:
            other.close()

    async with db.transaction() as session:
        assert other_writer_can_begin()  # nothing ran yet: no BEGIN yet
        await session.execute(text("SELECT count(*) FROM t"))
        assert not other_writer_can_begin()
    assert other_writer_can_begin()


async def test_rows_rowcount_and_executemany(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "a"}, {"v": "b"}])
        ids = (await session.execute(text("SELECT id FROM t ORDER BY v"))).scalars().all()
        changed = await session.execute(text("UPDATE t SET v = v || '!'"))
        assert changed.rowcount == 2  # type: ignore[attr-defined]
        returned = await session.execute(text("INSERT INTO t (v) VALUES ('c') RETURNING v"))
        assert returned.scalar_one() == "c"
    assert len(ids) == 2
    async with db.reading() as session:
        assert (await session.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all() == [
            "a!",
            "b!",
            "c",
        ]


async def test_an_error_rolls_back_and_releases_the_lock(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('x')"))
            await session.execute(text("INSERT INTO t (v) VALUES ('x')"))
    with trips() as seen:
        async with db.transaction() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
    assert "commit" in seen


async def test_a_connection_given_back_mid_transaction_is_rolled_back(db: Database) -> None:
    """A transaction left open on a pooled connection is rolled back by the pool's reset
    when the connection goes back: its write is gone and the write lock is free."""
    pooled = await db.engine.raw_connection()

    def leave_open() -> None:
        cursor = pooled.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute("INSERT INTO t (v) VALUES ('left open')")
        pooled.close()  # back to the pool, never committed

    with trips() as seen:
        await greenlet_spawn(leave_open)
    assert seen == ["_run", "_run", "rollback"]
    async with db.transaction() as session:  # would wait 30 s for the lock if it were held
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
        await session.execute(text("INSERT INTO t (v) VALUES ('next')"))


async def test_a_streaming_read_runs_inside_the_transaction(db: Database) -> None:
    """``stream()`` uses the stock row-by-row cursor: the held-back ``BEGIN`` runs first."""
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('a'), ('b')"))
    async with db.transaction() as session:
        streamed = await session.stream(text("SELECT v FROM t ORDER BY v"))
        assert [row.v async for row in streamed] == ["a", "b"]
        driver = (await session.connection()).sync_connection.connection.driver_connection
        assert await driver._execute(lambda: driver._conn.in_transaction) is True
