"""Shared fixtures: databases (SQLite always, PostgreSQL when configured), clock, harness."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.clock import FakeClock
from bot.config import StorageSettings
from storage import Database, Store, migrate
from tests.support import Harness, make_settings, where_it_waits

T = TypeVar("T")

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


#: Seconds before pytest-timeout's own dump at which the asyncio tasks are printed.
TASK_DUMP_AHEAD = 2.0
_task_dumps: pytest.StashKey[threading.Timer] = pytest.StashKey()


def _running_loop_of_main_thread() -> asyncio.AbstractEventLoop | None:
    """The event loop the main thread is running, found from its frames (a watchdog thread
    has no other way to reach it)."""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, asyncio.AbstractEventLoop):
            return candidate
        frame = frame.f_back
    return None


def _dump_tasks(nodeid: str) -> None:
    """A stuck event loop shows only ``select`` in a thread's stack: print where each of its
    tasks waits (read from another thread: good enough for a loop that is stuck)."""
    loop = _running_loop_of_main_thread()
    out = sys.__stderr__
    if loop is None or out is None:
        return
    print(f"\n+++ asyncio tasks of {nodeid} (about to time out) +++", file=out)
    for task in asyncio.all_tasks(loop):
        print(f"--- {task.get_name()}", file=out)
        for line in where_it_waits(task):
            print(f"    {line}", file=out)
    out.flush()


@pytest.hookimpl
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> None:
    """Besides pytest-timeout's dump of every thread, print the asyncio tasks just before."""
    if settings.timeout and settings.timeout > TASK_DUMP_AHEAD:
        timer = threading.Timer(settings.timeout - TASK_DUMP_AHEAD, _dump_tasks, (item.nodeid,))
        timer.daemon = True
        timer.start()
        item.stash[_task_dumps] = timer
    # None: pytest-timeout still sets its own timer


@pytest.hookimpl
def pytest_timeout_cancel_timer(item: pytest.Item) -> None:
    timer = item.stash.get(_task_dumps, None)
    if timer is not None:
        timer.cancel()


async def _create_schema() -> str:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(POSTGRES_URL)
    try:
        async with admin.engine.begin() as connection:
            await connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except Exception as error:  # unreachable server
        message = f"PostgreSQL at {POSTGRES_URL} is unreachable: {error}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        await admin.dispose()
    return schema


def _in_schema(schema: str) -> Database:
    return Database(POSTGRES_URL, schema=schema)


async def _drop_schema(schema: str) -> None:
    admin = Database(POSTGRES_URL)
    try:
        async with admin.engine.begin() as connection:
            # A connection a test leaked may hold a lock: fail, do not wait for it forever.
            await connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            await connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.dispose()


def _run_aside(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on its own loop in another thread: session fixtures are synchronous and
    must not touch the loop pytest-asyncio gives each test."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


#: How long cleaning up after a test may wait for a lock before giving the schema up.
LOCK_TIMEOUT = "5s"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file at the newest schema; each test gets a copy. Migrating costs about a
    second per test on a loaded machine, copying a few milliseconds, and the result is the
    same file the migrations make (``tests/storage/test_migrations.py`` still migrates an
    empty database on every backend)."""
    path = tmp_path_factory.mktemp("schema") / "head.db"

    async def build() -> None:
        database = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate.upgrade(database)
        finally:
            await database.dispose()

    _run_aside(build)
    return path


def _sqlite_copy(template: Path, tmp_path: Path) -> Database:
    target = tmp_path / "test.db"
    shutil.copyfile(template, target)
    return Database(f"sqlite+aiosqlite:///{target}")


class SchemaPool:
    """PostgreSQL schemas at the newest revision, reused between tests.

    Creating and migrating a schema takes about 4 s on a loaded machine; emptying one with
    ``TRUNCATE ... RESTART IDENTITY`` (ids start again at 1, as in a new schema) a fraction
    of that. A schema whose tables a test changed, or that cannot be emptied at once (a
    leaked connection holds a lock), is dropped instead, never reused.
    """

    def __init__(self) -> None:
        self.free: list[str] = []
        self.made: list[str] = []
        self.tables: frozenset[str] | None = None

    async def take(self) -> str:
        if self.free:
            return self.free.pop()
        schema = await _create_schema()
        self.made.append(schema)
        database = _in_schema(schema)
        try:
            await migrate.upgrade(database)
            if self.tables is None:
                self.tables = await self._tables(database)
        finally:
            await database.dispose()
        return schema

    @staticmethod
    async def _tables(database: Database) -> frozenset[str]:
        async with database.engine.connect() as connection:
            rows = await connection.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
            return frozenset(row[0] for row in rows)

    async def give_back(self, schema: str) -> None:
        """Empty the schema for the next test, or drop it."""
        database = _in_schema(schema)
        try:
            if await self._tables(database) != self.tables:
                raise RuntimeError(f"schema {schema} changed its tables")
            names = ", ".join(f'"{t}"' for t in sorted(self.tables or ()) if t != "alembic_version")
            async with database.engine.begin() as connection:
                await connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                await connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        except Exception:
            await database.dispose()
            await _drop_schema(schema)
            self.made.remove(schema)
            return
        await database.dispose()
        self.free.append(schema)

    async def drop_all(self) -> None:
        for schema in self.made:
            await _drop_schema(schema)
        self.made.clear()
        self.free.clear()


@pytest.fixture(scope="session")
def schema_pool() -> Iterator[SchemaPool]:
    pool = SchemaPool()
    yield pool
    if pool.made:
        _run_aside(pool.drop_all)


@pytest.fixture(params=_backends())
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database with no schema, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        yield db
        await db.dispose()
        return
    schema = await _create_schema()
    db = _in_schema(schema)
    try:
        yield db
    finally:
        await db.dispose()
        await _drop_schema(schema)


@pytest.fixture(params=_backends())
async def db(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    schema_pool: SchemaPool,
) -> AsyncIterator[Database]:
    """A database at the newest schema, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        database = _sqlite_copy(sqlite_template, tmp_path)
        yield database
        await database.dispose()
        return
    schema = await schema_pool.take()
    database = _in_schema(schema)
    try:
        yield database
    finally:
        await database.dispose()
        await schema_pool.give_back(schema)


@pytest.fixture(params=_backends())
async def app_storage(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    schema_pool: SchemaPool,
) -> AsyncIterator[StorageSettings]:
    """``[storage]`` settings for a whole ``App`` (or a ``qunbot`` process), on SQLite and on
    PostgreSQL: a copy of the migrated SQLite file, or a migrated and emptied schema from the
    pool named by ``[storage] schema``. Open it as the bot does with ``tests.support.
    open_database``; hand it to a process with ``tests.support.storage_environment``."""
    if request.param == "sqlite":
        target = tmp_path / "app.db"
        shutil.copyfile(sqlite_template, target)
        yield StorageSettings(url=f"sqlite+aiosqlite:///{target}")
        return
    schema = await schema_pool.take()
    try:
        yield StorageSettings(url=POSTGRES_URL, schema=schema)
    finally:
        await schema_pool.give_back(schema)


@pytest.fixture
async def sqlite_db(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Database]:
    """SQLite only, for tests about dispatch rather than storage."""
    database = _sqlite_copy(sqlite_template, tmp_path)
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
