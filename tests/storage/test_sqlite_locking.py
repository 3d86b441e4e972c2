"""SQLite under concurrency: BEGIN IMMEDIATE makes read-then-write transactions wait their turn.

Without it, two deferred transactions that both read and then write fail at once with
"database is locked" (or lose updates), whatever busy_timeout says.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from storage import Database

TASKS = 30


async def test_concurrent_read_then_write_keeps_every_increment(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}")
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await session.execute(text("INSERT INTO counter (n) VALUES (0)"))

        async def increment() -> None:
            async with db.transaction() as session:
                current = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
                await asyncio.sleep(0)  # let the others interleave between read and write
                await session.execute(text("UPDATE counter SET n = :n"), {"n": current + 1})

        await asyncio.gather(*(increment() for _ in range(TASKS)))
        async with db.transaction() as session:
            assert (await session.execute(text("SELECT n FROM counter"))).scalar_one() == TASKS
    finally:
        await db.dispose()


async def test_pragmas_are_set_on_every_connection(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    try:
        async with db.engine.connect() as connection:
            journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            timeout = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
            keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
        assert (journal, timeout, keys) == ("wal", 30000, 1)
    finally:
        await db.dispose()
