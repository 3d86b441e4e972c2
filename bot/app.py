"""The composition root: config in, a running bot out. The only ``bot`` module that knows
the adapters and the handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.console import Console

from adapters.base import Adapter
from adapters.console import ConsoleAdapter
from bot.clock import Clock, FakeClock, OffsetClock, RepeatableEntropy, SystemClock
from bot.config import ConfigError, Settings
from bot.dispatch import Dispatcher
from bot.features import Feature, Registry, RegistryError
from bot.governor import Governor, Limits
from bot.scheduler import Ticker
from handlers import all_features
from persona import Renderer
from storage import Database, Store, migrate

__all__ = ["App", "check_settings"]

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
    return registry


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
        self.settings = settings
        self.registry = check_settings(settings, features)
        self.console_clock = _console_clock(settings) if settings.console_enabled else None
        self.clock: Clock = clock or self.console_clock or SystemClock()
        self.db = Database(settings.storage.url)
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
            )
            # A local terminal has no send limits: pacing it like a Telegram group would
            # only make a demo or a script wait on the real clock.
            self.dispatcher.attach(self.console, Governor(Limits.unlimited()))
        self.telegram: Adapter | None = None
        if settings.telegram.token is not None:
            # Imported only when used: python-telegram-bot is slow to import for `config check`.
            from adapters.telegram import TelegramAdapter

            self.telegram = TelegramAdapter(settings.telegram)
            self.dispatcher.attach(self.telegram, Governor(Limits()))
        self.discord: Adapter | None = None
        if settings.discord.token is not None:
            from adapters.discord import DiscordAdapter

            self.discord = DiscordAdapter(settings.discord)
            self.discord.on_fatal = self.request_stop
            self.dispatcher.attach(self.discord, Governor(DISCORD_LIMITS))

    def _tick_runner(self, handler):  # type: ignore[no-untyped-def]
        async def run() -> object:
            return await handler(self.dispatcher.tick_context())

        return run

    async def _until_stopped(self) -> None:
        """Serve until SIGINT or SIGTERM (Ctrl-C, ``systemctl stop``) or ``request_stop()``."""
        loop = asyncio.get_running_loop()
        handled: dict[int, object] = {}
        for signal_number in (signal.SIGINT, signal.SIGTERM) if self.handle_signals else ():
            previous = signal.getsignal(signal_number)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal_number, self._stop.set)
                handled[signal_number] = previous
        try:
            self.running.set()
            await self._stop.wait()
            log.info("stopping")
        finally:
            # Give the signals back: a second Ctrl-C during shutdown, or in the program that
            # runs the bot after it stopped, must not be swallowed by a stopped bot.
            for signal_number, previous in handled.items():
                loop.remove_signal_handler(signal_number)
                if previous is not None:  # None: installed outside Python, left as it is
                    signal.signal(signal_number, previous)  # type: ignore[arg-type]

    def request_stop(self) -> None:
        """Ask a running bot to stop cleanly (tests, embedding applications)."""
        self._stop.set()

    async def prepare(self) -> None:
        """Bring the schema up to date before any event is handled."""
        await migrate.upgrade(self.db)

    async def run(self, script: Iterable[str] | None = None, *, interactive: bool = False) -> None:
        """Run until the console quits (or, with platform adapters, until cancelled)."""
        adapters: list[Adapter] = [
            a for a in (self.console, self.telegram, self.discord) if a is not None
        ]
        started: list[Adapter] = []
        try:
            await self.prepare()
            for adapter in adapters:
                await adapter.start(self.dispatcher)
                started.append(adapter)
            self.ticker.start()
            if self.console is not None and script is not None:
                await self.console.run_lines(script)
            elif self.console is not None and interactive:
                await self.console.interactive()
            else:
                await self._until_stopped()
        finally:
            # Stop taking events, finish the ones taken (their offsets are confirmed), then
            # close the connections and the database.
            self.ticker.shutdown()
            for adapter in started:
                stop_intake = getattr(adapter, "stop_intake", None)
                if stop_intake is not None:
                    await stop_intake()
            await self.dispatcher.drain()
            for adapter in started:
                await adapter.stop()
            await self.db.dispose()
