"""A real python-telegram-bot adapter inside the real app, against the fake Bot API server."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import Settings
from bot.features import Feature
from handlers import all_features
from tests.adapters.telegram.fake_bot_api import FakeBotAPI

TOKEN = "123456:TEST-token"
BOT_ID = 123456
GROUP = -1001234567890  # a supergroup id: more than 32 bits, stored as a string


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


StartBot = Callable[..., Awaitable[tuple[App, FakeBotAPI]]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN, bot_id=BOT_ID, username="qunbot_bot") as server:
        server.set_member(GROUP, BOT_ID, "administrator")
        yield server


@pytest.fixture
async def start_bot(
    fake: FakeBotAPI,
    tmp_path: Path,
    sqlite_template: Path,
) -> AsyncIterator[StartBot]:
    """Start the app with Telegram on the fake; stop it (and check it stopped) afterwards."""
    started: list[tuple[App, asyncio.Task[None]]] = []

    async def start(*extra: Feature, **telegram: Any) -> tuple[App, FakeBotAPI]:
        settings = Settings(
            storage={"url": f"sqlite+aiosqlite:///{tmp_path / 'tg.db'}"},  # type: ignore[arg-type]
            console={"enabled": False},  # type: ignore[arg-type]
            telegram={  # type: ignore[arg-type]
                "token": TOKEN,
                "base_url": fake.base_url,
                "base_file_url": fake.base_file_url,
                "poll_timeout": 0.5,
                "request_timeout": 5,
                **telegram,
            },
        )
        database = tmp_path / "tg.db"
        if not database.exists():  # the schema the migrations make; a restart keeps the data
            shutil.copyfile(sqlite_template, database)
        app = App(settings, features=[*all_features(), *extra])
        app.handle_signals = False  # Ctrl-C and SIGTERM stay pytest's: they end the run
        task = asyncio.create_task(app.run())
        started.append((app, task))
        running = asyncio.create_task(app.running.wait())
        done, _ = await asyncio.wait(
            {task, running}, timeout=15, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()  # raises the start-up error
        assert running in done, "the bot did not start"
        return app, fake

    yield start
    for app, task in started:
        app.request_stop()
        await asyncio.wait_for(task, timeout=15)
