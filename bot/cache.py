"""A bounded in-memory mapping: at most ``max_size`` entries, each optionally expiring.

Every cache the bot keeps in memory (per member, per chat, per community) uses this, so that a
million members passing through cannot grow the process without limit. Operations are O(1):
the least recently used entry is dropped when the bound is reached, an expired entry is dropped
when it is read, and a full sweep of expired entries runs once per as many writes as the last
sweep left entries (amortised O(1) per write), so expired entries nobody reads again do not
linger either: at most as many as there are live ones, plus a few.

Time comes from an injectable ``clock`` (seconds as a float): ``time.monotonic`` by default,
the dispatcher's clock where the cache's meaning follows it (tests move a fake clock).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar, overload

__all__ = ["BoundedCache", "seconds_of"]

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")

#: Expiry of an entry that never expires.
_NEVER = float("inf")
#: A sweep of expired entries runs at most this often (in writes) on a small cache.
_MIN_SWEEP_INTERVAL = 64


class _DatetimeClock(Protocol):
    def now(self) -> object: ...


def seconds_of(clock: _DatetimeClock) -> Callable[[], float]:
    """A ``bot.clock.Clock`` (aware datetimes) as the seconds-clock a cache takes."""
    return lambda: clock.now().timestamp()  # type: ignore[attr-defined, no-any-return]


class BoundedCache(Generic[K, V]):
    """A mapping with a size bound (least recently used goes first) and an optional expiry.

    ``ttl`` is the default lifetime of an entry in seconds (``None``: entries never expire,
    only the size bound applies); ``put`` may give an entry its own lifetime. Reading an entry
    makes it the most recently used without extending its lifetime.
    """

    __slots__ = ("_clock", "_entries", "_sweep_after", "_writes", "max_size", "ttl")

    def __init__(
        self,
        max_size: int,
        ttl: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_size < 1:
            raise ValueError("a bounded cache holds at least one entry")
        self.max_size = max_size
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        #: Writes since the last sweep, and how many make the next one due: as many as the
        #: entries the last sweep left, so a sweep's cost is spread over as many writes.
        self._writes = 0
        self._sweep_after = _MIN_SWEEP_INTERVAL

    # -- reading --------------------------------------------------------------------------
    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: object = None) -> object:
        """The live value for ``key`` (now the most recently used), else ``default``."""
        entry = self._entries.get(key)
        if entry is None:
            return default
        expires = entry[0]
        # An entry that never expires asks no clock (most entries of the hot caches).
        if expires is not _NEVER and expires <= self._clock():
            del self._entries[key]
            return default
        self._entries.move_to_end(key)
        return entry[1]

    def __getitem__(self, key: K) -> V:
        missing = object()
        value = self.get(key, missing)
        if value is missing:
            raise KeyError(key)
        return value  # type: ignore[return-value]

    def __contains__(self, key: object) -> bool:
        entry = self._entries.get(key)  # type: ignore[call-overload]
        return entry is not None and entry[0] > self._clock()

    def __len__(self) -> int:
        """Entries held, counting expired ones not swept yet (never more than ``max_size``)."""
        return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        now = self._clock()
        return iter([key for key, (expires, _) in self._entries.items() if expires > now])

    def keys(self) -> list[K]:
        return list(self)

    # -- writing --------------------------------------------------------------------------
    def put(self, key: K, value: V, ttl: float | None = None) -> None:
        """Store ``value``, living ``ttl`` seconds (default: the cache's), most recently used."""
        lifetime = self.ttl if ttl is None else ttl
        expires = _NEVER if lifetime is None else self._clock() + lifetime
        entries = self._entries
        entries[key] = (expires, value)
        entries.move_to_end(key)
        while len(entries) > self.max_size:
            entries.popitem(last=False)
        self._writes += 1
        if self._writes >= self._sweep_after:
            self.prune()

    def __setitem__(self, key: K, value: V) -> None:
        self.put(key, value)

    def pop(self, key: K, default: V | None = None) -> V | None:
        entry = self._entries.pop(key, None)
        return default if entry is None else entry[1]

    def __delitem__(self, key: K) -> None:
        del self._entries[key]

    def discard_where(self, predicate: Callable[[K], bool]) -> None:
        """Drop every entry whose key matches (rare: a chat migrated, rights changed)."""
        for key in [key for key in self._entries if predicate(key)]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def prune(self) -> int:
        """Drop every expired entry now; returns how many went."""
        self._writes = 0
        now = self._clock()
        expired = [key for key, (expires, _) in self._entries.items() if expires <= now]
        for key in expired:
            del self._entries[key]
        self._sweep_after = max(len(self._entries), _MIN_SWEEP_INTERVAL)
        return len(expired)
