"""In-memory ticks on APScheduler 3.11.

APScheduler only says "now is a good time to look"; what is due lives in our own tables and
each tick reads the injectable clock. Job stores stay in memory: sharing one between processes
double-runs or misses jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

__all__ = ["Ticker"]

log = logging.getLogger(__name__)

TickFn = Callable[[], Awaitable[object]]


class Ticker:
    """Named periodic ticks. ``run_all`` fires every tick at once (tests, the console's ``/clock``)."""

    def __init__(self) -> None:
        self._ticks: dict[str, tuple[timedelta, TickFn]] = {}
        self._scheduler: AsyncIOScheduler | None = None

    def add(self, name: str, every: timedelta, tick: TickFn) -> None:
        if name in self._ticks:
            raise ValueError(f"tick {name!r} added twice")
        self._ticks[name] = (every, tick)

    @property
    def names(self) -> list[str]:
        return list(self._ticks)

    async def run(self, name: str) -> None:
        """Run one tick now; a failing tick is logged and never stops the others."""
        _every, tick = self._ticks[name]
        try:
            await tick()
        except Exception:
            log.exception("tick %s failed", name)

    async def run_all(self) -> None:
        for name in self._ticks:
            await self.run(name)

    def start(self) -> None:
        """Start APScheduler in the running event loop."""
        scheduler = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": AsyncIOExecutor()},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )
        for name, (every, _tick) in self._ticks.items():
            scheduler.add_job(
                self.run, "interval", args=[name], seconds=every.total_seconds(), id=name
            )
        scheduler.start()
        self._scheduler = scheduler

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
