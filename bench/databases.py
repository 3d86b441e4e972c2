"""The databases a benchmark runs on: a fresh SQLite file, and a fresh schema on PostgreSQL
when a URL is given (``--postgres`` or ``$QUNBOT_TEST_POSTGRES_URL``), dropped afterwards."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from storage import Database

__all__ = ["fresh_databases"]


@asynccontextmanager
async def _sqlite() -> AsyncIterator[Database]:
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite+aiosqlite:///{folder}/bench.db")
        try:
            yield db
        finally:
            await db.dispose()


@asynccontextmanager
async def _postgres(url: str) -> AsyncIterator[Database]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = Database(url)
    async with admin.engine.begin() as connection:
        await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    db = Database(url, connect_args={"server_settings": {"search_path": schema}})
    try:
        yield db
    finally:
        await db.dispose()
        async with admin.engine.begin() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.dispose()


async def fresh_databases(postgres_url: str) -> AsyncIterator[tuple[str, Database]]:
    """``("sqlite", db)``, then ``("postgresql", db)`` if ``postgres_url`` is set."""
    async with _sqlite() as db:
        yield "sqlite", db
    if postgres_url:
        async with _postgres(postgres_url) as db:
            yield "postgresql", db
