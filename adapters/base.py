"""The adapter protocol: translate platform updates into events, perform actions.

An adapter is a small fixed set of files: ``translate`` (platform -> ``Event``), ``perform``
(``Action`` -> platform call, or a decline with a reason) and ``adapter`` (lifecycle).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol, runtime_checkable

from bot.actions import Action, ActionResult
from bot.dispatch import Dispatcher

__all__ = ["Adapter"]


@runtime_checkable
class Adapter(Protocol):
    #: ``telegram``, ``discord`` or ``console``; the first half of every chat key.
    platform: str
    #: The bot's own username, so ``/cmd@otherbot`` is ignored; ``None`` when there is none.
    bot_username: str | None
    #: Events older than this are recorded but trigger no reply and no punishment.
    stale_after: timedelta | None

    async def start(self, dispatcher: Dispatcher) -> None:
        """Connect and start feeding events to ``dispatcher.submit``."""
        ...

    async def stop(self) -> None: ...

    async def perform(self, action: Action) -> ActionResult:
        """Do the action on the platform, or decline it with a reason a handler can explain."""
        ...

    async def is_admin(self, chat_id: str, user_id: str) -> bool:
        """Whether the user is an admin of that chat on the platform (cached briefly)."""
        ...

    async def chat_admins(self, chat_id: str) -> dict[str, str]:
        """The chat's admins as platform user id -> display name, bots left out (a notice
        to a role)."""
        ...
