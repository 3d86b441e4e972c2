"""Shared fixtures: databases (SQLite always, PostgreSQL when configured), clock, harness."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.clock import FakeClock
from storage import Database, Store, migrate
from tests.support import Harness, make_settings

POSTGRES_URL = os.environ.get("QUNBOT_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("QUNBOT_TEST_REQUIRE_POSTGRES", "") == "1"

#: 09:00 in Shanghai on 2026-11-21.
START = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)

# Keep every test on loopback even where a proxy is configured.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


def _backends() -> list[object]:
    postgres = pytest.param("postgres", marks=pytest.mark.postgres)
    return ["sqlite", postgres]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_URL:
        return
    if REQUIRE_POSTGRES:
        raise pytest.UsageError(
            "QUNBOT_TEST_REQUIRE_POSTGRES=1 but QUNBOT_TEST_POSTGRES_URL is not set"
        )
    skip = pytest.mark.skip(reason="set QUNBOT_TEST_POSTGRES_URL to run the PostgreSQL tests")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


async def _postgres_database() -> tuple[Database, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(POSTGRES_URL)
    try:
        async with admin.engine.begin() as connection:
            await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except Exception as error:  # unreachable server
        await admin.dispose()
        message = f"PostgreSQL at {POSTGRES_URL} is unreachable: {error}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    await admin.dispose()
    db = Database(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
    return db, schema


async def _drop_schema(schema: str) -> None:
    admin = Database(POSTGRES_URL)
    async with admin.engine.begin() as connection:
        await connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    await admin.dispose()


@pytest.fixture(params=_backends())
async def empty_db(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    """A database with no schema, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        yield db
        await db.dispose()
        return
    db, schema = await _postgres_database()
    try:
        yield db
    finally:
        await db.dispose()
        await _drop_schema(schema)


@pytest.fixture
async def db(empty_db: Database) -> Database:
    """A database at the newest schema."""
    await migrate.upgrade(empty_db)
    return empty_db


@pytest.fixture
async def sqlite_db(tmp_path) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    """SQLite only, for tests about dispatch rather than storage."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    await migrate.upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture
def store(db: Database) -> Store:
    return Store(db)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def settings():  # type: ignore[no-untyped-def]
    return make_settings()


@pytest.fixture
def harness(sqlite_db: Database, settings, clock: FakeClock) -> Harness:  # type: ignore[no-untyped-def]
    return Harness(store=Store(sqlite_db), settings=settings, clock=clock)


@pytest.fixture
def any_harness(db: Database, settings, clock: FakeClock) -> Harness:  # type: ignore[no-untyped-def]
    """The harness on SQLite and on PostgreSQL."""
    return Harness(store=Store(db), settings=settings, clock=clock)
