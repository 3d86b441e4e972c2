"""Engine factory: SQLite with the pragmas that make it safe under concurrency, or PostgreSQL.

SQLite's deferred transactions fail at once with "database is locked" when two writers
read then write, whatever ``busy_timeout`` says; every transaction therefore starts with
``BEGIN IMMEDIATE`` and waits its turn instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
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

__all__ = ["DEFAULT_URL", "Database", "normalize_url"]

DEFAULT_URL = "sqlite+aiosqlite:///qunbot.db"
#: The execution option that marks a connection as only reading (see ``Database.reading``).
READING = "qunbot_reading"


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
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


class Database:
    """One engine and its session factory, plus the dialect-aware helpers repositories need."""

    def __init__(self, url: str = DEFAULT_URL, *, echo: bool = False, **engine_kwargs: Any) -> None:
        self.url = normalize_url(url)
        self.engine: AsyncEngine = create_async_engine(self.url, echo=echo, **engine_kwargs)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            _install_sqlite_pragmas(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

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
        await self.engine.dispose()
