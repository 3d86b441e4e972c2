"""SQLite: short write transactions on the event loop's own thread, on a connection of its
own, when the write lock is free at once.

A trip to aiosqlite's thread and back costs about 100 µs of CPU (a thread wake-up each way),
and SQLAlchemy's session about as much again per statement: more than a small write itself
(committed in WAL mode with ``synchronous=NORMAL``: no sync to disk). The loop never waits for
another writer (``busy_timeout=0``: a held lock answers at once, and the caller goes the usual
way, which waits its turn) nor for a checkpoint (this connection never runs one: every
``LOOP_CHECKPOINT_EVERY`` commits a worker thread does, as SQLite's automatic checkpoint
would). One per database (``loop_writes``), shared by the writers that use it: the dedupe
rows of the inbound path and the insights tally's flush.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import make_url

from storage.db import Database

__all__ = ["LOOP_CHECKPOINT_EVERY", "LoopWrites", "loop_writes"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Commits on the event loop's own SQLite connection between two checkpoints of the WAL
#: (that connection never checkpoints itself: a checkpoint writes and syncs pages, which
#: must not stall the loop; it runs on a worker thread instead).
LOOP_CHECKPOINT_EVERY = 500


def _loop_database_path(url: str) -> str | None:
    """The file an ``sqlite+aiosqlite`` URL names, when a second connection opened on it
    sees the same database (not ``:memory:``, not a URI with options); else ``None``."""
    if not url.startswith("sqlite+aiosqlite"):
        return None
    parsed = make_url(url)
    path = parsed.database or ""
    if parsed.query or not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


def _checkpoint(path: str | None) -> None:
    """On a worker thread, on a connection of its own (a checkpoint runs outside any
    transaction, which a pooled connection cannot promise)."""
    if path is None:
        return
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA busy_timeout=1000")
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        connection.close()


class LoopWrites:
    """The event loop's own SQLite connection, opened at first use (``None`` where it cannot
    be used: not SQLite, an in-memory database, not in WAL mode)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.path = _loop_database_path(db.url)
        self.connection: sqlite3.Connection | None = None
        self.commits = 0
        self.checkpoint: asyncio.Task[None] | None = None

    @property
    def usable(self) -> bool:
        """Whether writes may be tried here (a path, and nothing found against it yet)."""
        return self.path is not None

    def run(self, work: Callable[[sqlite3.Connection], T]) -> tuple[bool, T | None]:
        """``(True, work(connection))`` run in one transaction on the loop's connection, or
        ``(False, None)`` when the write lock is held (or no such connection can be used):
        the caller then writes the usual way. An error of ``work`` rolls back and is raised."""
        connection = self.connection
        if connection is None:
            connection = self._open()
            if connection is None:
                return False, None
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False, None  # another writer holds the lock (or the file is busy)
        try:
            done = work(connection)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        self.commits += 1
        if self.commits >= LOOP_CHECKPOINT_EVERY and self.checkpoint is None:
            self.commits = 0
            self.checkpoint = asyncio.ensure_future(self._checkpoint_wal())
        return True, done

    def _open(self) -> sqlite3.Connection | None:
        path = self.path
        if path is None:
            return None
        try:
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            for pragma in (
                "PRAGMA busy_timeout=0",
                "PRAGMA synchronous=NORMAL",
                "PRAGMA wal_autocheckpoint=0",
                "PRAGMA foreign_keys=ON",  # as every pooled connection (storage.db)
            ):
                connection.execute(pragma)
            wal = connection.execute("PRAGMA journal_mode").fetchone()
        except sqlite3.Error:
            log.warning("no connection of the event loop's own on %s", path, exc_info=True)
            self.path = None
            return None
        if wal is None or str(wal[0]).lower() != "wal":
            # Only WAL commits without syncing; elsewhere the thread's path is the right one.
            connection.close()
            self.path = None
            return None
        self.connection = connection
        self.db.closing.append(self._close)
        return connection

    async def _checkpoint_wal(self) -> None:
        """Copy the WAL back into the database off the loop (``PASSIVE``: never waits for
        readers or writers), as SQLite's own automatic checkpoint would."""
        try:
            await asyncio.to_thread(_checkpoint, self.path)
        except Exception:
            log.warning("a checkpoint of the database's WAL failed", exc_info=True)
        finally:
            self.checkpoint = None

    async def _close(self) -> None:
        if self.checkpoint is not None:
            await asyncio.gather(self.checkpoint, return_exceptions=True)
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()


def loop_writes(db: Database) -> LoopWrites:
    """``db``'s loop writer, made at first use: one connection per database, whoever writes."""
    found = db.loop_writes
    if found is None:
        found = db.loop_writes = LoopWrites(db)
    assert isinstance(found, LoopWrites)
    return found
