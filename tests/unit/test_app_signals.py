"""The bot handles Ctrl-C and SIGTERM only while it serves, and only when asked to: a stopped
bot, or one embedded in a test run, must never swallow the signals that end the program."""

from __future__ import annotations

import asyncio
import io
import shutil
import signal
from pathlib import Path

from rich.console import Console

from bot.app import App
from bot.clock import FakeClock
from tests.conftest import START
from tests.support import make_settings

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def quiet_app(tmp_path: Path, template: Path) -> App:
    shutil.copyfile(template, tmp_path / "signals.db")
    settings = make_settings(
        storage={"url": f"sqlite+aiosqlite:///{tmp_path / 'signals.db'}"},
        console={"enabled": True},
    )
    return App(settings, clock=FakeClock(START), console=Console(file=io.StringIO()))


async def serve(app: App) -> asyncio.Task[None]:
    task = asyncio.create_task(app.run())
    await asyncio.wait_for(app.running.wait(), 20)
    return task


async def test_a_stopped_bot_gives_the_signals_back(tmp_path: Path, sqlite_template: Path) -> None:
    before = {number: signal.getsignal(number) for number in SIGNALS}
    app = quiet_app(tmp_path, sqlite_template)
    task = await serve(app)
    serving = {number: signal.getsignal(number) for number in SIGNALS}
    app.request_stop()
    await asyncio.wait_for(task, 20)
    assert all(serving[number] is not before[number] for number in SIGNALS)  # the bot's own
    assert {number: signal.getsignal(number) for number in SIGNALS} == before


async def test_a_bot_told_to_leave_the_signals_alone_does(
    tmp_path: Path, sqlite_template: Path
) -> None:
    before = {number: signal.getsignal(number) for number in SIGNALS}
    app = quiet_app(tmp_path, sqlite_template)
    app.handle_signals = False
    task = await serve(app)
    try:
        assert {number: signal.getsignal(number) for number in SIGNALS} == before
    finally:
        app.request_stop()
        await asyncio.wait_for(task, 20)
