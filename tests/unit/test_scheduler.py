"""The APScheduler wrapper: jobs in memory, one per tick; a failing tick never stops the others."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from bot.scheduler import Ticker


async def test_ticks_become_in_memory_interval_jobs_and_fail_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []

    async def broken() -> None:
        raise RuntimeError("tick exploded")

    async def fine() -> None:
        ran.append("fine")

    ticker = Ticker()
    ticker.add("broken", timedelta(minutes=1), broken)
    ticker.add("fine", timedelta(hours=1), fine)
    with pytest.raises(ValueError):
        ticker.add("fine", timedelta(hours=1), fine)
    ticker.start()
    try:
        scheduler = ticker._scheduler
        assert scheduler is not None and scheduler.running
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {"broken", "fine"}
        assert jobs["fine"].trigger.interval == timedelta(hours=1)
        assert type(scheduler._jobstores["default"]).__name__ == "MemoryJobStore"
        with caplog.at_level(logging.ERROR):
            await ticker.run_all()
        assert ran == ["fine"]
        assert "tick broken failed" in caplog.text
    finally:
        ticker.shutdown()
    assert ticker._scheduler is None


async def test_housekeeping_tick_prunes_old_dedupe_rows(harness) -> None:  # type: ignore[no-untyped-def]
    from handlers.housekeeping import prune_processed_updates

    await harness.send(harness.message("/start", key="old"))
    await harness.dispatcher.flush()  # marked handled (an unhandled row is never pruned)
    harness.clock.advance(timedelta(days=3))
    assert await prune_processed_updates(harness.dispatcher.tick_context()) == 1
    # the same update key is then new again (Telegram would not redeliver it after 24 h)
    assert len(await harness.send(harness.message("/start", key="old"))) == 1


async def test_stopping_during_a_scheduled_tick_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """APScheduler fires a tick; the bot stops while it runs: the tick is cancelled, nothing
    is logged as an error (APScheduler used to log the cancellation with a traceback)."""
    import asyncio
    from datetime import UTC, datetime

    started = asyncio.Event()
    outcome: list[str] = []

    async def slow() -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # until cancelled
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    ticker = Ticker()
    ticker.add("slow", timedelta(hours=1), slow)
    caplog.set_level(logging.DEBUG)
    ticker.start()
    scheduler = ticker._scheduler
    assert scheduler is not None
    scheduler.get_job("slow").modify(next_run_time=datetime.now(UTC))  # due now, no waiting
    scheduler.wakeup()
    await asyncio.wait_for(started.wait(), timeout=10)
    await ticker.stop()
    assert outcome == ["cancelled"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_ctrl_c_during_a_console_tick_stops_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``/clock`` runs the ticks inside the console; a stop (what Ctrl-C asks for) while one
    runs ends ``App.run`` normally, the tick cancelled, no ERROR and no traceback logged."""
    import asyncio
    import io

    from rich.console import Console

    from bot.app import App
    from bot.clock import FakeClock
    from bot.config import Settings
    from bot.context import TickContext
    from bot.features import Feature
    from handlers import all_features
    from tests.conftest import START

    started = asyncio.Event()
    outcome: list[str] = []
    feature = Feature("slowtick")

    @feature.tick("slow", every=timedelta(hours=1))
    async def slow(_ctx: TickContext) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    settings = Settings(
        storage={"url": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"},  # type: ignore[arg-type]
        console={"enabled": True},  # type: ignore[arg-type]
    )
    screen = io.StringIO()
    app = App(
        settings,
        clock=FakeClock(START),
        console=Console(file=screen, soft_wrap=True, no_color=True),
        features=[*all_features(), feature],
    )
    caplog.set_level(logging.INFO)
    run = asyncio.create_task(app.run(["/clock +1h", "/start"]))
    await asyncio.wait_for(started.wait(), timeout=20)
    app.request_stop()
    await asyncio.wait_for(run, timeout=20)  # returns: no CancelledError, no exception
    assert outcome == ["cancelled"]
    assert "小群>" not in screen.getvalue()  # the script stopped at the tick
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
