"""Rows the hot path wrote recently, kept in memory so that the next event need not write them.

``KnownRows`` is the bounded cache behind ``CommunityRepo.ensure_many`` and
``MemberRepo.see_many``. Its rules keep it from ever answering with something the database no
longer holds, as far as this process can tell: entries are filled in only after their
transaction committed (a rolled-back one leaves nothing), and only if no other write to the
watched tables happened in between (``Database.generation``); any write to those tables that
the repository does not account for empties it (``Database.watch``). A change made by another
process is seen once the entry is written again, at the latest after the repository's refresh
interval.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from bot.cache import BoundedCache
from storage.db import CACHED, Database

__all__ = ["KnownRows", "cached_upsert"]

K = TypeVar("K", bound=Hashable)
I = TypeVar("I")  # noqa: E741 - the info a row is read as
T = TypeVar("T", bound=Hashable)


class KnownRows(Generic[K, I]):
    """At most ``max_size`` rows as last written (``info``) and when, by key."""

    def __init__(
        self, db: Database, max_size: int, *, refresh: timedelta, watching: tuple[str, ...]
    ) -> None:
        self.db = db
        # An entry older than ``refresh`` is written again anyway: it expires then (on the
        # monotonic clock), so a quiet bot gives the memory back.
        self.entries: BoundedCache[K, tuple[I, datetime]] = BoundedCache(
            max_size, refresh.total_seconds()
        )
        for table in watching:
            db.watch(table, self.entries.clear)

    def take(
        self,
        rows: dict[K, dict[str, Any]],
        now: datetime,
        unchanged: Callable[[I, datetime, dict[str, Any], datetime], bool],
    ) -> dict[K, I]:
        """Remove from ``rows`` those that writing would not change (``unchanged(info,
        written_at, row, now)``) and return what is known of them."""
        found: dict[K, I] = {}
        for key, row in list(rows.items()):
            known = self.entries.get(key)
            if known is not None and unchanged(known[0], known[1], row, now):
                found[key] = known[0]
                del rows[key]
        return found

    def peek(
        self,
        key: K,
        row: dict[str, Any],
        now: datetime,
        unchanged: Callable[[I, datetime, dict[str, Any], datetime], bool],
    ) -> I | None:
        """What is known of ``key`` if writing ``row`` (only the fields ``unchanged`` reads)
        would change nothing, else ``None``: ``take`` for one row, without building it whole."""
        known = self.entries.get(key)
        if known is None or not unchanged(known[0], known[1], row, now):
            return None
        return known[0]

    def peek_all(
        self,
        items: Iterable[T],
        probe: Callable[[T], tuple[K, dict[str, Any]]],
        now: datetime,
        unchanged: Callable[[I, datetime, dict[str, Any], datetime], bool],
    ) -> dict[K, I] | None:
        """``peek`` for each distinct item (``probe(item)``: its key and row), by key; ``None``
        at the first one that would be written (a page repeats its chats and senders)."""
        found: dict[K, I] = {}
        seen: set[T] = set()
        for item in items:
            if item in seen:
                continue
            seen.add(item)
            key, row = probe(item)
            info = self.peek(key, row, now, unchanged)
            if info is None:
                return None
            found[key] = info
        return found

    def remember_after_commit(
        self, session: AsyncSession, written: list[tuple[K, I]], now: datetime, generation: int
    ) -> None:
        """Keep ``written`` (read back by a statement run after ``generation`` was taken) once
        the session's transaction has committed, unless the watched tables were written
        meanwhile by anything else."""

        def remember() -> None:
            if self.db.generation == generation:
                for key, info in written:
                    self.entries.put(key, (info, now))

        self.db.after_commit(session, remember)

    def forget(self, key: K) -> None:
        """Drop one entry, and keep any transaction running now from filling in what it read
        before the write that made this necessary."""
        self.db.generation += 1
        self.entries.pop(key)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: object) -> bool:
        return key in self.entries


def cached_upsert(
    insert: Insert,
    keys: tuple[str, ...],
    changes: Callable[[Insert], dict[str, Any]],
    returning: tuple[str, ...],
) -> Insert:
    """``insert`` as an upsert on the unique ``keys`` (``changes(insert)`` on conflict) that
    returns the row's ``returning`` columns, marked ``CACHED``: the repository that runs it
    accounts for its rows in its ``KnownRows``, so the write does not empty them. Built once
    per repository: its parameters go apart, so it compiles once."""
    table: Table = insert.table  # type: ignore[assignment]
    return (
        insert.on_conflict_do_update(
            index_elements=[table.c[key] for key in keys], set_=changes(insert)
        )
        .returning(*(table.c[name] for name in returning))
        .execution_options(**{CACHED: True})
    )
