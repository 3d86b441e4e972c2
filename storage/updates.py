"""Dedupe of platform updates by a unique (platform, update key) row, not a high-water mark,
and the record of which updates are still to be handled (their event kept until then)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Index,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util.concurrency import greenlet_spawn

from storage import sqlite_driver
from storage.base import PLATFORM_LEN, UPDATE_KEY_LEN, Base, Id
from storage.db import Database
from storage.loop_writes import loop_writes

__all__ = ["ProcessedUpdate", "UpdateRepo"]


class ProcessedUpdate(Base):
    """One row per platform update recorded; the unique key turns redeliveries into no-ops.

    ``handled_at`` stays empty until the update's handlers finished and its actions settled;
    until then ``event`` keeps the event (JSON) so that a restart handles it again.
    """

    __tablename__ = "processed_updates"
    __table_args__ = (
        UniqueConstraint("platform", "update_key"),
        Index("ix_processed_updates_platform_handled_at", "platform", "handled_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(PLATFORM_LEN))
    update_key: Mapped[str] = mapped_column(String(UPDATE_KEY_LEN))
    processed_at: Mapped[datetime] = mapped_column(index=True)
    handled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    event: Mapped[str | None] = mapped_column(Text, nullable=True)


log = logging.getLogger(__name__)

#: Keys marked handled by one statement, at most.
MARK_CHUNK = 500

#: Rows of one multi-row ``INSERT`` on the plain-connection path (5 parameters each: far
#: below SQLite's 32,766 variables).
CLAIM_CHUNK = 500

_SQLITE_INSERT = (
    "INSERT INTO processed_updates (platform, update_key, processed_at, handled_at, event)"
    " VALUES {values} ON CONFLICT (platform, update_key) DO NOTHING"
    " RETURNING platform, update_key"
)
_SQLITE_MARK = (
    "UPDATE processed_updates SET handled_at = ?, event = NULL"
    " WHERE platform = ? AND update_key IN ({keys})"
)
# One statement, so one round trip and its own transaction: the marks (a data-modifying
# ``WITH`` runs whether or not it is read) and the claim, rows inserted in the order given.
_POSTGRES_CLAIM = """
WITH marked AS (
    UPDATE processed_updates SET handled_at = $1, event = NULL
    WHERE (platform, update_key) IN (
        SELECT * FROM unnest($2::varchar[], $3::varchar[]) ORDER BY 1, 2
    )
)
INSERT INTO processed_updates (platform, update_key, processed_at, handled_at, event)
SELECT p, k, $1, CASE WHEN e IS NULL THEN $1::timestamptz END, e
FROM unnest($4::varchar[], $5::varchar[], $6::text[]) WITH ORDINALITY AS u(p, k, e, n)
ORDER BY n
ON CONFLICT (platform, update_key) DO NOTHING
RETURNING platform, update_key
"""


def _sqlite_claim(
    connection: sqlite3.Connection,
    marks: list[tuple[str, list[Any]]],
    inserts: list[tuple[str, list[Any]]],
) -> list[tuple[str, str]]:
    """One whole transaction (marks, then claims), in one call on aiosqlite's thread."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        claimed = _claim_statements(connection, marks, inserts)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return claimed


def _claim_statements(
    connection: sqlite3.Connection,
    marks: list[tuple[str, list[Any]]],
    inserts: list[tuple[str, list[Any]]],
) -> list[tuple[str, str]]:
    """Marks, then claims, inside a transaction already begun."""
    for sql, params in marks:
        connection.execute(sql, params)
    claimed: list[tuple[str, str]] = []
    for sql, params in inserts:
        claimed += connection.execute(sql, params).fetchall()
    return claimed


class UpdateRepo:
    def __init__(self, db: Database) -> None:
        self.db = db
        table = ProcessedUpdate.__table__
        self._claim = (
            db.insert(table)
            .values(
                platform=bindparam("platform"),
                update_key=bindparam("update_key"),
                processed_at=bindparam("processed_at"),
                handled_at=bindparam("processed_at"),
            )
            .on_conflict_do_nothing(index_elements=["platform", "update_key"])
            .returning(table.c.id)
        )
        self._mark = (
            update(table)
            .where(
                table.c.platform == bindparam("p"),
                table.c.update_key.in_(bindparam("k", expanding=True)),
            )
            .values(handled_at=bindparam("now"), event=None)
        )
        # How the column type stores a time on this dialect (SQLite: text), for statements
        # sent on the plain connection.
        self._time: Callable[[Any], Any] = table.c.processed_at.type._cached_bind_processor(
            db.engine.dialect
        ) or (lambda value: value)
        self._inserts: dict[int, str] = {}
        #: A pooled connection ``claim_alone`` keeps checked out (a checkout and a checkin
        #: cost more than its statement), and whether a call is using it.
        self._held: PoolProxiedConnection | None = None
        self._held_busy = False
        #: SQLite: the event loop's own connection for ``claim_alone`` (see
        #: :meth:`_claim_on_loop`), shared with the database's other short writes.
        self._loop = loop_writes(db)

    async def claim(
        self, session: AsyncSession, platform: str, update_key: str, now: datetime
    ) -> bool:
        """``True`` for the first delivery of an update, ``False`` for every redelivery."""
        if len(update_key) > UPDATE_KEY_LEN:
            raise ValueError(f"update key longer than {UPDATE_KEY_LEN} characters")
        params = {"platform": platform, "update_key": update_key, "processed_at": now}
        return (await session.execute(self._claim, params)).first() is not None

    async def claim_many(
        self,
        session: AsyncSession,
        keys: list[tuple[str, str]],
        now: datetime,
        events: Mapping[tuple[str, str], str] | None = None,
    ) -> set[tuple[str, str]]:
        """Claim many updates in one statement; returns the (platform, key) pairs that were new.

        Rows are written in the order given (ids follow it: a replay after a restart handles
        them in that order), each with its event's JSON from ``events`` when given: such a
        row waits for :meth:`mark_handled`. A concurrent writer claiming the same keys in
        another order may deadlock on PostgreSQL; ``record_events`` retries those.
        """
        unique = list(dict.fromkeys(keys))
        if not unique:
            return set()
        for _platform, key in unique:
            if len(key) > UPDATE_KEY_LEN:
                raise ValueError(f"update key longer than {UPDATE_KEY_LEN} characters")
        table = ProcessedUpdate.__table__
        statement = (
            self.db.insert(table)
            .on_conflict_do_nothing(index_elements=["platform", "update_key"])
            .returning(table.c.platform, table.c.update_key)
        )
        # Parameters apart from the statement: SQLAlchemy compiles it once and sends the rows
        # as batched multi-row VALUES ("insertmanyvalues"); building VALUES into the
        # statement would compile it anew each time.
        stored = events or {}
        params = [
            {
                "platform": p,
                "update_key": k,
                "processed_at": now,
                "handled_at": None if (p, k) in stored else now,
                "event": stored.get((p, k)),
            }
            for p, k in unique
        ]
        return {(row.platform, row.update_key) for row in await session.execute(statement, params)}

    @property
    def plain(self) -> bool:
        """Whether :meth:`claim_alone` runs here (SQLite through aiosqlite, or asyncpg)."""
        return self.db.url.startswith(("sqlite+aiosqlite", "postgresql+asyncpg"))

    async def claim_alone(
        self,
        keys: list[tuple[str, str]],
        now: datetime,
        events: Mapping[tuple[str, str], str] | None = None,
        handled: list[tuple[str, str]] | None = None,
    ) -> set[tuple[str, str]]:
        """``mark_handled(handled)`` then ``claim_many(keys)`` as one transaction of its own,
        on a plain pooled connection: no ORM, one trip to the database (SQLite: to aiosqlite's
        thread, where ``BEGIN IMMEDIATE`` ... ``COMMIT`` run in one call; PostgreSQL: one
        statement). For a page that needs nothing else written (every community and member
        known); only when :attr:`plain`."""
        unique = list(dict.fromkeys(keys))
        for _platform, key in unique:
            if len(key) > UPDATE_KEY_LEN:
                raise ValueError(f"update key longer than {UPDATE_KEY_LEN} characters")
        stored = events or {}
        marks = sorted(set(handled or ()))  # one lock order for every writer
        at = self._time(now)
        if self._loop.usable:
            mark_statements, inserts = self._sqlite_statements(unique, stored, marks, at)
            on_loop = self._claim_on_loop(mark_statements, inserts)
            if on_loop is not None:
                return set(on_loop)
        raw, held = await self._checkout()
        try:
            driver: Any = raw.dbapi_connection
            if isinstance(driver, sqlite_driver.Connection):
                claimed = await self._sqlite(driver, unique, stored, marks, at)
            else:
                if driver._transaction is not None:  # never left so by the pool
                    await greenlet_spawn(driver.rollback)
                rows = await driver._connection.fetch(  # asyncpg's own
                    _POSTGRES_CLAIM,
                    at,
                    [p for p, _k in marks],
                    [k for _p, k in marks],
                    [p for p, _k in unique],
                    [k for _p, k in unique],
                    [stored.get(key) for key in unique],
                )
                claimed = [(row[0], row[1]) for row in rows]
        except BaseException:
            if held:
                self._held, self._held_busy = None, False
            await greenlet_spawn(raw.invalidate)  # whatever state it is in, it goes
            raise
        if held:
            self._held_busy = False
        else:
            raw.close()  # nothing to roll back: back to the pool without a trip
        return set(claimed)

    async def _checkout(self) -> tuple[PoolProxiedConnection, bool]:
        """The held connection when it is free (taken from the pool the first time, given
        back by ``Database.dispose``), else one from the pool for this call only."""
        if self._held_busy:
            return await self.db.engine.raw_connection(), False
        self._held_busy = True
        if self._held is None:
            try:
                self._held = await self.db.engine.raw_connection()
            except BaseException:
                self._held_busy = False
                raise
            self.db.closing.append(self._give_back)
        return self._held, True

    async def _give_back(self) -> None:
        held, self._held, self._held_busy = self._held, None, False
        if held is not None:
            await greenlet_spawn(held.close)

    def _claim_on_loop(
        self, marks: list[tuple[str, list[Any]]], inserts: list[tuple[str, list[Any]]]
    ) -> list[tuple[str, str]] | None:
        """SQLite: the whole claim on the event loop's thread, on its own connection
        (``storage.loop_writes``), when the write lock is free at once; ``None`` when it is
        not (or no such connection can be used), and the caller goes through aiosqlite's
        thread, which waits its turn. A trip to that thread and back costs about three times
        the claim itself."""
        done, claimed = self._loop.run(lambda c: _claim_statements(c, marks, inserts))
        return claimed if done else None

    def _sqlite_statements(
        self,
        unique: list[tuple[str, str]],
        stored: Mapping[tuple[str, str], str],
        marks: list[tuple[str, str]],
        at: Any,
    ) -> tuple[list[tuple[str, list[Any]]], list[tuple[str, list[Any]]]]:
        """The SQL of marks then claims, with their parameters."""
        by_platform: dict[str, list[str]] = {}
        for platform, key in marks:
            by_platform.setdefault(platform, []).append(key)
        mark_statements = []
        for platform, platform_keys in by_platform.items():
            for start in range(0, len(platform_keys), MARK_CHUNK):
                chunk = platform_keys[start : start + MARK_CHUNK]
                sql = _SQLITE_MARK.format(keys=", ".join("?" * len(chunk)))
                mark_statements.append((sql, [at, platform, *chunk]))
        inserts = []
        for start in range(0, len(unique), CLAIM_CHUNK):
            chunk = unique[start : start + CLAIM_CHUNK]
            sql = self._inserts.get(len(chunk))
            if sql is None:
                sql = self._inserts[len(chunk)] = _SQLITE_INSERT.format(
                    values=", ".join(["(?, ?, ?, ?, ?)"] * len(chunk))
                )
            params: list[Any] = []
            for key in chunk:
                event = stored.get(key)
                params += (key[0], key[1], at, None if event is not None else at, event)
            inserts.append((sql, params))
        return mark_statements, inserts

    async def _sqlite(
        self,
        driver: sqlite_driver.Connection,
        unique: list[tuple[str, str]],
        stored: Mapping[tuple[str, str], str],
        marks: list[tuple[str, str]],
        at: Any,
    ) -> list[tuple[str, str]]:
        mark_statements, inserts = self._sqlite_statements(unique, stored, marks, at)
        if driver.dirty:  # a fresh connection: the pool's reset never ran on it
            await greenlet_spawn(driver.rollback)
        aio = driver._connection  # aiosqlite's own
        claimed: list[tuple[str, str]] = await aio._execute(
            _sqlite_claim, aio._conn, mark_statements, inserts
        )
        return claimed

    async def mark_handled(
        self, session: AsyncSession, keys: list[tuple[str, str]], now: datetime
    ) -> None:
        """Stamp updates handled and drop their kept events: one statement per platform and
        500 keys (an ``IN`` list costs far less than a statement per row)."""
        by_platform: dict[str, list[str]] = {}
        for platform, key in sorted(set(keys)):  # one lock order for every writer
            by_platform.setdefault(platform, []).append(key)
        for platform, platform_keys in by_platform.items():
            for start in range(0, len(platform_keys), MARK_CHUNK):
                chunk = platform_keys[start : start + MARK_CHUNK]
                await session.execute(self._mark, {"p": platform, "k": chunk, "now": now})

    async def unhandled(
        self, session: AsyncSession, platform: str, *, limit: int
    ) -> list[tuple[str, str]]:
        """The oldest recorded updates of ``platform`` not yet handled, as (key, event JSON),
        in recorded order."""
        rows = await session.execute(
            select(ProcessedUpdate.update_key, ProcessedUpdate.event)
            .where(
                ProcessedUpdate.platform == platform,
                ProcessedUpdate.handled_at.is_(None),
                ProcessedUpdate.event.is_not(None),
            )
            .order_by(ProcessedUpdate.id)
            .limit(limit)
        )
        return [(row.update_key, row.event) for row in rows]

    async def prune(self, session: AsyncSession, older_than: datetime) -> int:
        """Forget handled updates older than any platform redelivers (Telegram keeps them
        24 h); one still waiting to be handled stays."""
        result = await session.execute(
            delete(ProcessedUpdate).where(
                ProcessedUpdate.processed_at < older_than, ProcessedUpdate.handled_at.is_not(None)
            )
        )
        return result.rowcount or 0  # type: ignore[attr-defined]
