"""The real discord.py client inside the real app, against the fake gateway and REST server."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import Settings
from bot.features import Feature
from handlers import all_features
from tests.adapters.discord.fake_discord import FakeDiscord

GUILD = 1300000000000000001
CHANNEL = 1300000000000000002
BOT_ID = 1300000000000000900
APP_ID = 1300000000000000901

StartBot = Callable[..., Awaitable[tuple[App, FakeDiscord]]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(bot_id=BOT_ID, bot_name="qunbot", application_id=APP_ID) as server:
        server.add_guild(GUILD, "Test Guild", channels=[(CHANNEL, "general")])
        yield server


Started = list[tuple[App, asyncio.Task[None]]]


def app_on(
    fake: FakeDiscord, database: Path, sqlite_template: Path, *extra: Feature, **discord: Any
) -> App:
    """The app with Discord on ``fake`` (its own settings point it there), data in ``database``."""
    settings = Settings(
        storage={"url": f"sqlite+aiosqlite:///{database}"},  # type: ignore[arg-type]
        console={"enabled": False},  # type: ignore[arg-type]
        discord={  # type: ignore[arg-type]
            "token": "discord-test-token",
            "api_base": fake.api_base,
            "gateway_url": fake.gateway_url,
            "guild_ready_timeout": 0.1,
            "connect_timeout": 10,
            **discord,
        },
    )
    if not database.exists():  # the schema the migrations make; a restart keeps the data
        shutil.copyfile(sqlite_template, database)
    app = App(settings, features=[*all_features(), *extra])
    app.handle_signals = False  # Ctrl-C and SIGTERM stay pytest's: they end the run
    return app


async def launch(
    started: Started,
    fake: FakeDiscord,
    database: Path,
    sqlite_template: Path,
    *extra: Feature,
    **discord: Any,
) -> App:
    """Run ``app_on(...)`` until it is running; the app joins ``started`` at once, so
    ``stop_all`` ends it even when it failed to start."""
    app = app_on(fake, database, sqlite_template, *extra, **discord)
    task = asyncio.create_task(app.run())
    started.append((app, task))
    running = asyncio.create_task(app.running.wait())
    done, _ = await asyncio.wait({task, running}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        running.cancel()
        task.result()  # raises the start-up error
    assert running in done, "the bot did not start"
    return app


async def stop_all(started: Started) -> None:
    """Ask every started app to stop and wait until each has."""
    for app, task in started:
        app.request_stop()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), timeout=20)


@pytest.fixture
async def start_bot(
    fake: FakeDiscord,
    tmp_path: Path,
    sqlite_template: Path,
) -> AsyncIterator[StartBot]:
    """Start the app with Discord on the fake (its own settings point it there); stop it after."""
    started: Started = []

    async def start(*extra: Feature, **discord: Any) -> tuple[App, FakeDiscord]:
        app = await launch(started, fake, tmp_path / "dc.db", sqlite_template, *extra, **discord)
        return app, fake

    yield start
    await stop_all(started)
