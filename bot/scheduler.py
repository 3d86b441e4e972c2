"""In-memory ticks on APScheduler 3.11.

APScheduler only says "now is a good time to look"; what is due lives in our own tables and
each tick reads the injectable clock. Job stores stay in memory: sharing one between processes
double-runs or misses jobs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

__all__ = ["Ticker"]

log = logging.getLogger(__name__)

TickFn = Callable[[], Awaitable[object]]


class _QuietCancellation(logging.Filter):
    """APScheduler logs a job task cancelled at shutdown as an ERROR with a traceback;
    stopping is not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, asyncio.CancelledError)


_QUIET = _QuietCancellation()


class Ticker:
    """Named periodic ticks. ``run_all`` fires every tick at once (tests, the console's ``/clock``)."""

    def __init__(self) -> None:
        self._ticks: dict[str, tuple[timedelta, TickFn]] = {}
        self._scheduler: AsyncIOScheduler | None = None
        #: Ticks running now, by name: the ticker (not APScheduler) owns them and cancels
        #: them quietly when it stops.
        self._running: dict[str, asyncio.Task[None]] = {}

    def add(self, name: str, every: timedelta, tick: TickFn) -> None:
        if name in self._ticks:
            raise ValueError(f"tick {name!r} added twice")
        self._ticks[name] = (every, tick)

    @property
    def names(self) -> list[str]:
        return list(self._ticks)

    async def _fire(self, name: str) -> None:
        """APScheduler's job: start the tick in a task of the ticker's own and return at once.

        A tick still running when its next turn comes is left alone (one at a time).
        """
        if name in self._running:
            log.debug("tick %s is still running; this turn is skipped", name)
            return
        task = asyncio.get_running_loop().create_task(self.run(name), name=f"tick {name}")
        self._running[name] = task
        task.add_done_callback(lambda _done: self._running.pop(name, None))

    async def run(self, name: str) -> None:
        """Run one tick now; a failing tick is logged and never stops the others.
        Cancellation (the bot stopping) passes through: it is not a failure."""
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
                self._fire, "interval", args=[name], seconds=every.total_seconds(), id=name
            )
        executor_log = logging.getLogger("apscheduler.executors.default")
        if _QUIET not in executor_log.filters:
            executor_log.addFilter(_QUIET)
        scheduler.start()
        self._scheduler = scheduler

    def shutdown(self) -> None:
        """Stop scheduling and cancel the ticks running now (``stop`` also waits for them)."""
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
        for task in self._running.values():
            task.cancel()

    async def stop(self) -> None:
        """``shutdown``, then wait until the cancelled ticks have unwound (their transactions
        rolled back) so nothing is left running when the database closes."""
        self.shutdown()
        running = list(self._running.values())
        if running:
            await asyncio.gather(*running, return_exceptions=True)
