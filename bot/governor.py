"""The outbound governor: every action passes through it on its way to a platform.

Sliding windows per chat and overall keep the bot inside the platform's limits; a rate-limit
answer delays only the chat it concerns; transient failures retry with backoff. Sends are
never retried after a timeout whose outcome is unknown (``Unsure``): a duplicate message is
worse than a missing one, so the adapter reports it and the governor gives up on that action.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Governor", "Limits", "RetryAfter", "Transient", "Unsure", "Window"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class RetryAfter(Exception):
    """The platform said: too many requests, try again in ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"rate limited for {seconds:.1f}s")
        self.seconds = seconds


class Transient(Exception):
    """A failure worth retrying (5xx, connection refused before anything was sent)."""


class Unsure(Exception):
    """The request may or may not have taken effect (a timeout after sending). Not retried."""


class Window:
    """At most ``limit`` calls in any ``period`` seconds: an exact sliding window, the same rule
    Telegram applies, so a governed bot does not meet 429s in the first place.

    A call holds its slot from the moment it starts, and its time in the window is the moment
    it *finished*: the platform received it somewhere in between, so spacing calls by
    ``period`` from the end of the earlier one keeps them ``period`` apart on the platform's
    clock too, whatever the network's latency.
    """

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.stamps: deque[float] = deque()
        self.in_flight = 0

    def wait_time(self, now: float) -> float:
        """Take a slot if one is free (returns 0), else say how long until one may be."""
        while self.stamps and self.stamps[0] <= now - self.period:
            self.stamps.popleft()
        if len(self.stamps) + self.in_flight < self.limit:
            self.in_flight += 1
            return 0.0
        if self.stamps:
            return max(self.stamps[0] + self.period - now, 0.001)
        return min(self.period, 0.05)  # every slot is in flight: look again shortly

    def idle(self, now: float) -> bool:
        """No call in flight and none inside the period: the window remembers nothing."""
        return self.in_flight == 0 and (not self.stamps or self.stamps[-1] <= now - self.period)

    def free(self, now: float) -> int:
        """How many calls could start now without waiting (takes nothing)."""
        while self.stamps and self.stamps[0] <= now - self.period:
            self.stamps.popleft()
        return max(self.limit - len(self.stamps) - self.in_flight, 0)

    def earliest(self, now: float) -> float:
        """At least how many seconds until a call could start (takes nothing): 0 if a slot
        is free. A lower bound: a call in flight ends no earlier than now, so its slot comes
        back no earlier than a period from now."""
        if self.free(now) > 0:
            return 0.0
        blocking = len(self.stamps) + self.in_flight - self.limit + 1  # slots to come back
        if blocking <= len(self.stamps):
            return max(self.stamps[blocking - 1] + self.period - now, 0.0)
        return self.period

    def release(self, finished: float) -> None:
        """The call holding a slot finished (successfully or not) at ``finished``."""
        self.in_flight -= 1
        # Keep the deque sorted: concurrent calls may finish out of order.
        if self.stamps and self.stamps[-1] > finished:
            self.stamps.append(finished)
            self.stamps = deque(sorted(self.stamps))
        else:
            self.stamps.append(finished)


class _Chat:
    """What the governor remembers of one chat: its window, its lock, a rate-limit pause,
    and how many calls are using it (a chat in use is never forgotten)."""

    __slots__ = ("lock", "paused_until", "users", "window")

    def __init__(self) -> None:
        self.window: Window | None = None
        self.lock = asyncio.Lock()
        self.paused_until = 0.0
        self.users = 0

    def idle(self, now: float) -> bool:
        window = self.window
        return (
            self.users == 0
            and not self.lock.locked()
            and self.paused_until <= now
            and (window is None or (window.in_flight == 0 and window.idle(now)))
        )


#: Chats are swept for idle ones at most this often (in new chats) while few are held.
_MIN_SWEEP_INTERVAL = 64


@dataclass(frozen=True)
class Limits:
    """Per-platform limits. Defaults follow Telegram: 30 messages/s overall, 20 per minute in
    a group, 1 per second in a private chat."""

    global_limit: int = 30
    global_period: float = 1.0
    group_limit: int = 20
    group_period: float = 60.0
    private_limit: int = 1
    private_period: float = 1.0
    #: A 5xx, a refused connection or a 429 is retried with backoff for up to this many
    #: seconds from the first attempt (``[outbound] retry_for``), then given up.
    retry_for: float = 600.0
    #: An optional cap on attempts as well (``None``: only ``retry_for`` bounds them).
    max_attempts: int | None = None
    backoff: float = 0.5
    max_backoff: float = 30.0

    @classmethod
    def unlimited(cls) -> Limits:
        """For tests and benchmarks of everything but the limits."""
        huge = 10**9
        return cls(global_limit=huge, group_limit=huge, private_limit=huge)


class Governor:
    """Runs outbound calls inside the platform's limits. One instance per platform."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits or Limits()
        self._monotonic = monotonic
        self._sleep = sleep
        self._global = Window(self.limits.global_limit, self.limits.global_period)
        self._chats: dict[str, _Chat] = {}
        self._global_lock = asyncio.Lock()
        #: New chats since the last sweep of idle ones, and how many make the next sweep due:
        #: as many as the last sweep kept, so each sweep's cost is spread over as many calls.
        self._since_sweep = 0
        self._sweep_after = _MIN_SWEEP_INTERVAL

    def _chat(self, chat_key: str) -> _Chat:
        chat = self._chats.get(chat_key)
        if chat is None:
            self._since_sweep += 1
            if self._since_sweep >= self._sweep_after:
                self._forget_idle()
            chat = self._chats[chat_key] = _Chat()
        return chat

    def _forget_idle(self) -> None:
        """Drop the chats nothing remembers any more: no call running or waiting, no send
        still inside its window, no rate-limit pause ahead. Dropping one changes nothing:
        it would be created afresh, empty, exactly as it was. Amortised O(1) per chat; at most
        about twice as many chats are held as were active in the last period."""
        self._since_sweep = 0
        now = self._monotonic()
        idle = [key for key, chat in self._chats.items() if chat.idle(now)]
        for key in idle:
            del self._chats[key]
        self._sweep_after = max(len(self._chats), _MIN_SWEEP_INTERVAL)

    def _bucket(self, chat: _Chat, private: bool) -> Window:
        if chat.window is None:
            limits = self.limits
            chat.window = (
                Window(limits.private_limit, limits.private_period)
                if private
                else Window(limits.group_limit, limits.group_period)
            )
        return chat.window

    def free_slots(self, chat_key: str, *, private: bool = False) -> int:
        """How many messages ``chat_key`` could send right now without waiting: the outbound
        queue merges what is waiting when there is more of it than this."""
        now = self._monotonic()
        chat = self._chats.get(chat_key)
        if chat is None:  # nothing sent lately (or forgotten as idle): a fresh window
            return self.limits.private_limit if private else self.limits.group_limit
        if chat.paused_until > now:
            return 0
        return self._bucket(chat, private).free(now)

    def next_slot(self, chat_key: str, *, private: bool = False, counted: bool = True) -> float:
        """At least how many seconds until a call for ``chat_key`` could start (0: now): a
        stop stores what waits at once when no chat can send before its deadline."""
        now = self._monotonic()
        chat = self._chats.get(chat_key)
        wait = 0.0 if chat is None else max(chat.paused_until - now, 0.0)
        if counted:
            if chat is not None and chat.window is not None:
                wait = max(wait, self._bucket(chat, private).earliest(now))
            wait = max(wait, self._global.earliest(now))
        return wait

    def _give_up(self, attempt: int, started: float, wait: float) -> bool:
        """Whether another attempt after ``wait`` seconds would exceed the retry budget."""
        limits = self.limits
        if limits.max_attempts is not None and attempt >= limits.max_attempts:
            return True
        return self._monotonic() + wait - started > limits.retry_for

    async def _take(self, window: Window, lock: asyncio.Lock) -> None:
        async with lock:
            while (delay := window.wait_time(self._monotonic())) > 0:
                await self._sleep(delay)

    async def run(
        self,
        chat_key: str,
        call: Callable[[], Awaitable[T]],
        *,
        private: bool = False,
        counted: bool = True,
    ) -> T:
        """Run ``call`` for ``chat_key`` when the windows allow, retrying what may be retried.

        ``counted=False`` skips the windows (answering a button press is not a message).
        """
        chat = self._chat(chat_key)
        chat.users += 1
        try:
            return await self._run(chat_key, chat, call, private=private, counted=counted)
        finally:
            chat.users -= 1

    async def _run(
        self,
        chat_key: str,
        chat: _Chat,
        call: Callable[[], Awaitable[T]],
        *,
        private: bool,
        counted: bool,
    ) -> T:
        attempt = 0
        started = self._monotonic()
        while True:
            attempt += 1
            paused = chat.paused_until - self._monotonic()
            if paused > 0:
                await self._sleep(paused)
            windows: list[Window] = []
            if counted:
                chat_window = self._bucket(chat, private)
                await self._take(chat_window, chat.lock)
                windows.append(chat_window)
                try:
                    await self._take(self._global, self._global_lock)
                except BaseException:
                    chat_window.release(self._monotonic())
                    raise
                windows.append(self._global)
            try:
                return await call()
            except RetryAfter as limited:
                chat.paused_until = self._monotonic() + limited.seconds
                log.warning(
                    "rate limited in %s for %.1fs (attempt %d)", chat_key, limited.seconds, attempt
                )
                if self._give_up(attempt, started, limited.seconds):
                    raise
                backoff = 0.0
            except Transient:
                backoff = min(self.limits.max_backoff, self.limits.backoff * 2 ** (attempt - 1))
                if self._give_up(attempt, started, backoff):
                    raise
                log.warning("transient failure in %s; retrying in %.1fs", chat_key, backoff)
            finally:
                finished = self._monotonic()
                for window in windows:
                    window.release(finished)
            if backoff:
                await self._sleep(backoff)  # slots are released: others may send meanwhile
