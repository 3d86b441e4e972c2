"""The outbound governor: every action passes through it on its way to a platform.

Token buckets per chat and overall keep the bot inside the platform's limits; a rate-limit
answer delays only the chat it concerns; transient failures retry with backoff. Sends are
never retried after a timeout whose outcome is unknown (``Unsure``): a duplicate message is
worse than a missing one, so the adapter reports it and the governor gives up on that action.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["Bucket", "Governor", "Limits", "RetryAfter", "Transient", "Unsure"]

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


@dataclass
class Bucket:
    """A token bucket: ``rate`` tokens per second, holding at most ``burst``."""

    rate: float
    burst: float
    tokens: float = field(init=False)
    stamp: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def wait_time(self, now: float) -> float:
        """Take a token if one is there (returns 0), else say how long until one is."""
        if self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass(frozen=True)
class Limits:
    """Per-platform limits. Defaults follow Telegram (30/s overall, 20/min per group, 1/s private)."""

    global_rate: float = 30.0
    global_burst: float = 30.0
    group_rate: float = 20 / 60
    group_burst: float = 20.0
    private_rate: float = 1.0
    private_burst: float = 3.0
    max_attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0


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
        self._global = Bucket(self.limits.global_rate, self.limits.global_burst)
        self._chats: dict[str, Bucket] = {}
        self._paused_until: dict[str, float] = {}
        self._global_lock = asyncio.Lock()
        self._chat_locks: dict[str, asyncio.Lock] = {}

    def _bucket(self, chat_key: str, private: bool) -> Bucket:
        bucket = self._chats.get(chat_key)
        if bucket is None:
            limits = self.limits
            bucket = (
                Bucket(limits.private_rate, limits.private_burst)
                if private
                else Bucket(limits.group_rate, limits.group_burst)
            )
            self._chats[chat_key] = bucket
        return bucket

    async def _take(self, bucket: Bucket, lock: asyncio.Lock) -> None:
        async with lock:
            while (delay := bucket.wait_time(self._monotonic())) > 0:
                await self._sleep(delay)

    async def run(
        self,
        chat_key: str,
        call: Callable[[], Awaitable[T]],
        *,
        private: bool = False,
        counted: bool = True,
    ) -> T:
        """Run ``call`` for ``chat_key`` when the buckets allow, retrying what may be retried.

        ``counted=False`` skips the buckets (answering a button press is not a message).
        """
        lock = self._chat_locks.setdefault(chat_key, asyncio.Lock())
        attempt = 0
        while True:
            attempt += 1
            paused = self._paused_until.get(chat_key, 0.0) - self._monotonic()
            if paused > 0:
                await self._sleep(paused)
            if counted:
                await self._take(self._bucket(chat_key, private), lock)
                await self._take(self._global, self._global_lock)
            try:
                return await call()
            except RetryAfter as limited:
                self._paused_until[chat_key] = self._monotonic() + limited.seconds
                log.warning(
                    "rate limited in %s for %.1fs (attempt %d)", chat_key, limited.seconds, attempt
                )
                if attempt >= self.limits.max_attempts:
                    raise
            except Transient:
                if attempt >= self.limits.max_attempts:
                    raise
                delay = min(self.limits.max_backoff, self.limits.backoff * 2 ** (attempt - 1))
                log.warning("transient failure in %s; retrying in %.1fs", chat_key, delay)
                await self._sleep(delay)
