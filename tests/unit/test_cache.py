"""The bounded cache every in-memory cache uses: a size bound, expiry on a fake clock."""

from __future__ import annotations

import pytest

from bot.cache import BoundedCache


class Seconds:
    """A fake seconds-clock the tests move."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_far_more_keys_than_the_bound_keep_it_and_the_most_recent() -> None:
    cache: BoundedCache[int, str] = BoundedCache(100)
    for n in range(10_000):
        cache[n] = str(n)
        assert len(cache) <= 100
    assert len(cache) == 100
    assert cache.get(9_999) == "9999" and cache.get(9_900) == "9900"
    assert cache.get(9_899) is None  # the least recently used went first


def test_a_read_keeps_an_entry_from_being_the_next_to_go() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache["a"], cache["b"] = 1, 2
    assert cache["a"] == 1  # "a" is now the most recently used
    cache["c"] = 3
    assert "a" in cache and "b" not in cache and "c" in cache
    with pytest.raises(KeyError):
        cache["b"]


def test_entries_expire_on_the_clock_and_are_swept_without_being_read() -> None:
    clock = Seconds()
    cache: BoundedCache[int, int] = BoundedCache(10_000, ttl=10, clock=clock)
    for n in range(1_000):
        cache[n] = n
    clock.now += 9.9
    assert cache.get(5) == 5  # still alive, and reading does not extend its life
    clock.now += 0.1
    assert cache.get(5) is None and 6 not in cache and list(cache) == []
    # Nobody reads the other 998 again: later writes sweep them (amortised, no full scan
    # per write).
    for n in range(1_000, 2_000):
        cache[n] = n
    assert len(cache) <= 1_000
    assert set(cache) == set(range(1_000, 2_000))


def test_each_entry_may_have_its_own_lifetime() -> None:
    clock = Seconds()
    cache: BoundedCache[str, int] = BoundedCache(10, clock=clock)
    cache.put("short", 1, ttl=5)
    cache.put("forever", 2)
    clock.now += 1_000_000
    assert cache.get("short") is None and cache.get("forever") == 2
    assert cache.prune() == 0 and len(cache) == 1


def test_a_zero_lifetime_caches_nothing_and_pop_and_discard_where_drop() -> None:
    clock = Seconds()
    cache: BoundedCache[tuple[str, str], int] = BoundedCache(10, ttl=0, clock=clock)
    cache[("g1", "u1")] = 1
    assert cache.get(("g1", "u1")) is None
    cache.ttl = 60
    cache[("g1", "u1")], cache[("g1", "u2")], cache[("g2", "u1")] = 1, 2, 3
    cache.discard_where(lambda key: key[0] == "g1")
    assert cache.keys() == [("g2", "u1")]
    assert cache.pop(("g2", "u1")) == 3 and cache.pop(("g2", "u1")) is None and len(cache) == 0


def test_a_cache_holds_at_least_one_entry() -> None:
    with pytest.raises(ValueError):
        BoundedCache(0)
