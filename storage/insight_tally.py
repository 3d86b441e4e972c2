"""The insights tally's flush without a session: on SQLite in one call on the event loop's
own connection (``storage.loop_writes``), on PostgreSQL on a plain pooled asyncpg connection.
The same upserts as ``InsightRepo.add_rows`` and ``InsightReports.add_hours``.

A flush writes a row per member who spoke since the last one; counted as the inbound path's
cost (``bench.inbound --capture-cost``), the session's machinery was most of it (SQLite: its
thread trips; PostgreSQL: about half a millisecond of CPU per statement in SQLAlchemy's
adapter), as much as building the flush's rows and statements.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.util.concurrency import greenlet_spawn

from storage.db import Database
from storage.insight_reports import HOURS, HourCount, merged_hours
from storage.insights import (
    COUNTERS,
    DAYS,
    MOVEMENTS,
    Movement,
    merged_days,
    merged_movements,
    postgres_upsert,
    sqlite_upserts,
)
from storage.loop_writes import loop_writes

__all__ = ["LOOP_ROWS", "postgres_flush", "write_on_loop", "write_plain"]

#: Rows a flush writes on the event loop's own thread at most (about 4 ms of SQLite's work,
#: the loop standing still meanwhile); a larger one goes through aiosqlite's thread.
LOOP_ROWS = 2_000


def _upserts(
    days: list[tuple[Any, ...]], movements: Sequence[Movement], hours: Sequence[HourCount]
) -> list[tuple[Any, Sequence[str], Sequence[str], list[tuple[Any, ...]], Sequence[str]]]:
    """A flush's three upserts as ``add_up`` takes them: table, columns, key, rows (each key
    once), the columns added up."""
    return [
        (*DAYS, merged_days(days), COUNTERS),
        (*MOVEMENTS, merged_movements(movements), ("n",)),
        (*HOURS, merged_hours(hours), ("messages",)),
    ]


def write_on_loop(
    db: Database,
    days: list[tuple[Any, ...]],
    movements: Sequence[Movement],
    hours: Sequence[HourCount],
) -> bool:
    """Write a flush (``days`` as ``InsightRepo.add_rows`` takes them) in one transaction on
    the loop's own connection; ``False`` when that cannot be done at once (not SQLite in
    WAL mode, another writer holds the lock, or more than ``LOOP_ROWS`` rows): the caller
    writes through a session. A database error rolls back and is raised as SQLAlchemy's
    (``IntegrityError`` for a member or community deleted since it was counted)."""
    writes = loop_writes(db)
    if not writes.usable or len(days) + len(movements) + len(hours) > LOOP_ROWS:
        return False
    statements = []
    for table, columns, key, rows, added in _upserts(days, movements, hours):
        statements += sqlite_upserts(table.name, columns, rows, key=key, added=added)

    def write(connection: sqlite3.Connection) -> None:
        for statement, params in statements:
            connection.execute(statement, params)

    try:
        done, _ = writes.run(write)
    except sqlite3.IntegrityError as error:
        raise IntegrityError("insights flush", None, error) from error
    except sqlite3.Error as error:
        raise OperationalError("insights flush", None, error) from error
    return done


def postgres_flush(
    upserts: list[tuple[Any, Sequence[str], Sequence[str], list[tuple[Any, ...]], Sequence[str]]],
) -> tuple[str, list[Any]] | None:
    """A flush's upserts (``_upserts``) as one PostgreSQL statement, each a data-modifying
    ``WITH`` part (``None`` when there is no row). One statement is atomic without a
    transaction around it: one round trip to the server instead of four (``BEGIN``, two or
    three statements, ``COMMIT``), most of a flush's CPU on asyncpg's side. The tables are
    distinct and each part's keys are merged, so no row is touched twice in the statement.
    Each part takes its rows in key order; PostgreSQL documents the order of the parts
    themselves as unspecified (it runs one plan's parts in one fixed order in practice), so
    two flushes at once keep one lock order within a table, not a promised one across."""
    parts: list[str] = []
    params: list[Any] = []
    for table, columns, key, rows, added in upserts:
        if rows:
            part, values = postgres_upsert(
                table, columns, rows, key=key, added=added, first=len(params) + 1
            )
            parts.append(part)
            params += values
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0], params
    written = ", ".join(f"w{n} AS ({part})" for n, part in enumerate(parts))
    return f"WITH {written} SELECT 1", params


async def write_plain(
    db: Database,
    days: list[tuple[Any, ...]],
    movements: Sequence[Movement],
    hours: Sequence[HourCount],
) -> bool:
    """PostgreSQL (asyncpg): write a flush in one statement (``postgres_flush``) on a plain
    pooled connection, asyncpg's own call; ``False`` elsewhere (the caller writes through a
    session). A database error rolls back and is raised as SQLAlchemy's, as
    ``write_on_loop``'s."""
    if not db.url.startswith("postgresql+asyncpg"):
        return False
    import asyncpg  # only where PostgreSQL is used

    statement = postgres_flush(_upserts(days, movements, hours))
    if statement is None:
        return True
    text, params = statement
    raw = await db.engine.raw_connection()
    try:
        driver: Any = raw.dbapi_connection
        if driver._transaction is not None:  # never left so by the pool
            await greenlet_spawn(driver.rollback)
        connection = driver._connection  # asyncpg's own
        # One statement, no transaction of ours around it: atomic by itself, one round trip.
        await connection.execute(text, *params)
    except BaseException as error:
        await greenlet_spawn(raw.invalidate)  # whatever state it is in, it goes
        if isinstance(error, asyncpg.IntegrityConstraintViolationError):
            raise IntegrityError("insights flush", None, error) from error
        if isinstance(error, asyncpg.PostgresError | OSError):
            raise OperationalError("insights flush", None, error) from error
        raise
    raw.close()  # nothing to roll back: back to the pool without a trip
    return True
