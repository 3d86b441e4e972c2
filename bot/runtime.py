"""What a handler's context needs from the running bot, and nothing more.

``Context`` depends on the ``Runtime`` protocol declared here, not on the dispatcher (which
implements it): a handler can act, ask the platform who is an admin, draw a random token, read
the command catalogue (``/help``) and reach its feature's in-memory state, and cannot reach the
queues, the intake or another feature's internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from bot.actions import Action, ActionResult
from bot.clock import Clock
from bot.config import Settings
from bot.features import CommandSpec, Feature
from bot.permissions import Role
from persona import Renderer
from storage import Store

__all__ = ["Commands", "FeatureStates", "Runtime"]

S = TypeVar("S")


class Commands(Protocol):
    """The command catalogue as ``/help`` reads it (``bot.features.Registry`` is one)."""

    @property
    def commands(self) -> Mapping[str, CommandSpec]: ...

    @property
    def keywords_of(self) -> Mapping[str, tuple[str, ...]]: ...

    def keyword(self, text: str) -> tuple[CommandSpec, str] | None: ...

    def visible_commands(self) -> list[CommandSpec]: ...


class Runtime(Protocol):
    """The running bot as a handler's context sees it (``bot.dispatch.Dispatcher`` is one)."""

    store: Store
    clock: Clock
    renderer: Renderer
    settings: Settings

    @property
    def commands(self) -> Commands: ...

    async def perform(self, action: Action) -> ActionResult:
        """Do an action now (through the chat's outbound queue) and wait for its result."""
        ...

    async def is_admin(self, platform: str, chat_id: str, user_id: str) -> bool:
        """Whether the platform says the user administers that chat (cached briefly)."""
        ...

    async def holders(self, platform: str, chat_id: str, role: Role) -> list[str]:
        """The platform user ids a notice to ``role`` in that community would reach."""
        ...

    def entropy(self, nbytes: int) -> str:
        """A random hex token of ``nbytes`` bytes (repeatable in console demos)."""
        ...

    def state(self, feature: Feature[S]) -> S:
        """The feature's in-memory state in this running bot (see ``Feature.state``)."""
        ...

    def emit(self, ctx: Any, signal: object) -> None:
        """Give ``signal`` (``bot.signals``) about ``ctx``'s event to the features that
        receive it, in memory, now."""
        ...


class FeatureStates:
    """Each feature's in-memory state for one running bot, made on first use by the factory
    the feature declares: two bots in one process (tests, benchmarks) never share a cache."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._made: dict[str, Any] = {}

    def of(self, feature: Feature[S]) -> S:
        try:
            made: S = self._made[feature.name]
        except KeyError:
            if feature.state is None:
                raise LookupError(f"feature {feature.name!r} declares no state") from None
            made = self._made[feature.name] = feature.state(self._clock)
        return made
