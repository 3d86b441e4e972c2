"""``[storage] schema``: several bots share one PostgreSQL database, each in its own schema.
The ``qunbot`` commands run as processes on a fresh database with the schema in the config
file; every table, Alembic's version table included, lands in that schema and none in
``public``. Values the server would misread, or a schema on SQLite, are refused up front."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from storage import Database
from storage.tables import metadata
from tests.e2e.test_cli import (
    HERE,
    START,
    drop_postgres_database,
    fresh_postgres_database,
    run,
)

DEMO = {"QUNBOT_CONSOLE__START_TIME": START}


def write_config(folder: Path, url: str, schema: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "config.toml"
    text = f"[storage]\nurl = {json.dumps(url)}\nschema = {json.dumps(schema)}\n"
    path.write_text(text, encoding="utf-8")
    return path


def tables_by_schema(url: str) -> dict[str, set[str]]:
    """Every table of the database, by schema (the server's own left out)."""

    async def go() -> dict[str, set[str]]:
        db = Database(url)
        try:
            async with db.engine.connect() as connection:
                rows = await connection.exec_driver_sql(
                    "SELECT schemaname, tablename FROM pg_tables"
                    " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                )
                found: dict[str, set[str]] = {}
                for schema, table in rows:
                    found.setdefault(schema, set()).add(table)
                return found
        finally:
            await db.dispose()

    return asyncio.run(go())


@pytest.mark.postgres
def test_two_bots_share_one_database_each_in_its_schema(tmp_path: Path) -> None:
    url = fresh_postgres_database(tmp_path)
    try:
        bots = {name: write_config(tmp_path / name, url, name) for name in ("bot_one", "BotTwo")}
        for config in bots.values():
            before = run("db", "current", "--config", str(config), cwd=tmp_path)
            assert before.returncode == 0 and "empty" in before.stdout, before.stderr
            upgraded = run("db", "upgrade", "--config", str(config), cwd=tmp_path)
            assert upgraded.returncode == 0, upgraded.stderr
            current = run("db", "current", "--config", str(config), cwd=tmp_path)
            assert current.returncode == 0 and "up to date" in current.stdout, current.stderr
            verified = run("ledger", "verify", "--config", str(config), cwd=tmp_path)
            assert verified.returncode == 0 and verified.stdout.strip() == "OK", verified.stderr
        expected = {*metadata.tables, "alembic_version"}
        # Case is kept as written: the name is always quoted.
        assert tables_by_schema(url) == {"bot_one": expected, "BotTwo": expected}
    finally:
        drop_postgres_database(url)


@pytest.mark.postgres
def test_the_bot_runs_in_the_schema_the_environment_names(tmp_path: Path) -> None:
    """``qunbot run`` creates and migrates the schema on its first start, and works there."""
    url = fresh_postgres_database(tmp_path)
    try:
        env = {"QUNBOT_STORAGE__URL": url, "QUNBOT_STORAGE__SCHEMA": "from_env"}
        demo = run("run", "--script", str(HERE / "demo.script"), cwd=tmp_path, env=env | DEMO)
        assert demo.returncode == 0, demo.stderr
        assert demo.stdout == (HERE / "demo.transcript").read_text(encoding="utf-8")
        assert set(tables_by_schema(url)) == {"from_env"}
        verified = run("ledger", "verify", cwd=tmp_path, env=env)
        assert verified.returncode == 0 and verified.stdout.strip() == "OK", verified.stderr
    finally:
        drop_postgres_database(url)


@pytest.mark.parametrize(
    "schema",
    ["bot-one", "1bot", "bot one", 'bot"; DROP TABLE x; --', "b" * 64, "pg_bot", "бот"],
)
def test_a_malformed_schema_is_refused(tmp_path: Path, schema: str) -> None:
    config = write_config(tmp_path, "postgresql+asyncpg://u@127.0.0.1/db", schema)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert "storage.schema" in str(caught.value)
    assert "letters, digits and underscores" in str(caught.value)
    with pytest.raises(ValueError, match="plain name"):
        Database("postgresql+asyncpg://u@127.0.0.1/db", schema=schema)


def test_the_longest_plain_schema_is_accepted(tmp_path: Path) -> None:
    name = "b" * 63
    settings, _ = load_config(write_config(tmp_path, "postgresql+asyncpg://u@h/db", name))
    assert settings.storage.schema == name


def test_a_schema_on_sqlite_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "bot_one")
    with pytest.raises(ConfigError, match="PostgreSQL only"):
        load_config(config)
    with pytest.raises(ValueError, match="PostgreSQL only"):
        Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", schema="bot_one")
    checked = run("config", "check", "--config", str(config), cwd=tmp_path)
    assert checked.returncode != 0 and "PostgreSQL only" in checked.stderr, checked.stderr
