"""A stop never hangs: each step of the shutdown has its deadline within
``[outbound] shutdown_timeout``, and a step that overruns is cut off and logged while the
steps after it (the database's close) still run. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
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


def test_a_task_that_ignores_cancellation_does_not_hold_the_exit() -> None:
    """What a stop left behind (a session's close on a connection that does not answer: no
    cancel cuts it short) must not keep the process from exiting: ``asyncio.run`` would wait
    for it forever after the bot's own, bounded, shutdown."""
    import threading
    import time

    from bot.cli import run_bounded

    async def main() -> str:
        async def close_on_a_hung_connection() -> None:
            never = asyncio.get_running_loop().create_future()
            while True:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(never)

        asyncio.get_running_loop().create_task(close_on_a_hung_connection())
        await asyncio.sleep(0)
        return "stopped"

    outcome: list[object] = []
    runner = threading.Thread(
        target=lambda: outcome.append(run_bounded(main(), grace=0.2)), daemon=True
    )
    started = time.monotonic()
    runner.start()
    runner.join(timeout=5)  # a hang fails the test here, not the whole run
    assert outcome == ["stopped"]
    assert time.monotonic() - started < 2.0
