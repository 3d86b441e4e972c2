"""The composition root: config in, a running bot out. The only ``bot`` module that knows
the adapters and the handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Coroutine, Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console

from adapters.base import Adapter
from adapters.console import ConsoleAdapter
from bot.clock import Clock, FakeClock, OffsetClock, RepeatableEntropy, SystemClock
from bot.config import ConfigError, FeatureSections, Settings, StartupError, example_toml
from bot.dispatch import Dispatcher
from bot.features import Feature, Registry, RegistryError
from bot.governor import Governor, Limits
from bot.scheduler import Ticker
from handlers import all_features
from persona import Renderer
from storage import Database, Store, migrate

__all__ = ["App", "check_settings", "config_example", "feature_sections"]

log = logging.getLogger(__name__)


def _console_clock(settings: Settings) -> FakeClock | OffsetClock:
    if settings.console.start_time:
        return FakeClock(datetime.fromisoformat(settings.console.start_time))
    return OffsetClock(SystemClock())


#: Discord: 50 requests/s for a bot, about 5 messages per 5 s in a channel; discord.py also
#: keeps Discord's own per-route buckets.
DISCORD_LIMITS = Limits(
    global_limit=50,
    global_period=1.0,
    group_limit=5,
    group_period=5.0,
    private_limit=5,
    private_period=5.0,
)


def check_settings(settings: Settings, features: Iterable[Feature] | None = None) -> Registry:
    """Everything that must hold before anything starts; raises ``ConfigError``.

    ``qunbot config check`` and ``qunbot run`` share it, so a config that passes the check
    also starts.
    """
    problems = []
    telegram = settings.telegram
    if telegram.token is not None and telegram.mode == "webhook" and not telegram.webhook_url:
        problems.append("telegram.webhook_url: webhook mode needs the public HTTPS URL")
    if not settings.console_enabled and not any(
        getattr(settings, name).token for name in ("telegram", "discord")
    ):
        problems.append(
            "console.enabled: no adapter is enabled (set a token or enable the console)"
        )
    registry: Registry | None = None
    try:
        registry = Registry(features if features is not None else all_features(), settings.keywords)
    except RegistryError as error:
        problems.append(f"keywords: {error}")
    if problems or registry is None:
        raise ConfigError("config", problems)
    settings.with_sections(registry.sections)  # a bad feature section: its key, its source
    return registry


def feature_sections(features: Iterable[Feature] | None = None) -> FeatureSections:
    """The config sections the features declare (all shipped features by default)."""
    return Registry(features if features is not None else all_features()).sections


def config_example() -> str:
    """``config.example.toml`` as the shipped features' and the core models write it."""
    return example_toml(feature_sections())


class App:
    """Builds every part from the settings; ``run`` upgrades the schema and starts the adapters."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        console: Console | None = None,
        features: Iterable[Feature] | None = None,
    ) -> None:
        self.registry = check_settings(settings, features)
        settings = settings.with_sections(self.registry.sections)
        self.settings = settings
        self.console_clock = _console_clock(settings) if settings.console_enabled else None
        self.clock: Clock = clock or self.console_clock or SystemClock()
        self.db = Database(settings.storage.url, schema=settings.storage.schema)
        self.store = Store(self.db)
        self.dispatcher = Dispatcher(
            registry=self.registry,
            store=self.store,
            renderer=Renderer(),
            settings=settings,
            clock=self.clock,
        )
        if self.console_clock is not None and settings.console.start_time:
            # A fixed console clock is a reproducible demo: make its random choices repeat too.
            self.dispatcher.entropy = RepeatableEntropy(settings.console.start_time)
        self.ticker = Ticker()
        for spec in self.registry.ticks:
            self.ticker.add(spec.name, spec.every, self._tick_runner(spec.handler))
        self._stop = asyncio.Event()
        #: Set once every adapter is started and the bot serves.
        self.running = asyncio.Event()
        #: SIGINT and SIGTERM stop the bot while it serves; an embedding application (a test
        #: runner) that keeps those signals for itself turns this off.
        self.handle_signals = True
        self.console: ConsoleAdapter | None = None
        if settings.console_enabled:
            movable = clock if hasattr(clock, "advance") else self.console_clock
            self.console = ConsoleAdapter(
                user=settings.console.user,
                chat_title=settings.console.chat_title,
                clock=movable,  # type: ignore[arg-type]
                zone=ZoneInfo(settings.community.timezone),
                console=console,
                on_clock_moved=self.ticker.run_all,
                image_dir=Path(settings.console.image_dir),
            )
            # A local terminal has no send limits: pacing it like a Telegram group would
            # only make a demo or a script wait on the real clock.
            self.dispatcher.attach(self.console, Governor(Limits.unlimited()))
        self.telegram: Adapter | None = None
        if settings.telegram.token is not None:
            # Imported only when used: python-telegram-bot is slow to import for `config check`.
            from adapters.telegram import TelegramAdapter

            self.telegram = TelegramAdapter(settings.telegram)
            retry_for = settings.outbound.retry_for
            self.dispatcher.attach(self.telegram, Governor(Limits(retry_for=retry_for)))
        self.discord: Adapter | None = None
        if settings.discord.token is not None:
            from adapters.discord import DiscordAdapter

            self.discord = DiscordAdapter(settings.discord)
            self.discord.on_fatal = self.request_stop
            limits = replace(DISCORD_LIMITS, retry_for=settings.outbound.retry_for)
            self.dispatcher.attach(self.discord, Governor(limits))

    def _tick_runner(self, handler):  # type: ignore[no-untyped-def]
        async def run() -> object:
            return await handler(self.dispatcher.tick_context())

        return run

    def _catch_signals(self) -> dict[int, object]:
        """SIGINT and SIGTERM (Ctrl-C, ``systemctl stop``) ask for a clean stop instead of
        interrupting whatever runs (a tick, a reply half-sent). Returns those installed, with
        the handler each replaced (given back by :meth:`_release_signals`)."""
        loop = asyncio.get_running_loop()
        installed: dict[int, object] = {}
        for signal_number in (signal.SIGINT, signal.SIGTERM) if self.handle_signals else ():
            previous = signal.getsignal(signal_number)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal_number, self._stop.set)
                installed[signal_number] = previous
        return installed

    @staticmethod
    def _release_signals(installed: dict[int, object]) -> None:
        """Give the signals back: a second Ctrl-C during shutdown, or in the program that runs
        the bot after it stopped, must not be swallowed by a stopped bot."""
        loop = asyncio.get_running_loop()
        for signal_number, previous in installed.items():
            loop.remove_signal_handler(signal_number)
            if previous is not None:  # None: installed outside Python, left as it is
                signal.signal(signal_number, previous)  # type: ignore[arg-type]

    async def _until_stopped(self) -> None:
        """Serve until a signal or ``request_stop()``."""
        await self._stop.wait()
        log.info("stopping")

    async def _until_done_or_stopped(self, work: Coroutine[object, object, None]) -> bool:
        """Run ``work`` (the start, the console) until it ends or a stop is asked for; a stop
        cancels it wherever it is, a tick or a slow log-in included. ``False``: stopped."""
        task = asyncio.create_task(work, name="until stopped")
        stop = asyncio.create_task(self._stop.wait(), name="stop requested")
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                log.info("stopping")
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return not task.cancelled()

    def request_stop(self) -> None:
        """Ask a running bot to stop cleanly (tests, embedding applications)."""
        self._stop.set()

    async def prepare(self) -> None:
        """Bring the schema up to date before any event is handled."""
        await migrate.upgrade(self.db)

    async def run(self, script: Iterable[str] | None = None, *, interactive: bool = False) -> None:
        """Run until the console quits, or (platform adapters) until a signal or
        ``request_stop()``. A platform that cannot be reached raises ``StartupError``."""
        adapters: list[Adapter] = [
            a for a in (self.console, self.telegram, self.discord) if a is not None
        ]
        started: list[Adapter] = []
        signals = self._catch_signals()
        try:
            if not await self._until_done_or_stopped(self._start_all(adapters, started)):
                return  # Ctrl-C while connecting: stop what started, quietly
            self.ticker.start()
            self.running.set()
            if self.console is not None and script is not None:
                await self._until_done_or_stopped(self.console.run_lines(script))
            elif self.console is not None and interactive:
                await self._until_done_or_stopped(self.console.interactive())
            else:
                await self._until_stopped()
        finally:
            # Stop taking events, finish the ones taken (recorded: what is not finished is
            # handled again after a restart), send what waits and store the rest for after the
            # restart, write the handled-stamps, then close the connections and the database:
            # every step by its deadline (``[outbound] shutdown_timeout``).
            work, store, close = _shutdown_deadlines(self.settings.outbound.shutdown_timeout)
            await _by(work, "stopping the ticks", self.ticker.stop())
            for adapter in started:
                await _by(work, f"stopping {adapter.platform} intake", adapter.stop_intake())
            if not await self.dispatcher.drain(work):
                log.info("stopping: nothing more can be sent in time; storing what waits")
            await self.dispatcher.persist_waiting(store)
            for spec in self.registry.stops:
                # Every event is handled: what features hold in memory is written now.
                ticking = self._tick_runner(spec.handler)()
                await _by(close, f"{spec.feature}: {spec.name}", ticking)
            await _by(close, "writing the handled marks", self.dispatcher.flush())
            for adapter in started:
                await _by(close, f"closing {adapter.platform}", adapter.stop())
            await _by(close, "closing the database", self.db.dispose())
            self._release_signals(signals)

    async def _start_all(self, adapters: list[Adapter], started: list[Adapter]) -> None:
        """The schema, then each adapter in turn; ``started`` lists those to stop later.
        What a stop stored for an adapter's platform is queued again as soon as it serves."""
        await self.prepare()
        for adapter in adapters:
            await self._start(adapter)
            started.append(adapter)
            await self.dispatcher.restore_waiting(adapter.platform)

    async def _start(self, adapter: Adapter) -> None:
        """Start one adapter; a network failure it did not name itself becomes a
        ``StartupError`` (never a database error, never a traceback)."""
        try:
            await adapter.start(self.dispatcher)
        except (ConfigError, StartupError):
            raise
        except (OSError, TimeoutError) as error:
            raise StartupError(
                f"{adapter.platform}: cannot connect ({type(error).__name__}: {error}).",
                f"Check the network connection and the [{adapter.platform}] settings,"
                " then start again.",
            ) from None


def _shutdown_deadlines(timeout: float) -> tuple[float, float, float]:
    """When handling and sending stop, when what waits must be stored, when all is closed
    (event-loop times). Storing and closing each keep a share of the budget: 2 s each of
    the default 15 s, so handling and sending get 11 s."""
    start = asyncio.get_running_loop().time()
    reserve = min(2.0, timeout * 0.15)
    end = start + timeout
    return end - 2 * reserve, end - reserve, end


async def _by(deadline: float, what: str, work: Awaitable[object]) -> None:
    """Run a shutdown step until ``deadline``: a step that fails or overruns is logged and
    left behind, never a reason to hang or to skip the steps after it."""
    task = asyncio.ensure_future(work)
    timeout = max(deadline - asyncio.get_running_loop().time(), 0.01)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        log.warning("stopping: %s took too long; cut off", what)
        task.cancel()
        return
    if not task.cancelled() and task.exception() is not None:
        log.error("stopping: %s failed", what, exc_info=task.exception())
