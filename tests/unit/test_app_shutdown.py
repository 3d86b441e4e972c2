"""A stop never hangs: each step of the shutdown has its deadline within
``[outbound] shutdown_timeout``, and a step that overruns is cut off and logged while the
steps after it (the database's close) still run. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
from rich.console import Console

from bot.app import App
from bot.clock import FakeClock
from bot.config import StorageSettings
from tests.conftest import START
from tests.support import make_settings

TIMEOUT = 1.0


async def test_steps_that_hang_are_cut_off_within_the_timeout(
    app_storage: StorageSettings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        storage=app_storage.model_dump(),
        console={"enabled": True},
        outbound={"shutdown_timeout": TIMEOUT},
    )
    app = App(settings, clock=FakeClock(START), console=Console(file=io.StringIO()))
    app.handle_signals = False
    task = asyncio.create_task(app.run())
    await asyncio.wait_for(app.running.wait(), 20)
    closed: list[str] = []

    async def hang() -> None:
        await asyncio.get_running_loop().create_future()

    really_dispose = app.db.dispose

    async def dispose() -> None:
        closed.append("database")
        await really_dispose()  # no connection left open to the test's schema

    app.ticker.stop = hang  # type: ignore[method-assign]
    assert app.console is not None
    app.console.stop = hang  # type: ignore[method-assign]
    app.db.dispose = dispose  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    with caplog.at_level(logging.WARNING):
        started = loop.time()
        app.request_stop()
        await asyncio.wait_for(task, 10)
        took = loop.time() - started
    assert took <= TIMEOUT + 0.3
    assert "stopping the ticks took too long" in caplog.text
    assert "closing console took too long" in caplog.text
    assert closed == ["database"]  # the steps after a stuck one still ran
