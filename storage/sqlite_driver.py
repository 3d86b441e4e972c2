"""SQLAlchemy's aiosqlite adapter, with one trip to the database thread per statement.

aiosqlite runs every call on its own thread and wakes the event loop for each answer; each
such trip costs more CPU than a small statement itself. The stock adapter makes four trips per
statement (open a cursor, execute, fetch the rows, close the cursor) and one more when a
connection goes back to the pool (a rollback, even right after a commit). On the inbound hot
path a plain message is three statements (``BEGIN IMMEDIATE``, its dedupe row, ``COMMIT``), so
those trips were most of its cost. Here a statement runs, is read and closed in one call on the
database thread; a transaction's ``BEGIN`` goes along with its first statement (``Database``
defers it, see ``Connection.begin_with_next``); and the pool's rollback is skipped when nothing
ran since the last commit or rollback. A plain message is now two trips.

Selected by ``Database`` for ``sqlite+aiosqlite`` URLs through ``create_async_engine(module=)``;
everything else (pooling, dialect, types) is SQLAlchemy's own.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    AsyncAdapt_aiosqlite_ss_cursor,
)
from sqlalchemy.util.concurrency import await_

__all__ = ["Connection", "dbapi"]

#: What one statement left behind: description, rows, rowcount, lastrowid.
_Outcome = tuple[Any, list[Any], int, int | None]


def _run(
    connection: sqlite3.Connection,
    begin: str | None,
    operation: str,
    parameters: Any,
    many: bool,
) -> _Outcome:
    """On the database thread: begin if asked, execute, read every row, close."""
    cursor = connection.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement is one call on aiosqlite's thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Connection) -> None:  # no cursor opened up front
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    async def _async_soft_close(self) -> None:
        return None  # nothing is held open: the rows are already read

    def close(self) -> None:
        self._rows.clear()

    def _go(self, operation: Any, parameters: Any, many: bool) -> None:
        adapted: Connection = self._adapt_connection  # type: ignore[assignment]
        adapted.dirty = True
        begin, adapted.pending_begin = adapted.pending_begin, None
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        try:
            outcome: _Outcome = await_(
                connection._execute(_run, connection._conn, begin, operation, parameters, many)
            )
        except Exception as error:
            adapted._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._go(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        self._go(operation, seq_of_parameters, many=True)


class _ServerSideCursor(AsyncAdapt_aiosqlite_ss_cursor):
    """The stock streaming cursor (``stream()``), after the transaction's held-back
    ``BEGIN``: it reads row by row, so it keeps the stock trips."""

    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._adapt_connection.begin_now()  # type: ignore[attr-defined]
        return super().execute(operation, parameters)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        self._adapt_connection.begin_now()  # type: ignore[attr-defined]
        return super().executemany(operation, seq_of_parameters)


class Connection(AsyncAdapt_aiosqlite_connection):
    """Knows whether anything ran since the last commit or rollback, and holds back a
    transaction's ``BEGIN`` until its first statement."""

    __slots__ = ("dirty", "pending_begin")
    _cursor_cls = _Cursor
    _ss_cursor_cls = _ServerSideCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        #: Something ran since the last commit or rollback (a transaction may be open).
        self.dirty = True
        #: The ``BEGIN`` to run just before the next statement, in the same trip.
        self.pending_begin: str | None = None

    def begin_with_next(self, begin: str) -> None:
        """Run ``begin`` (``BEGIN IMMEDIATE``...) with the next statement, in its trip: the
        same transaction, one trip fewer. A transaction that runs nothing costs no trip."""
        self.pending_begin = begin

    def begin_now(self) -> None:
        """Run the held-back ``BEGIN`` now, in a trip of its own (before a streaming read)."""
        self.dirty = True
        begin, self.pending_begin = self.pending_begin, None
        if begin is not None:
            driver: aiosqlite.Connection = self._connection  # type: ignore[assignment]
            try:
                await_(driver._execute(driver._conn.execute, begin))
            except Exception as error:
                self._handle_exception(error)

    def rollback(self) -> None:
        self.pending_begin = None
        if self.dirty:  # the pool's reset right after a commit needs no trip
            super().rollback()
            self.dirty = False

    def commit(self) -> None:
        if self.pending_begin is not None and not self.dirty:
            self.pending_begin = None  # nothing ran: nothing to commit
            return
        self.pending_begin = None
        super().commit()
        self.dirty = False


class _DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> Connection:
        stock = super().connect(*arg, **kw)
        return Connection(self, stock._connection)


def dbapi() -> Any:
    """The DBAPI module to give ``create_async_engine(module=...)`` for aiosqlite."""
    return _DBAPI(aiosqlite, sqlite3)
