"""The APScheduler wrapper: jobs in memory, one per tick; a failing tick never stops the others."""

from __future__ import annotations

import logging
from datetime import timedelta

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
    harness.clock.advance(timedelta(days=3))
    assert await prune_processed_updates(harness.dispatcher.tick_context()) == 1
    # the same update key is then new again (Telegram would not redeliver it after 24 h)
    assert len(await harness.send(harness.message("/start", key="old"))) == 1
