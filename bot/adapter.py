"""The one adapter protocol: every member and capability a platform adapter may have.

An adapter turns platform updates into events for its ``Host`` (the dispatcher) and performs
actions on its platform. What is optional has a default here, so an adapter states only what
it does differently (Discord: ``counts`` exempts interaction answers; Telegram and Discord: a
``stale_after``): the dispatcher and the app read every member directly, never by ``getattr``.
Adapters inherit from ``Adapter`` to get the defaults.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol, runtime_checkable

from bot.actions import Action, ActionResult
from bot.events import EventBase
from bot.features import CommandSpec
from bot.runtime import Commands

__all__ = ["Adapter", "Host"]


class Host(Protocol):
    """What an adapter may ask of the running bot (``bot.dispatch.Dispatcher`` is one)."""

    @property
    def commands(self) -> Commands:
        """The command catalogue (Discord syncs its slash commands from it)."""
        ...

    def submit(self, event: EventBase) -> asyncio.Future[list[ActionResult]]:
        """Record the event, then handle it; the future resolves when it is handled."""
        ...

    async def intake(self, events: list[EventBase]) -> None:
        """Record a page of events in one transaction (raises if it could not)."""
        ...

    async def room(self, platform: str, limit: int) -> int:
        """Wait until fewer than ``limit`` events are pending; how many more fit."""
        ...

    def replay(self, platform: str) -> asyncio.Task[None]:
        """Handle the platform's recorded, unhandled events from the database."""
        ...

    async def handle(self, event: EventBase) -> list[ActionResult]:
        """Handle one event now (the console: one line at a time)."""
        ...

    async def persona_name(self, platform: str, chat_id: str) -> str:
        """The persona's name in a chat (operators may rename it per community)."""
        ...

    def command_summary(self, spec: CommandSpec, locale: str) -> str:
        """A command's one-line summary in ``locale`` (slash command descriptions)."""
        ...


@runtime_checkable
class Adapter(Protocol):
    """A platform adapter; members with a value here are optional (the value is the default)."""

    #: ``telegram``, ``discord`` or ``console``; the first half of every chat key.
    platform: str
    #: The bot's own username, so ``/cmd@otherbot`` is ignored; ``None`` when there is none.
    bot_username: str | None = None
    #: Events older than this are recorded but trigger no reply and no punishment.
    stale_after: timedelta | None = None
    #: Events of this platform waiting in memory to be handled, at most (``None``: the
    #: dispatcher's default); a poller asks ``Host.room`` for what fits under it.
    max_pending: int | None = None
    #: Events waiting to be recorded, at most; beyond it they are dropped (``None``: no bound).
    max_unrecorded: int | None = None
    #: Called when the platform connection ends for good after start (the app then stops).
    on_fatal: Callable[[], None] | None = None

    async def start(self, host: Host) -> None:
        """Connect and start feeding events to ``host``."""
        ...

    async def stop_intake(self) -> None:
        """Stop taking new updates (shutdown's first step); those taken are still handled."""
        return None

    async def stop(self) -> None:
        """Close the connection (after intake stopped and what waits was sent or stored)."""
        ...

    async def perform(self, action: Action) -> ActionResult:
        """Do the action on the platform, or decline it with a reason a handler can explain."""
        ...

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        """Whether the user is an admin of that chat on the platform (cached briefly)."""
        ...

    async def chat_admins(self, chat_id: str) -> dict[str, str]:
        """The chat's admins (bots left out) as platform user id -> display name: holders of
        every role an admin implies, for a ``Notify`` to a role."""
        ...

    def counts(self, action: Action) -> bool:
        """Whether the action counts against the chat's message limit (Discord's interaction
        answers do not)."""
        return True
