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


@pytest.fixture
async def start_bot(
    fake: FakeDiscord,
    tmp_path: Path,
    sqlite_template: Path,
) -> AsyncIterator[StartBot]:
    """Start the app with Discord on the fake; stop it and restore discord.py's URLs afterwards."""
    started: list[tuple[App, asyncio.Task[None]]] = []
    patch = fake.patch_discord()

    async def start(
        *extra: Feature, expect_failure: bool = False, **discord: Any
    ) -> tuple[App, FakeDiscord]:
        settings = Settings(
            storage={"url": f"sqlite+aiosqlite:///{tmp_path / 'dc.db'}"},  # type: ignore[arg-type]
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
        database = tmp_path / "dc.db"
        if not database.exists():  # the schema the migrations make; a restart keeps the data
            shutil.copyfile(sqlite_template, database)
        app = App(settings, features=[*all_features(), *extra])
        app.handle_signals = False  # Ctrl-C and SIGTERM stay pytest's: they end the run
        task = asyncio.create_task(app.run())
        started.append((app, task))
        running = asyncio.create_task(app.running.wait())
        done, _ = await asyncio.wait(
            {task, running}, timeout=20, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            running.cancel()
            task.result()  # raises the start-up error
        assert running in done, "the bot did not start"
        return app, fake

    yield start
    for app, task in started:
        app.request_stop()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), timeout=20)
    patch()
