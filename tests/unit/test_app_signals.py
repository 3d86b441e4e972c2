"""The bot handles Ctrl-C and SIGTERM only while it serves, and only when asked to: a stopped
bot, or one embedded in a test run, must never swallow the signals that end the program.
On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import signal

from rich.console import Console

from bot.app import App
from bot.clock import FakeClock
from bot.config import StorageSettings
from tests.conftest import START
from tests.support import make_settings

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def quiet_app(storage: StorageSettings) -> App:
    settings = make_settings(storage=storage.model_dump(), console={"enabled": True})
    return App(settings, clock=FakeClock(START), console=Console(file=io.StringIO()))


async def serve(app: App) -> asyncio.Task[None]:
    task = asyncio.create_task(app.run())
    await asyncio.wait_for(app.running.wait(), 20)
    return task


async def test_a_stopped_bot_gives_the_signals_back(app_storage: StorageSettings) -> None:
    before = {number: signal.getsignal(number) for number in SIGNALS}
    app = quiet_app(app_storage)
    task = await serve(app)
    serving = {number: signal.getsignal(number) for number in SIGNALS}
    app.request_stop()
    await asyncio.wait_for(task, 20)
    assert all(serving[number] is not before[number] for number in SIGNALS)  # the bot's own
    assert {number: signal.getsignal(number) for number in SIGNALS} == before


async def test_a_bot_told_to_leave_the_signals_alone_does(app_storage: StorageSettings) -> None:
    before = {number: signal.getsignal(number) for number in SIGNALS}
    app = quiet_app(app_storage)
    app.handle_signals = False
    task = await serve(app)
    try:
        assert {number: signal.getsignal(number) for number in SIGNALS} == before
    finally:
        app.request_stop()
        await asyncio.wait_for(task, 20)
