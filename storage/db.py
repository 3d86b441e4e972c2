"""Engine factory: SQLite with the pragmas that make it safe under concurrency, or PostgreSQL.

SQLite's deferred transactions fail at once with "database is locked" when two writers
read then write, whatever ``busy_timeout`` says; every transaction therefore starts with
``BEGIN IMMEDIATE`` and waits its turn instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.dml import Insert

from storage import sqlite_driver

__all__ = ["DEFAULT_URL", "Database", "check_schema", "normalize_url"]

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite+aiosqlite:///qunbot.db"
#: The execution option that marks a connection as only reading (see ``Database.reading``).
READING = "qunbot_reading"
#: The execution option of a statement whose writes its repository's cache already accounts
#: for (see ``Database.watch``).
CACHED = "qunbot_cached"
#: A session's callbacks to run once its transaction has committed (``Database.after_commit``).
_AFTER_COMMIT = "qunbot_after_commit"
#: Marks a pooled connection that wrote a watched table in its current transaction.
_WROTE = "qunbot_wrote_watched"
#: The table a writing statement names (``INSERT INTO x``, ``UPDATE x``, ``DELETE FROM x``).
_WRITTEN_TABLE = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)
#: A PostgreSQL schema name we accept: a plain identifier within the server's 63-byte limit
#: (ASCII, so characters and bytes agree). It is always quoted, so case is kept as written.
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def check_schema(name: str) -> str:
    """``name`` when it is a usable schema name, else ``ValueError`` saying what is allowed.

    It is interpolated into ``search_path`` and ``CREATE SCHEMA``, so only plain identifiers
    pass; ``pg_`` names are the server's own and cannot be created."""
    if not _SCHEMA_NAME.fullmatch(name) or name.lower().startswith("pg_"):
        raise ValueError(
            "a schema is a plain name: letters, digits and underscores, at most 63, "
            "not starting with a digit nor with pg_"
        )
    return name


def normalize_url(url: str) -> str:
    """Pick the async driver when the operator wrote a plain ``sqlite://`` or ``postgresql://`` URL."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def _install_sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA busy_timeout=30000",
            "PRAGMA foreign_keys=ON",
            "PRAGMA synchronous=NORMAL",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A reading session (``Database.reading``) takes no write lock: in WAL mode a plain
        # deferred transaction reads a snapshot alongside the writer.
        reading = connection.get_execution_options().get(READING, False)
        begin = "BEGIN" if reading else "BEGIN IMMEDIATE"
        driver = connection.connection.dbapi_connection
        if isinstance(driver, sqlite_driver.Connection):
            driver.begin_with_next(begin)  # in the first statement's trip to the thread
        else:
            connection.exec_driver_sql(begin)


def _install_write_watch(db: Database) -> None:
    """Report writes to watched tables (``Database.watch``) made by uncached statements."""

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _on_execute(
        connection: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if not db._watched or statement[:1] in ("S", "s", "B", "b"):  # SELECT, BEGIN: no write
            return
        written = _WRITTEN_TABLE.match(statement)
        if written is None or written.group(1) not in db._watched:
            return
        if context is not None and context.execution_options.get(CACHED, False):
            return
        db.forget(written.group(1))
        connection.info.setdefault(_WROTE, set()).add(written.group(1))

    def _on_end(connection: Any) -> None:
        for table in connection.info.get(_WROTE, ()):
            db.forget(table)

    event.listen(db.engine.sync_engine, "commit", _on_end)
    event.listen(db.engine.sync_engine, "rollback", _on_end)

    @event.listens_for(db.engine.sync_engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        # After the commit has completed (the ``commit`` event comes just before it): a
        # transaction that read the old row before this commit may have filled a cache since.
        if record is not None:
            for table in record.info.pop(_WROTE, ()):
                db.forget(table)


class Database:
    """One engine and its session factory, plus the dialect-aware helpers repositories need."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        schema: str = "",
        echo: bool = False,
        **engine_kwargs: Any,
    ) -> None:
        self.url = normalize_url(url)
        #: The PostgreSQL schema every table lives in ("": the server's default search_path),
        #: so that several bots can share one database.
        self.schema = schema
        driver = make_url(self.url).drivername
        if driver == "sqlite+aiosqlite":
            # One trip to aiosqlite's thread per statement (see ``storage.sqlite_driver``).
            engine_kwargs.setdefault("module", sqlite_driver.dbapi())
        if schema:
            check_schema(schema)
            if driver != "postgresql+asyncpg":
                raise ValueError("a schema applies to PostgreSQL only")
            # Only this schema on the path: every unqualified table, alembic_version included,
            # is created and found there, and nothing lands in ``public``.
            connect_args = dict(engine_kwargs.get("connect_args", {}))
            server_settings = dict(connect_args.get("server_settings", {}))
            server_settings["search_path"] = f'"{schema}"'
            engine_kwargs["connect_args"] = {**connect_args, "server_settings": server_settings}
        self.engine: AsyncEngine = create_async_engine(self.url, echo=echo, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            _install_sqlite_pragmas(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        #: What to forget when a watched table is written by a statement not marked ``CACHED``.
        self._watched: dict[str, list[Callable[[], None]]] = {}
        #: Moves on every such write and again when its transaction ends: a cache fills in what
        #: a transaction read only if no such write happened meanwhile (``Database.generation``).
        self.generation = 0
        #: Awaited by ``dispose`` first: connections held outside the pool give themselves up.
        self.closing: list[Callable[[], Awaitable[None]]] = []
        #: SQLite: the event loop's own connection for short writes
        #: (``storage.loop_writes.loop_writes``), made at first use.
        self.loop_writes: object | None = None
        _install_write_watch(self)

    def watch(self, table: str, forget: Callable[[], None]) -> None:
        """Call ``forget`` whenever ``table`` is written by a statement not marked ``CACHED``
        (in this process): at the write, and again once its transaction has ended, so that an
        in-memory copy of the table's rows never outlives a change made behind its back."""
        self._watched.setdefault(table, []).append(forget)

    def forget(self, table: str) -> None:
        """Drop every cache watching ``table`` (a write to it that no cache accounts for)."""
        self.generation += 1
        for forget in self._watched.get(table, ()):
            forget()

    def after_commit(self, session: AsyncSession, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the session's transaction (``Database.transaction``) has
        committed; never after a rollback, nor for a session opened otherwise. Caches fill in
        this way, so a rolled-back transaction leaves nothing behind in memory."""
        session.info.setdefault(_AFTER_COMMIT, []).append(callback)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on any error."""
        # Commit and rollback by hand rather than ``session.begin()``: the same transaction
        # (it begins with the first statement), about 40 µs less per transaction, which the
        # inbound hot path pays for every batch.
        session = self.sessions()
        try:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        finally:
            await session.close()
        for callback in session.info.pop(_AFTER_COMMIT, ()):
            try:
                callback()
            except Exception:  # the transaction committed: it must not read as failed
                log.exception("an after-commit callback failed")

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only, rolled back at the end: no ``BEGIN IMMEDIATE`` on SQLite
        (it does not queue behind writers) and a read-only transaction on PostgreSQL. For
        cheap answers that need no lock (a red packet already empty)."""
        options: dict[str, Any] = {READING: True}
        if self.dialect == "postgresql":
            options["postgresql_readonly"] = True
        async with self.sessions() as session:
            await session.connection(execution_options=options)
            try:
                yield session
            finally:
                await session.rollback()

    def insert(self, table: Any) -> Insert:
        """An ``INSERT`` that supports ``on_conflict_do_nothing/do_update`` on this dialect."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def insert_once(
        self, session: AsyncSession, table: Any, key: str, values: dict[str, Any]
    ) -> int | None:
        """Insert a row whose ``key`` column is unique (the platform update that asked for
        it): its new id, or ``None`` when that key made one already (a redelivered command
        creates nothing twice)."""
        inserted = (
            await session.execute(
                self.insert(table)
                .values(**values)
                .on_conflict_do_nothing(index_elements=[key])
                .returning(table.c.id)
            )
        ).first()
        return int(inserted[0]) if inserted is not None else None

    async def dispose(self) -> None:
        # A closing step may register another (the handled-stamps writer, stopped first,
        # takes the held connection it writes with): run those too, or that connection
        # stays checked out after the pool is gone.
        while self.closing:
            closing, self.closing = self.closing, []
            for close in closing:
                await close()
        await self.engine.dispose()
